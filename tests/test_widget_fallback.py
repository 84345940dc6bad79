"""Every widget of the book carries a static picture of its default state (one idiom:
``regr_edu.interactive.with_static_fallback``), which the built pages show in its place.

Displayed, a widget's output holds the live view (``application/vnd.jupyter.widget-view+json``,
what Jupyter, Colab and Binder show) and a ``text/html`` picture: its figure as an embedded PNG,
its text, its settings in words, and how to move it. ``_config.yml`` ranks the widget view below
``text/html`` for the HTML build, so the page shows the picture, not dead controls.
"""
from __future__ import annotations

import base64
import pathlib
import re

import pytest
import torch
import yaml

from regr_edu.interactive import with_static_fallback

ROOT = pathlib.Path(__file__).resolve().parents[1]
VIEW = "application/vnd.jupyter.widget-view+json"
PNG = b"\x89PNG\r\n\x1a\n"


def bundle(widget) -> dict:
    from IPython.core.formatters import DisplayFormatter
    data, _ = DisplayFormatter().format(widget)
    return data


def pictures(html: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'src="data:image/png;base64,([^"]+)"', html)]


def check(widget, *settings: str) -> str:
    data = bundle(widget)
    assert VIEW in data, "the live widget view is still there (Jupyter shows it)"
    html = data["text/html"]
    assert 'class="regr-widget-static"' in html and "open the chapter as a notebook" in html
    shots = pictures(html)
    assert shots and all(s.startswith(PNG) and len(s) > 1000 for s in shots), "no figure"
    for s in settings:
        assert s in html, f"{s!r} not stated in the static picture"
    return html


def test_the_html_build_shows_the_picture_and_jupyter_the_widget():
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    overrides = config["sphinx"]["config"]["nb_mime_priority_overrides"]
    from myst_nb.core.render import get_mime_priority
    order = get_mime_priority("html", [tuple(o) for o in overrides])
    assert order.index("text/html") < order.index(VIEW) < order.index("text/plain")


def test_regions_widget(photo_map):
    from regr_edu.interactive import regions as ir
    box = ir.regions_widget(*photo_map, scale=(4, 4), second=(2, 2))
    html = check(box, "h = 4", "w = 4", "second scale = on")
    assert pictures(html)[0] == box.image.value                       # the state displayed
    assert "N = 20 regions in all" in html                           # its text too
    box.h.value = 2                                                  # a later state is drawn
    assert "h = 2" in bundle(box)["text/html"]


def test_recovery_widget(photo_map):
    from regr_edu.interactive import aggregation as ia
    box = ia.recovery_widget(photo_map[1], (4, 4), methods=["best_nu"], c_nu=2, steps=2)
    check(box, "c_nu = 2", "softmax on ν = on")


def test_relation_widget():
    from regr_edu.interactive import relations as irl
    w = irl.relation_widget(torch.randn(1, 16, 16, 16), torch.rand(3, 64, 64),
                            scales=((4, 4), (8, 8)))
    check(w, "relation = bilinear", "region i = ")


def test_unit_and_gather_widgets():
    from regr_edu.interactive import distribution as iu
    w = iu.unit_widget()
    check(w, "scales = (4, 4) + (7, 7)", "relation = bilinear", "refine = on", "flip = none")
    with torch.no_grad():
        g = iu.gather_widget(iu.demo_unit().explain(iu.demo_map()))
    check(g, "region i = 0")


def test_related_regions_widget():
    import regr_edu as rg
    from regr_edu import viz
    torch.manual_seed(0)
    m = rg.models.small_resnet(4, unit="regr", widths=(8, 16, 32), input_size=(32, 32),
                               scales=((2, 2), (4, 4))).eval()
    x = torch.randn(1, 3, 32, 32)
    (_, info), = viz.explain_units(m, x).items()
    boxes = viz.region_boxes(info.grids, info.scales, info.map_size, info.image_size)
    w = viz.related_regions_widget(x[0], info.R[0], boxes, region=3, k=2)
    check(w, "region i = 3", "k = 2", "one panel per scale = on")


def test_picture_function_and_bad_picture():
    import ipywidgets as widgets
    import matplotlib.pyplot as plt
    slider = widgets.IntSlider(value=3, description="n")
    out = widgets.Output()

    def draw():
        fig, ax = plt.subplots(figsize=(2, 2))
        ax.plot(range(slider.value))
        return fig

    box = with_static_fallback(widgets.VBox([slider, out]), picture=draw)
    check(box, "n = 3")
    from regr_edu.interactive import table_html
    t = with_static_fallback(widgets.VBox([slider]),
                             picture=lambda: table_html([{"a": 1.23456, "b": "x"}], ["a", "b"]))
    assert "<td>1.235</td><td>x</td>" in bundle(t)["text/html"]
    bad = with_static_fallback(widgets.VBox([slider]), picture=lambda: 42)
    with pytest.raises(TypeError, match="matplotlib figure, PNG bytes or an HTML string"):
        bad.static_html()
