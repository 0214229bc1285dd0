"""Repository and organisation CI/CD variables as the service gives them to jobs: precedence, protected branches,
environment scopes, forks, expansion, masking rules, and encryption at rest (ci.project_variables, ci.secret_box).

Rows are made through the service (the same code the settings pages call) and jobs as the planner leaves them; the
variables a job gets are what ``merge_into`` returns when the dispatcher hands the job out.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from ci import project_variables as pv
from ci import secret_box
from ci.models import PENDING, Job, Pipeline
from ci.models.variables import CiVariable
from ci.project_variables import Place, VariableInput
from forge.accounts.models import Account
from forge.db.engine import session_scope
from forge.errors import Conflict, InvalidInput, PermissionDenied
from forge.repos import protection
from forge.repos import services as repos
from forge.repos.services import RepoRef
from tests.factories import unique

SPEC_VARIABLES = [
    {"key": "FROM_FILE", "value": "file-value", "masked": False},
    {"key": "SHARED", "value": "from-the-file", "masked": False},
    {"key": "CI_COMMIT_REF_NAME", "value": "main", "masked": False},
    {"key": "CI_JOB_TOKEN", "value": "", "masked": True},
]


def add(engine: Any, actor: Account, place: Place, key: str, value: str, **flags: Any) -> CiVariable:
    with session_scope(engine) as s:
        return pv.create_variable(s, actor, place, VariableInput(key=key, value=value, **flags))


def job_in(engine: Any, ref: RepoRef, *, branch: str = "main", kind: str = "branch", source: str = "push",
           run: dict[str, str] | None = None, environment: str = "",
           spec_variables: list[dict[str, Any]] | None = None) -> tuple[int, int]:
    with session_scope(engine) as s:
        assert ref.repo.id is not None
        pipeline = Pipeline(repo_id=ref.repo.id, ref=branch, ref_kind=kind, sha="0" * 40, status="running",
                            source=source, variables=run)
        s.add(pipeline)
        s.flush()
        assert pipeline.id is not None
        variables = spec_variables if spec_variables is not None else SPEC_VARIABLES
        job = Job(pipeline_id=pipeline.id, repo_id=ref.repo.id, name="deploy", stage="test", status=PENDING,
                  environment=environment, spec={"script": ["true"], "variables": [dict(v) for v in variables]})
        s.add(job)
        s.flush()
        assert job.id is not None
        return pipeline.id, job.id


def given(engine: Any, job_id: int) -> dict[str, dict[str, Any]]:
    """What the job gets, by key (the list must hold each key once)."""
    with session_scope(engine) as s:
        job = s.get(Job, job_id)
        assert job is not None
        pipeline = s.get(Pipeline, job.pipeline_id)
        assert pipeline is not None
        spec_vars = [{"file": False, **v} for v in job.spec["variables"]]
        result = pv.merge_into(s, job, pipeline, spec_vars)
    keys = [v["key"] for v in result]
    assert len(keys) == len(set(keys)), keys
    return {v["key"]: v for v in result}


@pytest.fixture
def engine(server):  # type: ignore[no-untyped-def]
    return server.engine


def test_repository_variables_win_over_the_file_and_organisation_but_not_over_run_variables(engine, factory):  # type: ignore[no-untyped-def]
    owner = factory.user()
    org = factory.org(owner)
    ref = factory.repo(org, actor=owner)
    add(engine, owner, Place.of_org(org), "SHARED", "from-the-org")
    add(engine, owner, Place.of_org(org), "ORG_ONLY", "org-only")
    add(engine, owner, Place.of_org(org), "BOTH", "org-loses")
    add(engine, owner, Place.of_repo(ref), "BOTH", "repo-wins")
    add(engine, owner, Place.of_repo(ref), "GIVEN_AT_RUN", "repo-loses")
    add(engine, owner, Place.of_repo(ref), "CI_COMMIT_REF_NAME", "overridden")
    _, job_id = job_in(engine, ref, run={"GIVEN_AT_RUN": "typed"},
                       spec_variables=[*SPEC_VARIABLES, {"key": "GIVEN_AT_RUN", "value": "typed", "masked": False}])
    got = given(engine, job_id)
    assert got["FROM_FILE"]["value"] == "file-value"
    assert got["SHARED"]["value"] == "from-the-org"  # organisation > the file
    assert got["ORG_ONLY"]["value"] == "org-only"
    assert got["BOTH"]["value"] == "repo-wins"  # repository > organisation
    assert got["GIVEN_AT_RUN"]["value"] == "typed"  # "Run pipeline" > repository
    assert got["CI_COMMIT_REF_NAME"]["value"] == "overridden"  # GitLab lets project variables replace predefined
    assert got["CI_JOB_TOKEN"] == {"key": "CI_JOB_TOKEN", "value": "", "masked": True, "file": False}


def test_the_job_token_cannot_be_a_variable(engine, factory):  # type: ignore[no-untyped-def]
    owner = factory.user()
    ref = factory.repo(owner)
    with pytest.raises(InvalidInput, match="cannot be replaced"):
        add(engine, owner, Place.of_repo(ref), "CI_JOB_TOKEN", "stolen-token")


def test_protected_variables_only_reach_protected_branches(engine, factory):  # type: ignore[no-untyped-def]
    owner = factory.user()
    ref = factory.repo(owner)
    add(engine, owner, Place.of_repo(ref), "DEPLOY_KEY", "prod-secret-1", protected=True)
    add(engine, owner, Place.of_repo(ref), "PUBLIC_SETTING", "anyone")
    with session_scope(engine) as s:
        protection.save_rule(s, owner, ref, "release/*")
    _, feature = job_in(engine, ref, branch="feature")
    _, release = job_in(engine, ref, branch="release/1.0")
    _, tag = job_in(engine, ref, branch="release/2.0", kind="tag")  # a tag named like a protected branch
    assert "DEPLOY_KEY" not in given(engine, feature)
    assert given(engine, feature)["PUBLIC_SETTING"]["value"] == "anyone"
    assert given(engine, release)["DEPLOY_KEY"]["value"] == "prod-secret-1"
    assert "DEPLOY_KEY" not in given(engine, tag)


def test_environment_scope_picks_the_most_specific_match(engine, factory):  # type: ignore[no-untyped-def]
    owner = factory.user()
    ref = factory.repo(owner)
    place = Place.of_repo(ref)
    add(engine, owner, place, "APP_URL", "default")
    add(engine, owner, place, "APP_URL", "any-review", environment_scope="review/*")
    add(engine, owner, place, "APP_URL", "the-main-review", environment_scope="review/main")
    add(engine, owner, place, "PROD_ONLY", "prod", environment_scope="production")
    _, none = job_in(engine, ref)
    _, review = job_in(engine, ref, environment="review/feature-x")
    _, main_review = job_in(engine, ref, environment="review/main")
    _, prod = job_in(engine, ref, environment="production")
    assert given(engine, none)["APP_URL"]["value"] == "default"
    assert "PROD_ONLY" not in given(engine, none)
    assert given(engine, review)["APP_URL"]["value"] == "any-review"
    assert given(engine, main_review)["APP_URL"]["value"] == "the-main-review"
    assert given(engine, prod)["APP_URL"]["value"] == "default"
    assert given(engine, prod)["PROD_ONLY"]["value"] == "prod"
    assert pv.scope_matches("review/*", "review/a/b") and not pv.scope_matches("review/*", "staging")
    assert not pv.scope_matches("production", "") and pv.scope_matches("*", "")
    with pytest.raises(Conflict):
        add(engine, owner, place, "APP_URL", "again", environment_scope="review/*")


def test_a_fork_never_gets_the_variables_of_the_repository_it_was_forked_from(engine, factory, server):  # type: ignore[no-untyped-def]
    owner = factory.user()
    parent = factory.repo(owner)
    add(engine, owner, Place.of_repo(parent), "PARENT_SECRET", "parent-secret-1", masked=True)
    forker = factory.user()
    with session_scope(engine) as s:
        fork = repos.fork_repository(s, server.settings.repos_dir, server.settings.git_bin, forker, parent)
    add(engine, forker, Place.of_repo(fork), "FORK_OWN", "the-fork-s-own")
    _, job_id = job_in(engine, fork)
    got = given(engine, job_id)
    assert "PARENT_SECRET" not in got
    assert got["FORK_OWN"]["value"] == "the-fork-s-own"
    # The parent's own pipelines still get it.
    _, parent_job = job_in(engine, parent)
    assert given(engine, parent_job)["PARENT_SECRET"]["value"] == "parent-secret-1"


def test_pipelines_of_an_unknown_source_get_no_secrets(engine, factory):  # type: ignore[no-untyped-def]
    # The extension point for merge-request pipelines from forks (issue 6): a source not known to run the
    # repository's own code gets nothing.
    owner = factory.user()
    ref = factory.repo(owner)
    add(engine, owner, Place.of_repo(ref), "TOKEN", "secret-token-1", masked=True)
    _, trusted = job_in(engine, ref, source="schedule")
    _, untrusted = job_in(engine, ref, source="merge_request")  # source is 16 characters at most
    assert given(engine, trusted)["TOKEN"]["value"] == "secret-token-1"
    assert "TOKEN" not in given(engine, untrusted)


def test_values_are_expanded_unless_raw_and_file_variables_keep_their_flag(engine, factory):  # type: ignore[no-untyped-def]
    owner = factory.user()
    ref = factory.repo(owner)
    place = Place.of_repo(ref)
    add(engine, owner, place, "DB_PASSWORD", "pw-1234567", masked=True)
    add(engine, owner, place, "DB_URL", "postgres://app:${DB_PASSWORD}@db/$CI_COMMIT_REF_NAME")
    add(engine, owner, place, "LITERAL", "cost: $5 and $DB_PASSWORD", raw=True)
    add(engine, owner, place, "PRICE", "$$5")
    add(engine, owner, place, "KUBECONFIG", "apiVersion: v1\nkind: Config\n", is_file=True)
    spec = [*SPEC_VARIABLES, {"key": "FILE_REF", "value": "user:$DB_PASSWORD", "masked": False}]
    _, job_id = job_in(engine, ref, spec_variables=spec)
    got = given(engine, job_id)
    assert got["DB_URL"]["value"] == "postgres://app:pw-1234567@db/main"
    assert got["LITERAL"]["value"] == "cost: $5 and $DB_PASSWORD"
    assert got["PRICE"]["value"] == "$5"
    assert got["FILE_REF"]["value"] == "user:pw-1234567"  # the file's variable names a secret set in settings
    assert got["KUBECONFIG"] == {"key": "KUBECONFIG", "value": "apiVersion: v1\nkind: Config\n", "masked": False,
                                 "file": True}
    assert got["DB_PASSWORD"]["masked"] is True and got["DB_URL"]["masked"] is False


def test_masked_values_must_be_maskable(engine, factory):  # type: ignore[no-untyped-def]
    owner = factory.user()
    ref = factory.repo(owner)
    place = Place.of_repo(ref)
    refused = {
        "short12": "at least 8 characters",
        "two\nlines-here": "single line",
        "has a space here": "single line",
        "quote'and|pipe": "cannot be masked because it contains",
        "dollar$VARIABLE": "cannot be masked because it contains",
    }
    for value, message in refused.items():
        with pytest.raises(InvalidInput) as exc:
            add(engine, owner, place, unique("M"), value, masked=True)
        assert message in str(exc.value), (value, str(exc.value))
    add(engine, owner, place, unique("M"), "abc-DEF_123+/=@:.~")  # GitLab's alphabet
    add(engine, owner, place, unique("M"), "p@ss|w0rd'$!", masked=True, raw=True)  # raw: any non-blank
    add(engine, owner, place, unique("M"), "two\nlines are fine unmasked")


def test_values_are_encrypted_at_rest(engine, factory):  # type: ignore[no-untyped-def]
    owner = factory.user()
    ref = factory.repo(owner)
    value = "plain-" + unique("secret")
    variable = add(engine, owner, Place.of_repo(ref), "API_KEY", value, masked=True)
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT value_sealed FROM ci_variable WHERE id = :id"),
                              {"id": variable.id}).scalar_one()
        dump = " ".join(str(v) for v in conn.execute(text("SELECT * FROM ci_variable WHERE id = :id"),
                                                     {"id": variable.id}).one())
    assert value not in stored and value not in dump
    assert secret_box.for_engine(engine).open(stored) == value
    # Another secret key cannot read it.
    with pytest.raises(secret_box.SecretUnreadable):
        secret_box.SecretBox.from_secret_key("another-instance-key").open(stored)


def test_a_value_sealed_with_another_key_is_reported_and_withheld(engine, factory):  # type: ignore[no-untyped-def]
    owner = factory.user()
    ref = factory.repo(owner)
    place = Place.of_repo(ref)
    add(engine, owner, place, "GOOD", "still-readable")
    stale = add(engine, owner, place, "OLD", "sealed-before")
    with session_scope(engine) as s:
        row = s.get(CiVariable, stale.id)
        assert row is not None
        row.value_sealed = secret_box.SecretBox.from_secret_key("the-old-secret-key").seal("sealed-before")
        s.add(row)
    with session_scope(engine) as s:
        rows = {r.variable.key: r.readable for r in pv.list_variables(s, owner, place)}
    assert rows == {"GOOD": True, "OLD": False}
    _, job_id = job_in(engine, ref)
    got = given(engine, job_id)
    assert "OLD" not in got and got["GOOD"]["value"] == "still-readable"
    # Editing without a new value cannot keep what cannot be read; a new value repairs it.
    with session_scope(engine) as s, pytest.raises(secret_box.SecretUnreadable):
        pv.update_variable(s, owner, place, stale.id, VariableInput(key="OLD", value=None))
    with session_scope(engine) as s:
        pv.update_variable(s, owner, place, stale.id, VariableInput(key="OLD", value="typed-again"))
    assert given(engine, job_in(engine, ref)[1])["OLD"]["value"] == "typed-again"


def test_masked_values_given_to_a_job_are_kept_for_log_masking(engine, factory):  # type: ignore[no-untyped-def]
    owner = factory.user()
    ref = factory.repo(owner)
    add(engine, owner, Place.of_repo(ref), "TOKEN_A", "masked-value-aaa", masked=True)
    add(engine, owner, Place.of_repo(ref), "PLAIN", "not-masked-value")
    _, job_id = job_in(engine, ref)
    given(engine, job_id)
    # Changed while the job runs: the job's log still hides the value it was given.
    with session_scope(engine) as s:
        variable_id = next(r.variable.id for r in pv.list_variables(s, owner, Place.of_repo(ref))
                           if r.variable.key == "TOKEN_A")
        assert variable_id is not None
        pv.update_variable(s, owner, Place.of_repo(ref), variable_id,
                           VariableInput(key="TOKEN_A", value="masked-value-bbb", masked=True))
    with session_scope(engine) as s:
        job = s.get(Job, job_id)
        assert job is not None
        assert pv.job_masked_values(s, job) == ["masked-value-aaa"]
    with session_scope(engine) as s:
        row = s.exec(text("SELECT masked_sealed FROM ci_job_secrets WHERE job_id = :id"),  # type: ignore[call-overload]
                     params={"id": job_id}).scalar_one()
        assert "masked-value-aaa" not in row


def test_who_may_manage_and_reveal(engine, factory):  # type: ignore[no-untyped-def]
    owner = factory.user()
    org = factory.org(owner)
    ref = factory.repo(org, actor=owner)
    admin_collab, writer, member, site_admin = factory.user(), factory.user(), factory.user(), factory.user(admin=True)
    with session_scope(engine) as s:
        repos.set_collaborator(s, owner, ref, admin_collab, "admin")
        repos.set_collaborator(s, owner, ref, writer, "write")
    from forge.accounts import orgs
    with session_scope(engine) as s:
        orgs.add_member(s, owner, org, member)
    repo_place, org_place = Place.of_repo(ref), Place.of_org(org)
    variable = add(engine, admin_collab, repo_place, "ADMIN_MADE", "value-one")
    with session_scope(engine) as s, pytest.raises(PermissionDenied):
        pv.create_variable(s, writer, repo_place, VariableInput(key="NOPE", value="x"))
    with session_scope(engine) as s, pytest.raises(PermissionDenied):
        pv.create_variable(s, member, org_place, VariableInput(key="NOPE", value="x"))
    with session_scope(engine) as s, pytest.raises(PermissionDenied):
        pv.reveal_variable(s, admin_collab, repo_place, variable.id)  # may replace it, not read it
    for who in (owner, site_admin):
        with session_scope(engine) as s:
            assert pv.reveal_variable(s, who, repo_place, variable.id)[1] == "value-one"


def test_the_box_is_found_from_any_session_of_the_server(engine):  # type: ignore[no-untyped-def]
    with session_scope(engine) as s:
        box = secret_box.for_session(s)
    assert box.open(box.seal("round trip ✓")) == "round trip ✓"
