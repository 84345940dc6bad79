"""Every chapter of the book ran to the end in the build, with no error in any cell.

``make test`` builds the book first (``scripts/run_tests.py``), which executes each chapter once;
this test reads the executed notebooks from the build's execution cache
(``_build/.jupyter_cache``) instead of executing them a second time. A chapter asserts what it
teaches (fast against literal, recorded against rerun), so a chapter that ran to the end without
an error has passed its own checks. Without a build the test is skipped, except under ``CI=true``.
"""
from __future__ import annotations

import os
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
CACHE = ROOT / "_build" / ".jupyter_cache"
CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def chapters() -> list[pathlib.Path]:
    """The book's MyST notebooks (files with a jupytext header)."""
    return sorted(p for p in (ROOT / "book").rglob("*.md")
                  if "_build" not in p.parts and
                  "jupytext:" in p.read_text(encoding="utf-8")[:400])


def executed(chapter: pathlib.Path):
    """The executed notebook of ``chapter`` from the build's cache, or ``None``."""
    from jupyter_cache import get_cache
    from myst_nb.core.read import read_myst_markdown_notebook   # the reader the build uses
    if not CACHE.is_dir():
        return None
    cache = get_cache(str(CACHE))
    notebook = read_myst_markdown_notebook(chapter.read_text(encoding="utf-8"))
    try:
        record = cache.match_cache_notebook(notebook)
    except KeyError:
        return None
    return cache.get_cache_bundle(record.pk).nb


@pytest.mark.parametrize("chapter", chapters(), ids=lambda p: p.stem)
def test_chapter_executed_without_error(chapter):
    nb = executed(chapter)
    if nb is None:
        message = (f"{chapter.relative_to(ROOT)} has no executed copy of its current code in "
                   f"{CACHE.relative_to(ROOT)}: build the book (`make book`), or see the build's "
                   "log for the cell that failed")
        if CI or CACHE.is_dir():
            pytest.fail(message)
        pytest.skip(message)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, f"{chapter.name} has no code cell"
    for i, cell in enumerate(code):
        assert cell.get("execution_count") is not None, f"{chapter.name}: code cell {i} did not run"
        if "raises-exception" in cell.get("metadata", {}).get("tags", []):
            continue
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        assert not errors, (f"{chapter.name}: code cell {i} raised "
                            f"{errors[0].get('ename')}: {errors[0].get('evalue')}")
