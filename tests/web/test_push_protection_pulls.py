"""Branch protection's "require a pull request", enforced on real pushes: a writer's direct push is refused (the
ref stays), repository admins and the people and teams the rule names may push, creating a matching branch is
still allowed, deleting follows the rule's own setting, and merging a pull request into the branch works."""

from __future__ import annotations

from forge.accounts import orgs
from forge.errors import PermissionDenied
from forge.permissions import Access
from forge.pulls import merging
from forge.pulls.models import MERGE
from forge.repos import protection
from forge.repos import services as repos
from tests.factories import PASSWORD
from tests.forge.pulls.pullsetup import diverged, load, open_pull


def _remote_sha(git, url, name):  # type: ignore[no-untyped-def]
    out = git.run("ls-remote", url, name).out.split()
    return out[0] if out else None


def test_direct_pushes_refused_but_pull_requests_merge(git, factory):  # type: ignore[no-untyped-def]
    owner, writer, bypasser = factory.user(), factory.user(), factory.user()
    ref = factory.repo(owner)
    work = diverged(git)
    git.push_to(work.path, ref, "main", "topic")
    with factory.session() as s:
        fresh = repos.get_repo_by_id(s, ref.repo.id)
        repos.set_collaborator(s, owner, fresh, writer, "write")
        repos.set_collaborator(s, owner, fresh, bypasser, "write")
        protection.save_rule(s, owner, fresh, "main", require_pull_request=True, push_user_ids=[bypasser.id])
    path = f"{ref.full_name}.git"
    before = _remote_sha(git, git.url(path, owner.name, PASSWORD), "refs/heads/main")

    work.commit({"direct.txt": "direct\n"}, "direct change")
    res = git.run("push", git.url(path, writer.name, PASSWORD), "main", cwd=work.path)
    assert not res.ok
    assert "refs/heads/main: changes to main must go through a pull request." in res.err
    assert _remote_sha(git, git.url(path, owner.name, PASSWORD), "refs/heads/main") == before
    # The writer may push other branches, and propose the change in a pull request.
    assert git.run("push", git.url(path, writer.name, PASSWORD), "main:direct", cwd=work.path).ok
    number = open_pull(factory, writer, ref, ref, head_branch="direct", title="Direct change")
    with factory.session() as s:
        fresh, _issue, pull = load(s, ref, number)
        sha = merging.merge_pull(s, factory.settings, s.merge(writer), fresh, pull, style=MERGE)
    assert _remote_sha(git, git.url(path, owner.name, PASSWORD), "refs/heads/main") == sha

    # The people the rule names, and repository admins, may still push directly.
    work.git("pull", "-q", "--no-rebase", "--no-edit", git.url(path, owner.name, PASSWORD), "main")
    work.commit({"hotfix.txt": "1\n"}, "hotfix by the named user")
    assert git.run("push", git.url(path, bypasser.name, PASSWORD), "main", cwd=work.path).ok
    work.commit({"hotfix.txt": "2\n"}, "hotfix by the owner")
    assert git.run("push", git.url(path, owner.name, PASSWORD), "main", cwd=work.path).ok
    assert _remote_sha(git, git.url(path, owner.name, PASSWORD), "refs/heads/main") == work.head()


def test_new_branches_and_deletion_under_a_pattern(git, factory):  # type: ignore[no-untyped-def]
    owner, writer = factory.user(), factory.user()
    ref = factory.repo(owner)
    work = diverged(git)
    git.push_to(work.path, ref, "main")
    with factory.session() as s:
        fresh = repos.get_repo_by_id(s, ref.repo.id)
        repos.set_collaborator(s, owner, fresh, writer, "write")
        protection.save_rule(s, owner, fresh, "release/*", require_pull_request=True, allow_deletion=True)
    url = git.url(f"{ref.full_name}.git", writer.name, PASSWORD)
    # Creating a release branch is fine; moving it afterwards needs a pull request; deleting is allowed here.
    assert git.run("push", url, "main:release/2", cwd=work.path).ok
    work.commit({"r.txt": "r\n"}, "release fix")
    res = git.run("push", url, "main:release/2", cwd=work.path)
    assert not res.ok and "changes to release/2 must go through a pull request." in res.err
    assert git.run("push", url, ":release/2", cwd=work.path).ok
    assert _remote_sha(git, url, "refs/heads/release/2") is None
    # The same rules for branch changes made through the forge itself.
    with factory.session() as s:
        fresh = repos.get_repo_by_id(s, ref.repo.id)
        try:
            protection.check_ref_update(s, s.merge(writer), fresh, Access.WRITE, "refs/heads/release/2",
                                        deleting=False)
        except PermissionDenied as exc:
            assert exc.message == "Changes to %(branch)s must go through a pull request."
        else:
            raise AssertionError("a direct update was allowed")
        protection.check_ref_update(s, s.merge(writer), fresh, Access.WRITE, "refs/heads/release/2",
                                    deleting=False, creating=True)
        protection.check_ref_update(s, s.merge(owner), fresh, Access.OWNER, "refs/heads/release/2", deleting=False)


def test_teams_named_by_the_rule_bypass(git, factory):  # type: ignore[no-untyped-def]
    owner, member, outsider = factory.user(), factory.user(), factory.user()
    org = factory.org(owner)
    ref = factory.repo(org, actor=owner)
    work = diverged(git)
    path = f"{ref.full_name}.git"
    assert git.run("push", git.url(path, owner.name, PASSWORD), "main", cwd=work.path).ok
    with factory.session() as s:
        fresh = repos.get_repo_by_id(s, ref.repo.id)
        team = orgs.create_team(s, owner, org, "hotfixers", permission="write")
        orgs.add_team_repo(s, owner, team, ref.repo.id, org.id)
        orgs.add_team_member(s, owner, team, member)
        repos.set_collaborator(s, owner, fresh, outsider, "write")
        protection.save_rule(s, owner, fresh, "main", require_pull_request=True, push_team_ids=[team.id])
    work.commit({"x.txt": "x\n"}, "x")
    res = git.run("push", git.url(path, outsider.name, PASSWORD), "main", cwd=work.path)
    assert not res.ok and "must go through a pull request" in res.err
    assert git.run("push", git.url(path, member.name, PASSWORD), "main", cwd=work.path).ok


def test_required_status_checks_and_approvals_on_direct_pushes(git, factory):  # type: ignore[no-untyped-def]
    """A commit pushed straight to a branch that requires status checks must already have passed them (as on
    GitHub: e.g. its pipeline ran on another branch first); requiring approvals implies requiring pull requests."""
    from forge.repos import statuses

    owner, writer = factory.user(), factory.user()
    ref = factory.repo(owner)
    work = diverged(git)
    git.push_to(work.path, ref, "main")
    with factory.session() as s:
        fresh = repos.get_repo_by_id(s, ref.repo.id)
        repos.set_collaborator(s, owner, fresh, writer, "write")
        protection.save_rule(s, owner, fresh, "main", required_contexts=["ci/forge"])
    url = git.url(f"{ref.full_name}.git", writer.name, PASSWORD)

    sha = work.commit({"checked.txt": "1\n"}, "not yet checked")
    res = git.run("push", url, "main", cwd=work.path)
    assert not res.ok
    assert f"requires status checks that have not passed on {sha[:10]}: ci/forge." in res.err
    # The same commit on another branch gets its pipeline; once it passed, main may take it.
    assert git.run("push", url, "main:try", cwd=work.path).ok
    with factory.session() as s:
        statuses.set_status(s, ref.repo.id, sha, state="failed", context="ci/forge")
    assert not git.run("push", url, "main", cwd=work.path).ok
    with factory.session() as s:
        statuses.set_status(s, ref.repo.id, sha, state="success", context="ci/forge")
    assert git.run("push", url, "main", cwd=work.path).ok
    assert _remote_sha(git, url, "refs/heads/main") == sha

    with factory.session() as s:
        fresh = repos.get_repo_by_id(s, ref.repo.id)
        rule = protection.list_rules(s, fresh)[0]
        protection.save_rule(s, owner, fresh, "main", rule_id=rule.id, required_approvals=1)
    work.commit({"checked.txt": "2\n"}, "needs a review")
    res = git.run("push", url, "main", cwd=work.path)
    assert not res.ok and "changes to main must go through a pull request." in res.err
