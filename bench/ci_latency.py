"""Benchmark of CI latency on a real ``forge serve``: job dispatch (pending → a runner's long poll returns it) and
live logs (a runner appends a line → a reader's Server-Sent Events stream delivers it).

    .venv/bin/python -m bench.ci_latency [--quick] [--jobs N] [--lines N] [--doc | --no-doc]

(or bench/run-ci.sh). Each run starts a fresh ``forge serve`` with its own FORGE_HOME under bench/work/ci-latency/,
makes an admin user and a public repository with the CLI, an instance runner registration token with ``ci.tokens``
(in-process, on the server's database), and registers a runner through ``POST /api/v1/runners/register``.

Dispatch: for each job the runner's ``POST /api/v1/runners/jobs/request`` long poll is opened first; then a commit is
pushed over HTTP to a repository whose ``.forge-ci.yml`` has one job, so the server's push handler makes the pipeline
and its pending job. The latency is the moment the long poll returned with that job minus the job's ``queued_at``
(written by ``ci.pipelines`` in the transaction that makes it pending). The runner then reports the job ``success``.

Logs: one more job is taken and reported ``running``; a reader connects to ``/{owner}/{repo}/-/jobs/{id}/log/stream``
and, once it has had the ``sync`` event, the runner appends one numbered line every 50 ms with
``PUT /api/v1/runners/jobs/{id}/log?offset=N``. The latency of a line is the moment its SSE event was read minus the
moment just before its PUT was sent (one clock: both ends are threads of this process).

A full run (200 jobs, 200 lines) writes its figures into the marked section of docs/benchmarks.md; --quick (20 jobs,
20 lines) only prints them unless --doc is given. The command exits non-zero when a job or a line is lost.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench import report
from bench.git_http import git_env
from bench.measure import median, percentile
from bench.servers import ROOT, Forge

USER, PASSWORD, REPO = "bench", "bench-password-1", "ci"
START = "<!-- bench:ci-latency:start (written by `python -m bench.ci_latency`; do not edit by hand) -->"
END = "<!-- bench:ci-latency:end -->"
DISPATCH_TARGET_S = 0.250
LOG_TARGET_S = 0.500
LINE_INTERVAL_S = 0.050
# Time for the long poll to reach the server and park before the push that makes the job pending.
POLL_SETTLE_S = 0.15
PIPELINE_FILE = "bench:\n  script:\n    - echo benchmark\n"
LINE_RE = re.compile(r"bench-line (\d+) ")


@dataclass
class Dispatch:
    job_id: int
    latency_s: float  # long poll returned - job queued_at
    push_to_runner_s: float  # long poll returned - git push started
    after_push_s: float  # long poll returned - git push finished (the pipeline is made after the push answers)


@dataclass
class Results:
    dispatch: list[Dispatch] = field(default_factory=list)
    log_s: list[float] = field(default_factory=list)
    lines_sent: int = 0
    errors: list[str] = field(default_factory=list)


def git(cwd: Path, env: dict[str, str], *args: str) -> str:
    res = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    if res.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed: {res.stderr.strip() or res.stdout.strip()}")
    return res.stdout.strip()


class Runner:
    """The runner side of the protocol over HTTP, as ``forge-runner`` speaks it (without running anything)."""

    def __init__(self, base: str, registration_token: str) -> None:
        self.http = httpx.Client(base_url=base, timeout=60)
        res = self.http.post("/api/v1/runners/register", json={
            "registration_token": registration_token, "name": "bench-runner", "labels": [], "concurrency": 1,
            "executor": "shell", "version": "bench"})
        res.raise_for_status()
        self.token = res.json()["token"]

    def request_job(self) -> tuple[float, float, dict[str, Any] | None]:
        """One long poll: (the wall-clock times it was sent and returned, the job or None)."""
        sent = time.time()
        res = self.http.post("/api/v1/runners/jobs/request", json={"wait": 30},
                             headers={"Authorization": f"Bearer {self.token}"})
        returned = time.time()
        if res.status_code == 204:
            return sent, returned, None
        res.raise_for_status()
        job: dict[str, Any] = res.json()
        return sent, returned, job

    def state(self, job: dict[str, Any], state: str) -> None:
        res = self.http.post(f"/api/v1/runners/jobs/{job['id']}/state", json={"state": state, "exit_code": 0},
                             headers={"Authorization": f"Bearer {job['token']}"})
        res.raise_for_status()

    def append(self, job: dict[str, Any], offset: int, data: bytes) -> None:
        res = self.http.put(f"/api/v1/runners/jobs/{job['id']}/log", params={"offset": offset}, content=data,
                            headers={"Authorization": f"Bearer {job['token']}"})
        res.raise_for_status()


def setup(forge: Forge, env: dict[str, str], clone: Path) -> Runner:
    """Admin user, public repository with a one-job pipeline file, an instance runner registered over HTTP."""
    forge.cli("admin", "create-user", USER, "--password", PASSWORD, "--email", "bench@example.com", "--admin")
    forge.cli("repo", "create", f"{USER}/{REPO}")
    # The CI code itself makes the registration token, on the server's own database (as the admin page would).
    from ci import tokens
    from ci.tokens import Scope
    from forge.accounts.users import get_user
    from forge.db.engine import make_engine, session_scope

    engine = make_engine(f"sqlite:///{forge.home / 'forge.db'}")
    with session_scope(engine) as session:
        _, secret = tokens.create_registration_token(session, get_user(session, USER), Scope.instance())
    engine.dispose()
    runner = Runner(forge.url, secret)

    shutil.rmtree(clone, ignore_errors=True)
    clone.mkdir(parents=True)
    git(clone, env, "init", "-q", "-b", "main")
    (clone / ".forge-ci.yml").write_text(PIPELINE_FILE)
    git(clone, env, "add", ".forge-ci.yml")
    git(clone, env, "commit", "-q", "-m", "CI benchmark")
    git(clone, env, "remote", "add", "origin", f"http://{USER}:{PASSWORD}@127.0.0.1:{forge.port}/{USER}/{REPO}.git")
    git(clone, env, "push", "-q", "origin", "main")
    # The first push's job warms the server's code paths; it is not counted.
    _, _, job = runner.request_job()
    if job is None:
        raise RuntimeError("the first push made no job within 30 s: is CI triggering on pushes?")
    runner.state(job, "success")
    return runner


def queued_at(forge: Forge, job_ids: list[int]) -> dict[int, float]:
    from sqlmodel import col, select

    from ci.models import Job
    from forge.db.engine import make_engine, session_scope

    engine = make_engine(f"sqlite:///{forge.home / 'forge.db'}")
    with session_scope(engine) as session:
        rows = session.exec(select(Job).where(col(Job.id).in_(job_ids))).all()
        out = {job.id: job.queued_at.timestamp() for job in rows if job.id is not None and job.queued_at}
    engine.dispose()
    return out


def push_commit(clone: Path, env: dict[str, str], n: int) -> tuple[str, float, float]:
    git(clone, env, "commit", "-q", "--allow-empty", "-m", f"bench commit {n}")
    sha = git(clone, env, "rev-parse", "HEAD")
    started = time.time()
    git(clone, env, "push", "-q", "origin", "main")
    return sha, started, time.time()


def measure_dispatch(forge: Forge, runner: Runner, clone: Path, env: dict[str, str], jobs: int,
                     results: Results) -> None:
    raw: list[tuple[int, float, float, float, float]] = []
    with ThreadPoolExecutor(1) as pool:
        for n in range(jobs):
            poll = pool.submit(runner.request_job)
            time.sleep(POLL_SETTLE_S)
            sha, push_started, push_done = push_commit(clone, env, n)
            poll_sent, returned, job = poll.result()
            if job is None:
                results.errors.append(f"job {n}: no job handed out within 30 s of the push")
                continue
            if job["git"]["sha"] != sha:
                results.errors.append(f"job {n}: got job {job['id']} for {job['git']['sha']}, pushed {sha}")
            runner.state(job, "success")
            raw.append((job["id"], poll_sent, returned, push_started, push_done))
            if (n + 1) % 50 == 0:
                print(f"  {n + 1} jobs", flush=True)
    queued = queued_at(forge, [r[0] for r in raw])
    for job_id, poll_sent, returned, push_started, push_done in raw:
        if job_id not in queued:
            results.errors.append(f"job {job_id} has no queued_at")
            continue
        if queued[job_id] < poll_sent:  # the figure would then not be a long poll's wake-up
            results.errors.append(f"job {job_id} was pending before the runner asked for it")
        results.dispatch.append(Dispatch(job_id, returned - queued[job_id], returned - push_started,
                                         returned - push_done))


class LogReader(threading.Thread):
    """An SSE client of the job's live log, recording when each numbered line arrives."""

    def __init__(self, base: str, path: str) -> None:
        super().__init__(daemon=True)
        self.base, self.path = base, path
        self.synced = threading.Event()
        self.received: dict[int, float] = {}
        self.ended = False
        self.error = ""

    def run(self) -> None:
        try:
            with httpx.Client(base_url=self.base, timeout=httpx.Timeout(60, read=60)) as client, \
                    client.stream("GET", self.path, headers={"Accept": "text/event-stream"}) as res:
                res.raise_for_status()
                event, data = "", ""
                for line in res.iter_lines():
                    if line.startswith("event:"):
                        event = line[6:].strip()
                    elif line.startswith("data:"):
                        data = line[5:].strip()
                    elif line == "" and data:
                        now = time.perf_counter()
                        if event == "sync":
                            self.synced.set()
                        elif event == "end":
                            self.ended = True
                            return
                        elif not event:
                            for number in LINE_RE.findall(json.loads(data)):
                                self.received.setdefault(int(number), now)
                        event, data = "", ""
        except Exception as exc:  # reported as the run's error, not a traceback in a thread
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            self.synced.set()


def measure_logs(forge: Forge, runner: Runner, clone: Path, env: dict[str, str], lines: int,
                 results: Results) -> None:
    with ThreadPoolExecutor(1) as pool:
        poll = pool.submit(runner.request_job)
        time.sleep(POLL_SETTLE_S)
        push_commit(clone, env, -1)
        _, _, job = poll.result()
    if job is None:
        results.errors.append("log job: no job handed out")
        return
    runner.state(job, "running")
    reader = LogReader(forge.url, f"/{USER}/{REPO}/-/jobs/{job['id']}/log/stream")
    reader.start()
    if not reader.synced.wait(30) or reader.error:
        results.errors.append(f"log stream did not sync: {reader.error or 'timeout'}")
        return
    sent: dict[int, float] = {}
    offset = 0
    next_at = time.perf_counter()
    for n in range(lines):
        data = f"bench-line {n:04d} the quick brown fox jumps over the lazy dog\n".encode()
        sent[n] = time.perf_counter()
        runner.append(job, offset, data)
        offset += len(data)
        next_at += LINE_INTERVAL_S
        time.sleep(max(0.0, next_at - time.perf_counter()))
    results.lines_sent = lines
    time.sleep(1.0)  # lines still in flight
    runner.state(job, "success")
    reader.join(30)
    if reader.error:
        results.errors.append(f"log stream: {reader.error}")
    if not reader.ended:
        results.errors.append("log stream: no end event after the job finished")
    missing = [n for n in sent if n not in reader.received]
    if missing:
        results.errors.append(f"log stream: {len(missing)} of {lines} lines never arrived (first: {missing[0]})")
    results.log_s = [reader.received[n] - sent[n] for n in sorted(sent) if n in reader.received]


def _ms(seconds: float) -> str:
    return "-" if seconds != seconds else f"{seconds * 1000:.0f} ms"


def _row(label: str, values: list[float], target: float | None) -> str:
    p95 = percentile(values, 95)
    verdict = "" if target is None else f"< {_ms(target)}: " + ("met" if p95 < target else "**not met**")
    return (f"| {label} | {len(values)} | {_ms(median(values))} | {_ms(p95)} | "
            f"{_ms(max(values) if values else float('nan'))} | {verdict or '-'} |")


def render(s: dict[str, Any]) -> str:
    m = report.machine()
    d = s["dispatch"]
    lines = [
        f"Run: {m['date']}, mode `{s['mode']}`: {s['jobs']} jobs, {s['lines']} log lines (one every "
        f"{LINE_INTERVAL_S * 1000:.0f} ms); whole run {s['total_s']:.0f} s.",
        "",
        f"Machine: {m['cpu']}, {m['ram']} RAM, Linux {m['kernel']}; {m['git']}; Python {m['python']}; "
        f"`forge serve` with one worker, SQLite; runner, pusher and reader on 127.0.0.1. Load average (1 min) "
        f"{s['load'][0]:.1f} at the start, {s['load'][1]:.1f} at the end.",
        "",
        "| measure | samples | median | p95 | max | target (p95) |",
        "|---|---|---|---|---|---|",
        _row("dispatch: job `queued_at` → the runner's long poll returns with it", [x["latency_s"] for x in d],
             DISPATCH_TARGET_S),
        _row("log: `PUT …/log` sent → the line read from the SSE stream", s["log_s"], LOG_TARGET_S),
        _row("for reference: `git push` started → the runner has the job", [x["push_to_runner_s"] for x in d],
             None),
        _row("for reference: `git push` finished → the runner has the job", [x["after_push_s"] for x in d], None),
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="20 jobs and 20 log lines")
    parser.add_argument("--jobs", type=int, default=None, help="jobs to dispatch (default 200; quick: 20)")
    parser.add_argument("--lines", type=int, default=None, help="log lines to stream (default 200; quick: 20)")
    parser.add_argument("--doc", action=argparse.BooleanOptionalAction, default=None,
                        help="write docs/benchmarks.md (default: only for a full run)")
    args = parser.parse_args()
    mode = "quick" if args.quick else "full"
    jobs = args.jobs or (20 if args.quick else 200)
    lines = args.lines or (20 if args.quick else 200)
    work = ROOT / "bench" / "work" / "ci-latency"
    env = {**git_env(work / "home"), "GIT_AUTHOR_NAME": "Bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
           "GIT_COMMITTER_NAME": "Bench", "GIT_COMMITTER_EMAIL": "bench@example.com"}
    started = time.perf_counter()
    load_before = os.getloadavg()[0]
    shutil.rmtree(work / "forge", ignore_errors=True)
    forge = Forge(work / "forge", env)
    results = Results()
    with forge.running():
        runner = setup(forge, env, work / "clone")
        print(f"dispatch: {jobs} jobs, each made pending by a push...", flush=True)
        measure_dispatch(forge, runner, work / "clone", env, jobs, results)
        print(f"log: {lines} lines, one every {LINE_INTERVAL_S * 1000:.0f} ms...", flush=True)
        measure_logs(forge, runner, work / "clone", env, lines, results)
    summary = {
        "mode": mode, "jobs": jobs, "lines": lines, "total_s": time.perf_counter() - started,
        "load": [load_before, os.getloadavg()[0]],
        "dispatch": [vars(x) for x in results.dispatch], "log_s": results.log_s, "errors": results.errors,
    }
    (work / "results.json").write_text(json.dumps(summary, indent=2))
    text = render(summary)
    print(text)
    if args.doc if args.doc is not None else not args.quick:
        if results.errors:
            print("not written to docs/benchmarks.md: the run had errors", file=sys.stderr)
        else:
            report.write_doc(ROOT / "docs" / "benchmarks.md", text, START, END)
            print("written to docs/benchmarks.md")
    if results.errors:
        sys.exit("failed: " + "; ".join(results.errors[:10]))


if __name__ == "__main__":
    main()
