"""Reading JUnit XML test reports, as written by pytest, go-junit-report/gotestsum, Jest, Maven Surefire and most
other test runners (``testsuites``/``testsuite``/``testcase`` with ``failure``/``error``/``skipped``).

The files come from a job's script, so they are untrusted: they are parsed only through ``defusedxml`` (no entity
expansion, no external references: no "billion laughs", no reading server files), streamed with ``iterparse`` so a
large file is never held as a whole tree, and bounded — a file above :data:`MAX_FILE_BYTES` is not read, a job keeps
at most :data:`MAX_CASES` cases, and every text is cut to :data:`MAX_TEXT` characters. A file that is not JUnit XML
becomes a note on the report; nothing here raises for bad input.

Like GitLab, a job's report is one test suite: a case is known by its class name and name, and a second case with
the same class name and name is left out (GitLab's documented rule), counted in a note.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as safe_et
from defusedxml import DefusedXmlException

from ci.models.reports import ERROR, FAILED, PASSED, SKIPPED
from forge.i18n import N_

MAX_FILE_BYTES = 30 * 1024 * 1024  # GitLab's limit for one JUnit file
MAX_JOB_BYTES = 100 * 1024 * 1024  # GitLab's limit for all the JUnit files of a job
MAX_CASES = 50_000
MAX_TEXT = 10 * 1024
# Column sizes of ci_test_case (names longer than these are cut, not refused).
FIELD_LIMITS = {"suite": 255, "classname": 512, "name": 1024, "file": 512}
_CUT = "\n… [cut]"


@dataclass(frozen=True)
class Case:
    suite: str
    classname: str
    name: str
    file: str
    duration: float | None
    status: str  # passed / failed / error / skipped
    message: str = ""
    details: str = ""
    output: str = ""


@dataclass(frozen=True)
class Note:
    """A problem with one file, as an English message id (translated when shown) and its parameters."""

    file: str
    message: str
    params: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.file, "message": self.message, "params": self.params}


@dataclass
class Counts:
    total: int = 0
    passed: int = 0
    failed: int = 0
    errored: int = 0
    skipped: int = 0
    duration: float = 0.0

    def add(self, case: Case) -> None:
        self.total += 1
        if case.status == PASSED:
            self.passed += 1
        elif case.status == FAILED:
            self.failed += 1
        elif case.status == ERROR:
            self.errored += 1
        else:
            self.skipped += 1
        self.duration += case.duration or 0.0

    def merge(self, other: Counts) -> None:
        self.total += other.total
        self.passed += other.passed
        self.failed += other.failed
        self.errored += other.errored
        self.skipped += other.skipped
        self.duration += other.duration

    @property
    def failing(self) -> int:
        """Failed and errored cases: what "N failed" in a short summary counts."""
        return self.failed + self.errored


@dataclass
class Report:
    """What a job's JUnit files add up to: the cases kept, the counts (of every case, kept or not) and notes."""

    cases: list[Case] = field(default_factory=list)
    counts: Counts = field(default_factory=Counts)
    notes: list[Note] = field(default_factory=list)
    files: int = 0


class _NotJUnit(Exception):
    def __init__(self, root: str) -> None:
        super().__init__(root)
        self.root = root


def clip(text: str | None, limit: int = MAX_TEXT) -> str:
    """``text`` without NUL characters (PostgreSQL text cannot hold them), cut to ``limit`` characters."""
    if not text:
        return ""
    text = text.replace("\x00", "")
    return text if len(text) <= limit else text[: limit - len(_CUT)] + _CUT


def _local(tag: object) -> str:
    # "{namespace}testcase" → "testcase"; comments and processing instructions have non-string tags.
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _seconds(value: str | None) -> float | None:
    """A ``time`` attribute: "0.123", "1,234.5" (Surefire in some locales); None when absent or not a number."""
    if not value:
        return None
    try:
        seconds = float(value.strip().replace(",", ""))
    except ValueError:
        return None
    return seconds if seconds >= 0 and seconds == seconds and seconds != float("inf") else None


def _text(element: Element) -> str:
    return "".join(element.itertext()).strip()


def _case(element: Element, suites: list[str]) -> Case:
    status, message, details, output = PASSED, "", "", []
    for child in element:
        tag = _local(child.tag)
        if tag in ("failure", "error") and status in (PASSED, SKIPPED):
            status = FAILED if tag == "failure" else ERROR
            message = child.get("message", "") or child.get("type", "")
            details = _text(child)
        elif tag == "skipped" and status == PASSED:
            status = SKIPPED
            message = child.get("message", "")
            details = _text(child)
        elif tag in ("system-out", "system-err"):
            text = _text(child)
            if text:
                output.append(text)
    return Case(
        suite=clip(next((s for s in reversed(suites) if s), ""), FIELD_LIMITS["suite"]),
        classname=clip(element.get("classname", ""), FIELD_LIMITS["classname"]),
        name=clip(element.get("name", ""), FIELD_LIMITS["name"]),
        file=clip(element.get("file", ""), FIELD_LIMITS["file"]),
        duration=_seconds(element.get("time")),
        status=status,
        message=clip(message),
        details=clip(details),
        output=clip("\n".join(output)),
    )


def iter_cases(data: bytes) -> Iterator[Case]:
    """The test cases of one JUnit file, in file order. Raises ``ParseError`` (not well-formed XML),
    ``DefusedXmlException`` (entities, external references) or ``_NotJUnit`` (another root element)."""
    suites: list[str] = []
    depth = 0  # elements open inside the current <testcase>: a nested <testcase> is not expected, but harmless
    root_seen = False
    for event, element in safe_et.iterparse(io.BytesIO(data), events=("start", "end")):
        tag = _local(element.tag)
        if not root_seen:
            root_seen = True
            if tag not in ("testsuites", "testsuite"):
                raise _NotJUnit(tag)
        if event == "start":
            if tag == "testsuite":
                suites.append(element.get("name", ""))
            elif tag == "testcase":
                depth += 1
            continue
        if tag == "testcase":
            depth -= 1
            if depth == 0:
                yield _case(element, suites)
                element.clear()  # the case is read: free its texts, so memory stays flat on big files
        elif tag == "testsuite":
            suites.pop()
            element.clear()


def _parse_problem(exc: Exception) -> tuple[str, dict[str, Any]]:
    if isinstance(exc, _NotJUnit):
        return N_("This is not a JUnit report: its root element is <%(root)s>, not <testsuites> or <testsuite>."), {
            "root": exc.root[:64]}
    if isinstance(exc, DefusedXmlException):
        return N_("The file uses XML entities or external references, which are not allowed."), {}
    if isinstance(exc, ParseError):
        line, column = getattr(exc, "position", (0, 0))
        return N_("The file could not be parsed: it is not well-formed XML (line %(line)s, column %(column)s)."), {
            "line": line, "column": column}
    return N_("The file could not be parsed."), {}


def case_key(suite_name: str, classname: str, name: str) -> str:
    """A case's identity across pipelines: its job's suite name, class name and name (GitLab's test case key)."""
    return hashlib.sha256("\x00".join((suite_name, classname, name)).encode()).hexdigest()


@dataclass(frozen=True)
class ReportFile:
    """One JUnit file of a job: its name, its size, and how to read its bytes (only called when it is read; None
    when the file is gone)."""

    name: str
    size: int
    read: Callable[[], bytes | None]


def from_bytes(name: str, data: bytes) -> ReportFile:
    return ReportFile(name, len(data), lambda: data)


def read_files(files: Iterable[ReportFile], max_cases: int | None = None) -> Report:
    """Read a job's JUnit files into one report (keeping at most ``max_cases``, default MAX_CASES, cases). Never
    raises for what is in the files."""
    max_cases = MAX_CASES if max_cases is None else max_cases
    report = Report()
    seen: set[tuple[str, str]] = set()
    used = 0
    duplicates = 0
    dropped = 0
    for file in files:
        report.files += 1
        if file.size > MAX_FILE_BYTES:
            report.notes.append(Note(file.name, N_("The file is larger than %(size)s MB and was not read."),
                                     {"size": MAX_FILE_BYTES // (1024 * 1024)}))
            continue
        if used + file.size > MAX_JOB_BYTES:
            report.notes.append(Note(file.name, N_(
                "The job's JUnit files are larger than %(size)s MB together; this one was not read."),
                {"size": MAX_JOB_BYTES // (1024 * 1024)}))
            continue
        used += file.size
        data = file.read()  # outside the try: a storage or database error is not a problem of the file's
        if data is None:
            report.notes.append(Note(file.name, N_("The file is no longer stored.")))
            continue
        try:
            # The whole file is read before any of its cases count: a file that breaks half-way adds nothing,
            # rather than a part that would look like the whole.
            cases = list(iter_cases(data))
        except Exception as exc:  # whatever a job wrote, finishing the job must not fail
            message, params = _parse_problem(exc)
            report.notes.append(Note(file.name, message, params))
            continue
        if not cases:
            report.notes.append(Note(file.name, N_("The file has no test cases.")))
        for case in cases:
            identity = (case.classname, case.name)
            if identity in seen:
                duplicates += 1
                continue
            seen.add(identity)
            report.counts.add(case)
            if len(report.cases) < max_cases:
                report.cases.append(case)
            else:
                dropped += 1
    if duplicates:
        report.notes.append(Note("", N_(
            "Test cases left out because they repeat the class name and name of an earlier case: %(count)s."),
            {"count": duplicates}))
    if dropped:
        report.notes.append(Note("", N_(
            "The job reported more than %(limit)s test cases: they are all counted, but only the first %(limit)s "
            "are listed."), {"limit": max_cases}))
    return report
