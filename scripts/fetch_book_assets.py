"""Fetch the JavaScript the built book needs, so that it renders with no network.

By default a Jupyter Book 1.x page loads MathJax, require.js and the ipywidgets manager from CDNs:
offline, math shows as raw TeX and widgets as nothing. This script installs pinned versions from
npm into a temporary folder and copies only the files the pages load into ``book/_assets/``:

    book/_assets/mathjax/   mathjax@3.2.2: es5/tex-chtml.js, its CHTML woff-v2 fonts and the TeX
                            extensions it may load on demand (about 2 MB)
    book/_assets/widgets/   @jupyter-widgets/html-manager@1.0.6: dist/embed-amd.js and the
                            Font Awesome fonts its CSS refers to
    book/_assets/require/   requirejs@2.3.4: require.js (the AMD loader embed-amd.js needs)

The copied files are committed, so a fresh clone builds the book with no npm step; run this only
to change a version (then update the table in ``book/_assets/README.md``). ``_config.yml`` names
the folder in ``html_static_path`` and points ``mathjax_path`` and ``nb_ipywidgets_js`` at it.

The folder must not be called ``_static``: Jupyter Book 1.x adds every ``*.js`` found under a
root ``_static/`` (and under every other static path, once ``_static/`` exists) to every page.

Usage: python scripts/fetch_book_assets.py [--dest book/_assets]   (needs ``npm`` and network)
"""
from __future__ import annotations

import argparse
import json
import pathlib
import shutil
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[1]

# npm package -> exact version. Bump here and in book/_assets/README.md together.
PACKAGES = {
    "mathjax": "3.2.2",
    "@jupyter-widgets/html-manager": "1.0.6",
    "requirejs": "2.3.4",
}

# (package, path inside the package, destination relative to --dest); folders are copied whole.
COPIES = [
    ("mathjax", "es5/tex-chtml.js", "mathjax/tex-chtml.js"),
    ("mathjax", "es5/output/chtml/fonts/woff-v2", "mathjax/output/chtml/fonts/woff-v2"),
    ("mathjax", "es5/input/tex/extensions", "mathjax/input/tex/extensions"),
    ("mathjax", "LICENSE", "mathjax/LICENSE"),
    ("@jupyter-widgets/html-manager", "dist/embed-amd.js", "widgets/embed-amd.js"),
    ("@jupyter-widgets/html-manager", "dist/embed.js.LICENSE.txt", "widgets/THIRD_PARTY_LICENSES.txt"),
    ("@jupyter-widgets/html-manager", "LICENSE", "widgets/LICENSE"),
    ("requirejs", "require.js", "require/require.js"),
]
# embed-amd.js's CSS refers to hashed Font Awesome files beside it; browsers take the woff2 (or
# woff) entry of each @font-face, so the eot/ttf/svg variants (about 2.5 MB) are left out.
WIDGET_FONT_SUFFIXES = (".woff2", ".woff")


def npm_install(workdir: pathlib.Path) -> pathlib.Path:
    """Install PACKAGES into ``workdir/node_modules`` and return that folder."""
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("npm is not on PATH: install Node.js (e.g. `apt-get install -y npm`) "
                         "or use the files already committed under book/_assets/.")
    (workdir / "package.json").write_text(json.dumps({"name": "book-assets", "private": True}))
    specs = [f"{name}@{version}" for name, version in PACKAGES.items()]
    subprocess.run([npm, "install", "--no-save", "--ignore-scripts", "--no-audit", "--no-fund",
                    *specs], cwd=workdir, check=True)
    return workdir / "node_modules"


def copy_assets(modules: pathlib.Path, dest: pathlib.Path) -> None:
    """Copy the needed files from ``modules`` into ``dest`` (replacing what was there)."""
    for name, version in PACKAGES.items():
        found = json.loads((modules / name / "package.json").read_text())["version"]
        if found != version:
            raise SystemExit(f"npm installed {name}@{found}, expected {version}")
    for sub in ("mathjax", "widgets", "require"):
        shutil.rmtree(dest / sub, ignore_errors=True)
    for package, src, target in COPIES:
        source, target_path = modules / package / src, dest / target
        target_path.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target_path)
        else:
            shutil.copy2(source, target_path)
    dist = modules / "@jupyter-widgets/html-manager/dist"
    for font in sorted(dist.iterdir()):
        if font.suffix in WIDGET_FONT_SUFFIXES:
            shutil.copy2(font, dest / "widgets" / font.name)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dest", type=pathlib.Path, default=ROOT / "book" / "_assets",
                        help="folder named in html_static_path (default: book/_assets)")
    args = parser.parse_args(argv)
    if args.dest.name == "_static":
        raise SystemExit("--dest must not be named _static (Jupyter Book would add every .js "
                         "file in it to every page)")
    with tempfile.TemporaryDirectory(prefix="book-assets-") as tmp:
        modules = npm_install(pathlib.Path(tmp))
        copy_assets(modules, args.dest)
    total = sum(f.stat().st_size for f in args.dest.rglob("*") if f.is_file())
    print(f"copied {', '.join(f'{n}@{v}' for n, v in PACKAGES.items())} into {args.dest} "
          f"({total / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
