"""Markdown for issue and comment texts: rendered and sanitised by forge.markup, then ``#12``, ``owner/repo#12``,
``@name`` and commit ids turned into links.

Only things that exist become links, and only where the reader may see them: another repository's issue is linked
when the viewer can read that repository (so a link never reveals a private issue's title), a commit id when
the repository has that commit. Text inside code, preformatted blocks and existing links is left alone. The links
are added to already sanitised HTML, with every value escaped, so they cannot open a hole in the sanitiser.
"""

from __future__ import annotations

import re
from html import escape
from pathlib import Path

import pygit2
from sqlmodel import Session, col, select

from forge.accounts.models import Account
from forge.issues.models import Issue
from forge.issues.textrefs import REF_PATTERN
from forge.markup import render_markdown
from forge.permissions import Access, repo_access
from forge.repos.services import RepoRef, find_repo, path_of

_TOKEN_RE = re.compile(
    r"(?<![\w/&#.-])(?P<ref>" + REF_PATTERN + r")(?![\w#])"
    r"|(?<![\w.@/`-])@(?P<name>[A-Za-z0-9](?:[A-Za-z0-9_.-]*[A-Za-z0-9])?)(?![\w@])"
    r"|(?<![\w/@.-])(?P<sha>[0-9a-f]{7,40})(?![\w-])"
)
_TAG_RE = re.compile(r"(<[^>]*>)")
_SKIP_TAGS = ("a", "code", "pre")
MAX_LINKS = 200


class _Resolver:
    def __init__(self, session: Session, ref: RepoRef, viewer: Account | None, repos_root: Path | None) -> None:
        self.session = session
        self.ref = ref
        self.viewer = viewer
        self.repos_root = repos_root
        self._repos: dict[tuple[str, str], RepoRef | None] = {}
        self._issues: dict[tuple[int, int], Issue | None] = {}
        self._users: dict[str, Account | None] = {}
        self._git: pygit2.Repository | None | bool = False

    def repo(self, owner: str, name: str) -> RepoRef | None:
        if not owner or (owner.lower() == self.ref.owner.lower_name and name.lower() == self.ref.repo.lower_name):
            return self.ref
        key = (owner.lower(), name.lower())
        if key not in self._repos:
            found = find_repo(self.session, owner, name)
            visible = found is not None and repo_access(self.session, self.viewer, found.repo) >= Access.READ
            self._repos[key] = found if visible else None
        return self._repos[key]

    def issue(self, repo: RepoRef, number: int) -> Issue | None:
        assert repo.repo.id is not None
        key = (repo.repo.id, number)
        if key not in self._issues:
            self._issues[key] = self.session.exec(
                select(Issue).where(Issue.repo_id == repo.repo.id, Issue.number == number)).first()
        return self._issues[key]

    def user(self, name: str) -> Account | None:
        key = name.lower()
        if key not in self._users:
            self._users[key] = self.session.exec(select(Account).where(Account.lower_name == key)).first()
        return self._users[key]

    def prefetch_users(self, names: set[str]) -> None:
        wanted = [n for n in names if n not in self._users]
        if wanted:
            for account in self.session.exec(select(Account).where(col(Account.lower_name).in_(wanted))):
                self._users[account.lower_name] = account
            for name in wanted:
                self._users.setdefault(name, None)

    def commit(self, sha: str) -> str | None:
        if self.repos_root is None:
            return None
        if self._git is False:
            try:
                self._git = pygit2.Repository(str(path_of(self.repos_root, self.ref)))
            except pygit2.GitError:
                self._git = None
        git = self._git
        if not isinstance(git, pygit2.Repository):
            return None
        try:
            obj = git.get(sha) if len(sha) == 40 else git.revparse_single(sha)
        except (KeyError, ValueError, pygit2.GitError):
            return None
        return str(obj.id) if isinstance(obj, pygit2.Commit) else None


def _link(resolver: _Resolver, match: re.Match[str]) -> str:
    text = match.group(0)
    if match.group("ref"):
        repo = resolver.repo(match.group("owner") or "", match.group("repo") or "")
        if repo is None:
            return text
        issue = resolver.issue(repo, int(match.group("number")))
        if issue is None:
            return text
        kind = "pulls" if issue.is_pull else "issues"
        href = f"/{repo.full_name}/{kind}/{issue.number}"
        return (f'<a class="issue-ref" href="{escape(href)}" title="{escape(issue.title)}">{text}</a>')
    if match.group("name"):
        account = resolver.user(match.group("name"))
        if account is None:
            return text
        return f'<a class="mention" href="/{escape(account.name)}">@{escape(account.name)}</a>'
    sha = resolver.commit(match.group("sha"))
    if sha is None:
        return text
    href = f"/{resolver.ref.full_name}/commit/{sha}"
    return f'<a class="commit-ref" href="{escape(href)}"><code>{sha[:7]}</code></a>'


def linkify_html(session: Session, ref: RepoRef, html: str, *, viewer: Account | None = None,
                 repos_root: Path | None = None) -> str:
    """Add reference links to sanitised HTML (see the module docstring)."""
    resolver = _Resolver(session, ref, viewer, repos_root)
    parts = _TAG_RE.split(html)
    names = {m.group("name").lower() for i, part in enumerate(parts) if i % 2 == 0
             for m in _TOKEN_RE.finditer(part) if m.group("name")}
    resolver.prefetch_users(names)
    skip: list[str] = []
    links = 0
    out = []
    for i, part in enumerate(parts):
        if i % 2 == 1:  # a tag
            name = part[1:].lstrip("/").split(None, 1)[0].rstrip(">/").lower() if len(part) > 2 else ""
            if name in _SKIP_TAGS and not part.endswith("/>"):
                if part.startswith("</"):
                    if name in skip:
                        del skip[len(skip) - 1 - skip[::-1].index(name)]
                else:
                    skip.append(name)
            out.append(part)
            continue
        if skip or links >= MAX_LINKS or not part:
            out.append(part)
            continue

        def replace(match: re.Match[str]) -> str:
            nonlocal links
            if links >= MAX_LINKS:
                return match.group(0)
            result = _link(resolver, match)
            if result != match.group(0):
                links += 1
            return result

        out.append(_TOKEN_RE.sub(replace, part))
    return "".join(out)


def render_issue_markdown(session: Session, ref: RepoRef, text: str, *, viewer: Account | None = None,
                          repos_root: Path | None = None) -> str:
    """Render an issue, pull request or comment text for ``viewer`` (anonymous when None: only public
    repositories' issues are linked across repositories). Commit ids are linked when ``repos_root`` is given."""
    if not text.strip():
        return ""
    html = render_markdown(text)
    return linkify_html(session, ref, html, viewer=viewer, repos_root=repos_root)
