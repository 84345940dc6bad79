"""Sphinx extension (loaded from _config.yml): no error in the browser console of any page.

pydata-sphinx-theme (under sphinx-book-theme) logs ``Got invalid theme mode: . Resetting to
auto.`` with ``console.error`` on every page when the template's ``default_mode`` (read from
``html_context``) is empty, which is how Jupyter Book 1.x leaves it. This sets it to ``"auto"``
(what the theme falls back to anyway) unless the book sets one. ``tests/test_book_render.py`` fails on any console error; the widget
manager's two other sources of errors are handled by ``book/_assets/mathjax2-shim.js`` and
``book/_assets/widgets-paths.js``.
"""
from __future__ import annotations


def set_default_mode(app, config) -> None:
    context = dict(config.html_context or {})
    if not context.get("default_mode"):
        context["default_mode"] = "auto"
        config.html_context = context


def setup(app):
    app.connect("config-inited", set_default_mode)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
