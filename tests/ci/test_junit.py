"""The JUnit parser against files as the common test runners write them, and against bad or hostile input."""

from __future__ import annotations

from pathlib import Path

import pytest

from ci import junit
from ci.junit import Case, from_bytes, read_files

FIXTURES = Path(__file__).parent / "fixtures" / "junit"


def _read(*names: str) -> junit.Report:
    return read_files([from_bytes(name, (FIXTURES / name).read_bytes()) for name in names])


def _by_name(report: junit.Report) -> dict[str, Case]:
    return {c.name: c for c in report.cases}


def test_pytest_report() -> None:
    report = _read("pytest.xml")
    assert report.notes == []
    c = report.counts
    assert (c.total, c.passed, c.failed, c.errored, c.skipped) == (5, 2, 1, 1, 1)
    assert c.duration == pytest.approx(0.412)
    cases = _by_name(report)
    failed = cases["test_divide[0-1]"]
    assert failed.status == "failed" and failed.classname == "tests.test_math" and failed.suite == "pytest"
    assert failed.message == "ZeroDivisionError: division by zero"
    assert "tests/test_math.py:12: ZeroDivisionError" in failed.details
    assert ">       assert a / b == 0" in failed.details
    assert failed.duration == pytest.approx(0.002)
    error = cases["test_connect"]
    assert error.status == "error" and 'ConnectionRefusedError' in error.message
    skipped = cases["test_slow"]
    assert skipped.status == "skipped" and skipped.message == "needs a GPU"
    unicode_case = cases["test_中文_名称"]
    assert unicode_case.status == "passed" and unicode_case.output == "打印输出 ✓"
    # File order is kept.
    assert [x.name for x in report.cases][:2] == ["test_add", "test_divide[0-1]"]


def test_go_junit_report_and_gotestsum() -> None:
    report = _read("go-junit-report.xml")
    cases = _by_name(report)
    assert (report.counts.total, report.counts.failed) == (4, 1)
    failed = cases["TestGet/missing_key"]
    assert failed.classname == "example.com/app/store" and failed.suite == "example.com/app/store"
    assert failed.message == "Failed" and 'store_test.go:41: got "x", want ""' in failed.details
    assert cases["TestIndex"].suite == "example.com/app/web"

    report = _read("gotestsum.xml")
    cases = _by_name(report)
    assert (report.counts.total, report.counts.passed, report.counts.failed, report.counts.skipped) == (3, 1, 1, 1)
    assert "context deadline exceeded" in cases["TestTimeout"].details
    assert "flaky on CI" in cases["TestSkipMe"].message


def test_jest_report() -> None:
    report = _read("jest.xml")
    cases = _by_name(report)
    assert (report.counts.total, report.counts.failed) == (3, 1)
    failed = cases["Cart computes the total with tax"]
    # Jest gives no message attribute: the text is the details, the message stays empty.
    assert failed.status == "failed" and failed.message == ""
    assert "Expected: 110" in failed.details and "cart.test.js:14:25" in failed.details
    assert failed.suite == "Cart" and cases["Checkout renders"].suite == "Checkout"


def test_surefire_report_with_a_single_testsuite_root() -> None:
    report = _read("surefire.xml")
    cases = _by_name(report)
    assert (report.counts.total, report.counts.passed, report.counts.failed, report.counts.skipped) == (3, 1, 1, 1)
    failed = cases["rejectsEmptyOrder"]
    assert failed.message == "expected: <400> but was: <200>"
    assert "OrderServiceTest.java:31" in failed.details
    assert "validating order" in failed.output and "WARN something odd" in failed.output
    assert cases["retriesPayment"].message == "@Disabled"
    assert cases["retriesPayment"].duration == 0.0


def test_nested_suites_name_the_innermost_suite() -> None:
    report = _read("nested.xml")
    cases = _by_name(report)
    assert cases["testOne"].suite == "Unit" and cases["testOne"].file == "/app/tests/Unit/OneTest.php"
    assert cases["testDeep"].suite == "Unit\\Deep"
    assert cases["testTwo"].suite == "Feature"
    assert report.counts.duration == pytest.approx(0.06)


def test_several_files_add_up_and_duplicates_are_left_out_as_gitlab_does() -> None:
    report = _read("pytest.xml", "jest.xml", "pytest.xml")
    assert report.files == 3
    assert report.counts.total == 8  # the second pytest.xml repeats every case
    assert [n.params for n in report.notes] == [{"count": 5}]
    assert "repeat the class name and name" in report.notes[0].message


@pytest.mark.parametrize(("data", "expected"), [
    (b"", "not well-formed XML"),
    (b"<testsuite><testcase name='a'>", "not well-formed XML"),
    (b"this is a log, not XML", "not well-formed XML"),
    (b"<html><body>404</body></html>", "not a JUnit report"),
    (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><testsuite><testcase name="&a;"/></testsuite>',
     "entities or external references"),
    (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><testsuite>'
     b'<testcase name="&e;"/></testsuite>', "entities or external references"),
])
def test_bad_files_become_notes_and_never_raise(data: bytes, expected: str) -> None:
    report = read_files([from_bytes("bad.xml", data), from_bytes("good.xml", (FIXTURES / "jest.xml").read_bytes())])
    assert report.counts.total == 3  # the good file still counts
    assert len(report.notes) == 1 and report.notes[0].file == "bad.xml"
    assert expected in report.notes[0].message


def test_a_file_broken_half_way_adds_none_of_its_cases() -> None:
    data = (FIXTURES / "pytest.xml").read_bytes()
    cut = data[: len(data) // 2]
    report = read_files([from_bytes("cut.xml", cut)])
    assert report.counts.total == 0 and report.cases == []
    # Where the XML breaks: the end of what is there.
    assert report.notes[0].params["line"] == cut.count(b"\n") + 1


def test_limits_on_size_cases_and_texts(monkeypatch: pytest.MonkeyPatch) -> None:
    big = junit.ReportFile("huge.xml", junit.MAX_FILE_BYTES + 1, lambda: pytest.fail("an oversized file is read"))
    report = read_files([big])
    assert report.counts.total == 0 and report.notes[0].params == {"size": 30}

    cases = "".join(f'<testcase classname="c" name="t{i}"><failure message="{"x" * 20000}"/></testcase>'
                    for i in range(12))
    report = read_files([from_bytes("many.xml", f"<testsuite>{cases}</testsuite>".encode())], max_cases=10)
    assert report.counts.total == 12 and report.counts.failed == 12  # every case is counted
    assert len(report.cases) == 10  # but only the first ten are kept
    assert report.notes[0].params == {"limit": 10}
    message = report.cases[0].message
    assert len(message) == junit.MAX_TEXT and message.endswith("[cut]")

    monkeypatch.setattr(junit, "MAX_JOB_BYTES", 1500)
    data = (FIXTURES / "jest.xml").read_bytes()
    assert len(data) < 1500 < 2 * len(data)
    report = read_files([from_bytes("a.xml", data), from_bytes("b.xml", data.replace(b"Cart", b"Basket"))])
    assert report.counts.total == 3 and report.notes[0].file == "b.xml"


def test_odd_attributes() -> None:
    xml = (b'<testsuites><testsuite name="s"><testcase name="no-time"/><testcase name="bad-time" time="soon"/>'
           b'<testcase name="negative" time="-1"/><testcase time="0.5"/>'
           b'<testcase name="both"><failure message="f"/><error message="e"/></testcase>'
           b'<testcase name="skip-then-fail"><skipped/><failure message="boom"/></testcase>'
           b'<!-- a comment --><?pi here?></testsuite></testsuites>')
    cases = {c.name: c for c in read_files([from_bytes("odd.xml", xml)]).cases}
    assert cases["no-time"].duration is None and cases["bad-time"].duration is None
    assert cases["negative"].duration is None
    assert cases[""].duration == 0.5
    assert cases["both"].status == "failed" and cases["both"].message == "f"
    assert cases["skip-then-fail"].status == "failed"


def test_an_empty_report_says_so() -> None:
    report = read_files([from_bytes("empty.xml", b"<testsuites/>")])
    assert report.counts.total == 0 and report.notes[0].message == "The file has no test cases."


def test_case_key_is_stable_and_separates_fields() -> None:
    assert junit.case_key("test", "a", "b") == junit.case_key("test", "a", "b")
    assert junit.case_key("test", "a", "b") != junit.case_key("test", "ab", "")
    assert len(junit.case_key("s", "c", "n")) == 64
