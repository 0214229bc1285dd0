"""Branch protection, reserved refs and object checks, enforced on real pushes."""

from __future__ import annotations

import subprocess

from sqlmodel import col, select

from forge.accounts import orgs
from forge.repos import protection
from forge.repos import services as repos
from forge.repos.models import PushEvent
from tests.factories import PASSWORD


def _setup(git, factory, name="prot"):  # type: ignore[no-untyped-def]
    owner = factory.user()
    ref = factory.repo(owner)
    work = git.init_repo(name)
    url = git.url(f"{owner.name}/{ref.repo.name}.git", owner.name, PASSWORD)
    git.run("push", url, "main", cwd=work, check=True)
    git.run("push", url, "main:release/1.0", cwd=work, check=True)
    return owner, ref, work, url


def _remote_sha(git, url, ref):  # type: ignore[no-untyped-def]
    out = git.run("ls-remote", url, ref).out.split()
    return out[0] if out else None


def test_force_push_and_deletion_refused_on_protected_branch(git, factory):  # type: ignore[no-untyped-def]
    owner, ref, work, url = _setup(git, factory)
    with factory.session() as s:
        protection.save_rule(s, owner, ref, "release/*")
    before = _remote_sha(git, url, "refs/heads/release/1.0")

    # Rewrite history and force-push: refused, ref unchanged.
    git.run("commit", "-q", "--amend", "-m", "rewritten", cwd=work, check=True)
    res = git.run("push", "--force", url, "HEAD:release/1.0", cwd=work)
    assert not res.ok
    assert "branch release/1.0 is protected: force-push (non-fast-forward) refused." in res.err
    assert _remote_sha(git, url, "refs/heads/release/1.0") == before

    res = git.run("push", url, ":release/1.0", cwd=work)
    assert not res.ok
    assert "protected and cannot be deleted" in res.err
    assert _remote_sha(git, url, "refs/heads/release/1.0") == before

    # A fast-forward is still fine, and unprotected branches can be force-pushed.
    git.run("reset", "-q", "--hard", before, cwd=work, check=True)
    new = git.commit(work, "ff.txt", "ff\n", "fast forward")
    assert git.run("push", url, "HEAD:release/1.0", cwd=work).ok
    assert _remote_sha(git, url, "refs/heads/release/1.0") == new
    git.run("commit", "-q", "--amend", "-m", "rewritten again", cwd=work, check=True)
    assert git.run("push", "--force", url, "HEAD:main", cwd=work).ok


def test_rule_can_allow_force_push_and_deletion(git, factory):  # type: ignore[no-untyped-def]
    owner, ref, work, url = _setup(git, factory)
    with factory.session() as s:
        protection.save_rule(s, owner, ref, "release/1.0", allow_force_push=True, allow_deletion=True)
    git.run("commit", "-q", "--amend", "-m", "rewritten", cwd=work, check=True)
    assert git.run("push", "--force", url, "HEAD:release/1.0", cwd=work).ok
    assert git.run("push", url, ":release/1.0", cwd=work).ok
    assert _remote_sha(git, url, "refs/heads/release/1.0") is None


def test_push_restricted_to_chosen_users_and_teams(git, factory):  # type: ignore[no-untyped-def]
    owner = factory.user()
    org = factory.org(owner)
    dev, lead, teamster = factory.user(), factory.user(), factory.user()
    ref = factory.repo(org, actor=owner)
    with factory.session() as s:
        for u in (dev, lead):
            repos.set_collaborator(s, owner, ref, u, "write")
        team = orgs.create_team(s, owner, org, "releasers", permission="write")
        orgs.add_team_repo(s, owner, team, ref.repo.id, org.id)
        orgs.add_team_member(s, owner, team, teamster)
        protection.save_rule(s, owner, ref, "main", restrict_push=True, push_user_ids=[lead.id],
                             push_team_ids=[team.id])
    path = f"{org.name}/{ref.repo.name}.git"
    work = git.init_repo("restricted")
    # The org owner (admin level) may push.
    assert git.run("push", git.url(path, owner.name, PASSWORD), "main", cwd=work).ok
    git.commit(work, "b.txt", "b\n")
    res = git.run("push", git.url(path, dev.name, PASSWORD), "main", cwd=work)
    assert not res.ok
    assert "branch main is protected and you are not allowed to push to it." in res.err
    # dev may still push other branches.
    assert git.run("push", git.url(path, dev.name, PASSWORD), "main:topic", cwd=work).ok
    assert git.run("push", git.url(path, lead.name, PASSWORD), "main", cwd=work).ok
    git.commit(work, "c.txt", "c\n")
    assert git.run("push", git.url(path, teamster.name, PASSWORD), "main", cwd=work).ok


def test_default_branch_and_reserved_refs(git, factory):  # type: ignore[no-untyped-def]
    owner, ref, work, url = _setup(git, factory)
    res = git.run("push", url, ":main", cwd=work)
    assert not res.ok
    assert "main is the default branch and cannot be deleted." in res.err
    res = git.run("push", url, "main:refs/pull/1/head", cwd=work)
    assert not res.ok
    assert "reserved by the forge" in res.err


def test_rejected_push_records_no_event_and_accepted_records_each_ref(git, factory):  # type: ignore[no-untyped-def]
    owner, ref, work, url = _setup(git, factory)
    with factory.session() as s:
        protection.save_rule(s, owner, ref, "main")
        count = len(list(s.exec(select(PushEvent).where(PushEvent.repo_id == ref.repo.id))))
    git.run("commit", "-q", "--amend", "-m", "rewritten", cwd=work, check=True)
    # One refused ref refuses the whole push (git's pre-receive semantics); nothing is recorded.
    res = git.run("push", "--force", url, "HEAD:main", "HEAD:other", cwd=work)
    assert not res.ok
    with factory.session() as s:
        events = list(s.exec(select(PushEvent).where(PushEvent.repo_id == ref.repo.id).order_by(col(PushEvent.id))))
    assert len(events) == count
    assert _remote_sha(git, url, "refs/heads/other") is None
    # Two refs in one accepted push: two events.
    git.run("tag", "v1", cwd=work, check=True)
    assert git.run("push", url, "HEAD:other", "v1", cwd=work).ok
    with factory.session() as s:
        events = list(s.exec(select(PushEvent).where(PushEvent.repo_id == ref.repo.id).order_by(col(PushEvent.id))))
    assert sorted(e.ref for e in events[count:]) == ["refs/heads/other", "refs/tags/v1"]


def test_malformed_objects_are_refused_and_refs_untouched(git, factory):  # type: ignore[no-untyped-def]
    owner, ref, work, url = _setup(git, factory)
    before = _remote_sha(git, url, "refs/heads/main")
    # A commit object with a broken author line, written by hand: fsck must refuse it.
    tree = git.run("rev-parse", "HEAD^{tree}", cwd=work).out.strip()
    bad = f"tree {tree}\nparent {before}\nauthor broken-no-email 1700000000 +0000\n" \
          f"committer A <a@b.c> 1700000000 +0000\n\nbad\n"
    proc = subprocess.run(["git", "hash-object", "-t", "commit", "-w", "--literally", "--stdin"], input=bad,
                          text=True, capture_output=True, cwd=work, env=git.env, check=True)
    sha = proc.stdout.strip()
    res = git.run("push", url, f"{sha}:refs/heads/main", cwd=work)
    assert not res.ok
    # git's own fsck message reaches the user.
    assert "missingEmail" in res.err or "bad" in res.err.lower(), res.err
    assert _remote_sha(git, url, "refs/heads/main") == before


def test_first_push_of_another_branch_becomes_default(git, factory):  # type: ignore[no-untyped-def]
    owner = factory.user()
    ref = factory.repo(owner)  # default branch "main", still empty
    work = git.init_repo("legacy", branch="master")
    url = git.url(f"{owner.name}/{ref.repo.name}.git", owner.name, PASSWORD)
    assert git.run("push", url, "master", cwd=work).ok
    with factory.session() as s:
        fresh = repos.find_repo(s, owner.name, ref.repo.name)
        assert fresh is not None and fresh.repo.default_branch == "master"
    res = git.run("clone", url, "cl")
    assert res.ok and (git.tmp / "cl" / "README.md").exists()


def test_push_whose_event_cannot_be_stored_is_undone(git, factory, monkeypatch):  # type: ignore[no-untyped-def]
    """If the database refuses the push event, the refs go back and the client sees the push fail, so git and
    the database never disagree about what was pushed."""
    from forge.repos import git_access

    owner, ref, work, url = _setup(git, factory)
    before = _remote_sha(git, url, "refs/heads/main")
    with factory.session() as s:
        count = len(list(s.exec(select(PushEvent).where(PushEvent.repo_id == ref.repo.id))))

    def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("database unavailable")

    monkeypatch.setattr(git_access, "record_accepted", broken)
    git.commit(work, "lost.txt", "lost\n", "will be undone")
    res = git.run("push", url, "HEAD:main", "HEAD:newbranch", cwd=work)
    assert not res.ok
    monkeypatch.undo()
    assert _remote_sha(git, url, "refs/heads/main") == before
    assert _remote_sha(git, url, "refs/heads/newbranch") is None
    with factory.session() as s:
        assert len(list(s.exec(select(PushEvent).where(PushEvent.repo_id == ref.repo.id)))) == count
    # The same push succeeds once the database is back.
    assert git.run("push", url, "HEAD:main", cwd=work).ok
