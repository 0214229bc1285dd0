"""Markdown rendering and sanitising, and code highlighting by line."""

from __future__ import annotations

from forge.markup import highlight_lines, is_markdown, render_markdown


def test_tables_strikethrough_and_heading_anchors() -> None:
    out = render_markdown("# Hello World\n\n## Hello World\n\n| a | b |\n|:--|--:|\n| 1 | 2 |\n\n~~gone~~\n")
    assert '<h1 id="hello-world">Hello World</h1>' in out
    assert '<h2 id="hello-world-1">Hello World</h2>' in out  # repeated headings get distinct anchors
    assert '<th style="text-align:left">a</th>' in out and '<td style="text-align:right">2</td>' in out
    assert "<s>gone</s>" in out


def test_task_lists_and_footnotes() -> None:
    out = render_markdown("- [x] done\n- [ ] todo\n\nNote[^1]\n\n[^1]: the note\n")
    assert 'checked="checked"' in out and out.count('type="checkbox"') == 2
    assert out.count('disabled="disabled"') == 2
    assert 'href="#fn1"' in out and 'id="fn1"' in out


def test_dangerous_html_is_removed() -> None:
    out = render_markdown(
        "<script>alert(1)</script>\n\n"
        "<img src=x onerror=alert(2)>\n\n"
        "[x](javascript:alert(3)) <a href=\"javascript:alert(4)\">y</a>\n\n"
        "<style>body { display:none }</style>\n\n"
        "<iframe src=\"https://evil.example\"></iframe>\n\n"
        "<form action=\"/user/logout\" method=\"post\"><input type=\"submit\"></form>\n\n"
        "<div class=\"flash-success\" style=\"position:fixed\" onclick=\"alert(5)\">hi</div>\n"
    )
    for bad in ("<script", "alert(1)", "onerror", "href=\"javascript", "<style", "display:none", "<iframe", "<form",
                "type=\"submit\"", "flash-success", "position:fixed", "onclick"):
        assert bad not in out, bad
    assert '<img src="x">' in out and "<div>hi</div>" in out


def test_links_get_rel_and_relative_urls_are_rewritten() -> None:
    out = render_markdown(
        "[doc](docs/a.md) [top](#intro) [abs](/x/y) [ext](https://example.org) ![logo](img/logo.png)",
        link_base="/o/r/blob/main/", image_base="/o/r/raw/main/",
    )
    assert 'href="/o/r/blob/main/docs/a.md"' in out
    assert 'href="#intro"' in out and 'href="/x/y"' in out and 'href="https://example.org"' in out
    assert 'src="/o/r/raw/main/img/logo.png"' in out
    assert 'rel="noopener noreferrer nofollow"' in out


def test_fenced_code_is_highlighted() -> None:
    out = render_markdown("```python\nimport os\n```\n\n```nosuchlang\n<b>x</b>\n```\n")
    assert '<span class="kn">import</span>' in out
    assert "&lt;b&gt;x&lt;/b&gt;" in out


def test_highlight_lines_keeps_line_numbers() -> None:
    lines = highlight_lines("a.py", "\n\nimport os\n")
    assert len(lines) == 3 and lines[0] == "" and "import" in lines[2]
    assert highlight_lines("notes", "no newline at end") == ["no newline at end"]
    assert highlight_lines("x.txt", "") == []
    assert len(highlight_lines("x.c", "a\r\nb\r\nc\r\n")) == 3
    assert highlight_lines("x.txt", "<b>&</b>") == ["&lt;b&gt;&amp;&lt;/b&gt;"]


def test_is_markdown() -> None:
    assert is_markdown("README.md") and is_markdown("notes.MARKDOWN")
    assert not is_markdown("README") and not is_markdown("md")
