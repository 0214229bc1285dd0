"""Every operation of the OpenAPI document, called on the live server with input schemathesis generates from the
document itself: no answer may be a 5xx, and every answer must match what the document promises (status code,
content type, body schema, headers).

Schemathesis runs as its own command (``schemathesis run``), as a team would run it against a staging server; its
pytest plugin does not follow pytest 9 yet. The caller is a site administrator's token with every scope, and the
``owner``/``repo`` parameters point at a real repository with a commit, so generated calls reach the handlers' real
work instead of stopping at 404. Examples per operation are few (the suite runs twice per CI run on a 2-CPU
machine); ``FORGE_SCHEMATHESIS_EXAMPLES`` raises them for a deeper local run.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from forge.accounts.tokens import SCOPES
from tests.conftest import LiveServer

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
EXAMPLES = os.environ.get("FORGE_SCHEMATHESIS_EXAMPLES", "8")
CHECKS = ",".join([
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
])


def test_every_operation_answers_as_the_document_says(server: LiveServer, factory: Any, tmp_path: Path) -> None:
    admin = factory.user(admin=True)
    repo = factory.repo(admin, readme=True)
    org = factory.org(admin)
    other = factory.user()
    token = factory.token(admin, sorted(SCOPES))
    auth = {"Authorization": f"token {token}"}
    issue = httpx.post(f"{server.url}/api/v1/repos/{repo.full_name}/issues", headers=auth,
                       json={"title": "Generated calls land here", "body": "Seeded for schemathesis."}, timeout=60)
    assert issue.status_code == 201, issue.text
    config = tmp_path / "schemathesis.toml"
    config.write_text(
        "[parameters]\n"
        f'owner = "{admin.name}"\nrepo = "{repo.repo.name}"\norg = "{org.name}"\nbranch = "main"\n'
        f'user = "{other.name}"\nnumber = {issue.json()["number"]}\n',
        encoding="utf-8",
    )
    run = subprocess.run(
        [
            str(SCHEMATHESIS), "--config-file", str(config), "--no-color", "run",
            f"{server.url}/api/v1/openapi.json",
            "--url", f"{server.url}/api/v1",
            "--header", f"Authorization: token {token}",
            "--checks", CHECKS,
            "--max-examples", EXAMPLES,
            "--phases", "examples,coverage,fuzzing",
            "--mode", "all",
            "--workers", "1",
            "--seed", "7",
            "--generation-database", "none",
            "--request-timeout", "60",
            "--report", "junit",
            "--report-dir", str(tmp_path / "report"),
        ],
        capture_output=True, text=True, timeout=1500, check=False, cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if not k.startswith("FORGE_")},
    )
    # Schemathesis prints each failure with a curl command that reproduces it.
    assert run.returncode == 0, run.stdout[-20000:] + run.stderr[-5000:]
    # Every operation of the document was exercised (none skipped for a schema it could not read).
    selected = re.search(r"Selected: (\d+)/(\d+)\s+Tested: (\d+)", run.stdout)
    assert selected, run.stdout[-3000:]
    assert selected.group(1) == selected.group(2) == selected.group(3), run.stdout[-3000:]
    assert int(selected.group(3)) >= 150, "the API has fewer operations than expected"
    assert re.search(r"(\d+) generated, \1 passed", run.stdout), run.stdout[-3000:]
