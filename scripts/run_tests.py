"""The README's test command: build the book (executing every chapter once), then every pytest test.

Each chapter executes exactly once, in the book build (``scripts/build_book.py``: warnings are
errors and a cell that raises fails the build, so every ``assert`` a chapter makes is checked
there). ``tests/test_chapters_executed.py`` then reads the executed notebooks from the build's
execution cache and fails for a chapter that did not run or holds an error, so one pytest closing
line counts the package's tests and the chapters together, and ``tests/test_book_render.py``
opens the pages the same build wrote. The slowest chapters and the slowest 15 tests are printed.
Extra arguments are passed to pytest.

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
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
BROWSERS = ("chromium", "chromium-browser", "google-chrome")  # as in tests/test_book_render.py


def build_book() -> int:
    """Build (and so execute) the book once; print how long each chapter took to execute."""
    start = time.perf_counter()
    code = subprocess.call([sys.executable, str(ROOT / "scripts" / "build_book.py")], cwd=ROOT)
    print(f"book build: exit {code} after {time.perf_counter() - start:.0f} s", flush=True)
    try:
        from jupyter_cache import get_cache
        records = get_cache(str(ROOT / "_build" / ".jupyter_cache")).list_cache_records()
        times = sorted(((r.data or {}).get("execution_seconds", 0.0), r.uri) for r in records)
        print("slowest chapters (execution seconds, from the build's cache):")
        for seconds, uri in times[::-1][:15]:
            print(f"  {seconds:7.1f} s  {os.path.relpath(uri, ROOT)}")
    except Exception as err:  # the report is informative only; the tests judge the build
        print(f"(no chapter timings: {err})")
    return code


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
    build_book()            # a failed build leaves chapters unexecuted: their tests fail below
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--durations=15",
           str(ROOT / "tests"), *argv]
    print("+", " ".join(cmd), flush=True)
    return subprocess.call(cmd, cwd=ROOT)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
