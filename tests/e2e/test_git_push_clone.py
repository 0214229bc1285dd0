"""Clone, fetch and push with a stock git client against the real server."""

from __future__ import annotations

from sqlmodel import select

from forge.repos.models import PushEvent
from tests.factories import PASSWORD


def _events(factory, repo_id):  # type: ignore[no-untyped-def]
    with factory.session() as s:
        return list(s.exec(select(PushEvent).where(PushEvent.repo_id == repo_id).order_by(PushEvent.id)))


def test_push_to_empty_repo_then_clone_and_fetch(git, factory):  # type: ignore[no-untyped-def]
    alice = factory.user()
    ref = factory.repo(alice)
    work = git.init_repo("work", {"README.md": "hello\n", "src/app.py": "print('hi')\n"})
    url = git.url(f"{alice.name}/{ref.repo.name}.git", alice.name, PASSWORD)
    push = git.run("push", url, "main", cwd=work)
    assert push.ok, push.err
    head = git.run("rev-parse", "HEAD", cwd=work).out.strip()

    events = _events(factory, ref.repo.id)
    assert [(e.ref, e.old_sha, e.new_sha, e.pusher_id) for e in events] == [
        ("refs/heads/main", "0" * 40, head, alice.id)
    ]

    clone = git.run("clone", git.url(f"{alice.name}/{ref.repo.name}"), "copy")
    assert clone.ok, clone.err
    assert (git.tmp / "copy" / "src" / "app.py").read_text() == "print('hi')\n"

    second = git.commit(work, "README.md", "hello again\n", "second")
    assert git.run("push", url, "main", cwd=work).ok
    fetch = git.run("fetch", "origin", cwd=git.tmp / "copy")
    assert fetch.ok, fetch.err
    assert git.run("rev-parse", "origin/main", cwd=git.tmp / "copy").out.strip() == second
    assert [e.new_sha for e in _events(factory, ref.repo.id)][-1] == second


def test_large_push_and_clone_stream(git, factory):  # type: ignore[no-untyped-def]
    """A push larger than git's 1 MiB post buffer makes git probe the server first and then stream the body in
    chunks; both must work, and the content must come back intact."""
    import os

    owner = factory.user()
    ref = factory.repo(owner)
    payload = os.urandom(3 * 1024 * 1024)  # incompressible
    work = git.init_repo("large", {"README.md": "large\n"})
    (work / "blob.bin").write_bytes(payload)
    git.run("add", "blob.bin", cwd=work, check=True)
    git.run("commit", "-q", "-m", "3 MiB of random data", cwd=work, check=True)
    url = git.url(f"{owner.name}/{ref.repo.name}.git", owner.name, PASSWORD)
    res = git.run("push", url, "main", cwd=work, env={"GIT_TRACE_CURL": "1", "GIT_TRACE_CURL_NO_DATA": "1"})
    assert res.ok, res.err[-2000:]
    assert "Transfer-Encoding: chunked" in res.err
    assert git.run("clone", git.url(f"{owner.name}/{ref.repo.name}.git"), "large-copy").ok
    assert (git.tmp / "large-copy" / "blob.bin").read_bytes() == payload
