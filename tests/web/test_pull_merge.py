"""The merge box and its actions over HTTP against the live server: what readers and writers see, merging with the
allowed styles (checked in a fresh clone), requirements refusing a merge with the reason shown, auto-merge, deleting
and restoring the head branch, and a conflict resolved in the browser."""

from __future__ import annotations

import html
import time
from dataclasses import dataclass

import pytest

from forge import push_processing
from forge.accounts.models import Account
from forge.issues.models import Issue
from forge.pulls import services as pulls
from forge.pulls import settings as merge_settings
from forge.pulls.models import PullRequest
from forge.repos import protection, statuses
from forge.repos import services as repos
from forge.repos.services import RepoRef
from tests.conftest import LiveServer
from tests.factories import PASSWORD, Factory
from tests.gitclient import GitClient, Work
from tests.webclient import WebClient


@dataclass
class Setup:
    owner: Account
    ref: RepoRef
    work: Work
    number: int

    @property
    def url(self) -> str:
        return f"/{self.ref.full_name}/pulls/{self.number}"


def _text(resp: object) -> str:
    return html.unescape(resp.text)  # type: ignore[attr-defined]


def _open_pull(factory: Factory, server: LiveServer, owner: Account, ref: RepoRef, head: str = "feature",
               title: str = "Add a greeting", body: str = "It says hello.", draft: bool = False) -> int:
    with factory.session() as s:
        pull = pulls.open_pull(s, server.settings, owner, ref, base_branch="main", head=ref, head_branch=head,
                               title=title, body=body, draft=draft)
        issue = s.get(Issue, pull.issue_id)
        assert issue is not None
        return issue.number


def _setup(factory: Factory, server: LiveServer, git: GitClient, *, private: bool = False,
           conflict: bool = False, draft: bool = False, conflict_files: int = 1) -> Setup:
    owner = factory.user()
    ref = factory.repo(owner, private=private)
    work = git.new_work("work")
    work.commit({"README.md": "# project\n", "greeting.txt": "hi\n"}, "initial commit")
    git.push_to(work.path, ref, "main")
    work.git("checkout", "-q", "-b", "feature")
    work.commit({"greeting.txt": "hello from the feature\n"}, "Say hello")
    work.commit({"docs.txt": "docs\n"}, "Write docs")
    git.push_to(work.path, ref, "feature")
    if conflict:
        work.git("checkout", "-q", "main")
        files = {"greeting.txt": "hello from main\n"}
        if conflict_files > 1:
            files["docs.txt"] = "other docs\n"
        work.commit(files, "Greet differently")
        git.push_to(work.path, ref, "main")
        work.git("checkout", "-q", "feature")
    number = _open_pull(factory, server, owner, ref, draft=draft)
    return Setup(owner, ref, work, number)


def _pull(factory: Factory, setup: Setup) -> PullRequest:
    with factory.session() as s:
        return pulls.get_pull(s, setup.ref, setup.number)[1]


def _clone_log(git: GitClient, ref: RepoRef, name: str) -> str:
    clone = git.run("clone", "-q", git.url(f"{ref.full_name}.git", ref.owner.name, PASSWORD), name)
    assert clone.ok, clone.err
    return git.run("log", "--graph", "--format=%s", "main", cwd=git.tmp / name, check=True).out


def _signed_in(server: LiveServer, account: Account) -> WebClient:
    client = WebClient(server.url)
    client.login(account.name, PASSWORD)
    return client


def test_conversation_page_holds_the_merge_box(web: WebClient, factory: Factory, server: LiveServer,
                                               git: GitClient) -> None:
    setup = _setup(factory, server, git)
    web.login(setup.owner.name, PASSWORD)
    page = web.get(setup.url)
    assert page.status_code == 200
    box = page.text.split('id="merge-box"')[1].split("</section>")[0]
    assert "This branch has no conflicts with the base branch" in box
    assert f'action="{setup.url}/merge"' in box and 'name="csrf_token" value="' in box
    resp = web.submit(setup.url, setup.url + "/merge", {"style": "rebase"})
    assert resp.status_code == 303
    merged = web.get(setup.url)
    assert "merged in" in merged.text and "Pull request merged" in merged.text


def test_reader_sees_the_state_but_cannot_merge(web: WebClient, factory: Factory, server: LiveServer,
                                                git: GitClient) -> None:
    setup = _setup(factory, server, git)
    reader = factory.user()
    web.login(reader.name, PASSWORD)
    page = web.get(setup.url + "/merge")
    assert page.status_code == 200
    assert "This branch has no conflicts with the base branch" in page.text
    assert f'action="{setup.url}/merge"' not in page.text
    assert "Only people with write access can merge this pull request." in page.text

    refused = web.post(setup.url + "/merge", {"style": "merge"})
    assert refused.status_code == 403
    for action in ("/auto-merge", "/auto-merge/disable", "/branch/restore"):
        assert web.post(setup.url + action, {"style": "merge"}).status_code == 403, action
    # The branch of an open pull request is not deleted, for anyone.
    assert web.post(setup.url + "/branch/delete", {}).status_code in (403, 409)
    pull = _pull(factory, setup)
    assert pull.merged_at is None and pull.auto_merge_style == ""


def test_stranger_sees_nothing_of_a_private_repository(web: WebClient, factory: Factory, server: LiveServer,
                                                       git: GitClient) -> None:
    setup = _setup(factory, server, git, private=True)
    stranger = factory.user()
    web.login(stranger.name, PASSWORD)
    assert web.get(setup.url + "/merge").status_code == 404
    assert web.post(setup.url + "/merge", {"style": "merge"}).status_code == 404
    assert web.get(setup.url + "/conflicts").status_code == 404
    assert _pull(factory, setup).merged_at is None


def test_styles_follow_the_settings_and_squash_merges(web: WebClient, factory: Factory, server: LiveServer,
                                                      git: GitClient) -> None:
    setup = _setup(factory, server, git)
    with factory.session() as s:
        merge_settings.save_merge_settings(s, setup.owner, setup.ref, allow_rebase=False, allow_fast_forward=False,
                                           default_style="squash", delete_branch_on_merge=True)
    web.login(setup.owner.name, PASSWORD)
    page = _text(web.get(setup.url + "/merge"))
    select = page.split('name="style"')[1].split("</select>")[0]
    assert select.count("<option") == 2
    assert select.index('value="squash" selected') < select.index('value="merge"')
    assert "Rebase" not in select and "Fast-forward" not in select
    # Squash is the default: its title and message are proposed, and the branch is set to go.
    assert f'name="title" value="Add a greeting (#{setup.number})"' in page
    assert ">It says hello.</textarea>" in page
    assert '<input type="checkbox" name="delete_branch" checked>' in page

    # A style the repository does not allow is refused, and what was typed comes back.
    refused = web.submit(setup.url + "/merge", setup.url + "/merge", {
        "style": "rebase", "title": "My own title", "message": "kept text"})
    assert refused.status_code == 422
    text = _text(refused)
    assert "This repository does not allow that merge method." in text
    assert 'value="My own title"' in text and ">kept text</textarea>" in text
    assert _pull(factory, setup).merged_at is None

    resp = web.submit(setup.url + "/merge", setup.url + "/merge", {
        "style": "squash", "title": "Greeting, squashed", "message": "One commit for all.",
        "delete_branch": "on", "expected_head": _pull(factory, setup).head_sha})
    assert resp.status_code == 303 and resp.headers["location"] == setup.url
    pull = _pull(factory, setup)
    assert pull.merged_at is not None and pull.merge_style == "squash"
    flash = f"Pull request #{setup.number} merged in {pull.merge_commit_sha[:10]}."
    assert flash in _text(web.get(setup.url + "/merge"))

    log = _clone_log(git, setup.ref, "after-squash")
    assert log.splitlines() == ["* Greeting, squashed", "* initial commit"]
    assert not repos.open_git(server.settings.repos_dir, setup.ref).has_branch("feature")

    # After the merge the box says so and offers to bring the deleted branch back.
    merged = _text(web.get(setup.url + "/merge"))
    assert "Pull request merged" in merged
    assert "Squash and merge" in merged
    sha = pull.merge_commit_sha
    link = f'<a href="/{setup.ref.full_name}/commit/{sha}"><code>{sha[:10]}</code></a>'
    assert f"{setup.owner.name} merged this pull request in commit {link}." in web.get(setup.url + "/merge").text
    assert f'action="{setup.url}/merge"' not in merged
    restored = web.submit(setup.url + "/merge", setup.url + "/branch/restore", {})
    assert restored.status_code == 303
    assert "Branch feature restored." in _text(web.get(setup.url + "/merge"))
    assert repos.open_git(server.settings.repos_dir, setup.ref).has_branch("feature")
    again = web.submit(setup.url + "/merge", setup.url + "/branch/delete", {})
    assert again.status_code == 303
    assert not repos.open_git(server.settings.repos_dir, setup.ref).has_branch("feature")


def test_merge_commit_keeps_history(web: WebClient, factory: Factory, server: LiveServer, git: GitClient) -> None:
    setup = _setup(factory, server, git)
    web.login(setup.owner.name, PASSWORD)
    page = _text(web.get(setup.url + "/merge"))
    assert f'name="title" value="Merge pull request #{setup.number} from {setup.owner.name}/feature"' in page
    assert 'name="delete_branch"' in page and 'name="delete_branch" checked' not in page
    resp = web.submit(setup.url + "/merge", setup.url + "/merge", {"style": "merge", "title": "", "message": ""})
    assert resp.status_code == 303, resp.text[:1000]
    log = _clone_log(git, setup.ref, "after-merge")
    assert log.splitlines()[0] == f"*   Merge pull request #{setup.number} from {setup.owner.name}/feature"
    assert "Say hello" in log and "Write docs" in log and "initial commit" in log
    # Not deleted (not asked for), so the box offers to delete it.
    merged = web.get(setup.url + "/merge").text
    assert f'action="{setup.url}/branch/delete"' in merged
    assert repos.open_git(server.settings.repos_dir, setup.ref).has_branch("feature")


def test_requirements_refuse_the_merge_and_auto_merge_waits(web: WebClient, factory: Factory, server: LiveServer,
                                                            git: GitClient) -> None:
    setup = _setup(factory, server, git)
    with factory.session() as s:
        protection.save_rule(s, setup.owner, setup.ref, "main", required_approvals=1,
                             required_contexts=["ci/forge"])
    web.login(setup.owner.name, PASSWORD)
    page = _text(web.get(setup.url + "/merge"))
    assert "Approvals: 0 of 1 required" in page
    assert "ci/forge" in page and "expected — not reported yet" in page
    assert "Approving reviews required: 1; given so far: 0." in page
    assert "Required checks have not passed: ci/forge." in page
    assert f'formaction="{setup.url}/auto-merge"' in page

    refused = web.submit(setup.url + "/merge", setup.url + "/merge", {
        "style": "merge", "title": "Merge it", "message": "please"})
    assert refused.status_code == 409
    text = _text(refused)
    assert 'class="flash flash-error"' in text and "Approving reviews required: 1; given so far: 0." in text
    assert 'value="Merge it"' in text and ">please</textarea>" in text
    assert _pull(factory, setup).merged_at is None

    enabled = web.submit(setup.url + "/merge", setup.url + "/auto-merge", {"style": "merge"})
    assert enabled.status_code == 303
    assert "Auto-merge enabled" in _text(web.get(setup.url + "/merge"))
    box = _text(web.get(setup.url + "/merge"))
    assert f"Auto-merge enabled by {setup.owner.name}" in box and "Create a merge commit" in box
    assert 'formaction' not in box.split("merge-buttons")[1].split("</div>")[0]
    assert _pull(factory, setup).auto_merge_style == "merge"

    disabled = web.submit(setup.url + "/merge", setup.url + "/auto-merge/disable", {})
    assert disabled.status_code == 303 and "Auto-merge disabled." in _text(web.get(setup.url + "/merge"))
    assert _pull(factory, setup).auto_merge_style == ""

    # The check passes and a writer approves: the box lists nothing more and the merge goes through.
    reviewer = factory.user()
    with factory.session() as s:
        repos.set_collaborator(s, setup.owner, setup.ref, reviewer, "write")
        assert setup.ref.repo.id is not None
        statuses.set_status(s, setup.ref.repo.id, _pull(factory, setup).head_sha, state="success",
                            context="ci/forge")
    with factory.session() as s:
        from forge.pulls import reviews

        _, pull = pulls.get_pull(s, setup.ref, setup.number)
        reviews.submit_review(s, reviewer, setup.ref, pull, state="approved", body="Looks good")
    ready = _text(web.get(setup.url + "/merge"))
    assert "Approvals: 1 of 1 required" in ready and "merge-problems" not in ready
    assert "passed" in ready
    resp = web.submit(setup.url + "/merge", setup.url + "/merge", {"style": "merge"})
    assert resp.status_code == 303
    assert _pull(factory, setup).merged_at is not None


def test_draft_is_listed_as_a_problem(web: WebClient, factory: Factory, server: LiveServer, git: GitClient) -> None:
    setup = _setup(factory, server, git, draft=True)
    web.login(setup.owner.name, PASSWORD)
    page = _text(web.get(setup.url + "/merge"))
    assert "This pull request is still a draft." in page
    refused = web.submit(setup.url + "/merge", setup.url + "/merge", {"style": "merge"})
    assert refused.status_code in (409, 422)
    assert "This pull request is still a draft." in _text(refused)


def test_conflict_resolved_in_the_browser(web: WebClient, factory: Factory, server: LiveServer,
                                          git: GitClient) -> None:
    setup = _setup(factory, server, git, conflict=True)
    web.login(setup.owner.name, PASSWORD)
    page = _text(web.get(setup.url + "/merge"))
    assert "This branch has conflicts that must be resolved" in page
    assert "<li><code>greeting.txt</code></li>" in page
    assert f'href="{setup.url}/conflicts"' in page

    editor = _text(web.get(setup.url + "/conflicts"))
    assert editor.count("<<<<<<< feature") == 1 and ">>>>>>> main" in editor
    assert "hello from the feature" in editor and "hello from main" in editor

    marked = "<<<<<<< feature\nhello from the feature\n=======\nhello from main\n>>>>>>> main\n"
    refused = web.submit(setup.url + "/conflicts", setup.url + "/conflicts", {
        "path": "greeting.txt", "content": marked})
    assert refused.status_code == 422
    assert "The file still contains conflict markers." in _text(refused)
    assert "hello from main" in _text(refused)

    head_before = _pull(factory, setup).head_sha
    resp = web.submit(setup.url + "/conflicts", setup.url + "/conflicts", {
        "path": "greeting.txt", "content": "hello from both\r\n", "expected_head": head_before})
    assert resp.status_code == 303, _text(resp)[:2000]
    assert "Conflict in greeting.txt resolved in commit" in _text(web.get(setup.url + "/merge"))

    deadline = time.monotonic() + 20
    while True:
        push_processing.process_pending(server.engine, server.settings)
        pull = _pull(factory, setup)
        if pull.merge_status == "mergeable" or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert pull.merge_status == "mergeable" and pull.head_sha != head_before
    resp = web.submit(setup.url + "/merge", setup.url + "/merge", {"style": "merge"})
    assert resp.status_code == 303
    clone = git.run("clone", "-q", git.url(f"{setup.ref.full_name}.git", setup.owner.name, PASSWORD), "resolved")
    assert clone.ok, clone.err
    assert (git.tmp / "resolved" / "greeting.txt").read_text() == "hello from both\n"


@pytest.mark.parametrize("who", ["reader", "writer"])
def test_conflict_editor_needs_write(factory: Factory, server: LiveServer, git: GitClient, who: str) -> None:
    setup = _setup(factory, server, git, conflict=True)
    other = factory.user()
    if who == "writer":
        with factory.session() as s:
            repos.set_collaborator(s, setup.owner, setup.ref, other, "write")
    client = _signed_in(server, other)
    try:
        page = client.get(setup.url + "/conflicts")
        if who == "reader":
            assert page.status_code == 403
            assert client.post(setup.url + "/conflicts", {"path": "greeting.txt", "content": "x\n"}).status_code \
                == 403
            assert 'href="' + setup.url + '/conflicts"' not in client.get(setup.url + "/merge").text
        else:
            assert page.status_code == 200 and "<<<<<<< feature" in _text(page)
    finally:
        client.close()


def test_states_without_a_browser_resolution(web: WebClient, factory: Factory, server: LiveServer,
                                            git: GitClient) -> None:
    # Two conflicting files: listed, but to be resolved with git.
    setup = _setup(factory, server, git, conflict=True, conflict_files=2)
    web.login(setup.owner.name, PASSWORD)
    page = _text(web.get(setup.url + "/merge"))
    assert "<li><code>docs.txt</code></li>" in page and "<li><code>greeting.txt</code></li>" in page
    assert f'href="{setup.url}/conflicts"' not in page
    assert "Resolve the conflicts locally" in page
    assert web.get(setup.url + "/conflicts").status_code == 404

    # While mergeability is being computed again the box says so; a failing required check is named.
    with factory.session() as s:
        _, pull = pulls.get_pull(s, setup.ref, setup.number)
        pull.merge_status = "checking"
        s.add(pull)
        protection.save_rule(s, setup.owner, setup.ref, "main", required_contexts=["lint"])
        assert setup.ref.repo.id is not None
        statuses.set_status(s, setup.ref.repo.id, pull.head_sha, state="failed", context="lint")
    page = _text(web.get(setup.url + "/merge"))
    assert "Checking whether this branch can be merged…" in page
    assert '<li class="merge-check merge-check-failed"><code>lint</code>' in page
    assert "Required checks have not passed: lint." in page
    # Auto-merge is offered only while checks are still running on a branch that merges cleanly.
    assert "/auto-merge" not in page


def test_update_branch_brings_the_head_up_to_date(web: WebClient, factory: Factory, server: LiveServer,
                                                  git: GitClient) -> None:
    setup = _setup(factory, server, git)
    setup.work.git("checkout", "-q", "main")
    setup.work.commit({"NEWS.md": "news\n"}, "Main moves on")
    git.push_to(setup.work.path, setup.ref, "main")
    deadline = time.monotonic() + 20
    while _pull(factory, setup).commits_behind == 0 and time.monotonic() < deadline:
        push_processing.process_pending(server.engine, server.settings)
        time.sleep(0.2)
    with factory.session() as s:
        protection.save_rule(s, setup.owner, setup.ref, "main", require_up_to_date=True)
    out_of_date = "This branch is out of date: main has 1 commit(s) it lacks."
    update_form = f'action="{setup.url}/update-branch"'

    with web.as_user(factory.user().name, PASSWORD) as reader:
        page = _text(reader.get(setup.url + "/merge"))
        assert out_of_date in page and update_form not in page
        refused = reader.post(setup.url + "/update-branch", {})
        assert refused.status_code == 403
        assert "You may not push to the branch of this pull request." in _text(refused)

    web.login(setup.owner.name, PASSWORD)
    page = _text(web.get(setup.url + "/merge"))
    assert out_of_date in page and "This branch is 1 commit behind the base branch." in page and update_form in page
    resp = web.submit(setup.url + "/merge", setup.url + "/update-branch", {})
    assert resp.status_code == 303, _text(resp)[:2000]
    page = _text(web.get(setup.url + "/merge"))
    assert "Branch feature updated with main in commit" in page
    assert out_of_date not in page and update_form not in page and "merge-problems" not in page
    assert _pull(factory, setup).commits_behind == 0
    git.run("fetch", "-q", git.url(f"{setup.ref.full_name}.git", setup.owner.name, PASSWORD),
            "+refs/heads/feature:refs/remotes/origin/feature", cwd=setup.work.path, check=True)
    log = git.run("log", "--format=%s", "-1", "origin/feature", cwd=setup.work.path, check=True)
    assert log.out.strip() == "Merge branch 'main' into feature"
    assert web.submit(setup.url + "/merge", setup.url + "/merge", {"style": "merge"}).status_code == 303
