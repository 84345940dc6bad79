"""regr_edu.interactive.intro: the scenes, the region counts drawn over them, the scale widget,
the pipeline read from a trace, and clear errors for bad arguments."""
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

import regr_edu as rg
from regr_edu.interactive import intro as ii


@pytest.fixture(scope="module")
def playing():
    return ii.playing_scene()


def test_scenes_hold_their_objects(playing):
    watching = ii.watching_scene()
    assert set(playing.masks) == {"person", "foot", "ball"}
    assert set(watching.masks) == {"sofa", "tv", "person", "ball"}
    assert playing.img.shape == (ii.S, ii.S, 3) and 0 <= playing.img.min() <= playing.img.max() <= 1
    # a disk of radius 24 at (x, y) = (360, 362): pixels strictly inside, 337..383 and 339..385
    assert playing.box("ball") == (337, 339, 384, 386)
    assert playing.centre("ball") == (360.5, 362.5)
    assert playing.masks["foot"].sum() > 0
    assert not (playing.masks["foot"] & ~playing.masks["person"]).any()   # the foot is the person's
    with pytest.raises(ValueError, match=r"name must be one of the scene's objects .* got 'tv'"):
        playing.box("tv")


def test_scenes_figure_has_six_panels():
    fig = ii.scenes_figure()
    assert isinstance(fig, Figure) and sum(bool(ax.images) for ax in fig.axes) == 6


def test_coverage_by_hand():
    mask = np.zeros((ii.S, ii.S), bool)
    mask[:16, :32] = True                                    # the first two cells of row 0
    cov = ii.coverage(mask, (1, 1))
    assert cov.shape == (28, 28) and cov[0, :2].tolist() == [1.0, 1.0] and cov.sum() == 2
    cov = ii.coverage(mask, (2, 2))                          # one region of 2 x 2 cells: half
    assert cov.shape == (14, 14) and cov[0, 0] == 0.5 and cov.sum() == 0.5
    cov = ii.coverage(mask, (3, 3))                          # 28 = 9 * 3 + 1: padded to 10 x 10
    assert cov.shape == (10, 10) and np.isclose(cov[0, 0], 2 / 9)
    with pytest.raises(ValueError, match=r"scale must be a pair \(h, w\) of positive integers, "
                                         r"got \(0, 2\)"):
        ii.coverage(mask, (0, 2))
    with pytest.raises(ValueError, match=r"mask must be \(448, 448\) pixels, got shape \(4, 4\)"):
        ii.coverage(np.zeros((4, 4)), (1, 1))


def test_scales_figure_counts_the_units_regions():
    settings = [((1, 1),), ((4, 4), (7, 7)), ((3, 3),)]
    fig, counts = ii.scales_figure(settings)
    assert counts == [784, 65, 100]
    for scales, n in zip(settings, counts):
        assert rg.ReGr(16, scales=scales, input_size=(28, 28)).num_regions == n
    assert sum(bool(ax.images) for ax in fig.axes) == 3
    assert fig.axes[1].get_title().startswith("(4, 4) + (7, 7): N = 65, R has 4,225")
    with pytest.raises(ValueError, match=r"settings\[1\]\[0\] must be a pair \(h, w\)"):
        ii.scales_figure([((4, 4),), ((4,),)])
    with pytest.raises(ValueError, match="settings must hold at least one list of scales"):
        ii.scales_figure([])


def test_scale_figure_and_widget_follow_the_setting():
    fig, n = ii.scale_figure("(14, 14)")
    assert isinstance(fig, Figure) and n == 4
    w = ii.scale_widget()
    assert w.n == 49 and w.renders == 1 and w.image.value
    first = w.image.value
    w.choice.value = "(1, 1): pixels"
    assert w.n == 784 and w.renders == 2 and w.image.value != first
    assert list(w.choice.options) == list(ii.SETTINGS)
    assert "scale = (1, 1): pixels" in w.static_html()
    with pytest.raises(ValueError, match=r"setting must be one of \[.*\], got '\(3, 3\)'"):
        ii.scale_figure("(3, 3)")
    with pytest.raises(ValueError, match=r"setting must be one of"):
        ii.scale_widget("(5, 5)")


def test_pipeline_reads_the_trace():
    torch.manual_seed(0)
    unit = rg.ReGr(32, scales=((4, 4), (7, 7)))
    x = torch.randn(2, 32, 1, 28, 28)
    with torch.no_grad():
        trace = unit.explain(x)
    stages = ii.pipeline_stages(trace)
    assert [t for t, _, _ in stages][0] == "input X" and len(stages) == 10
    text = {t: lines for t, lines, _ in stages}
    assert "(2,1,7,7,32,16)" in text["split ρ (Eq. 1)"] and "(2,1,4,4,32,49)" in text[
        "split ρ (Eq. 1)"]
    assert text["regions V"][1:] == [str(tuple(trace.V.shape)), "N = 49 + 16"]
    assert str(tuple(trace.R.shape)) == text["relation (Eq. 5–10)"][1] == "(2, 65, 65)"
    assert f"M = {unit.M} numbers" in text["aggregate (Eq. 2)"]
    assert isinstance(ii.pipeline_figure(trace), Figure)
    att = rg.ReGr(32, scales=((4, 4),), relation="attention")
    with torch.no_grad():
        t_att = att.explain(x)
    rel = dict((t, lines) for t, lines, _ in ii.pipeline_stages(t_att))["relation (Eq. 5–10)"]
    assert rel[0] == "attention:" and str(tuple(t_att.Ls.shape)) in rel[2]
    with pytest.raises(TypeError, match="trace must be a regr_edu.trace.UnitTrace .*got dict"):
        ii.pipeline_stages({"V": trace.V})


def test_forward_steps_source_is_the_package_code():
    code = ii.forward_steps_source()
    lines = code.data.splitlines()
    assert "self.project(" in lines[0] and "self.residual(" in lines[-1]
    for step in ("aggregate", "refine_regions", "relate", "distribute"):
        assert f"self.{step}(" in code.data
