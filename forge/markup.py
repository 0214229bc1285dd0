"""Markdown to safe HTML.

Markdown written by any user is shown on the forge's own origin, so the HTML markdown-it produces (which passes
raw HTML through, as CommonMark requires) is always cleaned by nh3 against a short allow-list before it reaches a
page. Relative links and images are rewritten to the repository's blob and raw URLs, the way a reader expects a
README's ``docs/guide.md`` or ``img/logo.png`` to work.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from copy import deepcopy
from html import escape as html_escape
from urllib.parse import quote

import nh3
from markdown_it import MarkdownIt
from markdown_it.rules_core import StateCore
from mdit_py_plugins.anchors import anchors_plugin
from mdit_py_plugins.footnote import footnote_plugin
from mdit_py_plugins.tasklists import tasklists_plugin
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexer import Lexer
from pygments.lexers import TextLexer, get_lexer_by_name, get_lexer_for_filename, guess_lexer
from pygments.util import ClassNotFound

MARKDOWN_SUFFIXES = (".md", ".markdown", ".mdown", ".mkd")

_SCHEME_RE = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
# Pygments' short token classes (k, nf, s2, ...): the only classes a highlighted code block may carry.
_TOKEN_CLASS_RE = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,3}$")
_ALLOWED_CLASSES = {
    "contains-task-list", "task-list-item", "task-list-item-checkbox", "footnote-ref", "footnotes-sep",
    "footnotes", "footnotes-list", "footnote-item", "footnote-backref", "highlight",
}

_TAGS = set(nh3.ALLOWED_TAGS) | {"input", "section"}
_ATTRIBUTES: dict[str, set[str]] = deepcopy(nh3.ALLOWED_ATTRIBUTES)
for _tag in ("h1", "h2", "h3", "h4", "h5", "h6", "li", "a"):
    # Heading anchors and footnotes link to these ids within the page.
    _ATTRIBUTES.setdefault(_tag, set()).add("id")
for _tag in ("ul", "li", "input", "sup", "hr", "section", "ol", "a", "code", "span", "div", "pre"):
    _ATTRIBUTES.setdefault(_tag, set()).add("class")
for _tag in ("th", "td"):
    _ATTRIBUTES[_tag].add("style")  # table column alignment; only text-align survives, see below
_ATTRIBUTES["input"] |= {"checked"}


def _attribute_filter(tag: str, attr: str, value: str) -> str | None:
    if attr != "class":
        return value
    # Page classes (flash-success, danger, ...) would let a README dress itself up as forge UI, so only the
    # classes markdown-it and Pygments produce are kept.
    kept = [
        c for c in value.split()
        if c in _ALLOWED_CLASSES or c.startswith("language-") or (tag == "span" and _TOKEN_CLASS_RE.match(c))
    ]
    return " ".join(kept) or None


def _highlight_code(code: str, lang: str, _attrs: str) -> str:
    if not lang:
        return ""
    try:
        lexer = get_lexer_by_name(lang.split()[0], stripnl=False)
    except ClassNotFound:
        return ""  # markdown-it escapes and wraps the code itself
    body = highlight(code, lexer, HtmlFormatter(nowrap=True))
    return f'<pre class="highlight"><code class="language-{quote(lang.split()[0])}">{body}</code></pre>\n'


def _is_relative(url: str) -> bool:
    return bool(url) and not url.startswith(("#", "/", "//")) and not _SCHEME_RE.match(url)


def _rewrite_relative_urls(link_base: str, image_base: str) -> Callable[[StateCore], None]:
    def rule(state: StateCore) -> None:
        for block in state.tokens:
            for token in block.children or ():
                if token.type == "link_open" and link_base:
                    href = str(token.attrGet("href") or "")
                    if _is_relative(href):
                        token.attrSet("href", link_base + href)
                elif token.type == "image" and image_base:
                    src = str(token.attrGet("src") or "")
                    if _is_relative(src):
                        token.attrSet("src", image_base + src)

    return rule


def _parser(link_base: str, image_base: str) -> MarkdownIt:
    md = MarkdownIt("commonmark", {"highlight": _highlight_code})
    md.enable(["table", "strikethrough"])
    md.use(anchors_plugin, max_level=6).use(tasklists_plugin).use(footnote_plugin)
    if link_base or image_base:
        md.core.ruler.push("forge_relative_urls", _rewrite_relative_urls(link_base, image_base))
    return md


def sanitize(html: str) -> str:
    """Clean HTML from an untrusted source down to the tags and attributes Markdown needs."""
    return nh3.clean(
        html,
        tags=_TAGS,
        clean_content_tags={"script", "style"},
        attributes=_ATTRIBUTES,
        attribute_filter=_attribute_filter,
        filter_style_properties={"text-align"},
        # Only read-only checkboxes (task lists) may appear: a user's README cannot put form controls on a page.
        set_tag_attribute_values={"input": {"type": "checkbox", "disabled": "disabled"}},
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )


def render_markdown(text: str, *, link_base: str = "", image_base: str = "") -> str:
    """Render Markdown to sanitised HTML. ``link_base``/``image_base`` (ending in "/") prefix relative link and
    image URLs, so they point at the repository's file and raw pages."""
    return sanitize(_parser(link_base, image_base).render(text))


def is_markdown(filename: str) -> bool:
    return filename.lower().endswith(MARKDOWN_SUFFIXES)


def highlight_css(selectors: Sequence[str] = (".highlight",)) -> str:
    """The Pygments colour rules for code blocks, scoped to ``selectors``."""
    return str(HtmlFormatter().get_style_defs(list(selectors)))


# Highlighting a very large file costs seconds of CPU for little gain; past this size lines are only escaped.
_HIGHLIGHT_LIMIT = 512 * 1024


def _lexer_for(filename: str, text: str) -> Lexer:
    options = {"stripnl": False, "ensurenl": True}
    try:
        return get_lexer_for_filename(filename, text[:4096], **options)
    except ClassNotFound:
        pass
    sample = text[:4096]
    try:
        guessed = guess_lexer(sample, **options)
    except ClassNotFound:
        guessed = None
    # Pygments always names a winner, often on flimsy evidence ("end" makes prose look like a language); only a
    # confident guess (a shebang, a doctype, a modeline) beats plain text.
    if guessed is not None and float(guessed.analyse_text(sample) or 0) >= 0.5:
        return guessed
    return TextLexer(**options)


def highlight_lines(filename: str, text: str) -> list[str]:
    """Highlighted HTML for each line of ``text`` (one string per line, each with balanced tags), choosing the
    language by file name, then by content, else plain text. Line breaks follow Pygments: \\r\\n and \\r count as
    one break, as they do for git."""
    normal = text.replace("\r\n", "\n").replace("\r", "\n")
    count = normal.count("\n") + (0 if normal.endswith("\n") or not normal else 1)
    if len(normal) > _HIGHLIGHT_LIMIT:
        return [html_escape(line) for line in normal.split("\n")[:count]]
    body = highlight(normal, _lexer_for(filename, normal), HtmlFormatter(nowrap=True))
    # Pygments' HTML formatter closes every span at the end of a line, so splitting on newlines is safe.
    return body.split("\n")[:count]
