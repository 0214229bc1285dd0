"""Archive downloads of any ref as zip and tar.gz, streamed, and never for people who cannot see the repo."""

from __future__ import annotations

import io
import tarfile
import zipfile

import httpx

from tests.factories import PASSWORD


def _repo_with_branch(git, factory, private=False):  # type: ignore[no-untyped-def]
    owner = factory.user()
    ref = factory.repo(owner, private=private)
    work = git.init_repo("arch", {"README.md": "hello\n", "src/app.py": "print('hi')\n"})
    git.run("branch", "release/1.0", cwd=work, check=True)
    git.run("tag", "v1", cwd=work, check=True)
    git.push_to(work, ref, "main", "release/1.0", "v1")
    return owner, ref


def test_zip_and_tar_gz_of_branch_tag_and_slashed_branch(server, git, factory, web):  # type: ignore[no-untyped-def]
    owner, ref = _repo_with_branch(git, factory)
    name = ref.repo.name
    resp = httpx.get(f"{server.url}/{ref.full_name}/archive/main.zip")
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/zip"
    assert f'filename="{name}-main.zip"' in resp.headers["content-disposition"]
    with zipfile.ZipFile(io.BytesIO(resp.content)) as zf:
        assert sorted(zf.namelist()) == sorted([f"{name}-main/", f"{name}-main/README.md", f"{name}-main/src/",
                                                f"{name}-main/src/app.py"])
        assert zf.read(f"{name}-main/src/app.py") == b"print('hi')\n"

    resp = httpx.get(f"{server.url}/{ref.full_name}/archive/release/1.0.tar.gz")
    assert resp.status_code == 200 and resp.headers["content-type"] == "application/gzip"
    with tarfile.open(fileobj=io.BytesIO(resp.content), mode="r:gz") as tf:
        member = tf.extractfile(f"{name}-release-1.0/README.md")
        assert member is not None and member.read() == b"hello\n"

    assert httpx.get(f"{server.url}/{ref.full_name}/archive/v1.zip").status_code == 200
    # The home page links to both formats of the branch shown.
    home = web.get(f"/{ref.full_name}")
    assert f"/{ref.full_name}/archive/main.zip" in home.text and f"/{ref.full_name}/archive/main.tar.gz" in home.text


def test_archive_errors_and_privacy(server, git, factory):  # type: ignore[no-untyped-def]
    owner, ref = _repo_with_branch(git, factory, private=True)
    stranger = factory.user()
    url = f"{server.url}/{ref.full_name}/archive/main.zip"
    assert httpx.get(url).status_code == 404
    assert httpx.get(url, auth=(stranger.name, PASSWORD)).status_code == 404
    assert httpx.get(url, auth=(owner.name, PASSWORD)).status_code == 200
    missing = httpx.get(f"{server.url}/{ref.full_name}/archive/nope.zip", auth=(owner.name, PASSWORD))
    assert missing.status_code == 404 and "“nope” is not a branch, tag or commit" in missing.text
    bad = httpx.get(f"{server.url}/{ref.full_name}/archive/main.rar", auth=(owner.name, PASSWORD))
    assert bad.status_code == 404 and "zip or .tar.gz" in bad.text
