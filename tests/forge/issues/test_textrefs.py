"""Finding issue references, closing keywords and mentions in text, code excluded."""

from __future__ import annotations

from forge.issues.issue_templates import parse
from forge.issues.textrefs import Ref, find_closing_refs, find_mentions, find_refs, strip_code


def test_references_in_prose_not_in_code_urls_or_entities() -> None:
    text = ("See #12 and alice/tools#3, not `#4`, not page#5 nor &#39; or http://x/y#6.\n\n"
            "```\n#7 in a fence\n```\n\n    #8 indented code\n\nAgain #12, and (#9).")
    assert find_refs(text) == [Ref("", "", 12), Ref("alice", "tools", 3), Ref("", "", 9)]


def test_closing_keywords_case_insensitive_with_colon_and_chinese() -> None:
    text = "Fixes #1, closes: #2, RESOLVED alice/x#3, fixed#4, refs #5, encloses #6\n修复 #7，请关闭 #8"
    assert [r.number for r in find_closing_refs(text)] == [1, 2, 3, 4, 7, 8]
    assert find_closing_refs("prefix #1") == []


def test_mentions_skip_emails_code_and_repeat() -> None:
    text = "Thanks @Alice and @bob.smith! mail me at carol@example.com; `@dave` @alice again @-nope"
    assert find_mentions(text) == ["alice", "bob.smith"]
    assert "@dave" not in strip_code(text)


def test_issue_template_front_matter() -> None:
    t = parse("bug.md", "---\nname: Bug report\nabout: Tell us\ntitle: '[bug] '\nlabels: bug, triage\n"
                        "assignees: ['@alice']\n---\nWhat happened?\n")
    assert (t.name, t.about, t.title, t.labels, t.assignees) == ("Bug report", "Tell us", "[bug]", ["bug", "triage"],
                                                                  ["alice"])
    assert t.body == "What happened?\n"
    plain = parse("feature.md", "Just a body")
    assert plain.name == "feature" and plain.body == "Just a body" and plain.labels == []
