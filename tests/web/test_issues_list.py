"""The issue list on the live server: filters from the URL and the query box, "no label/milestone/assignee",
text search, sorting, pagination, counts, and pull requests kept out."""

from __future__ import annotations

import re
from datetime import date

from forge.issues import comments, search
from forge.issues import labels as label_service
from forge.issues import milestones as milestone_service
from forge.issues import services as issues


def _titles(html: str) -> list[str]:
    return re.findall(r'class="issue-title" href="[^"]*">([^<]*)</a>', html)


def test_filters_search_sort_and_pull_requests_left_out(factory, web):  # type: ignore[no-untyped-def]
    alice, bob = factory.user(), factory.user()
    ref = factory.repo(alice)
    with factory.session() as s:
        bug = label_service.create_label(s, alice, ref=ref, name="bug", color="#d73a4a")
        ui = label_service.create_label(s, alice, ref=ref, name="user interface", color="#0075ca")
        v1 = milestone_service.create_milestone(s, alice, ref, title="v1 beta")
        a = issues.create_issue(s, alice, ref, title="Crash when saving", body="Stack trace attached",
                                label_ids=[bug.id, ui.id], milestone_id=v1.id, assignee_ids=[alice.id],
                                due_date=date(2031, 1, 1))
        b = issues.create_issue(s, bob, ref, title="Button colour", body="The save button is 100% red",
                                due_date=date(2030, 1, 1))
        c = issues.create_issue(s, alice, ref, title="Docs typo", label_ids=[ui.id])
        issues.create_issue(s, alice, ref, title="A pull request", is_pull=True)
        comments.add_comment(s, bob, ref, b, "one")
        comments.add_comment(s, bob, ref, b, "two")
        comments.add_comment(s, bob, ref, c, "three")
        issues.close_issue(s, alice, ref, c)
        assert (a.number, b.number, c.number) == (1, 2, 3)
    base = f"/{ref.full_name}/issues"

    assert _titles(web.get(base).text) == ["Button colour", "Crash when saving"]
    page = web.get(f"{base}?state=all")
    assert _titles(page.text) == ["Docs typo", "Button colour", "Crash when saving"]
    assert "2 Open" in page.text and "1 Closed" in page.text and "A pull request" not in page.text

    def q(query: str) -> list[str]:
        resp = web.get(base, params={"q": query})
        assert resp.status_code == 200
        return _titles(resp.text)

    assert q("is:open label:bug") == ["Crash when saving"]
    assert q('state:all label:"user interface"') == ["Docs typo", "Crash when saving"]
    assert q('label:bug label:"user interface"') == ["Crash when saving"]
    assert q("label:nonexistent") == []
    assert q("is:open no:label") == ["Button colour"]
    assert q('milestone:"v1 beta"') == ["Crash when saving"]
    assert q("no:milestone is:open") == ["Button colour"]
    assert q(f"assignee:{alice.name}") == ["Crash when saving"]
    assert q("no:assignee state:all") == ["Docs typo", "Button colour"]
    assert q(f"author:{bob.name}") == ["Button colour"]
    assert q("is:closed") == ["Docs typo"]
    assert q("CRASH") == ["Crash when saving"]  # the title, any case
    assert q("save button") == ["Button colour"]  # the body; every word must match
    assert q("100%") == ["Button colour"]  # no LIKE wildcards
    assert q("stack trace") == ["Crash when saving"]
    assert q("state:all sort:most-commented") == ["Button colour", "Docs typo", "Crash when saving"]
    assert q("is:open sort:oldest") == ["Crash when saving", "Button colour"]
    # bob may not set a due date (no write access): his issue has none and sorts last.
    assert q("is:open sort:due-soon") == ["Crash when saving", "Button colour"]
    # Separate URL parameters work too (bookmarks, the milestone page's links).
    assert _titles(web.get(f"{base}?label=bug&state=all").text) == ["Crash when saving"]
    # The box shows the query and the filter menus link to refined queries.
    page = web.get(base, params={"q": "is:open label:bug"}).text
    assert 'value="is:open label:bug"' in page and "Clear current search query" in page
    assert f'href="{base}?q=is%3Aclosed+label%3Abug"' in page


def test_pagination_25_per_page(factory, web):  # type: ignore[no-untyped-def]
    alice = factory.user()
    ref = factory.repo(alice)
    with factory.session() as s:
        for n in range(1, 53):
            issues.create_issue(s, alice, ref, title=f"Issue number {n}")
    base = f"/{ref.full_name}/issues"
    first = web.get(base).text
    titles = _titles(first)
    assert len(titles) == 25 and titles[0] == "Issue number 52" and titles[-1] == "Issue number 28"
    assert "52 Open" in first and 'rel="next"' in first and 'aria-current="page">1<' in first
    third = web.get(f"{base}?q=is%3Aopen&page=3").text
    assert _titles(third) == ["Issue number 2", "Issue number 1"] and 'rel="next"' not in third
    assert 'rel="prev"' in third and f'href="{base}?q=is%3Aopen&amp;page=2"' in third
    # A page past the end shows the last one.
    assert _titles(web.get(f"{base}?page=99").text) == ["Issue number 2", "Issue number 1"]


def test_query_round_trip() -> None:
    f = search.parse_query('is:closed label:bug label:"help wanted" milestone:"v 2" assignee:@bob author:al '
                           "sort:comments-desc no:label crash here")
    assert (f.state, f.labels, f.milestone, f.assignee, f.author, f.sort, f.no_label, f.text) == (
        "closed", ["bug", "help wanted"], "v 2", "bob", "al", "most-commented", True, "crash here")
    assert search.parse_query(search.to_query(f)) == f
    assert search.parse_query('unbalanced "quote').text == "unbalanced quote"
