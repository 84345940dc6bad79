"""The README's test command: every pytest test of the package, then every notebook under nbval.

MyST notebooks in ``book/`` are converted with jupytext into ``_build/nbval/`` (nbval collects
only ``.ipynb``) and run in the same pytest session, so one closing line counts everything.
Extra arguments are passed to pytest (``make test ARGS=-x`` is not needed: call this script).

``tests/test_book_render.py`` opens the built book in headless Chromium. When no Chromium is on
PATH this script installs Debian's ``chromium`` with apt-get (about 20 s; needs root, as in CI).
If that is impossible it warns and the render test skips itself -- except under ``CI=true``,
where a missing browser fails the run here, loudly, instead of silently skipping the test.
"""
from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
NB_OUT = ROOT / "_build" / "nbval"
BROWSERS = ("chromium", "chromium-browser", "google-chrome")  # as in tests/test_book_render.py


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


def ensure_chromium() -> bool:
    """Install Debian's chromium when no browser is on PATH. False if none can be had."""
    if any(shutil.which(name) for name in BROWSERS):
        return True
    ci = os.environ.get("CI", "").lower() in ("1", "true", "yes")
    if shutil.which("apt-get") and os.geteuid() == 0:
        print("chromium is not installed: installing Debian's chromium for the book render "
              "test (apt-get, about 20 s)", flush=True)
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        if (subprocess.call(["apt-get", "update", "-qq"], env=env) == 0
                and subprocess.call(["apt-get", "install", "-y", "-qq", "chromium"], env=env) == 0
                and shutil.which("chromium")):
            return True
    message = ("no headless Chromium for tests/test_book_render.py, and it could not be "
               "installed (run `apt-get install -y chromium` as root)")
    if ci:
        print(f"ERROR: {message}. CI=true: the render test may not be skipped.", file=sys.stderr)
        return False
    print(f"WARNING: {message}; the render test will be skipped.", file=sys.stderr, flush=True)
    return True


def main(argv: list[str]) -> int:
    if not ensure_chromium():
        return 3
    notebooks = convert_notebooks()
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--nbval-lax",
           "--nbval-current-env", "--durations=15", str(ROOT / "tests"),
           *map(str, notebooks), *argv]
    print("+", " ".join(cmd), flush=True)
    return subprocess.call(cmd, cwd=ROOT)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
