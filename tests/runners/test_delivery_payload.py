"""The job payload's delivery keys (services, artifacts, cache, dependencies, file variables) as the runner reads
them: the contract's shapes, missing keys meaning "not used", unknown keys ignored, wrong types refused clearly."""

from __future__ import annotations

from typing import Any

import pytest

from runners.errors import ProtocolError
from runners.executors.services import image_aliases, service_aliases
from runners.payload import Job, JobArtifacts, JobCache, JobDependency, JobService


def payload(**extra: Any) -> dict[str, Any]:
    return {"id": 5, "token": "fjt_x", "script": ["true"],
            "git": {"url": "http://forge/a/b.git", "sha": "0" * 40, "ref": "main"}, **extra}


def test_a_payload_without_delivery_keys_uses_none_of_them() -> None:
    job = Job.from_payload(payload())
    assert job.services == () and job.artifacts is None and job.cache == () and job.dependencies == ()


def test_the_contract_shapes_are_read() -> None:
    job = Job.from_payload(payload(
        services=[{"name": "postgres:16", "alias": ["db", "postgres"], "command": ["--x"], "entrypoint": None,
                   "variables": [{"key": "POSTGRES_PASSWORD", "value": "pw"}], "future_key": 1}],
        artifacts={"name": "build-main", "paths": ["dist/"], "exclude": ["**/*.tmp"], "untracked": False,
                   "when": "always", "expire_in": 604800, "expose_as": "", "reports": {"junit": ["r.xml"]}},
        cache=[{"key": "deps-abc", "paths": ["node_modules/"], "untracked": True, "policy": "pull",
                "when": "on_failure", "fallback_keys": ["default"]}],
        dependencies=[{"job_id": 12, "name": "build", "filename": "artifacts.zip", "size": 1234}],
        variables=[{"key": "KUBECONFIG", "value": "apiVersion: v1", "masked": True, "file": True},
                   {"key": "PLAIN", "value": "x", "masked": False}],
    ))
    assert job.services == (JobService("postgres:16", ("db", "postgres"), ("--x",), None,
                                       (("POSTGRES_PASSWORD", "pw"),)),)
    assert job.artifacts == JobArtifacts("build-main", ("dist/",), ("**/*.tmp",), False, "always", "604800",
                                         ("r.xml",))
    assert job.cache == (JobCache("deps-abc", ("node_modules/",), True, "pull", "on_failure", ("default",)),)
    assert job.dependencies == (JobDependency(12, "build", "artifacts.zip", 1234),)
    assert [(v.key, v.file, v.masked) for v in job.variables] == [("KUBECONFIG", True, True), ("PLAIN", False, False)]


def test_lenient_forms_defaults_and_nulls() -> None:
    job = Job.from_payload(payload(
        services=["redis:7", {"name": "svc", "alias": "a, b"}],
        artifacts={"paths": ["x"], "expire_in": None},
        cache={"paths": ["c/"]},  # one cache written without a list
    ))
    assert job.services[0] == JobService("redis:7")
    assert job.services[1].aliases == ("a", "b")
    assert job.artifacts == JobArtifacts(paths=("x",))
    assert job.cache == (JobCache(paths=("c/",)),)
    # "never" is passed on to the forge as written: it keeps such artifacts until they are deleted.
    kept = Job.from_payload(payload(artifacts={"paths": ["x"], "expire_in": "never"}))
    assert kept.artifacts is not None and kept.artifacts.expire_in == "never"


@pytest.mark.parametrize(("extra", "field"), [
    ({"services": [{"alias": ["x"]}]}, "name"),
    ({"artifacts": {"paths": "dist/"}}, "artifacts.paths"),
    ({"cache": [{"untracked": "yes"}]}, "cache.untracked"),
    ({"dependencies": [{"job_id": "12"}]}, "dependencies.job_id"),
    ({"services": "postgres"}, "services"),
])
def test_wrong_types_are_a_protocol_error_naming_the_field(extra: dict[str, Any], field: str) -> None:
    with pytest.raises(ProtocolError, match=field):
        Job.from_payload(payload(**extra))


@pytest.mark.parametrize(("image", "aliases"), [
    ("postgres:16", ["postgres"]),
    ("tutum/wordpress:latest", ["tutum__wordpress", "tutum-wordpress"]),
    ("registry.example.com:4999/tutum/wordpress", ["registry.example.com__tutum__wordpress",
                                                   "registry.example.com-tutum-wordpress"]),
    ("mysql@sha256:" + "a" * 64, ["mysql"]),
])
def test_image_derived_service_names_are_gitlabs(image: str, aliases: list[str]) -> None:
    assert image_aliases(image) == aliases


def test_own_aliases_come_first_and_invalid_names_are_dropped() -> None:
    service = JobService("tutum/wordpress", ("blog", "bad name", "blog"))
    assert service_aliases(service) == ["blog", "tutum__wordpress", "tutum-wordpress"]
