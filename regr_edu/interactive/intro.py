r"""The introduction's pictures: two painted scenes (the paper's Fig. 1, retold), one relation
drawn at several region scales, a widget that picks the scale, and the unit's pipeline with the
shapes of one run.

Plain functions first: :class:`Scene` and its two pictures (:func:`playing_scene`,
:func:`watching_scene`), :func:`scenes_figure`, :func:`relation_panel`, :func:`scales_figure`,
:func:`scale_figure` and :func:`pipeline_figure` return ``matplotlib.figure.Figure`` objects
(:func:`~regr_edu.interactive._display.new_figure`, no pyplot state) and numbers; then
:func:`scale_widget`, whose dropdown offers exactly the settings :func:`scale_figure` accepts.
The pipeline is read from a :class:`~regr_edu.trace.UnitTrace` (``unit.explain(x)``): every
shape it prints is one the unit computed. matplotlib, scikit-image and ipywidgets are imported
inside the functions that need them, never by ``import regr_edu``.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .._checks import check_choice, check_scale, check_scales
from ..regions import grid_size
from ..trace import UnitTrace
from ._display import figure_png, new_figure, show_source, with_static_fallback

S = 448                 # input size in pixels (the paper's CUB crops)
STRIDE = 16             # ResNet-50's res4 sees it as 28 x 28 cells of 16 x 16 pixels
CELLS = S // STRIDE

SKIN, HAIR, SHOE = (0.96, 0.78, 0.64), (0.25, 0.16, 0.10), (0.12, 0.12, 0.12)
SHIRT, TROUSERS = (0.80, 0.16, 0.18), (0.17, 0.24, 0.45)
WOOD, DARK, GREY = (0.55, 0.36, 0.26), (0.12, 0.12, 0.14), (0.25, 0.25, 0.25)
SCREEN = (0.55, 0.78, 0.96)
RED, BLUE, GREEN, AMBER, PURPLE = "#c0392b", "#2c6fbb", "#2e9b3a", "#e8a300", "#7b2d8e"
SCALE_COLORS = {1: "#555555", 2: "#7b3fa0", 4: "#1f5fa8", 7: "#b35806", 14: "#1b7837"}

SETTINGS = {"(1, 1): pixels": ((1, 1),), "(2, 2)": ((2, 2),), "(4, 4)": ((4, 4),),
            "(7, 7)": ((7, 7),), "(14, 14)": ((14, 14),),
            "(4, 4) + (7, 7): the paper's": ((4, 4), (7, 7))}
"""The scale explorer's settings: name -> the unit's scales."""
FIGURE_SETTINGS = (((1, 1),), ((4, 4),), ((7, 7),), ((4, 4), (7, 7)))
"""The settings :func:`scales_figure` draws by default, side by side."""
GROUPS = {"input": "#eeeeee", "aggregation": "#d6e6f5", "relation": "#fde3c8",
          "distribution": "#d9ecd0"}


# ---------------------------------------------------------------------------------- the scenes
class Scene:
    """A painted ``S x S`` picture: RGB pixels ``img`` and one boolean mask per named object."""

    def __init__(self, top, bottom, horizon: int) -> None:
        self.img = np.empty((S, S, 3))
        self.img[:horizon], self.img[horizon:] = top, bottom
        self.masks: dict[str, np.ndarray] = {}

    def paint(self, rr_cc, color, *names: str) -> None:
        """Colour the pixels ``(rows, cols)`` and add them to the masks of ``names``."""
        rr, cc = rr_cc
        self.img[rr, cc] = color
        for name in names:
            self.masks.setdefault(name, np.zeros((S, S), bool))[rr, cc] = True

    def limb(self, p0, p1, width: float, color, *names: str) -> None:
        """A thick segment from ``p0 = (x0, y0)`` to ``p1``, rounded at ``p1``."""
        from skimage.draw import disk, polygon

        (x0, y0), (x1, y1) = p0, p1
        d = np.array([x1 - x0, y1 - y0], float)
        n = np.array([-d[1], d[0]]) / np.hypot(*d) * width / 2
        xs = [x0 + n[0], x1 + n[0], x1 - n[0], x0 - n[0]]
        ys = [y0 + n[1], y1 + n[1], y1 - n[1], y0 - n[1]]
        self.paint(polygon(ys, xs, (S, S)), color, *names)
        self.paint(disk((y1, x1), width / 2, shape=(S, S)), color, *names)

    def ball(self, cx: float, cy: float, r: float, name: str = "ball") -> None:
        """A football: a white disk with five black patches around one in the middle."""
        from skimage.draw import disk

        self.paint(disk((cy, cx), r, shape=(S, S)), (0.98, 0.98, 0.98), name)
        inside = self.masks[name]
        for k in range(6):
            a = 2 * np.pi * k / 5 + 0.3
            ox, oy, pr = ((0, 0, 0.28 * r) if k == 5 else
                          (0.62 * r * np.cos(a), 0.62 * r * np.sin(a), 0.2 * r))
            rr, cc = disk((cy + oy, cx + ox), pr, shape=(S, S))
            keep = inside[rr, cc]
            self.img[rr[keep], cc[keep]] = (0.1, 0.1, 0.1)

    def box(self, name: str) -> tuple[int, int, int, int]:
        """``(x0, y0, x1, y1)`` around an object's mask."""
        if name not in self.masks:
            raise ValueError(f"name must be one of the scene's objects {sorted(self.masks)}, "
                             f"got {name!r}")
        ys, xs = np.nonzero(self.masks[name])
        return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1

    def centre(self, name: str) -> tuple[float, float]:
        """Centre ``(x, y)`` of an object's box."""
        x0, y0, x1, y1 = self.box(name)
        return (x0 + x1) / 2, (y0 + y1) / 2


def _quad(top: int, bottom: int, left: int, right: int):
    """Pixels of a rectangle: rows ``top..bottom``, columns ``left..right``."""
    from skimage.draw import polygon
    return polygon([top, top, bottom, bottom], [left, right, right, left], (S, S))


def playing_scene() -> Scene:
    """A person kicking a ball on grass (objects ``person``, ``foot``, ``ball``)."""
    from skimage.draw import disk, ellipse, polygon

    s = Scene(top=(0.70, 0.84, 0.96), bottom=(0.45, 0.70, 0.35), horizon=300)
    s.limb((178, 265), (165, 385), 24, TROUSERS, "person")           # standing leg
    s.paint(ellipse(392, 170, 9, 20, shape=(S, S)), SHOE, "person")
    s.limb((205, 265), (288, 342), 24, TROUSERS, "person")           # kicking leg
    s.paint(ellipse(350, 302, 10, 19, shape=(S, S), rotation=-0.5), SHOE, "person", "foot")
    s.paint(polygon([158, 158, 272, 272], [158, 232, 222, 168], (S, S)), SHIRT,
            "person")                                                 # torso
    s.limb((166, 170), (118, 238), 16, SHIRT, "person")              # arms, hands
    s.limb((224, 170), (268, 232), 16, SHIRT, "person")
    s.paint(disk((242, 117), 9, shape=(S, S)), SKIN, "person")
    s.paint(disk((236, 270), 9, shape=(S, S)), SKIN, "person")
    s.paint(disk((122, 195), 30, shape=(S, S)), SKIN, "person")      # head, hair
    s.paint(ellipse(103, 195, 14, 30, shape=(S, S)), HAIR, "person")
    s.ball(360, 362, 24)
    return s


def watching_scene() -> Scene:
    """A person on a sofa watching television; the ball lies in a corner (objects ``sofa``,
    ``tv``, ``person``, ``ball``)."""
    from skimage.draw import disk, ellipse, polygon

    s = Scene(top=(0.93, 0.89, 0.80), bottom=(0.74, 0.58, 0.42), horizon=330)
    s.paint(_quad(220, 300, 40, 70), (0.45, 0.30, 0.22), "sofa")
    s.paint(_quad(280, 340, 40, 230), WOOD, "sofa")
    s.paint(_quad(330, 345, 300, 440), GREY, "tv")                   # television
    s.paint(_quad(180, 300, 300, 440), DARK, "tv")
    s.paint(_quad(190, 290, 310, 430), SCREEN, "tv")
    s.paint(_quad(306, 345, 355, 375), GREY, "tv")
    s.limb((115, 282), (205, 282), 26, TROUSERS, "person")           # thigh, shin
    s.limb((205, 282), (210, 380), 22, TROUSERS, "person")
    s.paint(ellipse(388, 222, 9, 18, shape=(S, S)), SHOE, "person")
    s.paint(polygon([175, 175, 290, 290], [92, 152, 150, 100], (S, S)), SHIRT,
            "person")                                                 # torso, arm
    s.limb((140, 185), (175, 250), 15, SHIRT, "person")
    s.paint(disk((252, 182), 8, shape=(S, S)), SKIN, "person")
    s.paint(disk((140, 125), 27, shape=(S, S)), SKIN, "person")      # head, hair
    s.paint(ellipse(122, 120, 13, 28, shape=(S, S)), HAIR, "person")
    s.ball(48, 402, 24)
    return s


def _show(ax, scene: Scene, title: str | None = None) -> None:
    ax.imshow(scene.img, extent=(0, S, S, 0))
    ax.set_xlim(0, S)
    ax.set_ylim(S, 0)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=10)


def _label_box(ax, scene: Scene, name: str, color: str, label: str) -> None:
    from matplotlib import patches

    x0, y0, x1, y1 = scene.box(name)
    ax.add_patch(patches.Rectangle((x0 - 4, y0 - 4), x1 - x0 + 8, y1 - y0 + 8, fill=False,
                                   lw=2.2, ec=color))
    ax.text(x0 - 4, y0 - 8, label, color="white", fontsize=8, va="bottom",
            bbox=dict(fc=color, ec="none", pad=1.5))


def _relate(ax, p, q, strength: float, color: str, label: str) -> None:
    """A two-headed arrow; its width and style show how strong a relation is."""
    ax.annotate("", xy=q, xytext=p, arrowprops=dict(
        arrowstyle="<|-|>", lw=1.5 + 4 * strength, color=color,
        linestyle="-" if strength > 0.3 else (0, (2, 1.5)), alpha=0.6 + 0.4 * strength,
        shrinkA=6, shrinkB=6))
    ax.text((p[0] + q[0]) / 2, (p[1] + q[1]) / 2 - 10, label, ha="center", fontsize=8,
            bbox=dict(fc="white", ec=color, alpha=0.9, boxstyle="round,pad=0.2"))


def scenes_figure():
    """The paper's Fig. 1, retold: the playing and the watching scene (rows), as pictures, with
    their objects found, and with the objects related (columns)."""
    playing, watching = playing_scene(), watching_scene()
    fig, axes = new_figure(2, 3, figsize=(9, 6.2), layout="constrained")
    for row, scene in enumerate((playing, watching)):
        for col, title in enumerate(["the picture", "1. find the objects", "2. relate them"]):
            _show(axes[row, col], scene, title if row == 0 else None)
        for ax in axes[row, 1:]:
            _label_box(ax, scene, "person", RED, "person")
            _label_box(ax, scene, "ball", AMBER if scene is playing else GREEN, "ball")
            if scene is watching:
                _label_box(ax, scene, "tv", BLUE, "television")
        person, ball = scene.centre("person"), scene.centre("ball")
        if scene is playing:
            _relate(axes[row, 2], person, ball, 1.0, RED, "plays with")
            axes[row, 0].set_ylabel("ball: protagonist")
        else:
            _relate(axes[row, 2], person, scene.centre("tv"), 1.0, BLUE, "watches")
            _relate(axes[row, 2], person, ball, 0.1, GREEN, "weak")
            axes[row, 0].set_ylabel("ball: decoration")
    return fig


# ---------------------------------------------------------------------- one relation, scales
def coverage(mask: np.ndarray, scale: tuple[int, int]) -> np.ndarray:
    """Fraction of each region of ``scale`` (in map cells of ``STRIDE`` pixels) that ``mask``
    (``S x S`` pixels) covers: ``(Gh, Gw)``; a partial last row or column is padded."""
    h, w = check_scale("scale", scale)
    mask = np.asarray(mask)
    if mask.shape != (S, S):
        raise ValueError(f"mask must be ({S}, {S}) pixels, got shape {mask.shape}")
    Gh, Gw = grid_size(CELLS, CELLS, (h, w))
    h, w = h * STRIDE, w * STRIDE                                     # in pixels
    padded = np.zeros((Gh * h, Gw * w))
    padded[:S, :S] = mask
    return padded.reshape(Gh, h, Gw, w).mean(axis=(1, 3))


def _mark_region(ax, i: int, j: int, scale, color: str, alpha: float = 0.35):
    from matplotlib import patches

    h, w = scale[0] * STRIDE, scale[1] * STRIDE
    ax.add_patch(patches.Rectangle((j * w, i * h), w, h, fc=color, alpha=alpha, lw=0))
    ax.add_patch(patches.Rectangle((j * w, i * h), w, h, fill=False, ec=color, lw=2.5))
    return j * w + w / 2, i * h + h / 2


def _grid_lines(ax, scale, color: str, style: str, lw: float) -> None:
    h, w = scale[0] * STRIDE, scale[1] * STRIDE
    for y in range(h, S, h):
        ax.axhline(y, color=color, ls=style, lw=lw, alpha=0.8)
    for x in range(w, S, w):
        ax.axvline(x, color=color, ls=style, lw=lw, alpha=0.8)


def relation_panel(ax, scene: Scene, scales: Sequence[tuple[int, int]], a: str = "ball",
                   b: str = "person") -> int:
    """Draw the region grids of ``scales`` over ``scene`` on ``ax``, mark where objects ``a`` and
    ``b`` lie and join them as an entry of ``R`` would; return ``N``, the regions of all scales
    on the ``CELLS x CELLS`` map. At scale ``(1, 1)`` every pair of covered cells is joined."""
    scales = check_scales("scales", scales)
    _show(ax, scene)
    n = 0
    for scale in scales:
        Gh, Gw = grid_size(CELLS, CELLS, scale)
        n += Gh * Gw
        color = SCALE_COLORS.get(scale[0], "#333333")
        _grid_lines(ax, scale, color, "-" if scale == scales[0] else "--",
                    0.5 if scale == (1, 1) else 1.2)
        ca, cb = coverage(scene.masks[a], scale), coverage(scene.masks[b], scale)
        if scale == (1, 1):           # pixels: every cell an object covers, pairwise
            pa = [_mark_region(ax, i, j, scale, AMBER, 0.5) for i, j in np.argwhere(ca > 0.25)]
            pb = [_mark_region(ax, i, j, scale, PURPLE, 0.45) for i, j in np.argwhere(cb > 0.25)]
            for p in pa:
                for q in pb:
                    ax.plot([p[0], q[0]], [p[1], q[1]], color="black", lw=0.3, alpha=0.15)
            ax.text(8, S - 8, f"{len(pa)} x {len(pb)} = {len(pa) * len(pb)} pixel pairs",
                    fontsize=9, va="bottom", bbox=dict(fc="white", ec="none", alpha=0.85))
        else:                         # regions: the region holding most of each object
            p = _mark_region(ax, *np.unravel_index(ca.argmax(), ca.shape), scale, AMBER)
            q = _mark_region(ax, *np.unravel_index(cb.argmax(), cb.shape), scale, PURPLE)
            ax.annotate("", xy=q, xytext=p,
                        arrowprops=dict(arrowstyle="<|-|>", lw=2.5, color=color))
    label = " + ".join(f"({h}, {w})" for h, w in scales)
    ax.set_title(f"{label}: N = {n}, R has {n * n:,} entries", fontsize=10)
    return n


def scales_figure(settings: Sequence[Sequence[tuple[int, int]]] = FIGURE_SETTINGS):
    """One relation, ball to person in the playing scene, at each setting (a list of scales):
    ``(figure, counts)``, ``counts[k]`` the ``N`` of setting ``k``."""
    settings = [check_scales(f"settings[{k}]", s) for k, s in enumerate(settings)]
    if not settings:
        raise ValueError("settings must hold at least one list of scales, got none")
    ncols = min(2, len(settings))
    nrows = -(-len(settings) // ncols)
    fig, axes = new_figure(nrows, ncols, figsize=(4 * ncols, 4.2 * nrows), layout="constrained",
                           squeeze=False)
    for ax in axes.flat[len(settings):]:
        ax.set_visible(False)
    scene = playing_scene()
    return fig, [relation_panel(ax, scene, s) for ax, s in zip(axes.flat, settings)]


def scale_figure(setting: str = "(4, 4)"):
    """One setting of :data:`SETTINGS` drawn over the playing scene: ``(figure, N)``."""
    check_choice("setting", setting, list(SETTINGS))
    fig, ax = new_figure(figsize=(4.4, 4.6), layout="constrained")
    return fig, relation_panel(ax, playing_scene(), SETTINGS[setting])


def scale_widget(setting: str = "(4, 4)"):
    """A dropdown over :data:`SETTINGS` and the figure of :func:`scale_figure`.

    Returns an ``ipywidgets.VBox`` with ``choice`` (the ``Dropdown``; set ``.value`` to move it),
    ``image`` (the figure as PNG), ``n`` (the shown setting's ``N``) and ``renders`` (how many
    times it drew), displayed through :func:`with_static_fallback`.
    """
    import ipywidgets as widgets

    check_choice("setting", setting, list(SETTINGS))
    choice = widgets.Dropdown(options=list(SETTINGS), value=setting, description="scale")
    image = widgets.Image(format="png")
    box = widgets.VBox([choice, image])
    box.choice, box.image, box.renders = choice, image, 0

    def redraw(*_) -> None:
        fig, box.n = scale_figure(choice.value)
        image.value = figure_png(fig)
        box.renders += 1

    choice.observe(redraw, names="value")
    redraw()
    return with_static_fallback(box)


# ---------------------------------------------------------------------------- the pipeline
def _shape(t) -> str:
    return "(" + ", ".join(str(v) for v in tuple(t)) + ")"


def pipeline_stages(trace: UnitTrace) -> list[tuple[str, list[str], str]]:
    """The boxes of :func:`pipeline_figure`, in the order the data flows: ``(title, lines,
    group)`` each, every shape read from ``trace`` (``unit.explain(x)``)."""
    if not isinstance(trace, UnitTrace):
        raise TypeError(f"trace must be a regr_edu.trace.UnitTrace (unit.explain(x)), got "
                        f"{type(trace).__name__}")
    c_mu, c_nu, M = trace.mu.shape[1], trace.nu.shape[1], trace.V.shape[2]
    counts = [T * Gh * Gw for T, Gh, Gw in trace.grids]
    if trace.R is not None:
        relation = ["R: (B, N, N)", _shape(trace.R.shape), "bilinear, GCN", "or attention"]
    else:
        relation = ["attention:", f"Lc {_shape(trace.Lc.shape)}", f"Ls {_shape(trace.Ls.shape)}"]
    return [
        ("input X", ["(B, C, T, H, W)", _shape(trace.x.shape)], "input"),
        ("split ρ (Eq. 1)", ["per scale (h, w):", "(B,T,H/h,W/w,C,hw)",
                             *[_shape(r.shape).replace(" ", "") for r in trace.regions]],
         "aggregation"),
        ("aggregate (Eq. 2)", ["A_i = μ(X_i) ν(X_i)ᵀ", f"c_μ × c_ν = {c_mu} × {c_nu}",
                               f"M = {M} numbers", "whatever the size"], "aggregation"),
        ("refine (Eq. 3–4)", ["move each region:", "δx, δy, weight m", "per scale grid:",
                              *[f"{gh} × {gw}" for _, gh, gw in trace.grids]], "aggregation"),
        ("regions V", ["(B, N, M)", _shape(trace.V.shape),
                       "N = " + " + ".join(map(str, counts))], "aggregation"),
        ("relation (Eq. 5–10)", relation, "relation"),
        ("reason (Eq. 11–12)", ["Z = R V", "(B, N, M)", _shape(trace.Z.shape)], "relation"),
        ("distribute (Eq. 13)", ["Y_i = z_i ξ(X_i)", "merged per scale:", "(B, c_μ, T, H, W)",
                                 _shape(trace.Y[0].shape)], "distribution"),
        ("lift, normalise", ["W: conv c_μ → C", "BN: weight 0", "at init",
                             _shape(trace.added.shape)], "distribution"),
        ("output X + BN(WY)", ["(B, C, T, H, W)", _shape(trace.output.shape),
                               "= X when fresh"], "input"),
    ]


def pipeline_figure(trace: UnitTrace):
    """The unit as ten boxes (the paper's Fig. 2), with the shapes of the run in ``trace``:
    aggregation in blue, relation in orange, distribution in green, and the residual."""
    from matplotlib import patches

    stages = pipeline_stages(trace)
    fig, ax = new_figure(figsize=(9.6, 5.2))
    fig.subplots_adjust(left=0.005, right=0.995, bottom=0.01, top=0.92)
    ax.set_xlim(0.02, 4.98)
    ax.set_ylim(0.02, 1.98)
    ax.axis("off")
    bw, bh = 0.9, 0.8                                            # box width and height
    centres = ([(k + 0.5, 1.5) for k in range(5)]                # top row, left to right,
               + [(4.5 - k, 0.48) for k in range(5)])            # then back along the bottom
    for (title, lines, group), (cx, cy) in zip(stages, centres):
        ax.add_patch(patches.FancyBboxPatch((cx - bw / 2, cy - bh / 2), bw, bh,
                                            boxstyle="round,pad=0.02", fc=GROUPS[group],
                                            ec="#555555"))
        ax.text(cx, cy + bh / 2 - 0.06, title, ha="center", va="top", fontsize=10.5,
                weight="bold")
        ax.text(cx, cy + bh / 2 - 0.24, "\n".join(lines), ha="center", va="top", fontsize=9.5,
                family="monospace", linespacing=1.4)
    arrow = dict(arrowstyle="-|>", lw=1.6, color="#333333")
    for (x0, y0), (x1, y1) in zip(centres, centres[1:]):
        if y0 == y1:
            sign = 1 if x1 > x0 else -1
            ax.annotate("", xy=(x1 - sign * bw / 2, y1), xytext=(x0 + sign * bw / 2, y0),
                        arrowprops=arrow)
        else:
            ax.annotate("", xy=(x1, y1 + bh / 2), xytext=(x0, y0 - bh / 2), arrowprops=arrow)
    (x_in, y_in), (x_out, y_out) = centres[0], centres[-1]
    ax.annotate("", xy=(x_out, y_out + bh / 2), xytext=(x_in, y_in - bh / 2),
                arrowprops=dict(arrow, color="#888888", ls="--"))
    ax.text(x_in + 0.03, (y_in + y_out) / 2, "residual", fontsize=10, color="#666666",
            va="center")
    ax.legend(handles=[patches.Patch(fc=c, ec="#555555", label=g)
                       for g, c in GROUPS.items() if g != "input"],
              loc="upper center", bbox_to_anchor=(0.5, 1.08), ncol=3, frameon=False,
              fontsize=10)
    return fig


def forward_steps_source():
    """The lines of ``ReGr``'s forward that run its named steps, ``project`` to ``residual``,
    read from the package (:func:`~regr_edu.interactive._display.show_source`)."""
    import inspect

    from ..regr import ReGr

    rows = inspect.getsource(ReGr._run).splitlines()
    first = next(n for n, r in enumerate(rows, 1) if "self.project(" in r)
    last = next(n for n, r in enumerate(rows, 1) if "self.residual(" in r)
    return show_source(ReGr._run, lines=(first, last))
