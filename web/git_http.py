"""Git smart HTTP: ``/<owner>/<repo>[.git]/info/refs``, ``/git-upload-pack`` and ``/git-receive-pack``.

A raw ASGI app rather than Starlette routes: this is the clone/push hot path, so it sends git's output to the
socket as it arrives without per-chunk framework work. Access rules come from forge.repos.git_access; this module
only translates between HTTP and the git processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers, QueryParams
from starlette.types import Message, Receive, Scope, Send

from ci import merge_requests as ci_merge_requests
from ci import tokens as ci_tokens
from ci import triggers as ci_triggers
from forge import push_processing
from forge.db.engine import session_scope
from forge.errors import ForgeError
from forge.git.pktline import Command, PktLineError, parse_receive_commands
from forge.git.repository import GitRepo
from forge.git.service import SERVICES, GitRpc, GitServiceConfig, advertise_refs, decompress
from forge.repos import git_access
from forge.repos.pushes import RefUpdate, parse_updates
from forge.settings import Settings
from web.auth import Identity
from web.i18n import gettext

log = logging.getLogger("forge.git")

_PATH_RE = re.compile(r"^/([^/]+)/([^/]+?)(?:\.git)?/(info/refs|git-upload-pack|git-receive-pack)$")
# The command list of a push is small; a body whose first 16 MiB hold no complete list is refused.
_MAX_COMMANDS_BYTES = 16 * 1024 * 1024
_NO_CACHE = [
    (b"cache-control", b"no-cache, max-age=0, must-revalidate"),
    (b"expires", b"Fri, 01 Jan 1980 00:00:00 GMT"),
    (b"pragma", b"no-cache"),
]


def match_git_path(path: str) -> tuple[str, str, str] | None:
    m = _PATH_RE.match(path)
    return (m.group(1), m.group(2), m.group(3)) if m else None


async def _plain(send: Send, status: int, message: str, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    # git prints a text/plain error body to the user as "remote: ..." lines.
    body = (message.rstrip("\n") + "\n").encode()
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        *_NO_CACHE,
        *(extra or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _unauthorized_headers() -> list[tuple[bytes, bytes]]:
    return [(b"www-authenticate", b'Basic realm="forge", charset="UTF-8"')]


async def _body_chunks(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message: Message = await receive()
        if message["type"] == "http.disconnect":
            raise ConnectionResetError("client disconnected")
        chunk = message.get("body", b"")
        if chunk:
            yield chunk
        if not message.get("more_body", False):
            return


class GitHttpApp:
    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings
        self.config = GitServiceConfig(settings.git_bin, settings.hooks_dir, settings.home)

    async def __call__(self, scope: Scope, receive: Receive, send: Send, match: tuple[str, str, str]) -> None:
        owner, name, action = match
        method = scope["method"]
        headers = Headers(scope=scope)
        if action == "info/refs":
            if method not in ("GET", "HEAD"):
                await _plain(send, 405, "Method not allowed.")
                return
            service = QueryParams(scope.get("query_string", b"")).get("service", "")
        else:
            if method != "POST":
                await _plain(send, 405, "Method not allowed.")
                return
            service = action
        if service not in SERVICES:
            # Only smart HTTP is served; the dumb protocol would expose files without access checks.
            await _plain(send, 403, gettext("Only git smart HTTP is supported; please update your git client."))
            return
        identity: Identity = scope["state"]["identity"]
        if identity.bad_credentials:
            await _plain(send, 401, identity.refusal or gettext("Incorrect user name, password or token."),
                         _unauthorized_headers())
            return
        try:
            grant = await run_in_threadpool(self._authorize, identity, owner, name, service)
        except ForgeError as exc:
            extra = _unauthorized_headers() if exc.status == 401 else None
            await _plain(send, exc.status, gettext(exc.message, **exc.params), extra)
            return
        git_protocol = headers.get("git-protocol")
        if action == "info/refs":
            await self._advertise(send, service, grant.path, git_protocol)
        elif service == "git-upload-pack":
            await self._upload_pack(receive, send, grant, headers, git_protocol)
        else:
            await self._receive_pack(receive, send, grant, identity, headers, git_protocol)

    def _authorize(self, identity: Identity, owner: str, name: str, service: str) -> git_access.GitGrant:
        with session_scope(self.engine) as session:
            if identity.job_repo_id is not None:
                return ci_tokens.job_git_grant(session, self.settings.repos_dir, identity.job_repo_id, owner,
                                               name, service)
            return git_access.authorize(
                session, self.settings.repos_dir, identity.user, identity.token_scopes, owner, name, service
            )

    async def _advertise(self, send: Send, service: str, path: Path, git_protocol: str | None) -> None:
        out, code, err = await advertise_refs(self.config, service, path, git_protocol=git_protocol)
        if code != 0:
            log.error("advertise %s failed for %s: %s", service, path, err.strip())
            await _plain(send, 500, gettext("The repository could not be read."))
            return
        body = b""
        if not (git_protocol and "version=2" in git_protocol):
            # Protocol v0/v1 over HTTP starts with the service announcement; v2 does not (as git http-backend).
            line = f"# service={service}\n".encode()
            body = b"%04x" % (len(line) + 4) + line + b"0000"
        body += out
        headers = [
            (b"content-type", f"application/x-{service}-advertisement".encode()),
            (b"content-length", str(len(body)).encode()),
            *_NO_CACHE,
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _upload_pack(
        self, receive: Receive, send: Send, grant: git_access.GitGrant, headers: Headers, git_protocol: str | None
    ) -> None:
        rpc = await GitRpc.start(self.config, "git-upload-pack", grant.path, git_protocol=git_protocol)
        body = decompress(_body_chunks(receive), headers.get("content-encoding", ""))
        await self._run(rpc, send, "git-upload-pack", body, b"")

    async def _receive_pack(
        self,
        receive: Receive,
        send: Send,
        grant: git_access.GitGrant,
        identity: Identity,
        headers: Headers,
        git_protocol: str | None,
    ) -> None:
        body = decompress(_body_chunks(receive), headers.get("content-encoding", ""))
        # Read the command list first: the forge decides per ref what the pre-receive hook must refuse.
        head = bytearray()
        parsed = None
        try:
            async for chunk in body:
                head += chunk
                parsed = parse_receive_commands(head)
                if parsed is not None or len(head) > _MAX_COMMANDS_BYTES:
                    break
            if parsed is None:
                parsed = parse_receive_commands(head)
        except PktLineError as exc:
            await _plain(send, 400, gettext("Malformed push request: %(reason)s", reason=str(exc)))
            return
        if parsed is None:
            await _plain(send, 400, gettext("Malformed push request: the command list is incomplete."))
            return
        commands, _ = parsed
        policy = await run_in_threadpool(self._policy, grant, identity, commands)
        fd, result_path = tempfile.mkstemp(prefix="push-", suffix=".txt", dir=self.settings.data_dir)
        os.close(fd)
        try:
            rpc = await GitRpc.start(
                self.config,
                "git-receive-pack",
                grant.path,
                git_protocol=git_protocol,
                extra_env={"FORGE_PUSH_POLICY": policy, "FORGE_PUSH_RESULT": result_path},
            )
            await self._run(rpc, send, "git-receive-pack", body, bytes(head),
                            on_success=lambda: self._record(grant, result_path))
        finally:
            with contextlib.suppress(OSError):
                os.unlink(result_path)

    def _policy(self, grant: git_access.GitGrant, identity: Identity, commands: list[Command]) -> str:
        with session_scope(self.engine) as session:
            return git_access.push_policy_for(session, grant, identity.user, commands)

    async def _record(self, grant: git_access.GitGrant, result_path: str) -> None:
        updates = parse_updates(Path(result_path).read_text(encoding="utf-8"))
        if not updates:
            return

        def work() -> None:
            with session_scope(self.engine) as session:
                git_access.record_accepted(session, grant, updates)

        try:
            await run_in_threadpool(work)
        except Exception:
            # The refs moved but the event could not be stored: put the refs back so git and the database
            # agree, and let the connection drop so the client reports the push as failed.
            log.exception("recording push to %s failed; reverting refs", grant.full_name)
            await run_in_threadpool(_revert, grant.path, updates)
            raise
        self._after_push()

    def _after_push(self) -> None:
        """Handle the push now, in a worker thread, without holding up the push response: pull request heads and
        issue references first (they record the activity merge request pipelines start from), then CI. Each step's
        periodic sweep retries whatever this misses."""

        def work() -> None:
            for name, step in (("pull requests and references", push_processing.process_pending),
                               ("CI", ci_triggers.process_pending),
                               ("merge request pipelines", ci_merge_requests.process_pending)):
                try:
                    step(self.engine, self.settings)
                except Exception:
                    log.exception("%s after a push failed; the periodic sweep will retry", name)

        asyncio.get_running_loop().run_in_executor(None, work)

    async def _run(
        self,
        rpc: GitRpc,
        send: Send,
        service: str,
        body: AsyncIterator[bytes],
        prefix: bytes,
        on_success: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        writer = asyncio.create_task(rpc.write_input(body, prefix=prefix))
        try:
            chunk = await rpc.read()
            if not chunk:
                # No output at all: git refused the request (bad pkt-lines, unknown object...). Say why.
                await writer
                code = await rpc.wait()
                if code == 0:
                    # Success with nothing to say: the "0000" probe git sends before a push larger than
                    # http.postBuffer (1 MiB). git http-backend answers it 200 with an empty body; so do we.
                    await _result_start(send, service)
                    await send({"type": "http.response.body", "body": b""})
                    return
                message = rpc.stderr.strip() or f"git exited with status {code}"
                await _plain(send, 400, gettext("Git refused the request: %(reason)s", reason=message))
                return
            await _result_start(send, service)
            while chunk:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
                chunk = await rpc.read()
            await writer
            code = await rpc.wait()
            if code != 0:
                log.warning("%s exited %s: %s", service, code, rpc.stderr.strip()[:2000])
            if on_success is not None:
                await on_success()
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except BaseException:
            rpc.kill()
            writer.cancel()
            with contextlib.suppress(BaseException):
                await writer
            # Before the response started this reaches the server's error handling; after it, the connection
            # is dropped mid-stream, which git reports as a failed transfer.
            raise
        finally:
            rpc.kill()


async def _result_start(send: Send, service: str) -> None:
    await send({
        "type": "http.response.start",
        "status": 200,
        "headers": [(b"content-type", f"application/x-{service}-result".encode()), *_NO_CACHE],
    })


def _revert(path: Path, updates: list[RefUpdate]) -> None:
    GitRepo(path).undo_updates([(u.ref, u.old_sha, u.new_sha) for u in updates])
