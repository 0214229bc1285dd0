"""Benchmark of the code-browsing pages on a large repository, against the equivalent ``git`` commands.

    .venv/bin/python -m bench.code_browsing [--quick] [--reps N] [--no-doc]

(or bench/run-code-browsing.sh). The repository (see ``bench.codegen``) is generated once and cached under
bench/work/ (git-ignored), rebuilt only when its spec changes. Each run starts a fresh ``forge serve`` with its
own FORGE_HOME, creates a user and a repository with the CLI, pushes the generated history with
``git push --mirror`` over HTTP, then times GET requests: per page one cold request (the first after a server
restart, so no page warms another's caches) and N warm ones, interleaved in a rotating order. A page that
answers 404 is reported as not available (it is not built yet); any other status, or a 200 without the page's
marker text, is an error and makes the command exit non-zero. As a reference, the ``git`` commands that compute
the same information run on the same bare repository. A full run writes its figures into the marked section of
docs/benchmarks.md; --quick (a small repository) only prints them unless --doc is given.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench import code_report
from bench.codegen import BIG, ENGINE, FEATURE, MAIN, README_MARKER, CodeSpec, generate
from bench.git_http import git_env, repo_facts
from bench.measure import run_timed
from bench.repogen import build_once
from bench.servers import ROOT, Forge

USER, PASSWORD, REPO = "bench", "bench-password-1", "engine"
FULL = CodeSpec(commits=21_000, big_files=25_000, big_every=50, engine_lines=5_000, engine_share=0.05,
                src_files=400, rename_every=150, tag_every=1_000, feature_behind=1_000, feature_commits=40, seed=7)
QUICK = CodeSpec(commits=2_000, big_files=2_500, big_every=50, engine_lines=1_000, engine_share=0.05,
                 src_files=80, rename_every=150, tag_every=200, feature_behind=200, feature_commits=10, seed=7)
PUSH_TIMEOUT = 900.0
REQUEST_TIMEOUT = 300.0
# Warm repetitions of one page stop once they have taken this long, so a very slow page cannot stall the run.
PAGE_BUDGET_S = 90.0


@dataclass
class Page:
    key: str
    label: str
    path: str  # URL path and query
    # Every group must match; within a group, any one alternative (a page may list commits newest or oldest first).
    markers: list[tuple[str, ...]]
    target_s: float  # p95 of the warm requests must stay under this
    reference: list[list[str]]  # git commands (without "git -C repo") computing the same information
    reference_note: str
    # Text that appears only when the page shows the last commit of each entry (the root commit's short id).
    last_commit_probe: str = ""
    count_probe: str = ""  # counted in the body, e.g. the links to the files of big/


@dataclass
class Result:
    key: str
    label: str
    path: str
    status: str = "ok"  # ok, not available, error
    error: str = ""
    cold_s: float = 0.0
    times: list[float] = field(default_factory=list)
    bytes: int = 0
    last_commit_info: bool | None = None
    entries: int | None = None
    reference_s: list[float] = field(default_factory=list)


class Client:
    """GETs over one keep-alive connection, as a browser would make them; reconnects when the server closes it."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn: http.client.HTTPConnection | None = None

    def get(self, path: str) -> tuple[int, float, bytes]:
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=REQUEST_TIMEOUT)
            started = time.perf_counter()
            try:
                self.conn.request("GET", path, headers={"Accept": "text/html"})
                resp = self.conn.getresponse()
                body = resp.read()
            except (http.client.RemoteDisconnected, ConnectionError):
                self.close()
                if attempt == 2:
                    raise
                continue
            return resp.status, time.perf_counter() - started, body
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def git_out(repo: Path, env: dict[str, str], *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], env=env, capture_output=True, text=True,
                          check=True).stdout.strip()


def pages(repo: Path, env: dict[str, str], spec: CodeSpec) -> list[Page]:
    """The pages under test, with markers taken from the repository itself."""
    def subject_sha(*args: str) -> tuple[str, str]:
        line = git_out(repo, env, "log", "-1", "--format=%H %s", *args)
        sha, subject = line.split(" ", 1)
        return sha, subject

    root = git_out(repo, env, "rev-list", "--max-parents=0", MAIN)[:7]
    engine_sha, engine_subject = subject_sha(MAIN, "--", ENGINE)
    _, newest = subject_sha(MAIN)
    oldest = git_out(repo, env, "log", "--reverse", "--format=%s", f"{FEATURE}..{MAIN}").splitlines()[0]
    first_changed = git_out(repo, env, "diff", "--name-only", f"{FEATURE}...{MAIN}").splitlines()[0]
    behind = git_out(repo, env, "rev-list", "--count", f"{FEATURE}..{MAIN}")
    base = f"/{USER}/{REPO}"
    root_entries = git_out(repo, env, "ls-tree", "--name-only", MAIN).splitlines()
    home_ref = [["ls-tree", MAIN], ["log", "-1", "--format=%H%x00%an%x00%at%x00%s", MAIN],
                ["cat-file", "blob", f"{MAIN}:README.md"], ["rev-list", "--count", MAIN]]
    tree_ref = [["ls-tree", f"{MAIN}:{BIG}"], ["log", "-1", "--format=%H%x00%an%x00%at%x00%s", MAIN, "--", BIG]]
    log_format = "--format=%H%x00%an%x00%ae%x00%at%x00%s"
    home_markers: list[tuple[str, ...]] = [(README_MARKER,), (f"{base}/tree/{MAIN}/{BIG}",)]
    big_markers: list[tuple[str, ...]] = [(f"{base}/blob/{MAIN}/{BIG}/file00000.py",)]
    return [
        Page("home", "repository home", base, home_markers, 0.2, home_ref,
             "`ls-tree`, `log -1`, README `cat-file`, `rev-list --count`", last_commit_probe=root),
        Page("home_wait", "home, last commits computed (`?wait=1`)", base + "?wait=1", home_markers, 1.0,
             home_ref + [["log", "-1", "--format=%H", MAIN, "--", e] for e in root_entries],
             f"as home, plus `log -1 -- <entry>` for each of the {len(root_entries)} root entries",
             last_commit_probe=root),
        Page("tree", f"{spec.big_files:,}-file directory", f"{base}/tree/{MAIN}/{BIG}", big_markers, 1.0, tree_ref,
             f"`ls-tree main:{BIG}`, `log -1 -- {BIG}`",
             last_commit_probe=root, count_probe=f"{base}/blob/{MAIN}/{BIG}/file"),
        Page("tree_wait", f"{spec.big_files:,}-file directory, last commits computed (`?wait=1`)",
             f"{base}/tree/{MAIN}/{BIG}?wait=1", big_markers, 1.0,
             [tree_ref[0], ["log", "--format=%H", "--name-only", MAIN, "--", BIG]],
             f"`ls-tree main:{BIG}`, `log --name-only -- {BIG}` (the walk that finds every entry's last commit)",
             last_commit_probe=root, count_probe=f"{base}/blob/{MAIN}/{BIG}/file"),
        Page("history", "history of engine.py", f"{base}/commits/{MAIN}/{ENGINE}", [(engine_subject,)], 1.0,
             [["log", "-n", "51", log_format, MAIN, "--", ENGINE]], f"`log -n 51 -- {ENGINE}` (one page + 1)"),
        Page("blame", "blame of engine.py", f"{base}/blame/{MAIN}/{ENGINE}", [(engine_sha[:7],), (root,)], 1.0,
             [["blame", "--porcelain", MAIN, "--", ENGINE]], f"`blame --porcelain -- {ENGINE}`"),
        Page("compare", f"compare `{FEATURE}...{MAIN}`", f"{base}/compare/{FEATURE}...{MAIN}",
             [(newest, oldest), (first_changed,)], 1.0,
             [["log", log_format, f"{FEATURE}..{MAIN}"], ["diff", "--patch-with-stat", f"{FEATURE}...{MAIN}"]],
             f"`log {FEATURE}..{MAIN}` ({behind} commits), `diff --patch-with-stat {FEATURE}...{MAIN}`"),
    ]


def check(page: Page, result: Result, status: int, body: bytes) -> bool:
    """Record what the response shows; False (with result.status set) when the page cannot be timed."""
    if status == 404:
        result.status = "not available"
        return False
    text = body.decode("utf-8", errors="replace")
    missing = [group for group in page.markers if not any(m in text for m in group)]
    if status != 200 or missing:
        result.status = "error"
        result.error = f"HTTP {status}" if status != 200 else f"marker not found: {' / '.join(missing[0])}"
        return False
    result.bytes = len(body)
    if page.last_commit_probe:
        result.last_commit_info = page.last_commit_probe in text
    if page.count_probe:
        result.entries = text.count(page.count_probe)
    return True


def setup_forge(forge: Forge, source: Path, env: dict[str, str]) -> float:
    """User and repository made with the CLI, filled by one push over HTTP, repacked as server gc would."""
    forge.cli("admin", "create-user", USER, "--password", PASSWORD, "--email", "bench@example.com")
    forge.cli("repo", "create", f"{USER}/{REPO}")
    url = f"http://{USER}:{PASSWORD}@127.0.0.1:{forge.port}/{USER}/{REPO}.git"
    took = run_timed(["git", "-C", str(source), "push", "-q", "--mirror", url], env, timeout=PUSH_TIMEOUT)
    subprocess.run(["git", "-C", str(bare_path(forge)), "repack", "-q", "-a", "-d", "-b"], env=env, check=True)
    return took


def bare_path(forge: Forge) -> Path:
    return forge.home / "repos" / USER / f"{REPO}.git"


def measure_cold(forge: Forge, page: Page, result: Result) -> None:
    """The page's first request after a restart: git and template caches are cold, the OS page cache is not."""
    with forge.running():
        client = Client(forge.port)
        client.get(f"/{USER}")  # the process's first-request costs (database, base template) are not the page's
        status, took, body = client.get(page.path)
        client.close()
    result.cold_s = took
    check(page, result, status, body)


def measure_warm(forge: Forge, todo: list[tuple[Page, Result]], reps: int) -> None:
    with forge.running():
        client = Client(forge.port)
        for page, result in todo:  # one uncounted request each: this process starts cold again
            status, _, body = client.get(page.path)
            check(page, result, status, body)
        spent = {page.key: 0.0 for page, _ in todo}
        for rep in range(reps):
            # Rotate the order so no page is always the one after (or before) another.
            for page, result in todo[rep % len(todo):] + todo[:rep % len(todo)]:
                if result.status != "ok" or spent[page.key] > PAGE_BUDGET_S:
                    continue
                status, took, body = client.get(page.path)
                if check(page, result, status, body):
                    result.times.append(took)
                    spent[page.key] += took
            print(f"  round {rep + 1}/{reps}: " + ", ".join(
                f"{p.key} {r.times[-1] * 1000:.0f}" for p, r in todo if r.times) + " ms", flush=True)
        client.close()


def measure_reference(repo: Path, env: dict[str, str], todo: list[tuple[Page, Result]], reps: int) -> None:
    for _ in range(reps):
        for page, result in todo:
            result.reference_s.append(sum(run_timed(["git", "-C", str(repo), *cmd], env, timeout=REQUEST_TIMEOUT)
                                          for cmd in page.reference))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small repository, fewer repetitions")
    parser.add_argument("--reps", type=int, default=None, help="warm requests per page (default 20; quick: 5)")
    parser.add_argument("--ref-reps", type=int, default=5, help="runs of each reference git command set")
    parser.add_argument("--doc", action=argparse.BooleanOptionalAction, default=None,
                        help="write docs/benchmarks.md (default: only for a full run)")
    args = parser.parse_args()
    mode = "quick" if args.quick else "full"
    spec = QUICK if args.quick else FULL
    reps = args.reps or (5 if args.quick else 20)
    work = ROOT / "bench" / "work" / "code-browsing" / mode
    work.mkdir(parents=True, exist_ok=True)
    env = git_env(work / "home")
    source = work / "source.git"
    started = time.perf_counter()
    load_before = os.getloadavg()[0]
    generated = build_once(source, spec, lambda: generate(source, spec, env,
                                                          log=lambda msg: print(msg, flush=True)))
    print("repository: " + (f"generated in {generated:.0f} s" if generated is not None else "cached"), flush=True)

    # A fresh FORGE_HOME every run: nothing computed by an earlier run may make a "cold" request warm.
    shutil.rmtree(work / "forge", ignore_errors=True)
    forge = Forge(work / "forge", env)
    with forge.running():
        print("pushing the repository into the forge over HTTP (git push --mirror)...", flush=True)
        push_s = setup_forge(forge, source, env)
    repo = bare_path(forge)
    facts = repo_facts(repo, env)
    print(f"  pushed in {push_s:.1f} s; {facts}", flush=True)

    todo = [(page, Result(page.key, page.label, page.path)) for page in pages(repo, env, spec)]
    print("cold requests (one per page, each after a server restart)...", flush=True)
    for page, result in todo:
        measure_cold(forge, page, result)
        print(f"  {page.path}: {result.status} {result.error} {result.cold_s * 1000:.0f} ms", flush=True)
    available = [(p, r) for p, r in todo if r.status == "ok"]
    print(f"warm requests ({reps} per page, interleaved)...", flush=True)
    if available:
        measure_warm(forge, available, reps)
    print(f"reference git commands ({args.ref_reps} runs each)...", flush=True)
    measure_reference(repo, env, todo, args.ref_reps)

    results = [r for _, r in todo]
    summary = {
        "mode": mode, "reps": reps, "ref_reps": args.ref_reps, "spec": asdict(spec), "repo": facts,
        "generated_s": generated, "push_s": push_s, "total_s": time.perf_counter() - started,
        # Other work on the machine slows every figure; the load average says how much there was.
        "load": [load_before, os.getloadavg()[0]],
        "engine_lines": len(git_out(repo, env, "show", f"{MAIN}:{ENGINE}").splitlines()),
        "engine_commits": len(git_out(repo, env, "rev-list", MAIN, "--", ENGINE).splitlines()),
        "compare_commits": int(git_out(repo, env, "rev-list", "--count", f"{FEATURE}..{MAIN}")),
        "tags": len(git_out(repo, env, "tag").splitlines()),
        "targets": {p.key: p.target_s for p, _ in todo},
        "reference_notes": {p.label: p.reference_note for p, _ in todo},
        "results": [asdict(r) for r in results],
    }
    (work / "results.json").write_text(json.dumps(summary, indent=2))
    text = code_report.render(summary)
    print(text)
    errors = [r for r in results if r.status == "error"]
    if args.doc if args.doc is not None else not args.quick:
        if errors:
            print("not written to docs/benchmarks.md: some pages failed", file=sys.stderr)
        else:
            code_report.write(ROOT / "docs" / "benchmarks.md", text)
            print("written to docs/benchmarks.md")
    if errors:
        sys.exit("failed: " + "; ".join(f"{r.path}: {r.error}" for r in errors))


if __name__ == "__main__":
    main()
