"""Watches, thread subscriptions, notifications and each user's notification preferences."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel, UniqueConstraint

from forge.db.models_base import utcnow

# Watch levels.
WATCH_ALL = "all"  # every issue, pull request, comment and review
WATCH_PARTICIPATING = "participating"  # only threads one takes part in or is mentioned in (the default)
WATCH_IGNORE = "ignore"  # nothing, not even mentions

# Why someone is notified (``Notification.reason``), as GitHub names them.
REASON_AUTHOR = "author"
REASON_COMMENT = "comment"
REASON_MENTION = "mention"
REASON_ASSIGN = "assign"
REASON_REVIEW_REQUESTED = "review_requested"
REASON_SUBSCRIBED = "subscribed"  # watching the repository, or subscribed to the thread by hand
REASON_STATE_CHANGE = "state_change"


class Watch(SQLModel, table=True):
    __tablename__ = "watch"
    __table_args__ = (UniqueConstraint("user_id", "repo_id"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="account.id", index=True, ondelete="CASCADE")
    repo_id: int = Field(foreign_key="repository.id", index=True, ondelete="CASCADE")
    level: str = Field(default=WATCH_ALL, max_length=16)
    created_at: datetime = Field(default_factory=utcnow)


class ThreadSubscription(SQLModel, table=True):
    """Taking part in an issue or pull request subscribes one to it (``subscribed`` True, with the reason);
    unsubscribing by hand keeps the row with ``subscribed`` False so taking part again does not resubscribe."""

    __tablename__ = "thread_subscription"
    __table_args__ = (UniqueConstraint("user_id", "issue_id"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="account.id", index=True, ondelete="CASCADE")
    issue_id: int = Field(foreign_key="issue.id", index=True, ondelete="CASCADE")
    subscribed: bool = True
    reason: str = Field(default=REASON_COMMENT, max_length=20)
    created_at: datetime = Field(default_factory=utcnow)


class Notification(SQLModel, table=True):
    """One line of a user's inbox per thread: new activity on the thread updates it and marks it unread again."""

    __tablename__ = "notification"
    __table_args__ = (UniqueConstraint("user_id", "issue_id"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="account.id", index=True, ondelete="CASCADE")
    repo_id: int = Field(foreign_key="repository.id", index=True, ondelete="CASCADE")
    issue_id: int = Field(foreign_key="issue.id", index=True, ondelete="CASCADE")
    reason: str = Field(max_length=20)
    last_activity_id: int | None = Field(default=None, foreign_key="activity.id", ondelete="SET NULL")
    last_actor_id: int | None = Field(default=None, foreign_key="account.id", ondelete="SET NULL")
    unread: bool = Field(default=True, index=True)
    updated_at: datetime = Field(default_factory=utcnow, index=True)
    last_read_at: datetime | None = None


class NotificationSettings(SQLModel, table=True):
    """A user's preferences (a user without a row has the defaults below)."""

    __tablename__ = "notification_settings"

    user_id: int = Field(foreign_key="account.id", primary_key=True, ondelete="CASCADE")
    # E-mail: "all" (everything that notifies), "participating" (mentions, assignments, review requests and
    # threads one takes part in) or "none".
    email: str = Field(default="participating", max_length=16)
    own_activity: bool = False  # also mail me about what I did myself
    auto_watch_own_repos: bool = True  # watch repositories I create


class NotificationSeen(SQLModel, table=True):
    """The notification fan-out's claim on an activity row (see forge.activity)."""

    __tablename__ = "notification_seen"

    activity_id: int = Field(foreign_key="activity.id", primary_key=True, ondelete="CASCADE")
    created_at: datetime = Field(default_factory=utcnow)
