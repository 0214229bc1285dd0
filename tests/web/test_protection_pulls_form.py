"""The pull request part of the branch protection form: require a pull request, approvals, stale approvals,
required status checks (with the contexts seen lately offered) and "up to date with base"."""

from __future__ import annotations

import html

from forge.accounts.models import Account
from forge.repos import protection, statuses
from forge.repos import services as repos
from forge.repos.services import RepoRef
from tests.conftest import LiveServer
from tests.factories import PASSWORD, Factory
from tests.gitclient import GitClient
from tests.webclient import WebClient


def _owner_with_repo(web: WebClient, factory: Factory, git: GitClient) -> tuple[Account, RepoRef, str]:
    alice = factory.user()
    web.login(alice.name, PASSWORD)
    ref = factory.repo(alice)
    work = git.init_repo("work")
    git.push_to(work, ref)
    sha = git.run("rev-parse", "HEAD", cwd=work, check=True).out.strip()
    return alice, ref, sha


def test_pull_request_rules_are_saved_shown_and_edited(web: WebClient, factory: Factory, git: GitClient) -> None:
    _, ref, sha = _owner_with_repo(web, factory, git)
    rules = f"/{ref.full_name}/settings/branches"
    with factory.session() as s:
        assert ref.repo.id is not None
        statuses.set_status(s, ref.repo.id, sha, state="success", context="ci/forge")
        statuses.set_status(s, ref.repo.id, sha, state="failed", context="lint: style")

    page = web.get(rules)
    assert page.status_code == 200
    for name in ("require_pull_request", "required_approvals", "dismiss_stale_approvals", "required_contexts",
                 "require_up_to_date"):
        assert f'name="{name}"' in page.text
    # The contexts reported on this repository are offered, newest first.
    offered = html.unescape(page.text.split("Seen recently in this repository:")[1].split("</div>")[0])
    assert 'data-context="lint: style"' in offered and 'data-context="ci/forge"' in offered
    assert offered.index("lint: style") < offered.index("ci/forge")

    resp = web.submit(rules, rules, {
        "pattern": "main", "require_pull_request": "on", "required_approvals": "2",
        "dismiss_stale_approvals": "on", "required_contexts": "ci/forge\r\n\r\n  lint: style \r\nci/forge\r\n",
        "require_up_to_date": "on",
    })
    assert resp.status_code == 303, resp.text[:2000]
    listing = web.follow(resp)
    assert "Protection rule for main saved." in listing.text
    text = html.unescape(listing.text)
    for badge in ("pull request required", "2 approvals", "stale approvals dismissed", "check ci/forge",
                  "check lint: style", "up to date with base"):
        assert f'<span class="badge">{badge}</span>' in text, badge

    with factory.session() as s:
        rule = protection.list_rules(s, ref)[0]
        assert rule.require_pull_request and rule.dismiss_stale_approvals and rule.require_up_to_date
        assert rule.required_approvals == 2
        assert rule.contexts == ["ci/forge", "lint: style"]  # blank lines and the repeat dropped
        rule_id = rule.id

    edit = web.get(f"{rules}/{rule_id}")
    assert edit.status_code == 200
    form = html.unescape(edit.text)
    assert '<input type="checkbox" name="require_pull_request" checked>' in form
    assert '<input type="checkbox" name="dismiss_stale_approvals" checked>' in form
    assert '<input type="checkbox" name="require_up_to_date" checked>' in form
    assert 'name="required_approvals" min="0" max="20" value="2"' in form
    assert ">ci/forge\nlint: style</textarea>" in form

    # Untick everything: the rule keeps protecting the branch but asks for nothing more.
    resp = web.submit(f"{rules}/{rule_id}", f"{rules}/{rule_id}", {"pattern": "main", "required_approvals": "0"})
    assert resp.status_code == 303
    with factory.session() as s:
        rule = protection.get_rule(s, ref, rule_id)
        assert not rule.require_pull_request and not rule.dismiss_stale_approvals and not rule.require_up_to_date
        assert rule.required_approvals == 0 and rule.contexts == []
    assert "pull request required" not in web.get(rules).text


def test_bad_approval_count_keeps_the_form(web: WebClient, factory: Factory, git: GitClient) -> None:
    _, ref, _ = _owner_with_repo(web, factory, git)
    rules = f"/{ref.full_name}/settings/branches"
    resp = web.submit(rules, rules, {"pattern": "release/*", "require_pull_request": "on",
                                     "required_approvals": "two", "required_contexts": "ci/forge"})
    assert resp.status_code == 422
    text = html.unescape(resp.text)
    assert "The number of required approvals must be a whole number." in text
    assert 'value="release/*"' in text and ">ci/forge</textarea>" in text
    assert '<input type="checkbox" name="require_pull_request" checked>' in text
    with factory.session() as s:
        assert protection.list_rules(s, ref) == []

    negative = web.submit(rules, rules, {"pattern": "main", "required_approvals": "-1"})
    assert negative.status_code == 422
    with factory.session() as s:
        assert protection.list_rules(s, ref) == []


def test_only_admins_reach_the_form(web: WebClient, factory: Factory, git: GitClient, server: LiveServer) -> None:
    alice, ref, _ = _owner_with_repo(web, factory, git)
    bob = factory.user()
    with factory.session() as s:
        repos.set_collaborator(s, alice, ref, bob, "write")
    with web.as_user(bob.name, PASSWORD) as writer:
        rules = f"/{ref.full_name}/settings/branches"
        assert writer.get(rules).status_code == 403
        refused = writer.post(rules, {"pattern": "main", "require_pull_request": "on", "required_approvals": "0"})
        assert refused.status_code == 403
    with factory.session() as s:
        assert protection.list_rules(s, ref) == []
