"""Protocol coverage with a stock git client: v0 and v2, shallow clone and deepen, partial clone."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.factories import PASSWORD


@pytest.fixture
def history(git, factory):  # type: ignore[no-untyped-def]
    """A public repository with 5 commits on main and a second branch and a tag."""
    owner = factory.user()
    ref = factory.repo(owner)
    work = git.init_repo("hist", {"README.md": "v0\n", "big.txt": "x" * 50_000})
    shas = [git.run("rev-parse", "HEAD", cwd=work).out.strip()]
    for i in range(1, 5):
        shas.append(git.commit(work, "README.md", f"v{i}\n", f"commit {i}"))
    git.run("branch", "feature", cwd=work, check=True)
    git.run("tag", "-a", "v1.0", "-m", "release", cwd=work, check=True)
    url = git.url(f"{owner.name}/{ref.repo.name}.git", owner.name, PASSWORD)
    git.run("push", url, "main", "feature", "v1.0", cwd=work, check=True)
    return owner, ref, shas


@pytest.mark.parametrize("version", ["0", "2"])
def test_clone_with_each_protocol_version(git, server, history, version):  # type: ignore[no-untyped-def]
    owner, ref, shas = history
    dest = f"clone-v{version}"
    res = git.run("-c", f"protocol.version={version}", "clone", git.url(f"{owner.name}/{ref.repo.name}.git"),
                  dest, env={"GIT_TRACE_PACKET": "1"})
    assert res.ok, res.err
    # The packet trace shows which protocol was spoken.
    assert ("version 2" in res.err) == (version == "2")
    assert git.run("rev-parse", "HEAD", cwd=git.tmp / dest).out.strip() == shas[-1]
    tags = git.run("tag", cwd=git.tmp / dest).out.split()
    assert tags == ["v1.0"]


def test_info_refs_advertisement_format(server, history):  # type: ignore[no-untyped-def]
    owner, ref, _ = history
    base = f"{server.url}/{owner.name}/{ref.repo.name}.git/info/refs?service=git-upload-pack"
    v0 = httpx.get(base)
    assert v0.status_code == 200
    assert v0.headers["content-type"] == "application/x-git-upload-pack-advertisement"
    assert v0.content.startswith(b"001e# service=git-upload-pack\n0000")
    assert "no-cache" in v0.headers["cache-control"]
    v2 = httpx.get(base, headers={"Git-Protocol": "version=2"})
    assert v2.content.startswith(b"000eversion 2\n")
    # Without ".git" in the URL too.
    assert httpx.get(base.replace(".git/info", "/info")).status_code == 200


def test_shallow_clone_and_deepen(git, history):  # type: ignore[no-untyped-def]
    owner, ref, shas = history
    url = git.url(f"{owner.name}/{ref.repo.name}")
    assert git.run("clone", "--depth", "1", url, "shallow").ok
    work = git.tmp / "shallow"
    assert git.run("rev-list", "--count", "HEAD", cwd=work).out.strip() == "1"
    assert (work / ".git" / "shallow").exists()
    assert git.run("fetch", "--deepen", "2", cwd=work).ok
    assert git.run("rev-list", "--count", "HEAD", cwd=work).out.strip() == "3"
    assert git.run("fetch", "--unshallow", cwd=work).ok
    assert git.run("rev-list", "--count", "HEAD", cwd=work).out.strip() == "5"


@pytest.mark.parametrize("version", ["0", "2"])
def test_partial_clone_fetches_blobs_lazily(git, history, version):  # type: ignore[no-untyped-def]
    owner, ref, shas = history
    url = git.url(f"{owner.name}/{ref.repo.name}")
    dest = f"partial-v{version}"
    res = git.run("-c", f"protocol.version={version}", "clone", "--filter=blob:none", "--no-checkout", url, dest)
    assert res.ok, res.err
    work = git.tmp / dest
    assert git.run("config", "remote.origin.promisor", cwd=work).out.strip() == "true"
    missing = git.run("rev-list", "--objects", "--missing=print", "--all", cwd=work).out
    assert "?" in missing  # blobs were left out
    # Checking out fetches the blobs it needs from the server on demand.
    res = git.run("-c", f"protocol.version={version}", "checkout", "main", cwd=work)
    assert res.ok, res.err
    assert (work / "big.txt").read_text() == "x" * 50_000
    assert (work / "README.md").read_text() == "v4\n"


def test_fetch_sends_gzip_negotiation(git, history, tmp_path: Path):  # type: ignore[no-untyped-def]
    """A fetch with many local 'have' lines makes git gzip the request body; the server must inflate it."""
    owner, ref, _ = history
    url = git.url(f"{owner.name}/{ref.repo.name}")
    assert git.run("clone", url, "haves").ok
    work = git.tmp / "haves"
    for i in range(60):
        # Newer dates than the shared history, so the client offers these (unknown to the server) first.
        date = f"2026-02-01T{i // 60:02d}:{i % 60:02d}:00+00:00"
        git.run("commit", "-q", "--allow-empty", "-m", f"local {i}", cwd=work, check=True,
                env={"GIT_COMMITTER_DATE": date, "GIT_AUTHOR_DATE": date})
        git.run("tag", f"local-{i}", cwd=work, check=True)
    # Something new on the server, so the fetch has to negotiate.
    other = git.tmp / "other"
    assert git.run("clone", url, str(other)).ok
    git.commit(other, "new.txt", "new\n", "upstream change")
    assert git.run("push", git.url(f"{owner.name}/{ref.repo.name}", owner.name, PASSWORD), "HEAD:main",
                   cwd=other).ok
    res = git.run("-c", "protocol.version=0", "fetch", "origin", cwd=work, env={"GIT_TRACE_CURL": "1",
                                                                               "GIT_TRACE_CURL_NO_DATA": "1"})
    assert res.ok, res.err
    assert "Content-Encoding: gzip" in res.err
