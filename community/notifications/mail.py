"""The e-mail a notification sends: subject, threading headers, plain-text and HTML bodies.

The HTML body comes from a Jinja template with autoescaping (the Markdown of a comment is rendered and sanitised
by forge.markup first). The templates live here as strings, not under web/, because the fan-out runs outside the
web layer (and must not import it). Mail is written in English: the translations belong to the web layer.
"""

from __future__ import annotations

from dataclasses import dataclass

from jinja2 import Environment, StrictUndefined
from markupsafe import Markup

from forge.accounts.models import Account
from forge.issues.models import Issue
from forge.markup import render_markdown
from forge.repos.services import RepoRef

_env = Environment(autoescape=True, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)

_HTML = _env.from_string("""\
<!doctype html>
<html><head><meta charset="utf-8"><title>{{ subject }}</title></head>
<body style="font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; font-size: 14px; color: #1f2328">
<p>{{ headline }}</p>
{% if body_html %}
<div style="border-left: 3px solid #d0d7de; padding: 0 12px; margin: 12px 0">{{ body_html }}</div>
{% endif %}
<p><a href="{{ url }}">{{ link_text }}</a></p>
<hr style="border: 0; border-top: 1px solid #d0d7de">
<p style="color: #656d76; font-size: 12px">
{{ why }}<br>
<a href="{{ settings_url }}">Change your notification settings</a> ·
<a href="{{ inbox_url }}">Your notifications</a>
</p>
</body></html>
""")

_TEXT = _env.from_string("""\
{{ headline }}
{% if body_text %}

{{ body_text }}
{% endif %}

{{ link_text }}: {{ url }}

--
{{ why }}
Change your notification settings: {{ settings_url }}
""")

_WHY = {
    "author": "You are receiving this because you opened it.",
    "comment": "You are receiving this because you commented.",
    "mention": "You are receiving this because you were mentioned.",
    "assign": "You are receiving this because you were assigned.",
    "review_requested": "You are receiving this because your review was requested.",
    "subscribed": "You are receiving this because you are watching this repository or subscribed to this thread.",
    "state_change": "You are receiving this because you are subscribed to this thread.",
    "own": "You are receiving this because you asked for mail about your own activity.",
}


@dataclass(frozen=True)
class MailContent:
    subject: str
    text: str
    html: str
    message_id: str
    in_reply_to: str


def thread_message_id(ref: RepoRef, issue: Issue, domain: str) -> str:
    """The Message-ID of a thread's first message; every later message about the thread replies to it."""
    kind = "pull" if issue.is_pull else "issues"
    return f"<{ref.owner.name}/{ref.repo.name}/{kind}/{issue.number}@{domain}>"


def actor_name(actor: Account | None) -> str:
    if actor is None:
        return "Someone"
    return actor.name


def compose(*, ref: RepoRef, issue: Issue, base_url: str, domain: str, headline: str, body: str, url: str,
            reason: str, activity_id: int, is_first: bool) -> MailContent:
    """Build one notification mail. ``body`` is Markdown (the comment or description), may be empty."""
    subject = f"[{ref.full_name}] {issue.title} (#{issue.number})"
    if not is_first:
        subject = f"Re: {subject}"
    root = thread_message_id(ref, issue, domain)
    if is_first:
        message_id, in_reply_to = root, ""
    else:
        kind = "pull" if issue.is_pull else "issues"
        message_id = f"<{ref.owner.name}/{ref.repo.name}/{kind}/{issue.number}/{activity_id}@{domain}>"
        in_reply_to = root
    link_text = "View it on Forge"
    values = {
        "subject": subject,
        "headline": headline,
        "body_text": body.strip(),
        "body_html": Markup(render_markdown(body)) if body.strip() else "",
        "url": url,
        "link_text": link_text,
        "why": _WHY.get(reason, _WHY["subscribed"]),
        "settings_url": f"{base_url}/settings/notifications",
        "inbox_url": f"{base_url}/notifications",
    }
    return MailContent(subject, _TEXT.render(values), _HTML.render(values), message_id, in_reply_to)
