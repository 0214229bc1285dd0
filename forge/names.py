"""Validation of account, team, repository and topic names.

Names become URL path segments and directory names on disk, so they are restricted to ASCII letters, digits and
``-_.``, may not be ``.``/``..`` or contain ``..`` (path traversal), and may not collide with the top-level routes
of the web UI or with the ``.git`` suffix the git routes strip.
"""

from __future__ import annotations

import re

from forge.errors import InvalidInput
from forge.i18n import N_

_ACCOUNT_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9_.-]*[A-Za-z0-9])?$")
_REPO_RE = re.compile(r"^[A-Za-z0-9_.-]+$")
_TOPIC_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,34}$")

# First path segments the web UI uses; an account with one of these names would shadow a page.
RESERVED_ACCOUNT_NAMES = frozenset(
    """
    about admin api assets avatars captcha css docs explore favicon.ico fonts forge help img images issues js
    login logout new notifications oauth org orgs plugins pulls raw repo repos robots.txt search settings
    signin signout signup sitemap.xml static swagger user users well-known .well-known
    """.split()
)
RESERVED_REPO_NAMES = frozenset({".", "..", "-", "_", "new", "settings", "info", "objects", "git"})
RESERVED_REPO_SUFFIXES = (".git", ".wiki", ".rss", ".atom")


def validate_account_name(name: str) -> str:
    if not name:
        raise InvalidInput(N_("A name is required."))
    if len(name) > 39:
        raise InvalidInput(N_("Names may be at most 39 characters long."))
    if not name.isascii() or not _ACCOUNT_RE.match(name):
        raise InvalidInput(
            N_(
                "“%(name)s” is not a valid name: use ASCII letters, digits, “-”, “_” and “.”, "
                "starting and ending with a letter or digit."
            ),
            name=name,
        )
    if ".." in name or "--" in name or "__" in name:
        raise InvalidInput(N_("“%(name)s” is not a valid name: it repeats “.”, “-” or “_”."), name=name)
    lower = name.lower()
    if lower in RESERVED_ACCOUNT_NAMES or lower.endswith(RESERVED_REPO_SUFFIXES):
        raise InvalidInput(N_("“%(name)s” is reserved and cannot be used."), name=name)
    return name


def validate_repo_name(name: str) -> str:
    if not name:
        raise InvalidInput(N_("A repository name is required."))
    if len(name) > 100:
        raise InvalidInput(N_("Repository names may be at most 100 characters long."))
    if "/" in name or "\\" in name:
        raise InvalidInput(N_("“%(name)s” is not a valid repository name: it may not contain “/”."), name=name)
    if ".." in name:
        raise InvalidInput(N_("“%(name)s” is not a valid repository name: it may not contain “..”."), name=name)
    if not name.isascii() or not _REPO_RE.match(name):
        raise InvalidInput(
            N_(
                "“%(name)s” is not a valid repository name: use ASCII letters, digits, “-”, “_” and “.” only."
            ),
            name=name,
        )
    lower = name.lower()
    if lower in RESERVED_REPO_NAMES or name.startswith("."):
        raise InvalidInput(N_("“%(name)s” is a reserved name and cannot be used for a repository."), name=name)
    if lower.endswith(RESERVED_REPO_SUFFIXES):
        raise InvalidInput(
            N_("“%(name)s” is not a valid repository name: it may not end in .git, .wiki, .rss or .atom."),
            name=name,
        )
    return name


def validate_topics(raw: str) -> list[str]:
    """Topics: at most 20, each lower case letters, digits and hyphens, up to 35 characters."""
    topics: list[str] = []
    for item in re.split(r"[\s,]+", raw.strip().lower()):
        if not item or item in topics:
            continue
        if not _TOPIC_RE.match(item):
            raise InvalidInput(
                N_("“%(topic)s” is not a valid topic: use lower-case letters, digits and “-”, up to 35 long."),
                topic=item,
            )
        topics.append(item)
    if len(topics) > 20:
        raise InvalidInput(N_("A repository may have at most 20 topics."))
    return topics


_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def validate_email(email: str) -> str:
    email = email.strip()
    if len(email) > 254 or not _EMAIL_RE.match(email):
        raise InvalidInput(N_("“%(email)s” is not a valid email address."), email=email)
    return email
