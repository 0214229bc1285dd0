"""The CI/CD variables settings pages of repositories and organisations, used the way people use them (real
server, real forms with their CSRF tokens), and what a runner then receives over the real runner API."""

from __future__ import annotations

import logging
import re

import httpx
import pytest

from ci.models import PENDING, Job, Pipeline
from ci.tokens import Scope
from forge.accounts import orgs
from forge.db.engine import session_scope
from forge.repos import services as repos
from tests.ci.runner_helpers import registration_token
from tests.factories import PASSWORD, unique

API = "/api/v1/runners"


def _base(ref) -> str:  # type: ignore[no-untyped-def]
    return f"/{ref.full_name}/settings/ci/variables"


def _add(web, base: str, **fields: str) -> httpx.Response:  # type: ignore[no-untyped-def]
    data = {"key": "", "value": "", "description": "", "environment_scope": "*", "variable_type": "env_var",
            "expand": "on", **fields}
    return web.submit(base, base, {k: v for k, v in data.items() if v != "off"})


def _variable_id(html: str, key: str) -> int:
    match = re.search(r'<tr id="variable-(\d+)">\s*<td><code class="ci-variable-key">' + re.escape(key) + "<", html)
    assert match, f"{key} is not listed"
    return int(match.group(1))


def test_owner_adds_edits_and_deletes_a_variable_whose_value_is_never_shown(server, factory, web):  # type: ignore[no-untyped-def]
    owner = factory.user()
    ref = factory.repo(owner)
    web.login(owner.name, PASSWORD)
    base = _base(ref)
    page = web.get(base)
    assert page.status_code == 200 and "No variables yet." in page.text
    assert f'href="/{ref.full_name}/settings/ci/variables" class="active"' in page.text  # the settings menu entry

    secret = "s3cr3t-" + unique("v")
    made = _add(web, base, key="DEPLOY_TOKEN", value=secret, description="for the deploy job", masked="on",
                protected="on")
    assert made.status_code == 303, made.text[:500]
    listing = web.follow(made)
    assert "Variable DEPLOY_TOKEN was added." in listing.text
    assert secret not in listing.text and "••••••" in listing.text
    row = listing.text.split('<tr id="variable-', 1)[1].split("</tr>", 1)[0]
    assert "DEPLOY_TOKEN" in row and "for the deploy job" in row and "masked" in row and "protected" in row
    variable_id = _variable_id(listing.text, "DEPLOY_TOKEN")

    edit = web.get(f"{base}/{variable_id}")
    assert edit.status_code == 200 and secret not in edit.text
    assert "Leave the value empty to keep the saved one." in edit.text
    # Saved with an empty value: the value is kept, the flags change.
    saved = web.submit(f"{base}/{variable_id}", f"{base}/{variable_id}",
                       {"key": "DEPLOY_TOKEN", "value": "", "environment_scope": "production", "masked": "on",
                        "variable_type": "env_var", "expand": "on"})
    assert saved.status_code == 303, saved.text[:500]
    listing = web.follow(saved)
    assert "Variable DEPLOY_TOKEN was saved." in listing.text and "<code>production</code>" in listing.text
    assert "protected</span>" not in listing.text
    reveal = web.submit(base, f"{base}/{variable_id}/reveal", {})
    assert reveal.status_code == 200 and secret in reveal.text
    assert reveal.headers["cache-control"] == "no-store"

    gone = web.submit(base, f"{base}/{variable_id}/delete", {})
    assert gone.status_code == 303
    listing = web.follow(gone)
    assert "Variable DEPLOY_TOKEN was deleted." in listing.text and "No variables yet." in listing.text


def test_bad_input_is_refused_with_a_reason_and_nothing_typed_is_lost(server, factory, web):  # type: ignore[no-untyped-def]
    owner = factory.user()
    ref = factory.repo(owner)
    web.login(owner.name, PASSWORD)
    base = _base(ref)
    short = _add(web, base, key="SHORT_SECRET", value="abc", description="kept text", masked="on")
    assert short.status_code == 422
    assert "A masked value must have at least 8 characters." in short.text
    assert 'value="SHORT_SECRET"' in short.text and ">\nabc</textarea>" in short.text
    assert 'value="kept text"' in short.text

    multi = _add(web, base, key="MULTI", value="line-one\r\nline-two", masked="on")
    assert multi.status_code == 422 and "single line without spaces" in multi.text

    bad_key = _add(web, base, key="1BAD-KEY", value="x")
    assert bad_key.status_code == 422 and "is not a valid key" in bad_key.text

    assert _add(web, base, key="TWICE", value="one").status_code == 303
    twice = _add(web, base, key="TWICE", value="two")
    assert twice.status_code == 409 and "already exists" in twice.text

    # Editing: masking a saved value that cannot be masked is refused on the edit form, which keeps the input.
    twice_id = _variable_id(web.get(base).text, "TWICE")
    edit = web.submit(f"{base}/{twice_id}", f"{base}/{twice_id}",
                      {"key": "TWICE", "value": "", "description": "new words", "masked": "on",
                       "environment_scope": "*", "variable_type": "env_var", "expand": "on"})
    assert edit.status_code == 422 and "at least 8 characters" in edit.text
    assert "Edit variable TWICE" in edit.text and 'value="new words"' in edit.text

    # A multi-line value (a key file) is kept with LF line ends and its final newline.
    assert _add(web, base, key="SSH_KEY", value="-----BEGIN-----\r\nabc\r\n-----END-----\r\n",
                variable_type="file").status_code == 303
    with session_scope(server.engine) as s:
        from ci import project_variables as pv
        rows = {r.variable.key: r.variable for r in pv.list_variables(s, owner, pv.Place.of_repo(ref))}
        _, value = pv.reveal_variable(s, owner, pv.Place.of_repo(ref), rows["SSH_KEY"].id)
    assert value == "-----BEGIN-----\nabc\n-----END-----\n" and rows["SSH_KEY"].is_file


def test_who_may_see_the_pages_and_who_may_reveal(server, factory, web, caplog):  # type: ignore[no-untyped-def]
    owner = factory.user()
    ref = factory.repo(owner, private=True)
    admin, writer, reader, stranger = factory.user(), factory.user(), factory.user(), factory.user()
    with session_scope(server.engine) as s:
        repos.set_collaborator(s, owner, ref, admin, "admin")
        repos.set_collaborator(s, owner, ref, writer, "write")
        repos.set_collaborator(s, owner, ref, reader, "read")
    base = _base(ref)
    web.login(owner.name, PASSWORD)
    assert _add(web, base, key="OWNER_SET", value="owner-value-1").status_code == 303
    variable_id = _variable_id(web.get(base).text, "OWNER_SET")

    anonymous = httpx.get(server.url + base, follow_redirects=False)
    assert anonymous.status_code == 404  # a private repository is hidden from anyone who cannot read it
    for who, status in ((stranger, 404), (reader, 403), (writer, 403)):
        with web.as_user(who.name, PASSWORD) as other:
            assert other.get(base).status_code == status, who.name
            assert other.post(base, {"key": "X", "value": "y"}).status_code == status
            assert other.post(f"{base}/{variable_id}/delete").status_code == status
            assert other.post(f"{base}/{variable_id}/reveal").status_code == status
    with web.as_user(admin.name, PASSWORD) as other:
        page = other.get(base)
        assert page.status_code == 200 and "OWNER_SET" in page.text and "owner-value-1" not in page.text
        assert f"{variable_id}/reveal" not in page.text  # admins replace values; only owners read them back
        refused = other.post(f"{base}/{variable_id}/reveal")
        assert refused.status_code == 403 and "owner-value-1" not in refused.text
        assert _add(other, base, key="ADMIN_SET", value="admin-value").status_code == 303
    with caplog.at_level(logging.WARNING, logger="forge.ci"):
        shown = web.submit(base, f"{base}/{variable_id}/reveal", {})
    assert shown.status_code == 200 and "owner-value-1" in shown.text and "This reveal was recorded." in shown.text
    assert any("revealed by " + owner.name in r.getMessage() and "OWNER_SET" in r.getMessage()
               for r in caplog.records)
    # Only the one value asked for is revealed.
    assert "admin-value" not in shown.text


def test_organisation_variables_page(server, factory, web):  # type: ignore[no-untyped-def]
    owner = factory.user()
    org = factory.org(owner)
    member = factory.user()
    with session_scope(server.engine) as s:
        orgs.add_member(s, owner, org, member)
    base = f"/org/{org.name}/settings/ci/variables"
    web.login(owner.name, PASSWORD)
    page = web.get(base)
    assert page.status_code == 200 and "every repository of this organisation" in page.text
    made = _add(web, base, key="ORG_REGISTRY_PASSWORD", value="org-pass-1234", masked="on")
    assert made.status_code == 303 and made.headers["location"] == base
    listing = web.follow(made)
    assert "ORG_REGISTRY_PASSWORD" in listing.text and "org-pass-1234" not in listing.text
    variable_id = _variable_id(listing.text, "ORG_REGISTRY_PASSWORD")
    shown = web.submit(base, f"{base}/{variable_id}/reveal", {})
    assert shown.status_code == 200 and "org-pass-1234" in shown.text
    with web.as_user(member.name, PASSWORD) as other:
        assert other.get(base).status_code == 403
        assert other.post(f"{base}/{variable_id}/reveal").status_code == 403
    # The same address for a user (not an organisation) is not a page.
    web2 = web.get(f"/org/{owner.name}/settings/ci/variables")
    assert web2.status_code == 404
    # A repository page for a variable of the organisation does not find it.
    ref = factory.repo(org, actor=owner)
    assert web.get(f"{_base(ref)}/{variable_id}").status_code == 404


def test_a_runner_receives_masked_and_file_variables_and_the_stored_log_hides_them(server, factory, web):  # type: ignore[no-untyped-def]
    owner = factory.user()
    org = factory.org(owner)
    ref = factory.repo(org, actor=owner)
    web.login(owner.name, PASSWORD)
    secret = "tok-" + unique("secret") + "-xyz"
    assert _add(web, _base(ref), key="API_TOKEN", value=secret, masked="on").status_code == 303
    assert _add(web, _base(ref), key="CONFIG_FILE", value="a=1\n", variable_type="file").status_code == 303
    org_base = f"/org/{org.name}/settings/ci/variables"
    assert _add(web, org_base, key="ORG_PASS", value="org-secret-42", masked="on").status_code == 303

    label = unique("lbl")
    with httpx.Client(base_url=server.url + API, timeout=60) as c:
        reg = c.post("/register", json={"registration_token": registration_token(server.engine, owner,
                                                                                  Scope.repo(ref.repo)),
                                        "name": unique("r"), "labels": [label], "executor": "shell"})
        assert reg.status_code == 201
        runner_token = reg.json()["token"]
    with session_scope(server.engine) as s:
        assert ref.repo.id is not None
        pipeline = Pipeline(repo_id=ref.repo.id, ref="main", sha="0" * 40, status="running")
        s.add(pipeline)
        s.flush()
        assert pipeline.id is not None
        job = Job(pipeline_id=pipeline.id, repo_id=ref.repo.id, name="use", stage="test", status=PENDING,
                  tags=label, spec={"script": ["true"], "variables": [{"key": "CI", "value": "true"}]})
        s.add(job)
    auth = {"Authorization": f"Bearer {runner_token}"}
    with httpx.Client(base_url=server.url + API, timeout=60) as c:
        taken = c.post("/jobs/request", json={"wait": 5}, headers=auth)
        assert taken.status_code == 200, taken.text
        payload = taken.json()
        variables = {v["key"]: v for v in payload["variables"]}
        assert variables["API_TOKEN"] == {"key": "API_TOKEN", "value": secret, "masked": True, "file": False}
        assert variables["CONFIG_FILE"] == {"key": "CONFIG_FILE", "value": "a=1\n", "masked": False, "file": True}
        assert variables["ORG_PASS"]["masked"] is True and variables["ORG_PASS"]["value"] == "org-secret-42"
        assert variables["CI_JOB_TOKEN"]["value"] == payload["token"]
        job_auth = {"Authorization": f"Bearer {payload['token']}"}
        # A log that prints the secrets (split across two appends) is stored with them masked.
        line = f"token={secret} org=org-secret-42\n".encode()
        first, rest = line[:10], line[10:]
        assert c.put(f"/jobs/{payload['id']}/log?offset=0", content=first, headers=job_auth).status_code == 200
        assert c.put(f"/jobs/{payload['id']}/log?offset={len(first)}", content=rest,
                     headers=job_auth).status_code == 200
        assert c.post(f"/jobs/{payload['id']}/state", json={"state": "success", "exit_code": 0},
                      headers=job_auth).status_code == 200
    log = web.get(f"/{ref.full_name}/-/jobs/{payload['id']}/log")
    assert log.status_code == 200
    assert log.text == "token=[MASKED] org=[MASKED]\n"


@pytest.mark.parametrize("path", ["/org/nobody-here/settings/ci/variables", "/nobody/none/settings/ci/variables"])
def test_unknown_places_are_404(server, factory, web, path):  # type: ignore[no-untyped-def]
    web.login(factory.user().name, PASSWORD)
    assert web.get(path).status_code == 404
