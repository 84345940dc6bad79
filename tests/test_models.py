"""Backbones: every unit in every backbone, placements as SPEC.md says, stage sizes, GCN units in
two stages, inflation, weight files, and errors. Small inputs keep it quick on a CPU."""
from __future__ import annotations

import time
import urllib.error

import pytest
import torch
import torch.nn.functional as F
import torchvision

from regr_edu import models
from regr_edu.models import weights as W
from regr_edu.models._units import fit_scales

UNITS = [None, "regr", "nl", "cgnl", "glore"]
BACKBONES = {
    "resnet50": (models.resnet50, (2, 3, 64, 64), dict(input_size=(64, 64))),
    "c2d": (models.c2d_resnet50, (2, 3, 4, 64, 64), dict(input_size=(4, 64, 64))),
    "i3d": (models.i3d_resnet50, (2, 3, 4, 64, 64), dict(input_size=(4, 64, 64))),
    "small": (models.small_resnet, (2, 3, 64, 64), {}),
    "small-clip": (models.small_resnet, (2, 3, 3, 64, 64), dict(input_size=(3, 64, 64))),
}


@pytest.mark.parametrize("unit", UNITS, ids=[str(u) for u in UNITS])
@pytest.mark.parametrize("backbone", list(BACKBONES))
def test_every_unit_in_every_backbone(backbone, unit):
    build, shape, kw = BACKBONES[backbone]
    model = build(7, unit=unit, **kw)
    x = torch.randn(shape)
    logits = model(x)
    assert logits.shape == (2, 7) and torch.isfinite(logits).all()
    logits.square().sum().backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
    assert len(model.units) == (0 if unit is None else 1)


def test_units_reach_gradients_inside_a_backbone():
    model = models.small_resnet(3, unit="regr", num_units=2)
    for m in model.units.modules():                   # the units' last BN weight non-zero
        if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            torch.nn.init.ones_(m.weight)
    model(torch.randn(2, 3, 64, 64)).square().sum().backward()
    for name, p in model.units.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert sum(p.grad.abs().sum() for p in model.units.parameters()) > 0


# ---- placements ---------------------------------------------------------------------------------
SPEC_PLACEMENT = {
    1: [("layer3", 4)],                                            # res4, before its last block
    2: [("layer2", 2), ("layer3", 4)],                             # open: one in res3, one in res4
    5: [("layer2", 1), ("layer2", 3), ("layer3", 1), ("layer3", 3), ("layer3", 5)],
}


@pytest.mark.parametrize("num_units", [1, 2, 5])
def test_resnet50_unit_counts_and_placement(num_units):
    model = models.resnet50(4, unit="nl", num_units=num_units, input_size=(64, 64))
    assert model.unit_positions() == SPEC_PLACEMENT[num_units]
    assert len(model.units) == num_units
    for (stage, _), unit in zip(model.unit_positions(), model.units.values()):
        assert unit.in_channels == {"layer2": 512, "layer3": 1024}[stage]
    # the units really run right after their blocks: record the call order
    order = []
    for stage in ("layer2", "layer3"):
        for i, block in enumerate(getattr(model, stage)):
            block.register_forward_hook(lambda *a, k=(stage, i): order.append(k))
    for key, unit in model.units.items():
        unit.register_forward_hook(lambda *a, k=key: order.append(k))
    model.eval()(torch.randn(1, 3, 64, 64))
    for stage, b in SPEC_PLACEMENT[num_units]:
        assert order[order.index((stage, b)) + 1] == f"{stage}_{b}"


@pytest.mark.parametrize("build", [models.c2d_resnet50, models.i3d_resnet50])
def test_video_placement_is_resnet50s(build):
    model = build(4, unit="glore", num_units=5, input_size=(4, 32, 32))
    assert model.unit_positions() == SPEC_PLACEMENT[5]


def test_small_resnet_placement():
    assert models.small_resnet(3, unit="nl").unit_positions() == [("layer2", 0)]
    assert models.small_resnet(3, unit="nl", num_units=2).unit_positions() == [("layer1", 0),
                                                                              ("layer2", 0)]
    custom = models.small_resnet(3, unit="nl", placement={"layer3": [0], "layer1": [0]})
    assert custom.unit_positions() == [("layer1", 0), ("layer3", 0)]


def test_fresh_units_leave_the_network_unchanged():
    """Units start as the identity, so a network with units computes what the plain one does."""
    plain = models.resnet50(5, input_size=(64, 64)).eval()
    with_units = models.resnet50(5, unit="regr", num_units=5, input_size=(64, 64)).eval()
    with_units.load_state_dict(plain.state_dict(), strict=False)
    x = torch.randn(2, 3, 64, 64)
    torch.testing.assert_close(with_units(x), plain(x))


# ---- stage sizes, input_size, GCN units in two stages -------------------------------------------
def _stage_shapes(model, x):
    shapes = {}
    for stage in ("layer1", "layer2", "layer3", "layer4"):
        if hasattr(model, stage):
            getattr(model, stage)[-1].register_forward_hook(      # the stage's last block
                lambda m, i, o, s=stage: shapes.__setitem__(s, tuple(o.shape[2:])))
    model.eval()(x)
    return shapes


def test_stage_sizes_match_the_network():
    x = torch.randn(1, 3, 97, 130)
    assert _stage_shapes(models.resnet50(2), x) == models.resnet50_stage_sizes(97, 130)
    clip = torch.randn(1, 3, 5, 45, 38)
    assert _stage_shapes(models.c2d_resnet50(2), clip) == models.video_stage_sizes(5, 45, 38)
    got = _stage_shapes(models.small_resnet(2), torch.randn(1, 3, 45, 70))
    assert got == {k: v for k, v in models.small_stage_sizes((45, 70)).items()}


def test_gcn_units_in_two_stages_build_from_input_size():
    model = models.resnet50(3, unit="regr", num_units=5, relation="gcn", input_size=(96, 96))
    sizes = {k: u.input_size for k, u in model.units.items()}
    assert sizes == {"layer2_1": (12, 12), "layer2_3": (12, 12), "layer3_1": (6, 6),
                     "layer3_3": (6, 6), "layer3_5": (6, 6)}
    assert model(torch.randn(2, 3, 96, 96)).shape == (2, 3)
    clip = models.c2d_resnet50(3, unit="regr", num_units=2, relation="gcn",
                               input_size=(4, 64, 64))
    assert [u.input_size for u in clip.units.values()] == [(2, 8, 8), (2, 4, 4)]
    assert clip(torch.randn(2, 3, 4, 64, 64)).shape == (2, 3)
    with pytest.raises(ValueError, match="regions"):          # another size: ReGr says so
        model(torch.randn(2, 3, 128, 128))


def test_default_scales_fit_each_stage():
    assert fit_scales(((4, 4), (7, 7)), 28, 28) == ((4, 4), (7, 7))
    assert fit_scales(((4, 4), (7, 7)), 4, 4) == ((4, 4),)
    assert fit_scales(((4, 4), (7, 7)), 6, 3) == ((4, 3), (6, 3))
    model = models.resnet50(3, unit="regr", num_units=2, input_size=(64, 64))
    assert [u.scales for u in model.units.values()] == [((4, 4), (7, 7)), ((4, 4),)]
    big = models.resnet50(3, unit="regr", num_units=2, input_size=(448, 448))
    assert [u.scales for u in big.units.values()] == [((4, 4), (7, 7))] * 2
    given = models.resnet50(3, unit="regr", input_size=(64, 64), scales=((2, 2),))
    assert given.units["layer3_4"].scales == ((2, 2),)


def test_small_resnet_receptive_field_is_short():
    """In eval mode (no batch statistics) the gradient of one output cell is non-zero exactly on
    its receptive field: 23 pixels after layer2, 47 after layer3, on a 64 x 64 input."""
    model = models.small_resnet(2).eval()
    for stage, size, rf in (("layer2", 16, 23), ("layer3", 8, 47)):
        x = torch.randn(1, 3, 64, 64, requires_grad=True)
        out = {}
        getattr(model, stage)[-1].register_forward_hook(lambda m, i, o: out.__setitem__("y", o))
        model(x)
        out["y"][0, :, size // 2, size // 2].sum().backward()
        rows = x.grad[0].abs().sum((0, 2)).nonzero()
        assert rows.max() - rows.min() + 1 == rf


# ---- inflation and weights ----------------------------------------------------------------------
def test_inflated_conv_keeps_a_static_clips_response():
    conv2d = torch.nn.Conv2d(4, 6, 3, padding=1)
    w3 = W.inflate(conv2d.weight, torch.empty(6, 4, 3, 3, 3))
    frame = torch.randn(2, 4, 9, 9)
    clip = frame.unsqueeze(2).repeat(1, 1, 5, 1, 1)                # (B, C, T=5, H, W)
    out = F.conv3d(clip, w3, conv2d.bias, padding=(1, 1, 1))
    for t in range(1, 4):                                          # frames padding cannot reach
        torch.testing.assert_close(out[:, :, t], conv2d(frame))
    assert not torch.allclose(out[:, :, 0], conv2d(frame))       # the padded end differs


def _save_plain_resnet50(path, num_classes=1000):
    state = torchvision.models.resnet50(num_classes=num_classes).state_dict()
    torch.save(state, path)
    return state


def test_video_models_inflate_2d_weights(tmp_path):
    path = tmp_path / "r50.pth"
    state = _save_plain_resnet50(path)
    i3d = models.i3d_resnet50(10, weights=path, input_size=(8, 32, 32)).eval()
    w2 = state["conv1.weight"]                                     # (64, 3, 7, 7) -> 5 x 7 x 7
    torch.testing.assert_close(i3d.conv1.weight, w2.unsqueeze(2).repeat(1, 1, 5, 1, 1) / 5)
    frame = torch.randn(1, 3, 32, 32)
    clip = frame.unsqueeze(2).repeat(1, 1, 7, 1, 1)
    out = i3d.conv1(clip)
    ref = F.conv2d(frame, w2, stride=2, padding=3)
    for t in range(2, 5):
        torch.testing.assert_close(out[:, :, t], ref)
    # C2D: every kernel is 1 x k x k, so on a static clip it computes the image network
    plain = models.resnet50(10).eval()
    plain.load_state_dict({k: v for k, v in state.items() if not k.startswith("fc.")},
                          strict=False)
    c2d = models.c2d_resnet50(10, weights=path).eval()
    c2d.fc.load_state_dict(plain.fc.state_dict())
    torch.testing.assert_close(c2d(clip), plain(frame), rtol=1e-4, atol=1e-4)


def test_weights_path_round_trip(tmp_path):
    model = models.resnet50(6, unit="cgnl", num_units=2, input_size=(64, 64))
    for u in model.units.values():
        torch.nn.init.normal_(u.gn.weight)
    path = tmp_path / "model.pth"
    torch.save({"model": model.state_dict(), "epoch": 3}, path)  # a training checkpoint
    again = models.resnet50(6, unit="cgnl", num_units=2, weights=path, input_size=(64, 64))
    for (k, a), b in zip(model.state_dict().items(), again.state_dict().values()):
        assert torch.equal(a, b), k
    # a torchvision ResNet-50 file with another head loads into a network with units
    plain = tmp_path / "plain.pth"
    state = _save_plain_resnet50(plain)
    net = models.resnet50(6, unit="nl", weights=plain, input_size=(64, 64))
    assert torch.equal(net.layer3[4].conv2.weight, state["layer3.4.conv2.weight"])
    assert net.fc.weight.shape == (6, 2048) and net.units["layer3_4"].bn.weight.abs().sum() == 0
    with pytest.raises(ValueError, match=r"keys this model lacks"):
        models.resnet50(6, unit="nl", weights=path)           # units of another kind
    with pytest.raises(ValueError, match=r"no file at"):
        models.resnet50(6, weights=tmp_path / "missing.pth")


def test_imagenet_without_network_fails_fast(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))

    def offline(url, dst, timeout=None):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(W, "_fetch", offline)
    start = time.perf_counter()
    with pytest.raises(RuntimeError, match=r"resnet50-0676ba61\.pth.*could not be downloaded.*"
                                           r"download https://download\.pytorch\.org/.*put it at "
                                           + str(tmp_path)):
        models.resnet50(10, weights="imagenet")
    assert time.perf_counter() - start < 10


def test_imagenet_uses_the_cached_file(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    monkeypatch.setattr(W, "_fetch", lambda *a, **k: pytest.fail("must not download"))
    path = W.imagenet_cache_path()
    path.parent.mkdir(parents=True)
    state = _save_plain_resnet50(path)
    model = models.resnet50(1000, weights="imagenet")
    assert torch.equal(model.fc.weight, state["fc.weight"])


# ---- errors -------------------------------------------------------------------------------------
def test_bad_arguments():
    with pytest.raises(ValueError, match=r"num_units must be one of \[1, 2, 5\].*got 3"):
        models.resnet50(3, unit="nl", num_units=3)
    with pytest.raises(ValueError, match=r"unit must be one of .*got 'gcn'"):
        models.resnet50(3, unit="gcn")
    with pytest.raises(ValueError, match=r"input_size must be \(H, W\).*got \(8, 64, 64\)"):
        models.resnet50(3, input_size=(8, 64, 64))
    with pytest.raises(ValueError, match=r"input_size must be \(T, H, W\).*got \(64, 64\)"):
        models.c2d_resnet50(3, input_size=(64, 64))
    with pytest.raises(ValueError, match=r"unit options \['relation'\] were given with unit=None"):
        models.resnet50(3, relation="gcn")
    with pytest.raises(ValueError, match=r"placement names stage 'layer5'"):
        models.resnet50(3, unit="nl", placement={"layer5": [0]})
    with pytest.raises(ValueError, match=r"block indices in \[0, 3\].*got \(4,\)"):
        models.resnet50(3, unit="nl", placement={"layer2": [4]})
    with pytest.raises(ValueError, match=r"num_units must be one of \[1, 2\]"):
        models.small_resnet(3, unit="nl", num_units=5)
    with pytest.raises(ValueError, match=r"x must be a 5-D tensor \(B, 3, T, H, W\)"):
        models.c2d_resnet50(3)(torch.randn(1, 3, 32, 32))
    with pytest.raises(TypeError, match=r"weights must be None, 'imagenet' or a path"):
        models.resnet50(3, weights=123)
