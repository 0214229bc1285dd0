"""``forge api``: call the forge's REST API from a shell, like ``gh api`` or ``tea api``.

    forge api GET /repos/alice/demo
    forge api POST /repos/alice/demo/issues -f title="It breaks" -f body="Steps..."
    forge api PATCH /repos/alice/demo -F private=true
    forge api GET /repos/alice/demo/issues --paginate

The token comes from ``--token`` or ``FORGE_TOKEN``; the server from ``--url``, ``FORGE_URL`` or the local
configuration's base URL. JSON answers are printed indented; a failed call prints the API's message on stderr
and exits with 1 (2 when the server cannot be reached), so scripts can test ``$?``.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import click
import httpx

from forge.settings import Settings

_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD")


def _fields(raw: tuple[str, ...], typed: tuple[str, ...]) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for item, parse in [(r, False) for r in raw] + [(t, True) for t in typed]:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.UsageError(f"Fields are key=value, not {item!r}.")
        if parse:
            try:
                body[key] = json.loads(value)
            except json.JSONDecodeError:
                body[key] = value  # -F name=plain-text is taken as a string, as gh does
        else:
            body[key] = value
    return body


def _base_url(url: str | None) -> str:
    if url:
        return url.rstrip("/")
    env = os.environ.get("FORGE_URL", "")
    return env.rstrip("/") if env else Settings().public_url()


def _print(resp: httpx.Response, include: bool) -> None:
    if include:
        click.echo(f"HTTP {resp.status_code} {resp.reason_phrase}")
        for name, value in resp.headers.items():
            click.echo(f"{name}: {value}")
        click.echo("")
    if not resp.content:
        return
    if resp.headers.get("content-type", "").startswith("application/json"):
        click.echo(json.dumps(resp.json(), indent=2, ensure_ascii=False))
    else:
        sys.stdout.buffer.write(resp.content)


@click.command("api")
@click.argument("method", type=click.Choice(_METHODS, case_sensitive=False))
@click.argument("path")
@click.option("-f", "--field", "raw_fields", multiple=True, help="A string field of the JSON body: key=value.")
@click.option("-F", "--typed-field", "typed_fields", multiple=True,
              help="A JSON-typed field: key=true, key=3, key=[\"a\"] (plain text stays a string).")
@click.option("--input", "input_file", type=click.File("rb"), help="Send this file (or - for stdin) as the body.")
@click.option("--paginate", is_flag=True, help="Follow the Link header's next pages and print every item.")
@click.option("-i", "--include", is_flag=True, help="Print the status line and headers too.")
@click.option("--url", default=None, help="The forge's address (default FORGE_URL, then the configured base URL).")
@click.option("--token", default=None, envvar="FORGE_TOKEN", help="Personal access token (default FORGE_TOKEN).")
def api(method: str, path: str, raw_fields: tuple[str, ...], typed_fields: tuple[str, ...],
        input_file: Any, paginate: bool, include: bool, url: str | None, token: str | None) -> None:
    """Call the REST API: METHOD is GET, POST, PUT, PATCH, DELETE or HEAD; PATH is relative to /api/v1."""
    method = method.upper()
    if not path.startswith("/"):
        path = "/" + path
    if not path.startswith("/api/"):
        path = "/api/v1" + path
    headers = {"Accept": "application/json", "User-Agent": "forge-cli"}
    if token:
        headers["Authorization"] = f"token {token}"
    content: bytes | None = None
    body = _fields(raw_fields, typed_fields)
    if input_file is not None:
        if body:
            raise click.UsageError("Use either --input or fields, not both.")
        content = input_file.read()
        headers["Content-Type"] = "application/json"
    elif body:
        content = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    next_url: str | None = _base_url(url) + path
    items: list[Any] = []
    try:
        with httpx.Client(timeout=60, trust_env=False) as client:
            while next_url:
                resp = client.request(method, next_url, headers=headers, content=content)
                if resp.status_code >= 400:
                    _fail(resp)
                if not paginate:
                    _print(resp, include)
                    return
                page = resp.json()
                items.extend(page if isinstance(page, list) else [page])
                next_url = resp.links.get("next", {}).get("url")
    except httpx.HTTPError as exc:
        click.echo(f"Could not reach the forge at {_base_url(url)}: {exc}", err=True)
        sys.exit(2)
    click.echo(json.dumps(items, indent=2, ensure_ascii=False))


def _fail(resp: httpx.Response) -> None:
    try:
        data = resp.json()
        message = data.get("message", "") if isinstance(data, dict) else ""
        errors = data.get("errors", []) if isinstance(data, dict) else []
    except ValueError:
        message, errors = resp.text.strip()[:500], []
    click.echo(f"HTTP {resp.status_code}: {message or resp.reason_phrase}", err=True)
    for error in errors:
        if isinstance(error, dict):
            click.echo(f"  {error.get('field', '')}: {error.get('message', '')}", err=True)
    sys.exit(1)
