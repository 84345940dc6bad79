"""Every chapter launches as a notebook: Colab, Binder and the download button open an .ipynb.

Offline checks (no build needed): the notebook of each chapter (``book/_ext/launch_notebooks.py``)
is valid nbformat 4.5, holds the chapter's cells after one install cell, and that cell installs
``regr_edu`` from ``_config.yml``'s ``repository.url`` only when it is missing; the launch URLs
open ``_notebooks/<ch>.ipynb``; ``binder/`` installs CPU torch wheels at the root's pins and
writes the notebooks. With a built book (``_build/html``), every chapter page's Binder, Colab
and download buttons point at the notebook, and the download's file exists in the built site.
"""
from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys
import types

import nbformat
import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "book" / "_ext"))
import launch_notebooks as ln  # noqa: E402

HTML = ROOT / "_build" / "html"
CHAPTERS = sorted(p for p in (ROOT / "book").glob("*.md") if ln.is_chapter(p))
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))


def test_every_toc_notebook_page_is_a_chapter():
    assert len(CHAPTERS) >= 10
    assert "launch_notebooks" in CONFIG["sphinx"]["local_extensions"]


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_notebook_is_valid_and_complete(chapter, tmp_path):
    import jupytext
    url, branch = ln.repository()
    path = ln.write_notebook(chapter, tmp_path, url, branch)
    nb = nbformat.read(str(path), as_version=4)
    nbformat.validate(nb)
    assert path.name == f"{chapter.stem}.ipynb"
    assert nb.metadata["kernelspec"]["name"] == "python3"
    first = nb.cells[0]
    assert first.cell_type == "code" and ln.INSTALL_TAG in first.metadata["tags"]
    assert repr(url) in first.source and repr(branch) in first.source
    source = jupytext.read(chapter)
    assert [c.source for c in nb.cells[1:]] == [
        ln.plain_markdown(c.source) if c.cell_type == "markdown" else c.source for c in source.cells]
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    left = re.findall(r"\{[a-z-]+\}`|```\{[a-z-]+\}|^\([\w-]+\)=", markdown, re.M)
    assert not left, f"MyST that Jupyter does not render is left in the notebook: {left[:5]}"
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")


def _run_install_cell(missing: bool, tmp_path):
    """Run the install cell with find_spec and subprocess.run replaced: what would it do?"""
    import importlib.util
    calls = []
    source = ln.INSTALL_CELL.format(repo="https://github.com/o/r", branch="main")
    fake_subprocess = types.SimpleNamespace(run=lambda cmd, check: calls.append(cmd))
    real_find_spec = importlib.util.find_spec
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        importlib.util.find_spec = lambda name, *a: None if missing else real_find_spec(name, *a)
        code = source.replace("import importlib.util, os, subprocess, sys",
                              "import importlib.util, os, sys")
        exec(compile(code, "install-cell", "exec"),
             {"subprocess": fake_subprocess, "__name__": "__main__"})
    finally:
        importlib.util.find_spec = real_find_spec
        os.chdir(cwd)
        sys.path[:] = [p for p in sys.path if not p.endswith("regr_edu_repo")]
    return calls


def test_install_cell_does_nothing_where_regr_edu_is_installed(tmp_path):
    assert _run_install_cell(False, tmp_path) == []


def test_install_cell_clones_and_installs_where_it_is_missing(tmp_path):
    clone, pip = _run_install_cell(True, tmp_path)
    assert clone[:2] == ["git", "clone"] and "https://github.com/o/r" in clone
    assert clone[clone.index("--branch") + 1] == "main"
    assert pip[1:5] == ["-m", "pip", "install", "-q"] and pip[6].endswith("regr_edu_repo[viz,video]")


def test_install_cell_compiles_as_python():
    compile(ln.INSTALL_CELL.format(repo="https://github.com/o/r", branch="main"), "cell", "exec")


def test_launch_urls_open_the_notebook():
    urls = ln.launch_urls("ch_regions", "https://github.com/o/r", "main",
                          "https://mybinder.org", "https://colab.research.google.com")
    assert urls["Binder"] == ("https://mybinder.org/v2/gh/o/r/main"
                              "?urlpath=lab/tree/_notebooks/ch_regions.ipynb")
    assert urls["Colab"] == ("https://colab.research.google.com/github/o/r/blob/notebooks/"
                             "_notebooks/ch_regions.ipynb")


def _pins(path: pathlib.Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        m = re.match(r"^([A-Za-z0-9_.-]+)==([^\s#]+)", line.strip())
        if m:
            pins[m.group(1).lower()] = m.group(2)
    return pins


def test_binder_installs_cpu_torch_at_the_root_pins():
    text = (ROOT / "binder" / "requirements.txt").read_text(encoding="utf-8")
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in text
    binder, root = _pins(ROOT / "binder" / "requirements.txt"), _pins(ROOT / "requirements.txt")
    assert binder["torch"] == root["torch"] + "+cpu"
    assert binder["torchvision"] == root["torchvision"] + "+cpu"
    for name, version in binder.items():
        if name not in ("torch", "torchvision"):
            assert root.get(name) == version, f"binder pins {name}=={version}, root {root.get(name)}"
    for needed in ("jupytext", "ipywidgets", "matplotlib", "captum", "av", "scikit-image"):
        assert needed in binder, needed


def test_binder_postbuild_installs_the_package_and_writes_the_notebooks():
    post = ROOT / "binder" / "postBuild"
    assert os.access(post, os.X_OK), "binder/postBuild must be executable"
    text = post.read_text(encoding="utf-8")
    assert "pip install --no-deps -e ." in text
    assert f"book/_ext/launch_notebooks.py --out {ln.NOTEBOOK_DIR}" in text
    assert not (ROOT / "postBuild").exists(), "repo2docker ignores the root postBuild when binder/ exists"


def test_script_writes_every_chapter(tmp_path):
    out = subprocess.run([sys.executable, str(ROOT / "book" / "_ext" / "launch_notebooks.py"),
                          "--out", str(tmp_path)], capture_output=True, text=True, check=True)
    assert sorted(p.stem for p in tmp_path.glob("*.ipynb")) == [c.stem for c in CHAPTERS], out.stdout


# ------------------------------------------------------------------------------ the built site
@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_built_page_buttons_open_its_notebook(chapter):
    from bs4 import BeautifulSoup
    page = HTML / "book" / f"{chapter.stem}.html"
    if not page.is_file():
        pytest.skip("the book is not built (scripts/build_book.py)")
    notebook = HTML / ln.NOTEBOOK_DIR / f"{chapter.stem}.ipynb"
    assert notebook.is_file(), f"{notebook} was not written by the build"
    nbformat.validate(nbformat.read(str(notebook), as_version=4))
    soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
    links = [a.get("href", "") for a in soup.find_all("a")]
    url, branch = ln.repository()
    expected = ln.launch_urls(chapter.stem, url, branch, "https://mybinder.org",
                              "https://colab.research.google.com")
    for name, href in expected.items():
        assert href in links, f"{page.name}: no {name} button opening {href}"
    assert not [h for h in links if "colab" in h and h.endswith(".md")], "Colab cannot open .md"
    downloads = [h for h in links if h.endswith(f"{ln.NOTEBOOK_DIR}/{chapter.stem}.ipynb")
                 and not h.startswith("http")]
    assert downloads, f"{page.name}: the download button does not offer the .ipynb"
    assert all((page.parent / h).resolve() == notebook.resolve() for h in downloads)


def test_plain_markdown_turns_myst_into_markdown():
    text = ("(sec-x)=\n## A\n\nSee {cite}`a2020,b2019` and {eq}`eq-12`, {numref}`fig-x`, "
            "{doc}`the readings <readings>`.\n\n```{math}\n:label: eq-1\nx = y\n```\n\n"
            "```{admonition} Answers\n:class: dropdown\n\n1. yes\n```\n\n"
            "```{list-table}\n:header-rows: 1\n\n* - Unit\n  - Top-1\n* - None\n  - 84.61%\n```\n")
    out = ln.plain_markdown(text)
    assert "(sec-x)=" not in out and "[a2020, b2019]" in out and "Eq. (12)" in out
    assert "the figure" in out and "the readings" in out and "$$\nx = y\n$$" in out
    assert "**Answers**\n\n1. yes" in out and "| Unit | Top-1 |" in out and "| None | 84.61% |" in out


@pytest.mark.slow
def test_an_exported_notebook_runs_top_to_bottom(tmp_path):
    """The intro as Colab or Binder gets it (install cell first) runs in a fresh kernel, away
    from the repository (the working directory is a temporary folder)."""
    from nbclient import NotebookClient
    url, branch = ln.repository()
    path = ln.write_notebook(ROOT / "book" / "intro.md", tmp_path, url, branch)
    nb = nbformat.read(str(path), as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors, errors[0]
    assert not (tmp_path / "regr_edu_repo").exists(), "the install cell cloned though regr_edu is installed"
