"""Finding references in text: ``#12`` and ``owner/repo#12`` (issues and pull requests), closing keywords ("fixes
#12"), ``@name`` mentions and commit ids. Pure functions over strings; the services decide what the matches mean.

Code is not prose: anything inside fenced or indented code blocks and inline code spans is ignored, so pasting a
log or a snippet never mentions people or closes issues.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# ``#12`` or ``owner/repo#12``; not part of a word, a URL fragment (``page#3``) or an HTML entity (``&#39;``).
REF_PATTERN = (
    r"(?:(?P<owner>[A-Za-z0-9](?:[A-Za-z0-9_.-]*[A-Za-z0-9])?)/(?P<repo>[A-Za-z0-9_.-]+))?#(?P<number>[0-9]{1,9})"
)
REF_RE = re.compile(r"(?<![\w/&#.-])" + REF_PATTERN + r"(?![\w#])")
# GitHub's closing keywords (case-insensitive), with an optional colon, plus their Chinese equivalents.
_KEYWORDS = r"close|closes|closed|fix|fixes|fixed|resolve|resolves|resolved|关闭|修复|解决"
CLOSING_RE = re.compile(
    r"(?:(?<![\w])|(?<=[\u4e00-\u9fff]))(?:" + _KEYWORDS + r")(?:\s*:)?\s*" + REF_PATTERN + r"(?![\w#])",
    re.IGNORECASE,
)
MENTION_RE = re.compile(r"(?<![\w.@/`-])@(?P<name>[A-Za-z0-9](?:[A-Za-z0-9_.-]*[A-Za-z0-9])?)(?![\w@])")
SHA_RE = re.compile(r"(?<![\w/@.-])(?P<sha>[0-9a-f]{7,40})(?![\w-])")

_FENCE_RE = re.compile(r"^( {0,3})(`{3,}|~{3,})[^\n]*\n.*?(?:^\1?\2[`~]*[ \t]*$|\Z)", re.MULTILINE | re.DOTALL)
_INDENTED_RE = re.compile(r"(?:(?<=\n\n)|\A)(?:(?: {4}|\t)[^\n]*(?:\n|\Z))+")
_INLINE_CODE_RE = re.compile(r"(`+)(?!`).+?(?<!`)\1(?!`)", re.DOTALL)


@dataclass(frozen=True)
class Ref:
    """``#number`` (owner and repo empty) or ``owner/repo#number``."""

    owner: str
    repo: str
    number: int

    @property
    def is_local(self) -> bool:
        return not self.owner


def strip_code(text: str) -> str:
    """``text`` with code blocks and code spans blanked out (same length is not kept; only prose remains)."""
    text = _FENCE_RE.sub("\n", text.replace("\r\n", "\n"))
    text = _INDENTED_RE.sub("\n", text)
    return _INLINE_CODE_RE.sub(" ", text)


def _ref(match: re.Match[str]) -> Ref:
    return Ref(match.group("owner") or "", match.group("repo") or "", int(match.group("number")))


def _unique(refs: list[Ref]) -> list[Ref]:
    seen: set[tuple[str, str, int]] = set()
    result = []
    for ref in refs:
        key = (ref.owner.lower(), ref.repo.lower(), ref.number)
        if key not in seen:
            seen.add(key)
            result.append(ref)
    return result


def find_refs(text: str) -> list[Ref]:
    """Every issue reference in the prose of ``text``, each once, in order of appearance."""
    return _unique([_ref(m) for m in REF_RE.finditer(strip_code(text))])


def find_closing_refs(text: str) -> list[Ref]:
    """The references preceded by a closing keyword ("Fixes #3", "closes: owner/repo#4", "修复 #5")."""
    return _unique([_ref(m) for m in CLOSING_RE.finditer(strip_code(text))])


def find_mentions(text: str) -> list[str]:
    """``@name`` mentions in the prose of ``text``, lower-cased, each once, in order."""
    seen: dict[str, None] = {}
    for match in MENTION_RE.finditer(strip_code(text)):
        seen.setdefault(match.group("name").lower(), None)
    return list(seen)
