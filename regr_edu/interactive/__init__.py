"""The book's widgets, one module per chapter, each backed by plain functions that tests call.

The plain functions (``*_figure``, ``*_error`` ...) take explicit arguments, validate them (a
clear ``ValueError`` naming the parameter, the rule and the value) and return a matplotlib figure
or numbers; the ``*_widget`` builders wrap them in ipywidgets whose bounds match that validation.
matplotlib and ipywidgets are imported only inside these modules, never by ``import regr_edu``.
Every widget is returned through :func:`with_static_fallback`: displayed, it carries a static
picture of its default state, which the book's web pages show in its place.
"""
from ._display import figure_png, new_figure, show_source, table_html, with_static_fallback

__all__ = ["figure_png", "new_figure", "show_source", "table_html", "with_static_fallback"]
