"""Pull request pages on the live server, driven like a browser without script: open a pull request from a branch
and from a fork, the list and its filters, the conversation and commits tabs, drafts and review requests, and
what a stranger sees of a private repository."""

from __future__ import annotations

import re

from forge.repos import services as repos
from tests.factories import PASSWORD
from tests.forge.pulls.reviewsetup import collaborator, feature_pull, feature_work


def _flash(page: str) -> str:
    match = re.search(r'class="flash flash-\w+"[^>]*>([^<]*)<', page)
    return match.group(1).strip() if match else ""


def test_open_a_pull_request_from_a_branch(git, factory, web):  # type: ignore[no-untyped-def]
    alice = factory.user()
    ref = factory.repo(alice)
    work = feature_work(git)
    git.push_to(work.path, ref, "main", "feature")
    base = f"/{ref.full_name}"
    web.login(alice.name, PASSWORD)

    form = web.get(f"{base}/pulls/new?base=main&head=feature")
    assert form.status_code == 200, form.text[:500]
    assert 'name="title" value="feature change"' in form.text  # the single commit's subject
    assert "1 commit" in form.text and 'class="path">notes.md<' in form.text
    assert '<option value="feature" selected>feature</option>' in form.text

    created = web.submit(f"{base}/pulls/new?base=main&head=feature", f"{base}/pulls/new",
                         {"base": "main", "head": "feature", "title": "Add notes", "body": "Some **notes**"})
    assert created.status_code == 303 and created.headers["location"] == f"{base}/pulls/1"

    page = web.get(f"{base}/pulls/1")
    assert page.status_code == 200, page.text[:1000]
    assert "Add notes" in page.text and "<strong>notes</strong>" in page.text
    assert 'class="state state-open pull-state"' in page.text
    assert f"{alice.name} wants to merge 1 commit into main from feature" in page.text

    commits = web.get(f"{base}/pulls/1/commits")
    assert commits.status_code == 200 and 'class="commit-summary"' in commits.text
    assert re.findall(r'class="commit-summary" href="[^"]*">([^<]*)<', commits.text) == ["feature change"]

    listing = web.get(f"{base}/pulls")
    assert listing.status_code == 200 and f'href="{base}/pulls/1">Add notes</a>' in listing.text
    assert "1 Open" in listing.text and "0 Closed" in listing.text
    # The same branches again: refused, naming the open pull request.
    again = web.submit(f"{base}/pulls/new?base=main&head=feature", f"{base}/pulls/new",
                       {"base": "main", "head": "feature", "title": "Again"})
    assert again.status_code == 409 and "#1 already proposes these changes" in again.text
    # Nothing to merge.
    work.git("branch", "same", "main")
    git.push_to(work.path, ref, "same")
    nothing = web.get(f"{base}/pulls/new?base=main&head=same")
    assert nothing.status_code == 200 and "There is nothing to merge" in nothing.text
    assert f'method="post" action="{base}/pulls/new"' not in nothing.text  # no form to open one
    missing = web.get(f"{base}/pulls/new?base=main&head=nope")
    assert missing.status_code == 200 and "There is no branch “nope” to merge from." in missing.text


def test_open_a_pull_request_from_a_fork(git, factory, web):  # type: ignore[no-untyped-def]
    alice, bob = factory.user(), factory.user()
    ref = factory.repo(alice)
    work = feature_work(git)
    git.push_to(work.path, ref, "main")
    with factory.session() as s:
        fork = repos.fork_repository(s, factory.settings.repos_dir, "git", bob, repos.get_repo_by_id(s, ref.repo.id))
    git.push_to(work.path, fork, "feature", user=bob)
    base = f"/{ref.full_name}"
    web.login(bob.name, PASSWORD)

    form = web.get(f"{base}/pulls/new?head={bob.name}:feature")
    assert form.status_code == 200, form.text[:500]
    assert f'<optgroup label="{fork.full_name}">' in form.text
    assert f'<option value="{bob.name}:feature" selected>' in form.text and "1 commit" in form.text
    created = web.submit(f"{base}/pulls/new?head={bob.name}:feature", f"{base}/pulls/new",
                         {"base": "main", "head": f"{bob.name}:feature", "title": "From my fork"})
    assert created.status_code == 303, created.text[:500]
    page = web.get(created.headers["location"])
    assert f"wants to merge 1 commit into main from {bob.name}:feature" in page.text
    assert f'href="/{fork.full_name}">{fork.full_name}</a>' in page.text
    files = web.get(created.headers["location"] + "/files")
    assert files.status_code == 200 and 'class="path">ten.txt<' in files.text


def test_drafts_review_requests_and_list_filters(git, factory, web):  # type: ignore[no-untyped-def]
    alice = factory.user()
    ref = factory.repo(alice)
    work = feature_work(git)
    work.git("branch", "other", "feature")
    git.push_to(work.path, ref, "main", "feature", "other")
    carol = collaborator(factory, ref, "write")
    base = f"/{ref.full_name}"
    web.login(alice.name, PASSWORD)
    made = web.submit(f"{base}/pulls/new?head=feature", f"{base}/pulls/new",
                      {"base": "main", "head": "feature", "title": "Drafty", "draft": "on"})
    assert made.status_code == 303
    web.submit(f"{base}/pulls/new?head=other", f"{base}/pulls/new",
               {"base": "main", "head": "other", "title": "Second"})

    page = web.get(f"{base}/pulls/1")
    assert 'class="state state-draft pull-state"' in page.text and "This pull request is still a draft." in page.text
    listing = web.get(f"{base}/pulls")
    assert re.search(r'Drafty</a>\s*<span class="badge badge-draft">Draft</span>', listing.text)

    asked = web.submit(f"{base}/pulls/1", f"{base}/pulls/1/reviewers", {"reviewers": carol.name})
    assert asked.status_code == 303
    page = web.follow(asked)
    assert "Reviewers updated." in page.text
    assert re.search(rf'<a href="/{carol.name}">{carol.name}</a>\s*<span class="reviewer-state"', page.text)
    assert "● pending" in page.text
    unknown = web.submit(f"{base}/pulls/1", f"{base}/pulls/1/reviewers", {"reviewers": "no-such-user-x"})
    assert _flash(web.follow(unknown).text) == "There is no user called “no-such-user-x”."

    ready = web.submit(f"{base}/pulls/1", f"{base}/pulls/1/draft", {"draft": "0"})
    page = web.follow(ready)
    assert "This pull request is ready for review." in page.text and 'class="state state-open pull-state"' in page.text

    # The list shows the CI state of each head commit.
    with factory.session() as s:
        from forge.repos import statuses

        statuses.set_status(s, ref.repo.id, work.git("rev-parse", "feature"), state="failed", context="ci/test")
    listing = web.get(f"{base}/pulls")
    assert listing.text.count('class="ci-icon ci-failed"') == 2  # both heads are that commit
    assert 'title="ci/test: failed"' in listing.text

    with web.as_user(carol.name, PASSWORD) as other:
        mine = other.get(f"{base}/pulls?review=requested")
        assert "Drafty" in mine.text and "Second" not in mine.text
        assert "Second" in other.get(f"{base}/pulls?q=second").text
        assert "Drafty" not in other.get(f"{base}/pulls?author={carol.name}").text


def test_a_stranger_sees_nothing_of_a_private_repository(git, factory, web):  # type: ignore[no-untyped-def]
    pr = feature_pull(git, factory, private=True)
    stranger = factory.user()
    base = f"/{pr.ref.full_name}"
    for path in ("/pulls", "/pulls/1", "/pulls/1/commits", "/pulls/1/files", "/pulls/new?head=feature"):
        assert web.get(base + path).status_code == 404, path
    # Anyone may read a public repository's pull requests, without the means to comment or review.
    public = feature_pull(git, factory)
    for path in ("/pulls", "/pulls/1", "/pulls/1/commits", "/pulls/1/files"):
        page = web.get(f"/{public.ref.full_name}{path}")
        assert page.status_code == 200, path
        assert 'class="line-comment"' not in page.text and "Submit review" not in page.text
    web.login(stranger.name, PASSWORD)
    for path in ("/pulls", "/pulls/1", "/pulls/1/files"):
        assert web.get(base + path).status_code == 404, path
    for action, data in (("/pulls/1/files/comments", {"path": "ten.txt", "line": "4", "body": "x"}),
                         ("/pulls/1/reviews", {"verdict": "approve"}),
                         ("/pulls/1/reviewers", {"reviewers": stranger.name}),
                         ("/pulls/new", {"base": "main", "head": "feature", "title": "x"})):
        assert web.post(base + action, data).status_code == 404, action
    # The owner sees it; a missing number is a 404 too.
    with web.as_user(pr.owner.name, PASSWORD) as owner:
        assert owner.get(base + "/pulls/1").status_code == 200
        assert owner.get(base + "/pulls/99").status_code == 404
