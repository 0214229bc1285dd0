"""The Markdown section of docs/benchmarks.md for the code-browsing benchmark (rewritten between its markers)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench import report
from bench.measure import median, percentile

START = "<!-- bench:code-browsing:start (written by `python -m bench.code_browsing`; do not edit by hand) -->"
END = "<!-- bench:code-browsing:end -->"

def _t(seconds: float) -> str:
    if seconds != seconds:  # NaN: nothing measured
        return "-"
    return f"{seconds * 1000:.0f} ms" if seconds < 10 else f"{seconds:.1f} s"


def _ratio(value: float, base: float) -> str:
    return f"{value / base:.1f}x" if base > 0 and value == value else "-"


def _size(n: int) -> str:
    return f"{n / 1024:.0f} KiB" if n < 2**20 else f"{n / 2**20:.1f} MiB"


def _row(r: dict[str, Any], target: float, reps: int) -> str:
    label = f"{r['label']}<br>`{r['path']}`"
    ref = median(r["reference_s"])
    if r["status"] != "ok":
        why = "not available (404: page not built yet)" if r["status"] == "not available" else \
            f"**error**: {r['error']}"
        return f"| {label} | {why} | | | | < {_t(target)} | | | {_t(ref)} | |"
    times = r["times"]
    p95 = percentile(times, 95)
    verdict = "met" if p95 < target else "**not met**"
    # Fewer than asked when the page used up its time budget (PAGE_BUDGET_S).
    count = f" (n={len(times)})" if len(times) < reps else ""
    return (f"| {label} | {_t(r['cold_s'])} | {_t(median(times))}{count} | {_t(p95)} | {_t(max(times))} "
            f"| < {_t(target)}: {verdict} | {_size(r['bytes'])} | {_t(ref)} | {_ratio(median(times), ref)} "
            f"| {_ratio(r['cold_s'], ref)} |")


def _details(r: dict[str, Any]) -> str:
    bits = []
    if r.get("entries") is not None:
        bits.append(f"{r['entries']:,} entries listed")
    if r.get("last_commit_info") is not None:
        bits.append("last commit of each entry shown" if r["last_commit_info"] else
                    "no last-commit column (or filled in later by a follow-up request)")
    return f"{r['label']}: {', '.join(bits)}" if bits else ""


def render(s: dict[str, Any]) -> str:
    m = report.machine()
    repo, spec = s["repo"], s["spec"]
    generated = f"generated in {s['generated_s']:.0f} s" if s["generated_s"] is not None else "cached from an " \
        "earlier run"
    lines = [
        f"Run: {m['date']}, mode `{s['mode']}`. Per page: one cold request (the first after a server restart), "
        f"then {s['reps']} warm requests (median, p95, max), pages interleaved; the `git` reference is the median "
        f"of {s['ref_reps']} runs.",
        "",
        f"Machine: {m['cpu']}, {m['ram']} RAM, Linux {m['kernel']}; {m['git']}; Python {m['python']}; "
        "`forge serve` with one worker; client and server on 127.0.0.1, one keep-alive connection. Load average "
        f"(1 min) {s['load'][0]:.1f} at the start, {s['load'][1]:.1f} at the end (on {m['cpu'].rsplit(', ', 1)[-1]}: "
        "anything else running inflates the figures).",
        "",
        f"Repository: {repo['commits']} commits ({spec['commits']} on `main`), {repo['objects']} objects, "
        f"{repo['files']} files at `main`, {repo['pack_mib']} MiB pack; `big/` holds {spec['big_files']:,} files; "
        f"`src/core/engine.py` has {s['engine_lines']:,} lines changed by {s['engine_commits']:,} commits; "
        f"`feature...main` spans {s['compare_commits']:,} commits; {s['tags']} tags. Repository {generated}; "
        f"pushed into the forge (`git push --mirror` over HTTP) in {s['push_s']:.0f} s; whole run "
        f"{s['total_s'] / 60:.1f} min.",
        "",
        "| page | cold | median | p95 | max | target (p95) | size | `git` reference | forge / git (median) "
        "| cold / git |",
        "|---|---|---|---|---|---|---|---|---|---|",
        *(_row(r, s["targets"][r["key"]], s["reps"]) for r in s["results"]),
        "",
    ]
    details = [d for d in (_details(r) for r in s["results"] if r["status"] == "ok") if d]
    if details:
        lines += ["What the pages showed: " + "; ".join(details) + ".", ""]
    lines.append("`git` references (run with `git -C <the forge's bare repository>`, times summed, process starts "
                 "included): " + "; ".join(f"{label}: {note}" for label, note in
                                           s["reference_notes"].items()) + ".")
    return "\n".join(lines)


def write(path: Path, section: str) -> None:
    report.write_doc(path, section, START, END)
