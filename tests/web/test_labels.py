"""Labels (repository and organisation) and milestones on the live server: CRUD pages, default labels, readable
text colour, applying them to issues (timeline entries) and the milestone progress."""

from __future__ import annotations

import re

from forge.accounts import orgs
from forge.issues import services as issues
from forge.issues.models import readable_text_color
from tests.factories import PASSWORD


def _text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def _label_ids(html: str) -> dict[str, int]:
    pattern = r'id="label-(\d+)">\s*<span class="label-name"><a class="label"[^>]*>([^<]+)</a>'
    return {name: int(i) for i, name in re.findall(pattern, html)}


def test_text_colour_is_readable_on_any_background() -> None:
    assert readable_text_color("#ffffff") == "#000000"
    assert readable_text_color("#a2eeef") == "#000000"
    assert readable_text_color("#d73a4a") == "#ffffff"
    assert readable_text_color("#0075ca") == "#ffffff"
    assert readable_text_color("#000000") == "#ffffff"


def test_repository_labels_crud_defaults_and_use(factory, web):  # type: ignore[no-untyped-def]
    alice, bob = factory.user(), factory.user()
    ref = factory.repo(alice)
    base = f"/{ref.full_name}"
    web.login(alice.name, PASSWORD)
    page = web.get(f"{base}/labels")
    assert page.status_code == 200 and "This repository has no labels yet." in page.text
    resp = web.submit(f"{base}/labels", f"{base}/labels/defaults", {})
    assert resp.status_code == 303 and "8 default labels added." in web.follow(resp).text
    page = web.get(f"{base}/labels")
    ids = _label_ids(page.text)
    assert sorted(ids) == ["bug", "documentation", "duplicate", "enhancement", "good first issue", "help wanted",
                           "question", "wontfix"]
    assert 'style="background-color: #d73a4a; color: #ffffff"' in page.text
    assert 'style="background-color: #ffffff; color: #000000"' in page.text

    resp = web.submit(f"{base}/labels", f"{base}/labels", {"name": "needs repro", "color": "FB0", "description": ""})
    assert resp.status_code == 303
    ids = _label_ids(web.get(f"{base}/labels").text)
    assert "needs repro" in ids and "#ffbb00" in web.get(f"{base}/labels").text
    dup = web.submit(f"{base}/labels", f"{base}/labels", {"name": "BUG", "color": "#000000"})
    assert dup.status_code == 409 and "There is already a label called “BUG”." in dup.text
    bad = web.submit(f"{base}/labels", f"{base}/labels", {"name": "x", "color": "red"})
    assert bad.status_code == 422 and "#rrggbb" in bad.text
    edit = f"{base}/labels/{ids['needs repro']}/edit"
    resp = web.submit(f"{base}/labels", edit, {"name": "needs reproduction", "color": "#00ff00", "description": "How?"})
    assert resp.status_code == 303
    page = web.get(f"{base}/labels").text
    assert "needs reproduction" in page and "How?" in page

    # Applied to an issue: timeline entries, the list filter and the open count.
    url = f"{base}/issues/1"
    with factory.session() as s:
        issues.create_issue(s, alice, ref, title="Broken")
    resp = web.submit(url, f"{url}/labels", {"label": [str(ids["bug"]), str(ids["needs repro"])]})
    assert resp.status_code == 303
    page = web.get(url)
    assert "added the bug label" in _text(page.text) and "added the needs reproduction label" in _text(page.text)
    assert "1 open issue" in web.get(f"{base}/labels").text
    web.submit(url, f"{url}/labels", {"label": [str(ids["bug"])]})
    assert "removed the needs reproduction label" in _text(web.get(url).text)

    resp = web.submit(f"{base}/labels", f"{base}/labels/{ids['bug']}/delete", {})
    assert resp.status_code == 303
    page = web.get(url).text
    # The label is gone from the issue; its timeline entries still read with the old name.
    assert "added the bug label" in _text(page) and "None yet" in page.split('id="sidebar-labels"')[1]

    with web.as_user(bob.name, PASSWORD) as b:
        assert "New label" not in b.get(f"{base}/labels").text
        assert b.post(f"{base}/labels", {"name": "mine", "color": "#123456"}).status_code == 403
        assert b.post(f"{base}/labels/defaults").status_code == 403


def test_organisation_labels_are_usable_in_its_repositories(factory, web):  # type: ignore[no-untyped-def]
    owner, member = factory.user(), factory.user()
    org = factory.org(owner)
    with factory.session() as s:
        orgs.add_member(s, owner, org, member)
    ref = factory.repo(org, actor=owner)
    web.login(owner.name, PASSWORD)
    page = web.get(f"/org/{org.name}/settings/labels")
    assert page.status_code == 200 and "No organisation labels yet." in page.text
    resp = web.submit(f"/org/{org.name}/settings/labels", f"/org/{org.name}/settings/labels",
                      {"name": "security", "color": "#b60205", "description": "Security issue"})
    assert resp.status_code == 303
    labels = web.get(f"/{ref.full_name}/labels").text
    assert "Labels of " + org.name in labels and "security" in labels and "Manage organisation labels" in labels
    label_id = re.search(r'id="label-(\d+)"', labels).group(1)  # type: ignore[union-attr]
    with factory.session() as s:
        issues.create_issue(s, owner, ref, title="Leak", label_ids=[int(label_id)])
    page = web.get(f"/{ref.full_name}/issues?q=label:security").text
    assert "Leak" in page
    # Labels given when opening are on the timeline too.
    assert "added the security label" in _text(web.get(f"/{ref.full_name}/issues/1").text)
    assert f'href="/org/{org.name}/settings/labels"' in web.get(f"/org/{org.name}/settings").text
    with web.as_user(member.name, PASSWORD) as m:
        assert m.get(f"/org/{org.name}/settings/labels").status_code == 403
        assert m.post(f"/org/{org.name}/settings/labels", {"name": "x", "color": "#000000"}).status_code == 403


def test_milestones_progress_close_and_page(factory, web):  # type: ignore[no-untyped-def]
    alice, bob = factory.user(), factory.user()
    ref = factory.repo(alice)
    base = f"/{ref.full_name}"
    web.login(alice.name, PASSWORD)
    resp = web.submit(f"{base}/milestones/new", f"{base}/milestones/new",
                      {"title": "v1.0", "due_on": "2020-01-31", "description": "First **release**"})
    assert resp.status_code == 303
    milestone_url = resp.headers["location"]
    milestone_id = int(milestone_url.rsplit("/", 1)[1])
    for n in range(4):
        with factory.session() as s:
            issue = issues.create_issue(s, alice, ref, title=f"Task {n}", milestone_id=milestone_id)
            if n == 0:
                issues.close_issue(s, alice, ref, issue)
    listing = web.get(f"{base}/milestones").text
    assert "v1.0" in listing and "25% complete" in listing and "Past due by 2020-01-31" in listing
    assert 'style="width: 25%"' in listing and "3 open" in listing and "1 closed" in listing
    page = web.get(milestone_url).text
    assert "<strong>release</strong>" in page and "Task 1" in page and "Task 0" not in page
    assert "Task 0" in web.get(f"{milestone_url}?state=closed").text
    issue_page = web.get(f"{base}/issues/2").text
    assert f'href="{base}/milestones/{milestone_id}">v1.0</a>' in issue_page
    assert "Task 1" in web.get(f"{base}/issues?q=milestone:v1.0").text

    dup = web.submit(f"{base}/milestones/new", f"{base}/milestones/new", {"title": "V1.0"})
    assert dup.status_code == 409
    resp = web.submit(f"{base}/milestones", f"{base}/milestones/{milestone_id}/close", {})
    assert resp.status_code == 303
    assert "No open milestones." in web.get(f"{base}/milestones").text
    assert "v1.0" in web.get(f"{base}/milestones?state=closed").text
    with web.as_user(bob.name, PASSWORD) as b:
        assert b.get(f"{base}/milestones/new").status_code == 403
        assert b.post(f"{base}/milestones/{milestone_id}/reopen").status_code == 403
    web.submit(f"{base}/milestones?state=closed", f"{base}/milestones/{milestone_id}/delete", {})
    assert web.get(milestone_url).status_code == 404
    assert "No milestone" in web.get(f"{base}/issues/2").text


def test_set_milestone_assignees_and_due_date_from_the_sidebar(factory, web):  # type: ignore[no-untyped-def]
    alice, bob, reader = factory.user(), factory.user(), factory.user()
    ref = factory.repo(alice)
    from forge.repos.services import set_collaborator

    with factory.session() as s:
        set_collaborator(s, alice, ref, bob, "write")
        issues.create_issue(s, alice, ref, title="Plan")
    base = f"/{ref.full_name}"
    url = f"{base}/issues/1"
    web.login(alice.name, PASSWORD)
    web.submit(f"{base}/milestones/new", f"{base}/milestones/new", {"title": "Sprint 1"})
    page = web.get(url).text
    milestone_id = re.search(r'<option value="(\d+)" >Sprint 1', page).group(1)  # type: ignore[union-attr]
    assert web.submit(url, f"{url}/milestone", {"milestone": milestone_id}).status_code == 303
    assert web.submit(url, f"{url}/assignees", {"assignee": [str(alice.id), str(bob.id)]}).status_code == 303
    assert web.submit(url, f"{url}/due", {"due_date": "2030-05-01"}).status_code == 303
    text = _text(web.get(url).text)
    assert "added this to the Sprint 1 milestone" in text
    assert f"{alice.name} self-assigned this" in text and f"{alice.name} assigned {bob.name}" in text
    assert "set the due date to 2030-05-01" in text
    # Only people with write access can be assigned.
    resp = web.post(f"{url}/assignees", {"assignee": [str(reader.id)]})
    assert resp.status_code == 303
    assert "Only people with write access" in web.follow(resp).text
    web.submit(url, f"{url}/assignees", {"assignee": [str(bob.id)]})
    web.submit(url, f"{url}/due", {"clear": "1"})
    web.submit(url, f"{url}/milestone", {"milestone": ""})
    text = _text(web.get(url).text)
    assert f"{alice.name} removed their assignment" in text and "removed the due date" in text
    assert "removed this from the Sprint 1 milestone" in text
    listing = web.get(f"{base}/issues?q=assignee:{bob.name}").text
    assert "Plan" in listing
    assert "Plan" not in web.get(f"{base}/issues?q=assignee:{alice.name}").text
