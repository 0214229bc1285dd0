"""The `forge` command line. Command names are relied on by scripts and operators: keep them stable."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any, TypeVar

import click
from pydantic import ValidationError
from sqlmodel import Session

from forge.accounts import users
from forge.bootstrap import prepare
from forge.db import migrate as db_migrate
from forge.db.engine import session_scope
from forge.errors import ForgeError
from forge.settings import Settings

T = TypeVar("T")


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        # One sentence per bad setting, naming the environment variable an operator would change.
        for err in exc.errors():
            name = "FORGE_" + str(err["loc"][0]).upper() if err["loc"] else "configuration"
            click.echo(f"error: {name}: {err['msg']} (got {err.get('input')!r}).", err=True)
        sys.exit(2)


@contextmanager
def _session(settings: Settings) -> Iterator[Session]:
    engine = prepare(settings)
    try:
        with session_scope(engine) as session:
            yield session
    finally:
        engine.dispose()


def _run(fn: Callable[[], T]) -> T:
    """Turn domain errors into a sentence on stderr and exit code 1."""
    try:
        return fn()
    except ForgeError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)


def _split(full: str) -> tuple[str, str]:
    if full.count("/") != 1:
        click.echo(f"error: “{full}” is not of the form OWNER/NAME.", err=True)
        sys.exit(2)
    owner, name = full.split("/")
    return owner, name


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="forge")
def main() -> None:
    """A self-hosted Git forge with built-in CI. Data lives in $FORGE_HOME (default ./forge-data)."""


@main.command()
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1, or FORGE_HOST).")
@click.option("--port", default=None, type=int, help="Port to listen on (default 3000, or FORGE_PORT).")
@click.option("--workers", default=None, type=int, help="Worker processes (default 1).")
def serve(host: str | None, port: int | None, workers: int | None) -> None:
    """Run the web UI, API and git smart HTTP server."""
    import os

    import uvicorn

    settings = _settings()
    host = host or settings.host
    port = port if port is not None else settings.port
    engine = prepare(settings)
    with session_scope(engine) as session:
        has_users = users.count_users(session) > 0
    engine.dispose()
    # The app factory rebuilds Settings from the environment in each worker; pass the CLI's choices along.
    os.environ["FORGE_HOST"], os.environ["FORGE_PORT"] = host, str(port)
    # Migrations ran above, once; worker processes must not race each other applying them again.
    os.environ["FORGE_MIGRATE_ON_START"] = "0"
    url = settings.base_url or f"http://{host}:{port}"
    click.echo(f"Forge is starting at {url}/  (data: {settings.home})")
    if not has_users:
        click.echo(f"No account exists yet: open {url}/user/signup — the first account to sign up becomes "
                   "the administrator (or run `forge admin create-user NAME --password PW --admin`).")
    # The web package is loaded by name so the core does not import it (see the import-linter contracts).
    uvicorn.run(
        "web.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers or settings.workers,
        log_level=settings.log_level,
        proxy_headers=True,
        timeout_keep_alive=30,
    )


@main.command()
@click.option("--check", is_flag=True, help="Only check that the models match the migrations.")
def migrate(check: bool) -> None:
    """Create or upgrade the database schema."""
    settings = _settings()
    settings.ensure_dirs()
    url = settings.effective_database_url
    if check:
        try:
            db_migrate.check(url)
        except Exception as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)
        click.echo("The models match the migrations.")
        return
    db_migrate.upgrade(url)
    click.echo("The database is up to date.")


@main.command()
def doctor() -> None:
    """Check git, the data directory, the database and Docker."""
    from forge.doctor import run_checks

    failed = False
    for check in run_checks(_settings()):
        mark = "ok  " if check.ok else ("FAIL" if check.fatal else "warn")
        click.echo(f"[{mark}] {check.name}: {check.message}")
        failed |= not check.ok and check.fatal
    sys.exit(1 if failed else 0)


# --- admin -----------------------------------------------------------------------------------------------


@main.group()
def admin() -> None:
    """Administration: users."""


@admin.command("create-user")
@click.argument("name")
@click.option("--password", required=True, help="Initial password (at least 8 characters).")
@click.option("--email", default="", help="Primary email address.")
@click.option("--admin", "is_admin", is_flag=True, help="Make the user a site administrator.")
def create_user(name: str, password: str, email: str, is_admin: bool) -> None:
    """Create a user account."""
    with _session(_settings()) as session:
        user = _run(lambda: users.create_user(session, name, password, email, is_admin=is_admin))
    click.echo(f"Created {'administrator' if is_admin else 'user'} {user.name}.")


@admin.command("set-password")
@click.argument("name")
@click.option("--password", required=True)
def set_password(name: str, password: str) -> None:
    """Set a user's password."""
    with _session(_settings()) as session:
        user = _run(lambda: users.get_user(session, name))
        _run(lambda: users.set_password(session, user, password))
    click.echo(f"Password of {name} changed.")


# --- repositories ----------------------------------------------------------------------------------------


@main.group()
def repo() -> None:
    """Repositories."""


@repo.command("create")
@click.argument("full_name", metavar="OWNER/NAME")
@click.option("--private", is_flag=True, help="Only the owner and people given access can see it.")
@click.option("--description", default="")
@click.option("--readme", is_flag=True, help="Start with a README commit.")
@click.option("--default-branch", default="main")
def repo_create(full_name: str, private: bool, description: str, readme: bool, default_branch: str) -> None:
    """Create a repository owned by a user or organisation."""
    from forge.repos import services

    owner_name, name = _split(full_name)
    settings = _settings()
    with _session(settings) as session:
        owner = _run(lambda: users.get_account(session, owner_name))
        actor = owner if not owner.is_org else _org_owner(session, owner)
        ref = _run(lambda: services.create_repository(
            session, settings.repos_dir, actor, owner, name, private=private, description=description,
            readme=readme, default_branch=default_branch))
    click.echo(f"Created {'private' if private else 'public'} repository {ref.full_name}: "
               f"{settings.public_url()}/{ref.full_name}.git")


def _org_owner(session: Session, org: Any) -> Any:
    from forge.accounts.orgs import list_members

    for member, account in list_members(session, org):
        if member.is_owner:
            return account
    click.echo(f"error: organisation {org.name} has no owner.", err=True)
    sys.exit(1)


@repo.command("list")
@click.argument("owner", required=False)
def repo_list(owner: str | None) -> None:
    """List repositories (all, or one owner's)."""
    with _session(_settings()) as session:
        owner_acc = _run(lambda: users.get_account(session, owner)) if owner else None
        for ref in _all_repos(session, owner_acc):
            click.echo(f"{ref.full_name}\t{'private' if ref.repo.is_private else 'public'}\t{ref.repo.description}")


def _all_repos(session: Session, owner: Any) -> list[Any]:
    from forge.repos import services

    # The CLI is an operator tool: it sees every repository, as a site administrator does.
    operator = users.Account(name="operator", lower_name="operator", is_admin=True)
    return services.list_repos(session, operator, owner=owner, limit=100_000)


# --- branches and tags -----------------------------------------------------------------------------------


def _id(row: Any) -> int:
    assert row.id is not None
    return int(row.id)


def _cli_repo(session: Session, full_name: str) -> tuple[Any, Any]:
    from forge.repos import services

    owner_name, name = _split(full_name)
    ref = services.find_repo(session, owner_name, name)
    if ref is None:
        click.echo(f"error: repository {full_name} does not exist.", err=True)
        sys.exit(1)
    actor = ref.owner if not ref.owner.is_org else _org_owner(session, ref.owner)
    return ref, actor


def _on_repo(full_name: str, action: Callable[[Session, Settings, Any, Any], T]) -> T:
    """Run ``action(session, settings, repo_ref, acting_owner)`` for a CLI command on one repository; domain
    errors become a sentence on stderr and exit code 1."""
    settings = _settings()
    with _session(settings) as session:
        ref, actor = _cli_repo(session, full_name)
        return _run(lambda: action(session, settings, ref, actor))


def _create_ref(full_name: str, kind: str, name: str, from_rev: str) -> None:
    from forge.repos import refs

    sha = _on_repo(full_name, lambda s, st, ref, actor: refs.create_ref(s, st.repos_dir, actor, ref, kind, name,
                                                                       from_rev))
    click.echo(f"Created {kind} {name} at {sha[:10]}.")


def _delete_ref(full_name: str, kind: str, name: str) -> None:
    from forge.repos import refs

    _on_repo(full_name, lambda s, st, ref, actor: refs.delete_ref(s, st.repos_dir, actor, ref, kind, name))
    click.echo(f"Deleted {kind} {name}.")


@main.group()
def branch() -> None:
    """Branches and branch protection."""


@branch.command("list")
@click.argument("full_name", metavar="OWNER/REPO")
def branch_list(full_name: str) -> None:
    from forge.repos import refs

    settings = _settings()
    with _session(settings) as session:
        ref, _ = _cli_repo(session, full_name)
        items = refs.list_branches(settings.repos_dir, ref)
        protected = refs.protected_names(session, ref, [b.name for b in items])
        for b in items:
            flags = [f for f, on in (("default", b.name == ref.repo.default_branch),
                                     ("protected", b.name in protected)) if on]
            click.echo(f"{b.name}\t{b.target[:10]}\t{','.join(flags)}")


@branch.command("create")
@click.argument("full_name", metavar="OWNER/REPO")
@click.argument("name")
@click.option("--from", "from_rev", default="", help="Branch, tag or commit to start from (default branch).")
def branch_create(full_name: str, name: str, from_rev: str) -> None:
    _create_ref(full_name, "branch", name, from_rev)


@branch.command("delete")
@click.argument("full_name", metavar="OWNER/REPO")
@click.argument("name")
def branch_delete(full_name: str, name: str) -> None:
    _delete_ref(full_name, "branch", name)


@branch.command("set-default")
@click.argument("full_name", metavar="OWNER/REPO")
@click.argument("name")
def branch_set_default(full_name: str, name: str) -> None:
    from forge.repos import services

    _on_repo(full_name, lambda s, st, ref, actor: services.set_default_branch(s, st.repos_dir, actor, ref, name))
    click.echo(f"The default branch of {full_name} is now {name}.")


@branch.command("protect")
@click.argument("full_name", metavar="OWNER/REPO")
@click.argument("pattern")
@click.option("--allow-force-push", is_flag=True)
@click.option("--allow-deletion", is_flag=True)
@click.option("--push-user", "push_users", multiple=True, help="Only these users (and teams) may push.")
@click.option("--push-team", "push_teams", multiple=True, help="Team name of the owning organisation.")
@click.option("--require-pull-request", is_flag=True, help="Refuse direct pushes: changes arrive by pull request.")
@click.option("--approvals", type=int, default=0, show_default=True, help="Approving reviews needed to merge.")
@click.option("--dismiss-stale-approvals", is_flag=True, help="New commits dismiss earlier approvals.")
@click.option("--require-context", "contexts", multiple=True, help="A status context that must succeed (repeatable).")
@click.option("--require-up-to-date", is_flag=True, help="The pull request must contain the base branch's tip.")
def branch_protect(full_name: str, pattern: str, allow_force_push: bool, allow_deletion: bool,
                   push_users: tuple[str, ...], push_teams: tuple[str, ...], require_pull_request: bool,
                   approvals: int, dismiss_stale_approvals: bool, contexts: tuple[str, ...],
                   require_up_to_date: bool) -> None:
    """Protect branches matching PATTERN (a name or a glob such as release/*). Running it again for a pattern
    replaces the whole rule with what this command says."""
    from forge.accounts import orgs
    from forge.repos import protection

    settings = _settings()
    with _session(settings) as session:
        ref, actor = _cli_repo(session, full_name)
        user_ids = [_id(_run(partial(users.get_user, session, n))) for n in push_users]
        team_ids = [_id(_run(partial(orgs.get_team, session, ref.owner, n))) for n in push_teams]
        existing = [r for r in protection.list_rules(session, ref) if r.pattern == pattern]
        _run(lambda: protection.save_rule(
            session, actor, ref, pattern, allow_force_push=allow_force_push, allow_deletion=allow_deletion,
            restrict_push=bool(user_ids or team_ids), push_user_ids=user_ids, push_team_ids=team_ids,
            rule_id=existing[0].id if existing else None, require_pull_request=require_pull_request,
            required_approvals=approvals, dismiss_stale_approvals=dismiss_stale_approvals,
            required_contexts=list(contexts), require_up_to_date=require_up_to_date))
    click.echo(f"Branches matching {pattern} in {full_name} are protected.")


@branch.command("unprotect")
@click.argument("full_name", metavar="OWNER/REPO")
@click.argument("pattern")
def branch_unprotect(full_name: str, pattern: str) -> None:
    from forge.repos import protection

    settings = _settings()
    with _session(settings) as session:
        ref, actor = _cli_repo(session, full_name)
        rules = [r for r in protection.list_rules(session, ref) if r.pattern == pattern]
        if not rules:
            click.echo(f"error: no protection rule for {pattern}.", err=True)
            sys.exit(1)
        assert rules[0].id is not None
        _run(lambda: protection.delete_rule(session, actor, ref, rules[0].id))  # type: ignore[arg-type]
    click.echo(f"Removed the protection rule {pattern}.")


@main.group()
def tag() -> None:
    """Tags."""


@tag.command("list")
@click.argument("full_name", metavar="OWNER/REPO")
def tag_list(full_name: str) -> None:
    from forge.repos import refs

    settings = _settings()
    with _session(settings) as session:
        ref, _ = _cli_repo(session, full_name)
        for t in refs.list_tags(settings.repos_dir, ref):
            click.echo(f"{t.name}\t{t.target[:10]}")


@tag.command("create")
@click.argument("full_name", metavar="OWNER/REPO")
@click.argument("name")
@click.option("--from", "from_rev", default="", help="Branch, tag or commit to tag (default branch).")
def tag_create(full_name: str, name: str, from_rev: str) -> None:
    _create_ref(full_name, "tag", name, from_rev)


@tag.command("delete")
@click.argument("full_name", metavar="OWNER/REPO")
@click.argument("name")
def tag_delete(full_name: str, name: str) -> None:
    _delete_ref(full_name, "tag", name)
