"""Turn the figures into the Markdown section of docs/benchmarks.md (between markers, so reruns replace it)."""

from __future__ import annotations

import datetime
import os
import platform
import re
import subprocess
from pathlib import Path
from typing import Any

START = "<!-- bench:git-http:start (written by `python -m bench.git_http`; do not edit by hand) -->"
END = "<!-- bench:git-http:end -->"


def _first(cmd: list[str]) -> str:
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
    except OSError:
        return "?"
    return (res.stdout or res.stderr).strip().splitlines()[0] if (res.stdout or res.stderr).strip() else "?"


def machine() -> dict[str, str]:
    cpu = "?"
    with open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_kib = 0
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": f"{cpu}, {os.cpu_count()} cores",
        "ram": f"{mem_kib / 2**20:.1f} GiB",
        "kernel": platform.release(),
        "git": _first(["git", "--version"]),
        "nginx": _first(["/usr/sbin/nginx", "-v"]),
        "python": platform.python_version(),
    }


def _ratio(value: float, base: float) -> str:
    return f"{value / base:.2f}x" if base > 0 else "-"


def _row(name: str, fig: dict[str, float], unit: float = 1.0, fmt: str = "{:.2f} s") -> str:
    loc, be, fo = fig["local"] * unit, fig["backend"] * unit, fig["forge"] * unit
    return (f"| {name} | {fmt.format(loc)} | {fmt.format(be)} ({_ratio(be, loc)}) | "
            f"{fmt.format(fo)} ({_ratio(fo, loc)}) | {_ratio(fo, be)} |")


def render(r: dict[str, Any]) -> str:
    m = machine()
    repo, push_repo, mem, par = r["repo"], r["push_repo"], r["memory"], r["parallel"]
    full = r["full"]
    verdict_clone = full["forge"] <= 1.10 * full["local"]
    verdict_backend = full["forge"] <= full["backend"]
    lines = [
        f"Run: {m['date']}, mode `{r['mode']}`, median of {r['reps']} repetitions (no-op fetch: of "
        f"{max(r['reps'], 5)}).",
        "",
        f"Machine: {m['cpu']}, {m['ram']} RAM, Linux {m['kernel']}; {m['git']}; {m['nginx']}; "
        f"Python {m['python']}; all on 127.0.0.1.",
        "",
        f"Repository: {repo['commits']} commits, {repo['objects']} objects, {repo['files']} files at HEAD, "
        f"{repo['pack_mib']} MiB pack (with bitmap). Push: a new branch of {push_repo['commits']} commits, "
        f"{push_repo['objects']} objects, {push_repo['pack_mib']} MiB pack, into an empty repository.",
        "",
        "| operation | `git` over a pipe (`--no-local` / `file://`) | nginx + fcgiwrap + git-http-backend "
        "| forge | forge / http-backend |",
        "|---|---|---|---|---|",
        _row("full clone", full),
        _row("shallow clone (`--depth 1`)", r["shallow"]),
        _row("no-op fetch", r["noop"], 1000.0, "{:.0f} ms"),
        _row("large push", r["push"]),
        "",
        f"Full clone target: forge within 1.10x of `git clone --no-local`: "
        f"**{'met' if verdict_clone else 'not met'}** ({_ratio(full['forge'], full['local'])}); "
        f"no slower than git-http-backend: **{'met' if verdict_backend else 'not met'}** "
        f"({_ratio(full['forge'], full['backend'])}).",
        "",
        f"{r.get('parallel_n', 32)} parallel shallow clones: forge {par['forge']['wall']:.1f} s wall, "
        f"**{par['forge']['failures']:.0f} failures**; http-backend {par['backend']['wall']:.1f} s, "
        f"{par['backend']['failures']:.0f} failures. During them the `forge serve` process went from "
        f"{r['parallel_memory']['first_mib']:.0f} to {r['parallel_memory']['peak_mib']:.0f} MiB resident "
        f"(git children: {r['parallel_memory']['children_peak_mib']:.0f} MiB at the peak).",
        "",
        f"Server memory during a full clone ({mem['clone_s']:.1f} s): the `forge serve` process (uvicorn) "
        f"{mem['first_mib']:.0f} MiB at the start, peak {mem['peak_mib']:.0f} MiB "
        f"(RSS over the transfer: {', '.join(str(x) for x in mem['profile'])} MiB); its git children "
        f"(upload-pack, pack-objects) peak {mem['children_peak_mib']:.0f} MiB together. "
        f"CPU time of the server process for the clone: {mem['server_cpu_s']:.2f} s.",
    ]
    return "\n".join(lines)


def write_doc(path: Path, section: str, start: str = START, end: str = END) -> None:
    """Put ``section`` between the ``start`` and ``end`` markers of ``path``, or append it with them."""
    block = f"{start}\n{section}\n{end}"
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n\n## Git smart HTTP\n\n"
    if start in text and end in text:
        text = re.sub(re.escape(start) + r".*?" + re.escape(end), lambda _: block, text, flags=re.S)
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text, encoding="utf-8")
