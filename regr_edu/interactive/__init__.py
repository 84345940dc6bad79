"""The book's backing modules: one per chapter, named after it (``book/ch_<x>.md`` uses
``regr_edu/interactive/<x>.py``; ``book/<page>.md`` uses ``<page>.py``), each holding what its
chapter needs beyond the equations' own modules: figures, widgets, tables and exercise graders.

The plain functions (``*_figure``, ``*_error`` ...) take explicit arguments, validate them (a
clear ``ValueError`` naming the parameter, the rule and the value) and return a matplotlib figure
or numbers; the ``*_widget`` builders wrap them in ipywidgets whose bounds match that validation.
matplotlib and ipywidgets are imported only inside these modules, never by ``import regr_edu``,
and figures come from :func:`new_figure` (no ``pyplot`` state).

What every chapter displays is here, in :mod:`regr_edu.interactive._display`, one helper each:
:func:`new_figure` and :func:`figure_png` (figures), :func:`with_static_fallback` (every widget,
displayed, carries a static picture of its default state, which the book's web pages show in its
place), :func:`table_html` (tables) and :func:`show_source` (the package's own code).
"""
from ._display import figure_png, new_figure, show_source, table_html, with_static_fallback

__all__ = ["figure_png", "new_figure", "show_source", "table_html", "with_static_fallback"]
