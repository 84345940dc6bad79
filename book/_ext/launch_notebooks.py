"""Sphinx extension (loaded from _config.yml), and a script: every chapter as a notebook that runs.

The chapters are MyST notebooks (``book/<ch>.md``). Colab opens only ``.ipynb`` files, and Binder
would open the ``.md`` as text, so the built site carries each chapter as a Jupyter notebook:

- ``_build/html/_notebooks/<ch>.ipynb``: the chapter converted with ``jupytext`` (no outputs;
  MyST that Jupyter does not render -- labelled math, admonitions, list-tables, roles such as
  ``{cite}`` -- turned into plain Markdown),
  with one cell put first that installs ``regr_edu`` when it is missing (it clones the repository
  named by ``repository.url`` in ``_config.yml``, the one place that names it, and installs it
  editable with its ``viz`` and ``video`` extras; on Binder and in the repository's own
  environment it does nothing). That cell is in the notebook only, not on the page.
- The page's buttons open that notebook: **Binder** builds ``binder/`` of the branch named in
  ``_config.yml`` (CPU torch wheels) and opens ``_notebooks/<ch>.ipynb``, which ``binder/postBuild``
  writes with this same file; **Colab** opens ``_notebooks/<ch>.ipynb`` from the ``notebooks``
  branch, which the book workflow (``.github/workflows/book.yml``) pushes with every published
  build; the **download** button offers the same ``.ipynb`` from the site.

As a script: ``python book/_ext/launch_notebooks.py --out DIR`` writes every chapter's notebook to
``DIR`` (what ``binder/postBuild`` runs).
"""
from __future__ import annotations

import argparse
import pathlib
import re
import sys
from typing import Any
from urllib.parse import quote

ROOT = pathlib.Path(__file__).resolve().parents[2]
NOTEBOOK_DIR = "_notebooks"            # in the built site, on Binder, and on the notebooks branch
NOTEBOOK_BRANCH = "notebooks"          # the branch the book workflow pushes the notebooks to
INSTALL_TAG = "regr-edu-install"

INSTALL_CELL = '''\
# Setup: installs regr_edu (with the book's data files) when it is missing, e.g. on Colab.
# On Binder and in the repository's own environment it does nothing.
import importlib.util, os, subprocess, sys
if importlib.util.find_spec("regr_edu") is None:
    REPO, BRANCH, CLONE = {repo!r}, {branch!r}, os.path.abspath("regr_edu_repo")
    if not os.path.isdir(CLONE):
        subprocess.run(["git", "clone", "--depth", "1", "--branch", BRANCH, REPO, CLONE], check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-e", CLONE + "[viz,video]",
                    "scikit-image"], check=True)
    sys.path.insert(0, CLONE)          # the editable install is seen after a restart; this now
    importlib.invalidate_caches()
try:                                   # Colab draws ipywidgets 8 with its custom widget manager
    from google.colab import output
    output.enable_custom_widget_manager()
except ImportError:
    pass'''


# MyST that Jupyter and Colab do not render, in the notebook's Markdown cells, and its plain
# Markdown: labelled math becomes $$ ... $$, admonitions bold titles, roles their text.
_MATH = re.compile(r"^```\{math\}[^\n]*\n((?::[\w-]+:[^\n]*\n)*)(.*?)^```[ \t]*$", re.M | re.S)
_DIRECTIVE = re.compile(r"^```\{(admonition|note|tip|warning|important|seealso)\}([^\n]*)\n"
                        r"((?::[\w-]+:[^\n]*\n)*)(.*?)^```[ \t]*$", re.M | re.S)
_LIST_TABLE = re.compile(r"^```\{list-table\}[^\n]*\n((?::[\w-]+:[^\n]*\n)*)(.*?)^```[ \t]*$",
                         re.M | re.S)
_TARGET = re.compile(r"^\([\w-]+\)=[ \t]*\n", re.M)
_ROLE = re.compile(r"\{(cite|doc|ref|numref|eq|term)\}`([^`]*)`")


def _role(match: re.Match) -> str:
    role, body = match.group(1), match.group(2)
    explicit = re.fullmatch(r"(.*?)\s*<([^>]+)>", body, re.S)
    if explicit:
        return explicit.group(1)
    if role == "cite":
        return "[" + ", ".join(k.strip() for k in body.split(",")) + "]"
    if role == "eq":
        number = re.sub(r"^eq-", "", body)
        return f"Eq. ({number})"
    if role == "numref":
        return "the figure" if body.startswith("fig") else "the table"
    if role == "doc":
        return f"the chapter *{body.split('/')[-1]}* of the book"
    return f"the section *{body}* of the book"


def _list_table(match: re.Match) -> str:
    """A MyST list-table (``* - a`` rows of ``- b`` cells) as a Markdown pipe table."""
    rows, row = [], None
    for line in match.group(2).splitlines():
        if line.startswith("* - "):
            row = [line[4:].strip()]
            rows.append(row)
        elif line.strip().startswith("- ") and row is not None:
            row.append(line.strip()[2:].strip())
    if not rows:
        return match.group(0)
    width = max(len(r) for r in rows)
    rows = [r + [""] * (width - len(r)) for r in rows]
    out = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * width]
    out += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    return "\n".join(out)


def plain_markdown(text: str) -> str:
    """A chapter's MyST Markdown cell as Markdown that Jupyter and Colab render."""
    text = _TARGET.sub("", text)
    text = _MATH.sub(lambda m: "$$\n" + m.group(2).strip("\n") + "\n$$", text)
    text = _LIST_TABLE.sub(_list_table, text)

    def directive(m: re.Match) -> str:
        title = m.group(2).strip() or m.group(1).capitalize()
        return f"**{title}**\n\n" + m.group(4).strip("\n")

    text = _DIRECTIVE.sub(directive, text)
    return _ROLE.sub(_role, text)


def repository(config: dict[str, Any] | None = None) -> tuple[str, str]:
    """``(url, branch)`` from ``_config.yml``'s ``repository`` section."""
    if config is None:
        import yaml
        config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    repo = config.get("repository") or {}
    return str(repo["url"]).rstrip("/"), str(repo.get("branch") or "main")


def is_chapter(path: pathlib.Path) -> bool:
    """A MyST notebook: a ``.md`` file whose front matter has a jupytext header."""
    return path.suffix == ".md" and "jupytext:" in path.read_text(encoding="utf-8")[:400]


def chapter_notebook(md_path: pathlib.Path, repo_url: str, branch: str):
    """The chapter as an ``nbformat`` notebook (no outputs), the install cell first."""
    import jupytext
    import nbformat
    nb = jupytext.read(md_path)
    for c in nb.cells:
        if c.cell_type == "markdown":
            c.source = plain_markdown(c.source)
    cell = nbformat.v4.new_code_cell(INSTALL_CELL.format(repo=repo_url, branch=branch))
    cell.metadata["tags"] = [INSTALL_TAG]
    cell.pop("id", None)
    nb.cells.insert(0, cell)
    nb.metadata.pop("jupytext", None)
    nb.metadata.setdefault("kernelspec", {"display_name": "Python 3", "language": "python",
                                          "name": "python3"})
    nb.nbformat, nb.nbformat_minor = 4, 5
    for c in nb.cells:                   # fresh ids: the notebook validates as nbformat 4.5
        c["id"] = nbformat.corpus.words.generate_corpus_id()
    nbformat.validate(nb)
    return nb


def write_notebook(md_path: pathlib.Path, out_dir: pathlib.Path, repo_url: str,
                   branch: str) -> pathlib.Path:
    import nbformat
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{md_path.stem}.ipynb"
    tmp = target.with_suffix(".ipynb.tmp")
    nbformat.write(chapter_notebook(md_path, repo_url, branch), str(tmp))
    tmp.replace(target)
    return target


def launch_urls(stem: str, repo_url: str, branch: str, binderhub_url: str, colab_url: str,
                interface: str = "jupyterlab") -> dict[str, str]:
    """The Binder and Colab URLs that open ``_notebooks/<stem>.ipynb``."""
    org, repo = repo_url.split("github.com/", 1)[1].split("/")[:2]
    ui = {"classic": "tree", "jupyterlab": "lab/tree"}[interface]
    path = f"{NOTEBOOK_DIR}/{stem}.ipynb"
    return {
        "Binder": f"{binderhub_url.rstrip('/')}/v2/gh/{org}/{repo}/{quote(branch)}"
                  f"?urlpath={ui}/{path}",
        "Colab": f"{colab_url.rstrip('/')}/github/{org}/{repo}/blob/{NOTEBOOK_BRANCH}/{path}",
    }


# ------------------------------------------------------------------------------ Sphinx
def _walk(buttons):
    for button in buttons or []:
        yield button
        yield from _walk(button.get("buttons"))


def update_page(app, pagename, templatename, context, doctree) -> None:
    """Write the page's notebook and point its launch and download buttons at it."""
    source = pathlib.Path(app.env.doc2path(pagename))
    if doctree is None or not source.is_file() or not is_chapter(source):
        return
    options = app.config.html_theme_options
    repo_url = options.get("repository_url")
    branch = options.get("repository_branch") or "main"
    if not repo_url or "github.com/" not in repo_url:
        return
    write_notebook(source, pathlib.Path(app.outdir) / NOTEBOOK_DIR, repo_url, branch)
    launch = options.get("launch_buttons", {})
    urls = launch_urls(source.stem, repo_url, branch, launch.get("binderhub_url") or
                       "https://mybinder.org", launch.get("colab_url") or
                       "https://colab.research.google.com",
                       launch.get("notebook_interface", "jupyterlab"))
    local = context["pathto"](f"{NOTEBOOK_DIR}/{source.stem}.ipynb", 1)
    offered = False
    for button in _walk(context.get("header_buttons")):
        if button.get("type") == "link" and button.get("text") in urls:
            button["url"] = urls[button["text"]]
        elif button.get("label") == "download-notebook-button":
            button["url"], offered = local, True
    for button in context.get("header_buttons") or []:
        if button.get("label") == "download-buttons" and not offered:
            button["buttons"].insert(0, {"type": "link", "url": local, "text": ".ipynb",
                                         "tooltip": "Download notebook file",
                                         "icon": "fas fa-code",
                                         "label": "download-notebook-button"})


def setup(app):
    # after the theme has built the buttons (its handlers run at priority 501)
    app.connect("html-page-context", update_page, priority=600)
    return {"parallel_read_safe": True, "parallel_write_safe": True}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="Write every chapter as a runnable .ipynb.")
    parser.add_argument("--out", default=NOTEBOOK_DIR, help="folder to write (default: %(default)s)")
    args = parser.parse_args(argv)
    repo_url, branch = repository()
    out = pathlib.Path(args.out)
    chapters = sorted(p for p in (ROOT / "book").glob("*.md") if is_chapter(p))
    for chapter in chapters:
        write_notebook(chapter, out, repo_url, branch)
    print(f"{len(chapters)} notebooks in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
