r"""What the book displays, one helper each: figures, widgets, tables and the package's own code.

- :func:`new_figure` and :func:`figure_png`: every figure is a ``matplotlib.figure.Figure``
  (no global ``pyplot`` state), rendered to PNG by one function.
- :func:`with_static_fallback`: every widget, with a static picture of its default state.
- :func:`table_html`: a small styled table.
- :func:`show_source`: the code of a package function or class, highlighted, read from the
  package itself (the code a reader sees is the code that ran).

One idiom for every widget of the book: a static picture of its default state.

A widget needs a running kernel to move. On the built web page nothing runs, so a slider that
looks live but changes nothing is a broken promise. :func:`with_static_fallback` gives a widget a
second representation, ``text/html``: a picture of the state it is displayed in (its figure,
its text, and its settings in words) with a line saying how to move it. The output then holds
both; Jupyter, JupyterLab, Colab and Binder show the live widget (the widget view ranks above
HTML there), and the book's HTML build shows the picture (``_config.yml`` ranks the widget view
below ``text/html``: ``nb_mime_priority_overrides``).

The picture is taken when the widget is displayed, so it is the state the page describes. It is
found in the widget itself: every ``Image`` (PNG bytes), ``HTML`` and ``Output`` (captured images,
HTML and text) in the widget's tree, in order; or pass ``picture=``, a function returning a
matplotlib figure or PNG bytes, for a widget that draws where the kernel cannot read it back.
"""
from __future__ import annotations

import base64
import sys
import html
import io
from typing import Any, Callable

CSS_CLASS = "regr-widget-static"
NOTE = ("A picture of this widget in its default state{settings}. Nothing moves it on this page: "
        "open the chapter as a notebook (Binder, Colab or the .ipynb download at the top of the "
        "page) to use the controls.")


def new_figure(*args: Any, **kwargs: Any):
    """``(fig, axes)`` like ``pyplot.subplots(*args, **kwargs)``, on a plain
    ``matplotlib.figure.Figure`` that no global state holds (nothing to close). A notebook shows
    it when it is a cell's last value."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=kwargs.pop("figsize", None), layout=kwargs.pop("layout", None),
                 dpi=kwargs.pop("dpi", None))
    return fig, fig.subplots(*args, **kwargs)


def figure_png(fig: Any, dpi: int = 80) -> bytes:
    """A figure as PNG bytes (for an ``ipywidgets.Image`` or a static picture). A figure that
    ``pyplot`` manages is closed afterwards."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt = sys.modules.get("matplotlib.pyplot")         # only if something imported pyplot
    if plt is not None and plt.fignum_exists(getattr(fig, "number", -1)):
        plt.close(fig)
    return buf.getvalue()


def show_source(obj: Any, *, lines: "tuple[int, int] | None" = None):
    """The source of a package object (function, class, method or module), highlighted:
    an ``IPython.display.Code`` that a notebook shows. ``lines=(first, last)`` (1-based,
    inclusive, counted within the object) keeps part of it."""
    import inspect
    import textwrap

    from IPython.display import Code

    try:
        text = inspect.getsource(obj)
    except (TypeError, OSError) as err:
        raise ValueError(f"obj must be a function, class, method or module with source code, "
                         f"got {obj!r}") from err
    text = textwrap.dedent(text)
    if lines is not None:
        rows = text.splitlines()
        first, last = lines
        if not (isinstance(first, int) and isinstance(last, int) and 1 <= first <= last
                <= len(rows)):
            raise ValueError(f"lines must be (first, last) with 1 <= first <= last <= "
                             f"{len(rows)}, got {lines!r}")
        text = "\n".join(rows[first - 1:last]) + "\n"
    return Code(text, language="python")


def _png(value: Any) -> bytes | None:
    """PNG bytes from bytes or a matplotlib figure."""
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if hasattr(value, "savefig"):
        return figure_png(value)
    raise TypeError(f"picture must return a matplotlib figure, PNG bytes or an HTML string, "
                    f"got {type(value).__name__}")


def table_html(rows, columns) -> str:
    """Rows (dicts) as an HTML table with the given columns, for ``picture=``."""
    def fmt(v):
        return f"{v:.4g}" if isinstance(v, float) else str(v)
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(fmt(r.get(c, '')))}</td>" for c in columns)
                   + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return (f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}" '
            'style="max-width:100%;height:auto">')


def _walk(widget):
    yield widget
    for child in getattr(widget, "children", ()) or ():
        yield from _walk(child)


def settings(widget) -> list[str]:
    """``description = value`` for every control (slider, dropdown, checkbox ...) in the tree."""
    import ipywidgets as widgets

    out = []
    for w in _walk(widget):
        if isinstance(w, (widgets.HTML, widgets.HTMLMath, widgets.Label, widgets.Image,
                          widgets.Output)) or not isinstance(w, widgets.ValueWidget):
            continue
        name = getattr(w, "description", "") or type(w).__name__
        value = w.value
        if isinstance(w, (widgets.Checkbox, widgets.ToggleButton)):
            value = "on" if value else "off"
        elif isinstance(value, float):
            value = f"{value:g}"
        out.append(f"{name} = {value}")
    return out


def _output_parts(outputs) -> list[str]:
    parts = []
    for item in outputs or ():
        data = item.get("data", {}) if isinstance(item, dict) else {}
        if "image/png" in data:
            raw = data["image/png"]
            png = base64.b64decode(raw) if isinstance(raw, str) else bytes(raw)
            parts.append(_img(png, "the widget's figure in its default state"))
        elif "text/html" in data:
            parts.append(str(data["text/html"]))
        elif isinstance(item, dict) and item.get("output_type") == "stream":
            parts.append(f"<pre>{html.escape(item.get('text', ''))}</pre>")
        elif "text/plain" in data:
            parts.append(f"<pre>{html.escape(str(data['text/plain']))}</pre>")
    return parts


def static_html(widget, picture: Callable[[], Any] | None = None) -> str:
    """The ``text/html`` picture of ``widget`` as it is now (see the module docstring)."""
    import ipywidgets as widgets

    parts = []
    if picture is not None:
        drawn = picture()
        if isinstance(drawn, str):                          # HTML: a table, a text
            parts.append(drawn)
        else:
            png = _png(drawn)
            if png:
                parts.append(_img(png, "the widget's figure in its default state"))
    for w in _walk(widget):
        if isinstance(w, widgets.HTML) and w.value:
            parts.append(f'<div class="{CSS_CLASS}-text">{w.value}</div>')
        elif picture is None and isinstance(w, widgets.Image) and w.value:
            parts.append(_img(bytes(w.value), "the widget's figure in its default state"))
        elif picture is None and isinstance(w, widgets.Output):
            parts.extend(_output_parts(w.outputs))
    shown = settings(widget)
    note = NOTE.format(settings=f" ({', '.join(shown)})" if shown else "")
    body = "\n".join(parts)
    return (f'<div class="{CSS_CLASS}">\n<p class="{CSS_CLASS}-note">{html.escape(note)}</p>\n'
            f"{body}\n</div>")


def with_static_fallback(widget, picture: Callable[[], Any] | None = None):
    """Give ``widget`` a static ``text/html`` picture beside its live view; returns ``widget``.

    Args:
        widget: any ipywidgets widget (usually a ``VBox`` of controls and a figure).
        picture: optional; a function returning the figure (matplotlib ``Figure`` or PNG bytes)
            or an HTML string (e.g. :func:`table_html`) of the widget's current state, for widgets whose figure the kernel cannot read back
            (an ``Output`` filled by ``display``). Without it, the widget's own ``Image``,
            ``HTML`` and ``Output`` contents are used.

    The widget is returned unchanged otherwise: code can still drive its controls, and the
    live view is what Jupyter shows.
    """
    cls_repr = type(widget)._repr_mimebundle_

    def _repr_mimebundle_(**kwargs):
        data = cls_repr(widget, **kwargs)
        if data is None:
            data = {"text/plain": repr(widget)}
        elif isinstance(data, tuple):
            data = dict(data[0])
        else:
            data = dict(data)
        data["text/html"] = static_html(widget, picture)
        return data

    widget._repr_mimebundle_ = _repr_mimebundle_
    widget.static_html = lambda: static_html(widget, picture)
    return widget
