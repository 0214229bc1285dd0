"""Job log text to HTML: ANSI colours and styles become ``<span>``s, GitLab-style section markers become collapsible
``<details>``, everything else is escaped.

The job page renders the stored log with :func:`render` for readers without JavaScript; ``web/static/joblog.js``
does the same, incrementally, for the live stream (keep the two in step). Supported:

* SGR escapes (``ESC[…m``): bold, faint, italic, underline, the 16 colours (classes ``ansi-fg-N``/``ansi-bg-N``),
  256 colours and 24-bit colours (inline ``color``/``background-color``), resets; other escapes are dropped;
* ``section_start:<unix time>:<name>[collapsed=true]`` … ``section_end:<unix time>:<name>`` (each usually
  followed by ``\\r`` and ``ESC[0K``): the rest of the start line is the section's header (``<summary>``);
* ``\\r\\n`` is a line end; a lone ``\\r`` (progress bars) also starts a new line, so no output is hidden.

:class:`Renderer` takes text in pieces (a piece may end inside an escape or a marker; that part waits for the
next piece) and never leaves a tag open across pieces except the ``<details>``/``<summary>`` of open sections,
which :meth:`Renderer.finish` closes.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

_TOKEN = re.compile(
    r"\x1b\[([0-9;:?]*)([@-~])"  # CSI: SGR when the final byte is "m"
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)"  # OSC (window titles, hyperlinks): dropped
    r"|\x1b[()*+][0-9A-Za-z]|\x1b[@-Z\\^_]"  # character sets, other two-byte escapes: dropped
    r"|(section_start|section_end):(\d+):([A-Za-z0-9_.\-]+)(?:\[([^\]\n]*)\])?\r?(?:\x1b\[0?K)?"
    r"|\r\n|\r|\n"
)
_MARKER_WORDS = ("section_start:", "section_end:")
_OPTIONS_START = re.compile(r"(?:\[[^\]\n]*)?")
_PARTIAL_ESC = re.compile(r"\x1b(?:\[[0-9;:?]*|\][^\x07\x1b]*\x1b?|[()*+])?\Z")
_PARTIAL_MARKER = re.compile(r"section_(?:start|end):\d*(?::[A-Za-z0-9_.\-]*(?:\[[^\]\n]*\]?)?\r?(?:\x1b\[?0?)?)?\Z")
# An escape or marker that is still open this far from the end of a piece is not one: show it as text.
_MAX_PENDING = 256

_BASIC = (
    (0, 0, 0), (205, 49, 49), (13, 188, 121), (229, 229, 16), (36, 114, 200), (188, 63, 188), (17, 168, 205),
    (229, 229, 229), (102, 102, 102), (241, 76, 76), (35, 209, 139), (245, 245, 67), (59, 142, 234),
    (214, 112, 214), (41, 184, 219), (255, 255, 255),
)


def xterm_rgb(n: int) -> tuple[int, int, int]:
    """The colour of entry ``n`` of the 256-colour palette."""
    if n < 16:
        return _BASIC[n]
    if n < 232:
        n -= 16
        steps = (0, 95, 135, 175, 215, 255)
        return steps[n // 36], steps[(n // 6) % 6], steps[n % 6]
    level = 8 + (n - 232) * 10
    return level, level, level


@dataclass
class Style:
    bold: bool = False
    faint: bool = False
    italic: bool = False
    underline: bool = False
    fg: int | str | None = None  # 0-15 (a class) or "#rrggbb"
    bg: int | str | None = None

    def apply(self, params: str) -> None:
        codes = [int(p) if p.isdigit() else 0 for p in re.split(r"[;:]", params)] if params else [0]
        i = 0
        while i < len(codes):
            code = codes[i]
            if code == 0:
                self.__init__()  # type: ignore[misc]
            elif code == 1:
                self.bold = True
            elif code == 2:
                self.faint = True
            elif code == 3:
                self.italic = True
            elif code == 4:
                self.underline = True
            elif code == 22:
                self.bold = self.faint = False
            elif code == 23:
                self.italic = False
            elif code == 24:
                self.underline = False
            elif 30 <= code <= 37:
                self.fg = code - 30
            elif 90 <= code <= 97:
                self.fg = code - 90 + 8
            elif code == 39:
                self.fg = None
            elif 40 <= code <= 47:
                self.bg = code - 40
            elif 100 <= code <= 107:
                self.bg = code - 100 + 8
            elif code == 49:
                self.bg = None
            elif code in (38, 48):
                colour, used = _extended(codes[i + 1 :])
                if code == 38:
                    self.fg = colour
                else:
                    self.bg = colour
                i += used
            i += 1

    def attributes(self) -> str:
        classes = [name for name, on in (("ansi-bold", self.bold), ("ansi-faint", self.faint),
                                         ("ansi-italic", self.italic), ("ansi-underline", self.underline)) if on]
        styles = []
        if isinstance(self.fg, int):
            classes.append(f"ansi-fg-{self.fg}")
        elif self.fg:
            styles.append(f"color:{self.fg}")
        if isinstance(self.bg, int):
            classes.append(f"ansi-bg-{self.bg}")
        elif self.bg:
            styles.append(f"background-color:{self.bg}")
        out = f' class="{" ".join(classes)}"' if classes else ""
        if styles:
            out += f' style="{";".join(styles)}"'
        return out


def _extended(rest: list[int]) -> tuple[int | str | None, int]:
    """A 38/48 colour: ``5;n`` (palette) or ``2;r;g;b``; the colour and how many codes it used."""
    if len(rest) >= 2 and rest[0] == 5:
        n = rest[1]
        if 0 <= n < 16:
            return n, 2
        r, g, b = xterm_rgb(min(max(n, 0), 255))
        return f"#{r:02x}{g:02x}{b:02x}", 2
    if len(rest) >= 4 and rest[0] == 2:
        r, g, b = (min(max(v, 0), 255) for v in rest[1:4])
        return f"#{r:02x}{g:02x}{b:02x}", 4
    return None, len(rest)


@dataclass
class Renderer:
    style: Style = field(default_factory=Style)
    pending: str = ""  # the end of the last piece that may be the start of an escape, a marker or "\r\n"
    sections: list[str] = field(default_factory=list)
    in_header: bool = False  # inside a <summary>: the rest of a section_start line
    eat_newline: bool = False  # right after a section_end: its line end is not a line of the log

    def _text(self, out: list[str], text: str) -> None:
        if not text:
            return
        self.eat_newline = False
        attrs = self.style.attributes()
        escaped = html.escape(text, quote=False)
        out.append(f"<span{attrs}>{escaped}</span>" if attrs else escaped)

    def _newline(self, out: list[str]) -> None:
        if self.in_header:
            out.append("</summary>")
            self.in_header = False
        elif self.eat_newline:
            self.eat_newline = False
        else:
            out.append("\n")

    def _marker(self, out: list[str], kind: str, name: str, options: str | None) -> None:
        if self.in_header:
            out.append("</summary>")
            self.in_header = False
        if kind == "section_start":
            collapsed = bool(options and re.search(r"collapsed\s*=\s*true", options))
            attrs = f' data-section="{html.escape(name)}"' + ("" if collapsed else " open")
            out.append(f'<details class="log-section"{attrs}><summary>')
            self.sections.append(name)
            self.in_header = True
            self.eat_newline = False
        elif name in self.sections:
            # Close down to the named section (an inner one left open is closed with it).
            while self.sections:
                out.append("</details>")
                if self.sections.pop() == name:
                    break
            self.eat_newline = True

    def _hold_from(self, text: str) -> int:
        """Where the end of ``text`` that may be the start of an escape or a marker begins (len(text) if none)."""
        for i in range(max(0, len(text) - _MAX_PENDING), len(text)):
            char = text[i]
            if char == "\x1b" and _PARTIAL_ESC.match(text, i):
                return i
            if char == "s":
                tail = text[i:]
                if any(word.startswith(tail) for word in _MARKER_WORDS) or _PARTIAL_MARKER.match(tail):
                    return i
        return len(text)

    def feed(self, text: str, final: bool = False) -> str:
        """HTML for ``text`` (what follows the text fed before)."""
        text = self.pending + text
        self.pending = ""
        out: list[str] = []
        pos = 0
        held: int | None = None
        for m in _TOKEN.finditer(text):
            token = m.group(0)
            # A marker or "\r" at the very end may go on in the next piece (a longer name, its options, "\r\n"):
            # wait for it.
            if not final and (
                (token == "\r" and m.end() == len(text))
                or (m.group(3) and not token.endswith("K") and _OPTIONS_START.fullmatch(text, m.end()))
            ):
                held = m.start()
                break
            self._text(out, text[pos : m.start()])
            pos = m.end()
            if token in ("\n", "\r\n", "\r"):
                self._newline(out)
            elif m.group(3):
                self._marker(out, m.group(3), m.group(5), m.group(6))
            elif m.group(2) == "m":
                self.style.apply(m.group(1))
        if held is None:
            rest = text[pos:]
            held = pos + (len(rest) if final else self._hold_from(rest))
        self._text(out, text[pos:held])
        self.pending = text[held:]
        return "".join(out)

    def finish(self) -> str:
        """HTML for what was held back, and the ends of sections still open."""
        out = [self.feed("", final=True)]
        if self.in_header:
            out.append("</summary>")
            self.in_header = False
        out.extend("</details>" for _ in self.sections)
        self.sections.clear()
        return "".join(out)


def render(text: str) -> str:
    """The whole of ``text`` as HTML (for inside a ``<pre>``)."""
    renderer = Renderer()
    return renderer.feed(text) + renderer.finish()
