"""Build the book (``make book``): execute every chapter, warnings as errors, nothing from a CDN.

Steps:
1. Check the offline assets are in ``book/_assets/`` and that no root ``_static/`` folder exists
   (Jupyter Book 1.x would add every ``.js`` under the static paths to every page).
2. If the package, ``requirements.txt`` or ``_config.yml`` changed since the last build, empty the
   execution cache and rebuild every page, so no page shows what an older package computed
   (``execute_notebooks: cache`` only notices changes to a notebook's own code).
3. ``jupyter-book build . -W -n --keep-going``: every warning, broken reference or failing cell
   fails the build.
4. Fail if any built HTML page still names a CDN (MathJax, require.js and the widget manager must
   come from ``_static/``, copied from ``book/_assets/``).
5. Record a digest of the book's inputs in ``_build/.book_inputs.sha256`` (the render test
   rebuilds when it differs) and print where the book is.

Concurrent builds in one checkout wait for each other (a lock file in ``_build/``).
Usage: python scripts/build_book.py [--all]     (--all: rebuild and re-execute every page)
"""
from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import os
import pathlib
import re
import shutil
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
BUILD = ROOT / "_build"
HTML = BUILD / "html"
CACHE = BUILD / ".jupyter_cache"
PACKAGE_STAMP = BUILD / ".package_inputs.sha256"
BOOK_STAMP = BUILD / ".book_inputs.sha256"
ASSETS = ROOT / "book" / "_assets"
REQUIRED_ASSETS = ("mathjax/tex-chtml.js", "require/require.js", "widgets/embed-amd.js")

# Hosts that serve JavaScript/CSS libraries. None may appear in a built page.
CDN_PATTERN = re.compile(
    r"cdn\.jsdelivr\.net|unpkg\.com|cdnjs\.cloudflare\.com|ajax\.googleapis\.com|"
    r"code\.jquery\.com|cdn\.mathjax\.org|cdn\.plot\.ly|stackpath\.bootstrapcdn\.com|"
    r"maxcdn\.bootstrapcdn\.com|use\.fontawesome\.com|fonts\.googleapis\.com|"
    r"thebe\.readthedocs|requirejs\.org/docs/release")


def _files(patterns: list[str]) -> list[pathlib.Path]:
    found: set[pathlib.Path] = set()
    for pattern in patterns:
        found.update(p for p in ROOT.glob(pattern) if p.is_file() and "__pycache__" not in p.parts)
    return sorted(found)


def digest(patterns: list[str]) -> str:
    """SHA-256 over the names and contents of the files matching ``patterns`` (under ROOT)."""
    h = hashlib.sha256()
    for path in _files(patterns):
        h.update(path.relative_to(ROOT).as_posix().encode() + b"\0")
        h.update(path.read_bytes() + b"\0")
    return h.hexdigest()


# What the executed outputs depend on besides each page's own code.
PACKAGE_INPUTS = ["regr_edu/**/*.py", "regr_edu/**/*.json", "requirements.txt", "_config.yml"]
# Everything the built HTML depends on (the render test rebuilds when this digest changes).
BOOK_INPUTS = PACKAGE_INPUTS + ["_toc.yml", "book/**/*"]


def book_inputs_digest() -> str:
    return digest(BOOK_INPUTS)


def is_stale() -> bool:
    """True when ``_build/html`` is missing or was built from other inputs than the current ones."""
    if not (HTML / "index.html").exists() or not BOOK_STAMP.exists():
        return True
    return BOOK_STAMP.read_text().strip() != book_inputs_digest()


@contextlib.contextmanager
def build_lock():
    BUILD.mkdir(exist_ok=True)
    with open(BUILD / ".build.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print("another build of this book is running; waiting for it ...", flush=True)
            fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def preflight() -> list[str]:
    problems = []
    if (ROOT / "_static").exists():
        problems.append("a root _static/ folder exists: Jupyter Book 1.x would add every .js in "
                        "the static paths (MathJax's 35 extensions among them) to every page. "
                        "Put files in book/_assets/ instead.")
    for rel in REQUIRED_ASSETS:
        if not (ASSETS / rel).is_file():
            problems.append(f"book/_assets/{rel} is missing: run `python scripts/fetch_book_assets.py`"
                            " (needs npm) or restore the committed copy with git.")
    return problems


def find_cdn_urls(html_root: pathlib.Path) -> list[str]:
    """``file:line: match`` for every CDN host named in a built HTML page."""
    hits = []
    for page in sorted(html_root.rglob("*.html")):
        for number, line in enumerate(page.read_text(encoding="utf-8", errors="replace")
                                      .splitlines(), start=1):
            for match in CDN_PATTERN.finditer(line):
                start = max(0, match.start() - 60)
                hits.append(f"{page.relative_to(ROOT)}:{number}: ...{line[start:match.end() + 40]}...")
    return hits


def jupyter_book_command() -> list[str]:
    exe = pathlib.Path(sys.executable).parent / "jupyter-book"
    if exe.exists():
        return [str(exe)]
    found = shutil.which("jupyter-book")
    if found is None:
        raise SystemExit("jupyter-book is not installed in this environment: run `make setup` "
                         "(or `pip install -r requirements.txt`).")
    return [found]


def build(rebuild_all: bool) -> int:
    problems = preflight()
    if problems:
        print("cannot build the book:\n  - " + "\n  - ".join(problems), file=sys.stderr)
        return 2
    package = digest(PACKAGE_INPUTS)
    if not PACKAGE_STAMP.exists() or PACKAGE_STAMP.read_text().strip() != package:
        if CACHE.exists() or HTML.exists():
            print("package, requirements or _config.yml changed since the last build: "
                  "re-executing every page", flush=True)
        shutil.rmtree(CACHE, ignore_errors=True)
        rebuild_all = True
    book_digest = book_inputs_digest()  # taken before the build: edits made during it count later

    cmd = [*jupyter_book_command(), "build", str(ROOT), "-W", "-n", "--keep-going"]
    if rebuild_all:
        cmd.append("--all")
    print("+", " ".join(cmd), flush=True)
    env = dict(os.environ, PYDEVD_DISABLE_FILE_VALIDATION="1")
    start = time.perf_counter()
    code = subprocess.call(cmd, cwd=ROOT, env=env)
    elapsed = time.perf_counter() - start
    if code != 0:
        # The cache may hold a page executed under the failing build: keep it (it is keyed by the
        # page's code), but force the next build to rebuild every page so warnings show again.
        PACKAGE_STAMP.unlink(missing_ok=True)
        BOOK_STAMP.unlink(missing_ok=True)
        print(f"\nBOOK BUILD FAILED after {elapsed:.0f} s (warnings are errors; see above).",
              file=sys.stderr)
        return code or 1
    PACKAGE_STAMP.write_text(package + "\n")

    hits = find_cdn_urls(HTML)
    if hits:
        BOOK_STAMP.unlink(missing_ok=True)
        print("\nBOOK BUILD FAILED: built pages still load from a CDN (they would not render "
              "offline):\n  " + "\n  ".join(hits[:30]), file=sys.stderr)
        return 1
    BOOK_STAMP.write_text(book_digest + "\n")
    index = HTML / "index.html"
    print(f"\nbook built in {elapsed:.0f} s, no CDN URL in any page: {index}")
    print(f"open it with a browser, e.g. `xdg-open {index}` or file://{index}")
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="Build the book: execute, -W, no CDN.")
    parser.add_argument("--all", action="store_true",
                        help="rebuild and re-execute every page (also empties the cache)")
    args = parser.parse_args(argv)
    with build_lock():
        if args.all:
            shutil.rmtree(CACHE, ignore_errors=True)
        return build(args.all)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
