"""Sphinx extension (loaded from _config.yml): keep every CDN reference out of the built pages.

Jupyter Book 1.x always loads ``sphinx_thebe``, which puts ``const THEBE_JS_URL =
"https://unpkg.com/thebe@..."`` and ``sphinx-thebe.js`` on every page, even with
``launch_buttons.thebe: false``. Nothing uses them without a Thebe button, and this book has
none (it runs offline; live code runs on Binder, Colab or a local Jupyter), so they are dropped
from each page's scripts. MathJax, require.js and the widget manager are local copies
(``book/_assets/``, see its README), and ``scripts/build_book.py`` fails if any CDN host is left.

It also loads MathJax on every page (Sphinx's "always" assets policy): math reaches pages whose
own source has none -- chapter titles in the navigation and next/previous links, printed Markdown
outputs, the bibliography -- and would otherwise stay raw TeX there.
"""
from __future__ import annotations

from typing import Any


def _is_thebe(script: Any) -> bool:
    filename = str(getattr(script, "filename", "") or "")
    body = str(getattr(script, "attributes", {}).get("body", "") or "")
    return filename.endswith("sphinx-thebe.js") or "THEBE_JS_URL" in body


def drop_thebe_scripts(app, pagename, templatename, context, doctree) -> None:
    if app.config.html_theme_options.get("launch_buttons", {}).get("thebe"):
        return  # someone turned Thebe on deliberately: leave it
    scripts = context.get("script_files")
    if scripts:
        context["script_files"] = [js for js in scripts if not _is_thebe(js)]


def setup(app):
    app.set_html_assets_policy("always")
    # priority 900: after sphinx_thebe and the theme have added their scripts (default 500)
    app.connect("html-page-context", drop_thebe_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
