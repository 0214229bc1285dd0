"""Benchmark of git smart HTTP: the forge against ``git clone --no-local`` and nginx + fcgiwrap + git-http-backend.

    .venv/bin/python -m bench.git_http [--quick] [--reps N] [--no-doc]

(or bench/run-git-http.sh, which installs nginx and fcgiwrap from Debian first). Everything runs on 127.0.0.1
under bench/work/ (git-ignored), where the generated repositories are cached between runs. A full run writes its
figures, with the machine and date, into the marked section of docs/benchmarks.md; --quick (a small repository,
for checking the harness) only prints them unless --doc is given.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path

from bench import report
from bench.measure import BenchError, MemorySampler, cpu_seconds, median, run_timed
from bench.repogen import Corpus, RepoSpec, corpus_files, generate
from bench.servers import ROOT, Forge, HttpBackend

USER, PASSWORD = "bench", "bench-password-1"
FULL = {"main": RepoSpec(commits=10_000, initial_files=2000, new_lines_per_commit=700, seed=1),
        "push": RepoSpec(commits=1500, initial_files=600, new_lines_per_commit=700, seed=2, branch="main")}
QUICK = {"main": RepoSpec(commits=800, initial_files=200, new_lines_per_commit=150, seed=1),
         "push": RepoSpec(commits=200, initial_files=100, new_lines_per_commit=150, seed=2, branch="main")}
CLONE_TIMEOUT = 900.0


def git_env(home: Path) -> dict[str, str]:
    home.mkdir(parents=True, exist_ok=True)
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "LANG": "C.UTF-8",
            "GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0"}


def ensure_repos(work: Path, specs: dict[str, RepoSpec], env: dict[str, str]) -> dict[str, Path]:
    """Generate the source repositories unless the cached ones were made from the same specs."""
    out: dict[str, Path] = {}
    corpus: Corpus | None = None
    for key, spec in specs.items():
        path = work / f"{key}.git"
        stamp = work / f"{key}.spec.json"
        wanted = json.dumps(asdict(spec), sort_keys=True)
        if not (path.is_dir() and stamp.is_file() and stamp.read_text() == wanted):
            if corpus is None:
                print("reading the corpus of Python sources...", flush=True)
                corpus = Corpus(corpus_files(150_000_000))
            print(f"generating {path.name} ({spec.commits} commits)...", flush=True)
            started = time.perf_counter()
            generate(path, spec, env, corpus)
            stamp.write_text(wanted)
            print(f"  done in {time.perf_counter() - started:.0f} s", flush=True)
        out[key] = path
    return out


def repo_facts(path: Path, env: dict[str, str]) -> dict[str, str]:
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(path), *args], env=env, capture_output=True, text=True,
                              check=True).stdout.strip()

    packs = sum(p.stat().st_size for p in (path / "objects" / "pack").glob("*.pack"))
    objects = sum(int(line.split()[1]) for line in git("count-objects", "-v").splitlines()
                  if line.startswith(("count:", "in-pack:")))
    return {"commits": git("rev-list", "--count", "--all"), "objects": str(objects),
            "pack_mib": f"{packs / 2**20:.1f}",
            "files": str(len(git("ls-tree", "-r", "--name-only", "HEAD").splitlines()))}


def setup_forge(forge: Forge, source: Path, env: dict[str, str]) -> Path:
    """User + repository, filled by one push over HTTP, then repacked with a bitmap as server gc would."""
    repo = forge.home / "repos" / USER / "big.git"
    marker = forge.home / "filled"
    if marker.exists():
        return repo
    forge.cli("admin", "create-user", USER, "--password", PASSWORD, "--email", "bench@example.com")
    forge.cli("repo", "create", f"{USER}/big")
    print("pushing the repository into the forge over HTTP...", flush=True)
    took = run_timed(["git", "-C", str(source), "push", "-q", push_url(forge, "big"), "--mirror"], env,
                     timeout=CLONE_TIMEOUT)
    print(f"  done in {took:.0f} s; repacking it as server maintenance would", flush=True)
    subprocess.run(["git", "-C", str(repo), "repack", "-q", "-a", "-d", "-b"], env=env, check=True)
    marker.write_text("ok\n")
    return repo


def push_url(forge: Forge, name: str) -> str:
    return f"http://{USER}:{PASSWORD}@127.0.0.1:{forge.port}/{USER}/{name}.git"


class Bench:
    def __init__(self, work: Path, env: dict[str, str], forge: Forge, backend: HttpBackend, repo: Path) -> None:
        self.work, self.env, self.forge, self.backend, self.repo = work, env, forge, backend, repo
        self.scratch = work / "scratch"
        self.urls = {"local": str(repo), "backend": f"{backend.url}/{USER}/big.git",
                     "forge": f"{forge.url}/{USER}/big.git"}

    def fresh(self, name: str) -> Path:
        path = self.scratch / name
        shutil.rmtree(path, ignore_errors=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def clone(self, kind: str, *extra: str, name: str = "clone") -> float:
        url = self.urls[kind]
        args = [url]
        if kind == "local":
            # --no-local for a full clone (as the issue says); file:// for --depth, which a path would ignore.
            args = ["--no-local", url] if not extra else [f"file://{url}"]
        dest = self.fresh(f"{name}-{kind}")
        took = run_timed(["git", "clone", "-q", *extra, *args, str(dest)], self.env, timeout=CLONE_TIMEOUT)
        shutil.rmtree(dest, ignore_errors=True)
        return took

    def rotated(self, rep: int) -> list[str]:
        # Rotate the order per repetition so no server is always the one that runs first or last.
        kinds = ["local", "backend", "forge"]
        return kinds[rep % 3:] + kinds[:rep % 3]

    def series(self, reps: int, fn: Callable[[str], float]) -> dict[str, float]:
        times: dict[str, list[float]] = {"local": [], "backend": [], "forge": []}
        for rep in range(reps):
            for kind in self.rotated(rep):
                times[kind].append(fn(kind))
        print("   ", {k: [round(t, 2) for t in v] for k, v in times.items()}, flush=True)
        return {k: median(v) for k, v in times.items()}

    def noop_fetch(self, reps: int) -> dict[str, float]:
        clones = {}
        for kind in ("local", "backend", "forge"):
            dest = self.fresh(f"fetch-{kind}")
            src = f"file://{self.urls[kind]}" if kind == "local" else self.urls[kind]
            run_timed(["git", "clone", "-q", "--bare", src, str(dest)], self.env, timeout=CLONE_TIMEOUT)
            clones[kind] = dest
        return self.series(reps, lambda kind: run_timed(
            ["git", "-C", str(clones[kind]), "fetch", "-q", "origin"], self.env, timeout=60))

    def push(self, reps: int, source: Path) -> dict[str, float]:
        # Names unique across runs: the forge's repositories (and FORGE_HOME) are kept between runs.
        counter = iter(range(10**6))
        stamp = time.strftime("%Y%m%d%H%M%S")

        def one(kind: str) -> float:
            n = f"{stamp}-{next(counter)}"
            if kind == "forge":
                self.forge.cli("repo", "create", f"{USER}/push-{n}")
                url = push_url(self.forge, f"push-{n}")
            else:
                target = (self.forge.home / "repos" / USER / f"push-{n}.git") if kind == "backend" else \
                    self.fresh(f"push-{n}.git")
                subprocess.run(["git", "init", "-q", "--bare", str(target)], env=self.env, check=True)
                # As the forge: check every incoming object; http-backend needs receivepack enabled without auth.
                for key, value in (("receive.fsckObjects", "true"), ("http.receivepack", "true")):
                    subprocess.run(["git", "-C", str(target), "config", key, value], env=self.env, check=True)
                url = f"{self.backend.url}/{USER}/push-{n}.git" if kind == "backend" else f"file://{target}"
            took = run_timed(["git", "-C", str(source), "push", "-q", url, "main:refs/heads/big-push"], self.env,
                             timeout=CLONE_TIMEOUT)
            if kind != "forge":
                shutil.rmtree(target, ignore_errors=True)
            return took

        return self.series(reps, one)

    def parallel(self, kind: str, n: int) -> dict[str, float]:
        def one(i: int) -> bool:
            dest = self.fresh(f"par-{kind}-{i}")
            try:
                run_timed(["git", "clone", "-q", "--depth", "1", self.urls[kind], str(dest)], self.env,
                          timeout=CLONE_TIMEOUT)
                ok = bool(subprocess.run(["git", "-C", str(dest), "rev-parse", "HEAD"], env=self.env,
                                         capture_output=True).stdout.strip())
            except BenchError as exc:
                print(f"    {kind} clone {i} failed: {exc}", file=sys.stderr)
                ok = False
            shutil.rmtree(dest, ignore_errors=True)
            return ok

        started = time.perf_counter()
        with ThreadPoolExecutor(n) as pool:
            results = list(pool.map(one, range(n)))
        return {"wall": time.perf_counter() - started, "failures": float(results.count(False))}

    def memory(self) -> dict[str, object]:
        pid = self.forge.pid
        cpu_before = cpu_seconds(pid)
        with MemorySampler(pid) as sampler:
            took = self.clone("forge", name="mem")
        return {"clone_s": took, "first_mib": sampler.first_own_mib, "peak_mib": sampler.peak_own_mib,
                "children_peak_mib": sampler.peak_children_mib, "profile": sampler.own_profile_mib(),
                "server_cpu_s": cpu_seconds(pid) - cpu_before}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small repository, fewer repetitions")
    parser.add_argument("--reps", type=int, default=None, help="repetitions per figure (median is reported)")
    parser.add_argument("--parallel", type=int, default=32, help="parallel shallow clones")
    parser.add_argument("--doc", action=argparse.BooleanOptionalAction, default=None,
                        help="write docs/benchmarks.md (default: only for a full run)")
    args = parser.parse_args()
    mode = "quick" if args.quick else "full"
    reps = args.reps or (2 if args.quick else 3)
    work = ROOT / "bench" / "work" / mode
    env = git_env(work / "home")
    sources = ensure_repos(work, QUICK if args.quick else FULL, env)
    forge = Forge(work / "forge", env)
    backend = HttpBackend(work / "nginx", forge.home / "repos", env)
    with forge.running(), backend.running():
        repo = setup_forge(forge, sources["main"], env)
        bench = Bench(work, env, forge, backend, repo)
        results: dict[str, object] = {"mode": mode, "reps": reps, "repo": repo_facts(repo, env),
                                      "push_repo": repo_facts(sources["push"], env)}
        print("repository:", results["repo"], flush=True)
        print("warming up (one clone each, not counted)...", flush=True)
        for kind in ("local", "backend", "forge"):
            bench.clone(kind, "--depth", "1")
        print("full clone...", flush=True)
        results["full"] = bench.series(reps, lambda kind: bench.clone(kind))
        print("shallow clone (--depth 1)...", flush=True)
        results["shallow"] = bench.series(reps, lambda kind: bench.clone(kind, "--depth", "1"))
        print("no-op fetch...", flush=True)
        results["noop"] = bench.noop_fetch(max(reps, 5))
        print("large push...", flush=True)
        results["push"] = bench.push(reps, sources["push"])
        print(f"{args.parallel} parallel shallow clones...", flush=True)
        results["parallel_n"] = args.parallel
        parallel = {"backend": bench.parallel("backend", args.parallel)}
        with MemorySampler(forge.pid) as sampler:
            parallel["forge"] = bench.parallel("forge", args.parallel)
        results["parallel"] = parallel
        results["parallel_memory"] = {"first_mib": sampler.first_own_mib, "peak_mib": sampler.peak_own_mib,
                                      "children_peak_mib": sampler.peak_children_mib}
        print("server memory during a full clone...", flush=True)
        results["memory"] = bench.memory()
    shutil.rmtree(work / "scratch", ignore_errors=True)
    text = report.render(results)
    print(text)
    (work / "results.json").write_text(json.dumps(results, indent=2, default=str))
    if args.doc if args.doc is not None else not args.quick:
        report.write_doc(ROOT / "docs" / "benchmarks.md", text)
        print("written to docs/benchmarks.md")


if __name__ == "__main__":
    main()
