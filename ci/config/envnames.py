"""Derived facts about an environment name, computed as GitLab computes them: the slug (``CI_ENVIRONMENT_SLUG``)
and the tier guessed from the name when ``deployment_tier`` is not given (``CI_ENVIRONMENT_TIER``)."""

from __future__ import annotations

import hashlib
import re

from ci.config.spec import Environment

MAX_SLUG = 24  # GitLab's limit (DNS labels, Kubernetes names)
SUFFIX = 6
_SUFFIX_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789"

# GitLab's guess (Environment#guess_tier), tried in this order.
_TIER_GUESSES = (
    ("development", re.compile(r"(dev|review|trunk)", re.IGNORECASE)),
    ("testing", re.compile(r"(test|tst|int|ac(ce|)pt|qa|qc|control|quality)", re.IGNORECASE)),
    ("staging", re.compile(r"(st(a|)g|mod(e|)l|pre|demo|non)", re.IGNORECASE)),
    ("production", re.compile(r"(pr(o|)d|live)", re.IGNORECASE)),
)


def environment_slug(name: str) -> str:
    """Lower case letters, digits and ``-``, starting with a letter, at most 24 characters, not ending in ``-``;
    a name that had to change gets a 6-character suffix so two names do not share a slug. GitLab draws that suffix
    at random and stores it; ours comes from the name's hash, so the same name always has the same slug."""
    slug = re.sub(r"[^a-z0-9]", "-", name.lower())
    if not slug[:1].isalpha() or not slug[:1].isascii():
        slug = "env-" + slug
    slug = re.sub(r"-+", "-", slug)[:MAX_SLUG].rstrip("-")
    if slug != name:
        number = int(hashlib.sha256(name.encode()).hexdigest(), 16)
        suffix = ""
        for _ in range(SUFFIX):
            number, digit = divmod(number, len(_SUFFIX_CHARS))
            suffix += _SUFFIX_CHARS[digit]
        slug = slug[: MAX_SLUG - SUFFIX - 1].rstrip("-") + "-" + suffix
    return slug


def environment_tier(name: str, given: str = "") -> str:
    """``given`` when set, else GitLab's guess from the name: production, staging, testing, development, other."""
    if given:
        return given
    for tier, pattern in _TIER_GUESSES:
        if pattern.search(name):
            return tier
    return "other"


def environment_variables(environment: Environment | None) -> dict[str, str]:
    """``CI_ENVIRONMENT_*`` for a job that deploys to ``environment`` (its name already expanded); none without one.
    ``CI_ENVIRONMENT_URL`` only when the job gives a URL, as in GitLab."""
    if environment is None:
        return {}
    result = {
        "CI_ENVIRONMENT_NAME": environment.name,
        "CI_ENVIRONMENT_SLUG": environment_slug(environment.name),
        "CI_ENVIRONMENT_ACTION": environment.action,
        "CI_ENVIRONMENT_TIER": environment_tier(environment.name, environment.deployment_tier),
    }
    if environment.url:
        result["CI_ENVIRONMENT_URL"] = environment.url
    return result
