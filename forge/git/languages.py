"""The language breakdown of a commit's tree by bytes, for the bar on a repository's home page.

File names are mapped to languages with the file name patterns of Pygments' lexers (the same lexers that highlight
the files), with a few overrides where an extension is claimed by several lexers (``.h`` is C, not C++ or
Objective-C). Only what a reader would call the project's own code counts: vendored and generated paths, lock
files, symbolic links, submodules, plain text and data formats are left out, and so is every file whose name maps
to no language (which is how images and other binaries are left out: no blob is read, sizes come from the object
headers, so a 25,000-file tree takes well under a second).

Results are cached by tree id. Each subtree's totals are cached too, so after a push only the trees that changed
are read again.
"""

from __future__ import annotations

import fnmatch
import functools
import re
import zlib
from collections import defaultdict
from dataclasses import dataclass

import pygit2
from pygments.lexers import LEXERS

from forge.git.cache import ObjectCache, objects
from forge.git.repository import GitRepo

TOP = 6  # languages shown by name; the rest are folded into "Other"

# Extensions several lexers claim, settled the way most projects use them.
OVERRIDES = {
    "h": "C", "c": "C", "cpp": "C++", "hh": "C++", "cp": "C++", "m": "Objective-C", "mm": "Objective-C++",
    "md": "Markdown", "ts": "TypeScript", "pl": "Perl", "pm": "Perl", "t": "Perl", "v": "Verilog", "sql": "SQL",
    "inc": "PHP", "pro": "Prolog", "s": "Assembly", "asm": "Assembly", "r": "R", "fs": "F#", "cl": "Common Lisp",
    "f": "Fortran", "f90": "Fortran", "f03": "Fortran", "vbs": "VBScript", "bas": "Visual Basic",
    "feature": "Gherkin", "sc": "Scala", "cbl": "COBOL", "cob": "COBOL", "cpy": "COBOL", "lean": "Lean",
    "p": "Pascal", "sas": "SAS", "xsl": "XSLT", "xslt": "XSLT", "svelte": "Svelte",
}
# Pygments' names where the familiar name differs.
DISPLAY_NAMES = {
    "Bash": "Shell", "verilog": "Verilog", "systemverilog": "SystemVerilog", "vhdl": "VHDL", "Nimrod": "Nim",
    "VimL": "Vim Script", "Docker": "Dockerfile", "GAS": "Assembly", "NASM": "Assembly", "S": "R",
}
# Not code: plain text, data and configuration formats (GitHub leaves these out of the bar as well).
NOT_CODE = {
    "Text only", "Text output", "Raw token data", "JSON", "JSONBareObject", "JSON-LD", "YAML", "TOML", "INI",
    "XML", "Properties", "Diff", "Gettext Catalog", "ASCII armored", "Todotxt", "Debian Control file",
    "Debian Sourcelist", "Termcap", "Terminfo", "Groff", "BibTeX",
}
# Directories of other people's code, skipped wherever they appear.
VENDORED_DIRS = {"vendor", "vendors", "node_modules", "third_party", "third-party", "thirdparty", "bower_components",
                 ".yarn", "__pycache__"}
LOCK_FILES = {"package-lock.json", "npm-shrinkwrap.json", "pnpm-lock.yaml", "yarn.lock", "go.sum", "go.work.sum"}
_GENERATED_RE = re.compile(r"\.min\.(js|css)$|\.lock$|[.-]bundle\.js$|\.pb\.go$|_pb2\.py$", re.IGNORECASE)

# Well-known colours (as on GitHub), so a Python project looks familiar; others get a stable colour from the name.
COLORS = {
    "Python": "#3572A5", "JavaScript": "#f1e05a", "TypeScript": "#3178c6", "C": "#555555", "C++": "#f34b7d",
    "C#": "#178600", "Go": "#00ADD8", "Rust": "#dea584", "Java": "#b07219", "Kotlin": "#A97BFF", "Ruby": "#701516",
    "PHP": "#4F5D95", "HTML": "#e34c26", "CSS": "#563d7c", "SCSS": "#c6538c", "Shell": "#89e051",
    "Markdown": "#083fa1", "Objective-C": "#438eff", "Swift": "#F05138", "Perl": "#0298c3", "Lua": "#000080",
    "Haskell": "#5e5086", "Scala": "#c22d40", "Dockerfile": "#384d54", "Makefile": "#427819", "Vue": "#41b883",
    "Jinja": "#a52a22", "HTML+Django/Jinja": "#a52a22", "TSX": "#3178c6", "JSX": "#f1e05a", "Dart": "#00B4AB",
    "Elixir": "#6e4a7e", "Erlang": "#B83998", "Clojure": "#db5855", "R": "#198CE7", "Julia": "#a270ba",
    "Zig": "#ec915c", "Nim": "#ffc200", "CMake": "#DA3434", "SQL": "#e38c00", "Assembly": "#6E4C13",
    "Vim Script": "#199f4b", "PowerShell": "#012456", "Batchfile": "#C1F12E", "TeX": "#3D6117",
    "Fortran": "#4d41b1", "Groovy": "#4298b8", "OCaml": "#ef7a08", "F#": "#b845fc",
}
_PALETTE = ["#6f42c1", "#e36209", "#2c974b", "#0366d6", "#d73a49", "#b08800", "#005cc5", "#5a32a3", "#22863a",
            "#cb2431"]
OTHER = "Other"
OTHER_COLOR = "#9aa0a6"


@dataclass(frozen=True)
class LanguageShare:
    name: str
    size: int  # bytes
    percent: float  # of all counted bytes, one decimal
    color: str
    other: bool = False  # the "Other" slice folding the smaller languages together


@dataclass(frozen=True)
class Languages:
    total: int  # counted bytes
    shares: list[LanguageShare]  # biggest first, "Other" last


@dataclass(frozen=True)
class _Table:
    names: dict[str, str]  # exact file name -> language
    extensions: dict[str, str]  # lower-case extension without the dot -> language
    globs: list[tuple[str, str]]  # the few remaining patterns ("Makefile.*")


@functools.cache
def _table() -> _Table:
    names: dict[str, str] = {}
    candidates: dict[str, list[tuple[int, str]]] = defaultdict(list)
    globs: list[tuple[str, str]] = []
    for _module, lexer_name, _aliases, patterns, _mimetypes in LEXERS.values():
        language = DISPLAY_NAMES.get(lexer_name, lexer_name)
        for position, pattern in enumerate(patterns):
            expanded = _expand_classes(pattern)
            for pat in expanded:
                if pat.startswith("*.") and not any(c in pat[2:] for c in "*?["):
                    candidates[pat[2:].lower()].append((position, language))
                elif not any(c in pat for c in "*?["):
                    names.setdefault(pat, language)
                else:
                    globs.append((pat, language))
    extensions = {}
    for ext, found in candidates.items():
        # Where lexers disagree and no override settles it, the lexer listing the extension first (as its main
        # one) wins, then the name, so the table is the same on every run.
        extensions[ext] = OVERRIDES.get(ext) or min(found)[1]
    for ext, language in OVERRIDES.items():
        extensions.setdefault(ext, language)
    return _Table(names, extensions, globs)


def _expand_classes(pattern: str) -> list[str]:
    """``*.[ch]`` -> ``*.c``, ``*.h``: a one-character class at the end is common in lexer patterns."""
    match = re.fullmatch(r"(.*)\[([A-Za-z0-9]+)\]", pattern)
    if match and not any(c in match.group(1)[2:] for c in "*?[") and match.group(1).startswith("*."):
        return [match.group(1) + ch for ch in match.group(2)]
    return [pattern]


def language_of(name: str) -> str | None:
    """The language of a file called ``name``, or None when it is unknown or not code."""
    table = _table()
    language = table.names.get(name)
    if language is None:
        _, dot, ext = name.rpartition(".")
        if dot and ext:
            language = table.extensions.get(ext.lower())
    if language is None:
        language = next((lang for pat, lang in table.globs if fnmatch.fnmatchcase(name, pat)), None)
    if language is None or language in NOT_CODE:
        return None
    return language


def _generated(name: str) -> bool:
    return name in LOCK_FILES or bool(_GENERATED_RE.search(name))


def color_of(language: str) -> str:
    return COLORS.get(language) or _PALETTE[zlib.crc32(language.encode()) % len(_PALETTE)]


# Per-subtree totals, keyed by tree id: a subtree's totals depend only on its content, since every rule above looks
# at names within the subtree.
_subtrees = ObjectCache(8192)


def _tree_totals(repo: pygit2.Repository, tree: pygit2.Tree, repo_key: str) -> dict[str, int]:
    key = (repo_key, str(tree.id))
    cached = _subtrees.get(key)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    totals: dict[str, int] = defaultdict(int)
    odb = repo.odb
    for entry in tree:
        name = entry.name or ""
        kind = entry.type_str
        if kind == "tree":
            if name in VENDORED_DIRS:
                continue
            sub = repo[entry.id]
            assert isinstance(sub, pygit2.Tree)
            for language, size in _tree_totals(repo, sub, repo_key).items():
                totals[language] += size
        elif kind == "blob" and entry.filemode != pygit2.enums.FileMode.LINK:
            found = language_of(name)
            if found is None or _generated(name):
                continue
            # The header alone gives the size: the content is never inflated.
            totals[found] += odb.read_header(entry.id)[1]
    result = dict(totals)
    _subtrees.put(key, result)
    return result


def _shares(totals: dict[str, int]) -> Languages:
    total = sum(totals.values())
    if not total:
        return Languages(0, [])

    def percent(size: int) -> float:
        return round(100 * size / total, 1)

    ranked = sorted(totals.items(), key=lambda item: (-item[1], item[0]))
    # Named: the biggest few, unless too small to show as much as 0.1 %.
    shown = [(name, size) for name, size in ranked[:TOP] if percent(size) > 0]
    rest = ranked[len(shown):]
    if len(rest) == 1 and percent(rest[0][1]) > 0:
        shown, rest = shown + rest, []  # an "Other" standing for one language would hide its name for nothing
    shares = [LanguageShare(name, size, percent(size), color_of(name)) for name, size in shown]
    other = sum(size for _, size in rest)
    if percent(other) > 0:
        shares.append(LanguageShare(OTHER, other, percent(other), OTHER_COLOR, other=True))
    return Languages(total, shares)


def languages(git: GitRepo, commit_sha: str) -> Languages:
    """The languages of the tree of ``commit_sha`` (a full id), biggest first."""
    repo = git._repo  # forge.git's modules read through GitRepo's handle (one per request, as in trees.py)
    commit = repo[commit_sha]
    assert isinstance(commit, pygit2.Commit)
    key = ("languages", str(git.path), str(commit.tree_id))
    return objects.get_or_compute(key, lambda: _shares(_tree_totals(repo, commit.tree, str(git.path))))
