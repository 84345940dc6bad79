"""The layout CONTRIBUTING.md promises ("From a chapter to its code"), checked.

- one chapter, one backing module: ``book/ch_<x>.md`` imports ``regr_edu/interactive/<x>.py``
  (any other page ``<stem>.md``: ``<stem>.py``) and no other chapter's module; every public
  module of ``regr_edu/interactive`` has its chapter;
- backing modules stay under 500 lines and never import ``matplotlib.pyplot`` at module level;
- chapters hold glue, not helpers: no function in a chapter's code cells holds more than a few
  statements, except learners' exercise stubs (a body of ``...``/``pass``) and :data:`LONG_DEFS`;
- one of each helper: a single ``def figure_png`` in the package;
- code cells fit the page: no line of a chapter's code cells is longer than
  :data:`MAX_CODE_LINE` characters.

Chapters are read as text (their ``{code-cell}`` blocks), never executed.
"""
from __future__ import annotations

import ast
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
PACKAGE = ROOT / "regr_edu"
INTERACTIVE = PACKAGE / "interactive"

MAX_MODULE_LINES = 500
MAX_DEF_STATEMENTS = 5     # statements in a chapter's function (its docstring not counted)
# (chapter, function name) -> why it may be longer; keep this short
LONG_DEFS: dict[tuple[str, str], str] = {
    ("ch_regions.md", "sol_split"): "the exercise's worked answer: Eq. 1 written out is the "
                                    "computation the chapter teaches",
    ("ch_regions.md", "sol_merge"): "the exercise's worked answer: the inverse of Eq. 1",
}
# The built book's code column holds 77 characters of its monospace font at a 1280-px browser
# window (8.43 px a character, 652 px): a longer line in a code cell scrolls sideways.
MAX_CODE_LINE = 77

CHAPTERS = sorted(p for p in BOOK.glob("*.md"))
MODULES = sorted(p for p in INTERACTIVE.glob("*.py") if not p.name.startswith("_"))
MODULE_NAMES = {p.stem for p in MODULES}

CELL = re.compile(r"^```\{code-cell\}[^\n]*\n(.*?)^```[ \t]*$", re.S | re.M)


def _option_lines(lines: list[str]) -> int:
    """How many lines at the top of a code cell are its options (a ``---`` YAML block,
    ``:key: value`` lines): the page does not show them as code."""
    i = 0
    if lines and lines[0].strip() == "---":
        i = 1
        while i < len(lines) and lines[i].strip() != "---":
            i += 1
        i += 1
    while i < len(lines) and lines[i].startswith(":"):
        i += 1
    return i


def _python(cell: str) -> str:
    """A code cell's source as Python: its options (``---`` YAML block, ``:key: value`` lines)
    blanked and IPython magics (``%``, ``!``) commented out, line numbers kept."""
    lines = cell.splitlines()
    i = _option_lines(lines)
    out = [""] * i
    for line in lines[i:]:
        stripped = line.lstrip()
        out.append("# " + line if stripped.startswith(("%", "!")) else line)
    return "\n".join(out)


def code_cells(chapter: pathlib.Path) -> list[ast.Module]:
    """The parsed code cells of a MyST chapter (cell magics ``%%`` skipped)."""
    trees = []
    for block in CELL.findall(chapter.read_text(encoding="utf-8")):
        source = _python(block)
        if source.lstrip().startswith("# %%"):
            continue
        trees.append(ast.parse(source, filename=str(chapter)))
    return trees


def own_module(chapter: pathlib.Path) -> str:
    """The backing module a chapter may import: ``ch_<x>`` -> ``<x>``, any other page its stem."""
    return chapter.stem.removeprefix("ch_")


def interactive_modules(tree: ast.AST) -> set[str]:
    """Public ``regr_edu.interactive`` modules a cell imports or reaches as an attribute
    (``from regr_edu.interactive import x``, ``from regr_edu.interactive.x import ...``,
    ``import regr_edu.interactive.x``, ``rg.interactive.x``)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            parts = node.module.split(".")
            if parts[:2] == ["regr_edu", "interactive"]:
                if len(parts) > 2:
                    found.add(parts[2])
                else:
                    found.update(a.name for a in node.names if a.name in MODULE_NAMES)
        elif isinstance(node, ast.Import):
            for a in node.names:
                parts = a.name.split(".")
                if parts[:2] == ["regr_edu", "interactive"] and len(parts) > 2:
                    found.add(parts[2])
        elif (isinstance(node, ast.Attribute) and node.attr in MODULE_NAMES
              and isinstance(node.value, ast.Attribute) and node.value.attr == "interactive"):
            found.add(node.attr)
    return {m for m in found if not m.startswith("_")}


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.name)
def test_a_chapter_imports_only_its_own_backing_module(chapter):
    imported = set().union(*(interactive_modules(t) for t in code_cells(chapter)))
    others = imported - {own_module(chapter)}
    assert not others, (
        f"{chapter.name} imports regr_edu.interactive.{sorted(others)}; a chapter imports only "
        f"its own backing module, regr_edu/interactive/{own_module(chapter)}.py (move what it "
        "needs from the others into that module or into the package)")


@pytest.mark.parametrize("module", MODULES, ids=lambda p: p.name)
def test_every_backing_module_has_its_chapter(module):
    chapters = [BOOK / f"ch_{module.stem}.md", BOOK / f"{module.stem}.md"]
    assert any(c.is_file() for c in chapters), (
        f"regr_edu/interactive/{module.name} has no chapter (expected book/ch_{module.stem}.md "
        f"or book/{module.stem}.md): a backing module is named after the chapter it serves")


@pytest.mark.parametrize("module", sorted(INTERACTIVE.glob("*.py")), ids=lambda p: p.name)
def test_backing_modules_are_small(module):
    n = len(module.read_text(encoding="utf-8").splitlines())
    assert n < MAX_MODULE_LINES, (
        f"regr_edu/interactive/{module.name} has {n} lines; keep a module under "
        f"{MAX_MODULE_LINES} (split it by topic)")


def _module_level(tree: ast.AST):
    """Statements that run at import: everything outside function bodies."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        yield node
        yield from _module_level(node)


@pytest.mark.parametrize("module", sorted(INTERACTIVE.glob("*.py")), ids=lambda p: p.name)
def test_no_pyplot_at_module_level(module):
    tree = ast.parse(module.read_text(encoding="utf-8"))
    for node in _module_level(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        assert "matplotlib.pyplot" not in names, (
            f"regr_edu/interactive/{module.name}:{node.lineno} imports matplotlib.pyplot at "
            "module level; use regr_edu.interactive.new_figure (no pyplot state)")


def _is_stub(fn: ast.FunctionDef) -> bool:
    """A learner's exercise stub: a body of only a docstring, ``...``, ``pass`` or
    ``raise NotImplementedError``."""
    for stmt in fn.body:
        if isinstance(stmt, ast.Pass):
            continue
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
            continue                                          # a docstring or ``...``
        if isinstance(stmt, ast.Raise):
            continue
        return False
    return True


def _statements(fn: ast.FunctionDef) -> int:
    """How many statements a function's body holds, nested ones included and its docstring not:
    its length whatever the width its lines are wrapped to."""
    body = fn.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]                                       # the docstring
    return sum(isinstance(n, ast.stmt) for stmt in body for n in ast.walk(stmt))


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.name)
def test_chapters_define_no_long_helpers(chapter):
    long = []
    for tree in code_cells(chapter):
        for node in ast.walk(tree):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            body = _statements(node)
            if (body > MAX_DEF_STATEMENTS and not _is_stub(node)
                    and (chapter.name, node.name) not in LONG_DEFS):
                long.append(f"{node.name} ({body} statements)")
    assert not long, (
        f"{chapter.name} defines {', '.join(long)}: a chapter holds the taught computation, the "
        f"exercises and glue; a helper of more than {MAX_DEF_STATEMENTS} statements belongs in "
        f"regr_edu/interactive/{own_module(chapter)}.py (show it with show_source)")


def long_code_lines(text: str) -> list[tuple[int, str]]:
    """The code-cell lines of a MyST page longer than :data:`MAX_CODE_LINE`, as (line number in
    the page, line); a cell's options are not shown as code and not counted."""
    found = []
    for match in CELL.finditer(text):
        lines = match.group(1).splitlines()
        skip = _option_lines(lines)
        first = text.count("\n", 0, match.start(1)) + 1 + skip
        found += [(n, line) for n, line in enumerate(lines[skip:], first)
                  if len(line) > MAX_CODE_LINE]
    return found


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.name)
def test_code_cells_fit_the_page(chapter):
    long = [f"book/{chapter.name}:{n}: {len(line)} characters"
            for n, line in long_code_lines(chapter.read_text(encoding="utf-8"))]
    assert not long, (
        f"code-cell lines longer than {MAX_CODE_LINE} characters (they scroll sideways in the "
        f"built book at a 1280-px window): {'; '.join(long)}; wrap them")


def test_the_width_check_sees_long_lines():
    """A long code line is found, with its line number in the page; long prose and a long
    option (a figure caption in the cell's YAML block) are not."""
    sample = ("prose " * 20 + "\n\n```{code-cell} ipython3\n---\nmystnb:\n  figure:\n"
              "    caption: " + "c" * 80 + "\n---\nx = 1\ny = " + "1" * 80 + "\n```\n")
    assert [(n, len(line)) for n, line in long_code_lines(sample)] == [(10, 84)]


def test_one_figure_png_in_the_package():
    defs = [f"{p.relative_to(ROOT)}:{i}" for p in sorted(PACKAGE.rglob("*.py"))
            for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
            if re.match(r"\s*def figure_png\b", line)]
    assert len(defs) == 1, f"one def figure_png in regr_edu (interactive/_display.py), got {defs}"


def test_the_cell_reader_sees_code():
    """The reader finds this chapter's setup cell and its import of its own module."""
    trees = code_cells(BOOK / "peers_costs.md")
    assert trees and "peers_costs" in interactive_modules(trees[0])
    sample = "```{code-cell} ipython3\n---\nmystnb:\n  figure: x\n---\n%matplotlib inline\n" \
             "def f(x):\n    return x\n```\n"
    assert _python(CELL.findall(sample)[0]).splitlines()[-2:] == ["def f(x):", "    return x"]
