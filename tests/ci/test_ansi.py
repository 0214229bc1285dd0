"""Job log text to HTML (ci/ansi.py): colours, styles, sections, escaping, and the same result however the text
is cut into pieces (as the live stream delivers it)."""

from __future__ import annotations

import re

import pytest

from ci.ansi import Renderer, render, xterm_rgb

GITLAB_LOG = (
    "\x1b[0KRunning with forge-runner\n"
    "\x1b[0Ksection_start:1700000000:prepare_script[collapsed=true]\r\x1b[0K\x1b[1;36mPreparing\x1b[0;m\n"
    "Using docker image busybox:ci\n"
    "\x1b[0Ksection_end:1700000003:prepare_script\r\x1b[0K\n"
    "\x1b[0Ksection_start:1700000003:step_script\r\x1b[0KExecuting \"step_script\"\n"
    "\x1b[32;1m$ make test\x1b[0;m\n"
    "ok <all> & done\r\n"
    "progress 10%\rprogress 100%\n"
    "\x1b[0Ksection_end:1700000009:step_script\r\x1b[0K\n"
    "\x1b[31;1mERROR: Job failed: exit code 1\x1b[0;m\n"
)


def _merge(html: str) -> str:
    """Adjacent spans of the same style as one (pieces may split a run of text)."""
    previous = None
    while previous != html:
        previous = html
        html = re.sub(r"<span([^>]*)>([^<]*)</span><span\1>", r"<span\1>\2", html)
    return html


def test_colours_and_styles_become_spans() -> None:
    assert render("\x1b[1;32mok\x1b[0m plain") == '<span class="ansi-bold ansi-fg-2">ok</span> plain'
    assert render("\x1b[91;44mx\x1b[39my\x1b[49mz") == (
        '<span class="ansi-fg-9 ansi-bg-4">x</span><span class="ansi-bg-4">y</span>z')
    assert render("\x1b[3;4mi\x1b[23mu\x1b[24mn") == (
        '<span class="ansi-italic ansi-underline">i</span><span class="ansi-underline">u</span>n')
    assert render("\x1b[38;5;208mo\x1b[48;2;1;2;3mr\x1b[m") == (
        '<span style="color:#ff8700">o</span><span style="color:#ff8700;background-color:#010203">r</span>')
    assert render("\x1b[38;5;3mlow\x1b[0m") == '<span class="ansi-fg-3">low</span>'


def test_palette() -> None:
    assert xterm_rgb(1) == (205, 49, 49)
    assert xterm_rgb(16) == (0, 0, 0) and xterm_rgb(231) == (255, 255, 255)
    assert xterm_rgb(196) == (255, 0, 0) and xterm_rgb(244) == (128, 128, 128)


def test_text_is_escaped_and_other_escapes_are_dropped() -> None:
    assert render("<script>&\x1b[2K\x1b]0;title\x07\x1b(B\x1b[?25l") == "&lt;script&gt;&amp;"
    assert render('\x1b[31m"<b>"\x1b[0m') == '<span class="ansi-fg-1">"&lt;b&gt;"</span>'


def test_sections_become_collapsible_details() -> None:
    html = render(GITLAB_LOG)
    assert html.count("<details") == 2 and html.count("</details>") == 2
    assert ('<details class="log-section" data-section="prepare_script"><summary>'
            '<span class="ansi-bold ansi-fg-6">Preparing</span></summary>Using docker image busybox:ci\n</details>'
            ) in html
    assert '<details class="log-section" data-section="step_script" open><summary>Executing "step_script"</summary>' \
        in html
    assert "ok &lt;all&gt; &amp; done\nprogress 10%\nprogress 100%\n</details>" in html
    assert html.endswith('<span class="ansi-bold ansi-fg-1">ERROR: Job failed: exit code 1</span>\n')
    assert "section_" not in html and "\r" not in html


def test_unclosed_and_unknown_sections() -> None:
    assert render("section_start:1:a\r\x1b[0Khead\nbody") == (
        '<details class="log-section" data-section="a" open><summary>head</summary>body</details>')
    assert render("x section_end:1:nothing\r\x1b[0K\ny") == "x \ny"
    nested = render("section_start:1:outer\rO\nsection_start:2:inner\rI\ntext\nsection_end:3:outer\r\nafter")
    assert nested.endswith("text\n</details></details>after")


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 11, 64])
def test_pieces_render_like_the_whole(size: int) -> None:
    renderer = Renderer()
    pieces = [GITLAB_LOG[i : i + size] for i in range(0, len(GITLAB_LOG), size)]
    html = "".join(renderer.feed(p) for p in pieces) + renderer.finish()
    assert _merge(html) == render(GITLAB_LOG)


def test_an_unfinished_escape_waits_for_the_next_piece() -> None:
    renderer = Renderer()
    assert renderer.feed("a\x1b[3") == "a"
    assert renderer.feed("1mred") == '<span class="ansi-fg-1">red</span>'
    assert renderer.feed("\r") == ""  # maybe "\r\n"
    assert renderer.feed("\nsect") == "\n"
    assert renderer.feed("ion? no") == '<span class="ansi-fg-1">section? no</span>'
    assert renderer.finish() == ""
