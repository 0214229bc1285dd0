"""The events a webhook can subscribe to, with the header names receivers use to tell them apart.

Names follow GitHub/Gitea so existing receivers work: the ``X-GitHub-Event`` / ``X-Gitea-Event`` header carries
the name, the payload's ``action`` field the detail (opened, closed, ...).
"""

from __future__ import annotations

from forge.i18n import N_

PUSH = "push"
TAG = "create"  # GitHub and Gitea send tag (and branch) creation as "create", deletion as "delete"
TAG_DELETE = "delete"
ISSUES = "issues"
ISSUE_COMMENT = "issue_comment"
PULL_REQUEST = "pull_request"
PULL_REQUEST_REVIEW = "pull_request_review"
PIPELINE = "pipeline"
JOB = "job"
RELEASE = "release"
REPOSITORY = "repository"
PING = "ping"  # the test delivery

# What a hook subscribes to (the form's checkboxes) -> the event names it then receives, and a label.
SUBSCRIPTIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "push": ((PUSH,), N_("Push: commits pushed to a branch")),
    "tag": ((TAG, TAG_DELETE), N_("Tag: a branch or tag created or deleted")),
    "issues": ((ISSUES,), N_("Issues: opened, edited, closed, reopened, assigned, labelled")),
    "issue_comment": ((ISSUE_COMMENT,), N_("Issue comment: a comment on an issue or pull request")),
    "pull_request": ((PULL_REQUEST,), N_("Pull request: opened, synchronised, closed, merged, ready for review")),
    "pull_request_review": ((PULL_REQUEST_REVIEW,), N_("Pull request review: submitted")),
    "pipeline": ((PIPELINE,), N_("Pipeline: created, started, finished")),
    "job": ((JOB,), N_("Job: started, finished")),
    "release": ((RELEASE,), N_("Release: published (when releases are available)")),
    "repository": ((REPOSITORY,), N_("Repository: created, deleted, renamed, transferred, visibility changed")),
}
