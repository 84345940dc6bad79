"""A widget that picks the region and ``k`` of :func:`.related_regions_figure`.

The widget is a thin shell: every redraw calls the tested plain functions
(:func:`.top_related`, :func:`.related_regions_figure`) and shows the figure as a PNG in an
``ipywidgets.Image``, so it works the same in a live kernel and (its first state) on the static
page. Its sliders' bounds are the functions' own rules, so a slider cannot reach a bad value.
"""
from __future__ import annotations

from typing import Sequence

import ipywidgets as widgets
import numpy as np

from ..interactive._display import figure_png, with_static_fallback
from ._common import check_index
from .regions import RegionBoxes, _check_R_boxes, related_regions_figure, top_related


class RelatedRegionsWidget(widgets.VBox):
    """Sliders for the region ``i`` and ``k``, a per-scale switch, the top-k as text, the figure.

    Attributes:
        region, k: the ``IntSlider`` widgets (set ``.value`` to move them from code).
        per_scale: a ``Checkbox``.
        info: an ``HTML`` widget listing the top-k over all scales with their weights.
        image: an ``Image`` widget holding the current figure as PNG bytes.
        top: the current ``(indices, weights)`` over all scales (:func:`.top_related`).
        renders: how many times the figure was drawn.
    """

    def __init__(self, image, R, boxes: RegionBoxes, region: int = 0, k: int = 3, *,
                 per_scale: bool = True, by: str = "value", mean: Sequence[float] | None = None,
                 std: Sequence[float] | None = None) -> None:
        self._R = _check_R_boxes(R, boxes)
        N = len(boxes)
        if N < 2:
            raise ValueError(f"boxes must describe at least 2 regions to relate, got N={N}")
        region = check_index("region", region, 0, N - 1)
        k = check_index("k", k, 1, N - 1)
        self._image, self._boxes, self._by = image, boxes, by
        self._mean, self._std = mean, std
        self.renders = 0
        self.top: tuple[np.ndarray, np.ndarray] = (np.zeros(0, int), np.zeros(0))
        self.region = widgets.IntSlider(value=region, min=0, max=N - 1, description="region i",
                                        continuous_update=False)
        self.k = widgets.IntSlider(value=k, min=1, max=min(N - 1, 12), description="k",
                                   continuous_update=False)
        self.per_scale = widgets.Checkbox(value=per_scale, description="one panel per scale")
        self.info = widgets.HTML()
        self.image = widgets.Image(format="png")
        for w in (self.region, self.k, self.per_scale):
            w.observe(self._on_change, names="value")
        super().__init__([widgets.HBox([self.region, self.k, self.per_scale]), self.info,
                          self.image])
        self.render()
        with_static_fallback(self)       # the static page shows this first state as a picture

    def _on_change(self, change) -> None:
        self.render()

    def render(self) -> None:
        """Redraw for the sliders' current values."""
        i, k = int(self.region.value), int(self.k.value)
        self.top = top_related(self._R, i, k, by=self._by)
        rows = ", ".join(f"{j} ({w:.3f})" for j, w in zip(*self.top))
        self.info.value = (f"<b>{self._boxes.describe(i)}</b> &mdash; top-{k} over all scales "
                           f"(weight r<sub>ij</sub>): {rows}")
        fig = related_regions_figure(self._image, self._R, self._boxes, i, k,
                                     per_scale=bool(self.per_scale.value), by=self._by,
                                     mean=self._mean, std=self._std)
        self.image.value = figure_png(fig)
        self.renders += 1


def related_regions_widget(image, R, boxes: RegionBoxes, region: int = 0, k: int = 3, *,
                           per_scale: bool = True, by: str = "value",
                           mean: Sequence[float] | None = None,
                           std: Sequence[float] | None = None) -> RelatedRegionsWidget:
    """Build a :class:`RelatedRegionsWidget` (arguments as :func:`.related_regions_figure`)."""
    return RelatedRegionsWidget(image, R, boxes, region, k, per_scale=per_scale, by=by,
                                mean=mean, std=std)
