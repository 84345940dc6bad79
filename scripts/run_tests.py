"""The README's test command: every pytest test of the package, then every notebook under nbval.

MyST notebooks in ``book/`` are converted with jupytext into ``_build/nbval/`` (nbval collects
only ``.ipynb``) and run in the same pytest session, so one closing line counts everything.
Extra arguments are passed to pytest (``make test ARGS=-x`` is not needed: call this script).

``tests/test_book_render.py`` opens the built book in headless Chromium, and the UCF101 tests
extract RAR archives with ``unar``. When either is missing this script installs Debian's
``chromium``/``unar`` with apt-get (about 20 s; needs root, as in CI). If that is impossible it
warns and those tests skip themselves -- except under ``CI=true``, where a missing tool fails the
run here, loudly, instead of silently skipping tests.
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


def _apt_install(packages: list[str]) -> bool:
    """Install Debian packages with apt-get when running as root; False if that is impossible."""
    if not (shutil.which("apt-get") and os.geteuid() == 0):
        return False
    print(f"installing Debian packages {packages} for the tests (apt-get, about 20 s)", flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    return (subprocess.call(["apt-get", "update", "-qq"], env=env) == 0
            and subprocess.call(["apt-get", "install", "-y", "-qq", *packages], env=env) == 0)


def ensure_system_tools() -> bool:
    """Chromium (the book render test) and unar (UCF101's RAR extraction tests).

    Installed when missing and possible. Without them those tests skip themselves, except under
    ``CI=true``, where a missing tool fails the run here instead of silently skipping tests.
    """
    missing = []
    if not any(shutil.which(name) for name in BROWSERS):
        missing.append("chromium")
    if not shutil.which("unar"):
        missing.append("unar")
    if missing:
        _apt_install(missing)
    still = [p for p in missing if not shutil.which(p)]
    if not still:
        return True
    ci = os.environ.get("CI", "").lower() in ("1", "true", "yes")
    message = (f"{still} not installed and could not be installed "
               f"(run `apt-get install -y {' '.join(still)}` as root)")
    if ci:
        print(f"ERROR: {message}. CI=true: their tests may not be skipped.", file=sys.stderr)
        return False
    print(f"WARNING: {message}; the tests that need them will be skipped.", file=sys.stderr,
          flush=True)
    return True


def main(argv: list[str]) -> int:
    if not ensure_system_tools():
        return 3
    notebooks = convert_notebooks()
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--nbval-lax",
           "--nbval-current-env", "--durations=15", str(ROOT / "tests"),
           *map(str, notebooks), *argv]
    print("+", " ".join(cmd), flush=True)
    return subprocess.call(cmd, cwd=ROOT)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
