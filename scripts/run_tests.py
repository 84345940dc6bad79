"""The README's test command: every pytest test of the package, then every notebook under nbval.

MyST notebooks in ``book/`` are converted with jupytext into ``_build/nbval/`` (nbval collects
only ``.ipynb``) and run in the same pytest session, so one closing line counts everything.
Extra arguments are passed to pytest (``make test ARGS=-x`` is not needed: call this script).
"""
from __future__ import annotations

import pathlib
import shutil
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
NB_OUT = ROOT / "_build" / "nbval"


def convert_notebooks() -> list[pathlib.Path]:
    """Write one ``.ipynb`` per MyST notebook of the book (files with a jupytext header)."""
    if NB_OUT.exists():
        shutil.rmtree(NB_OUT)
    NB_OUT.mkdir(parents=True)
    out = []
    for md in sorted((ROOT / "book").rglob("*.md")):
        if "jupytext:" not in md.read_text(encoding="utf-8")[:400]:
            continue  # plain markdown page, nothing to execute
        target = NB_OUT / md.relative_to(ROOT / "book").with_suffix(".ipynb")
        target.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "jupytext", "--quiet", "--to", "ipynb",
                        "--output", str(target), str(md)], check=True)
        out.append(target)
    return out


def main(argv: list[str]) -> int:
    notebooks = convert_notebooks()
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--nbval-lax",
           "--nbval-current-env", "--durations=15", str(ROOT / "tests"),
           *map(str, notebooks), *argv]
    print("+", " ".join(cmd), flush=True)
    return subprocess.call(cmd, cwd=ROOT)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
