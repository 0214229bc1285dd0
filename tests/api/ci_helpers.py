"""Helpers for the CI API tests: a repository with a pushed pipeline file (its push pipeline made), and calls
with a token. Jobs carry a unique tag so no runner of another test takes them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from forge.accounts.models import Account
from forge.repos.services import RepoRef
from tests.ci.pipeline_helpers import push_files, wait_seen
from tests.factories import unique
from tests.gitclient import GitClient

PIPELINE = """
stages: [build, test, deploy]
default:
  tags: [{tag}]
build:
  stage: build
  script: [echo build]
test:
  stage: test
  script: [echo test]
deploy:
  stage: deploy
  when: manual
  script: [echo deploy]
"""


@dataclass
class CiRepo:
    owner: Account
    ref: RepoRef
    sha: str
    push_pipeline_id: int
    base: str  # the repository's API URL

    def url(self, path: str = "") -> str:
        return f"{self.base}{path}"


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"token {token}"}


def ci_repo(server: Any, factory: Any, git: GitClient, *, private: bool = False) -> CiRepo:
    owner = factory.user()
    ref = factory.repo(owner, private=private)
    pushed = push_files(git, ref, {".forge-ci.yml": PIPELINE.format(tag=unique("tag"))})
    assert ref.repo.id is not None
    seen = wait_seen(server.engine, ref.repo.id)
    assert seen[0].pipeline_id is not None
    return CiRepo(owner, ref, pushed.sha, seen[0].pipeline_id, f"{server.url}/api/v1/repos/{ref.full_name}")


def ok(resp: httpx.Response, status: int = 200) -> Any:
    assert resp.status_code == status, resp.text
    return resp.json() if resp.content else None


def error(resp: httpx.Response, status: int) -> str:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"message", "errors"}
    return str(body["message"])
