"""The unit's typed trace (``ReGr.explain``) and the region layout every figure walks with."""
import dataclasses

import pytest
import torch

import regr_edu as rg
from regr_edu.regions import RegionLayout
from regr_edu.trace import UnitTrace


def _unit(**kw):
    torch.manual_seed(0)
    u = rg.ReGr(16, scales=((2, 2), (3, 3)), mu_channels=2, nu_channels=4, input_size=(7, 7), **kw)
    for p in u.parameters():                       # leave the identity init: a non-trivial unit
        torch.nn.init.normal_(p, std=0.3) if p.requires_grad else None
    return u.eval()


@pytest.mark.parametrize("relation", ["bilinear", "gcn", "attention"])
def test_trace_fields_have_the_documented_shapes(relation):
    u = _unit(relation=relation)
    x = torch.randn(2, 16, 7, 7)
    with torch.no_grad():
        t = u.explain(x)
    assert isinstance(t, UnitTrace)
    assert t.grids == [(1, 4, 4), (1, 3, 3)] and t.scales == ((2, 2), (3, 3))
    assert t.x.shape == (2, 16, 1, 7, 7) and t.mu.shape == (2, 2, 1, 7, 7)
    assert t.nu.shape == (2, 4, 1, 7, 7) and t.xi.shape == (2, 4, 1, 7, 7)
    torch.testing.assert_close(t.xi.sum(1), torch.ones(2, 1, 7, 7))     # softmax over c_nu
    assert [r.shape for r in t.regions] == [(2, 1, 4, 4, 16, 4), (2, 1, 3, 3, 16, 9)]
    assert [a.shape for a in t.A] == [(2, 1, 4, 4, 2, 4), (2, 1, 3, 3, 2, 4)]
    assert len(t.offsets) == 2 and t.offsets[0][0].shape == (2, 1, 4, 4)
    assert t.V.shape == t.Z.shape == (2, 25, 8)
    if relation == "attention":
        assert t.R is None and t.Lc.shape == (2, 1, 8) and t.Ls.shape == (2, 25, 1)
    else:
        assert t.R.shape == (2, 25, 25) and t.Lc is None and t.Ls is None
    assert [y.shape for y in t.Y] == [(2, 2, 1, 7, 7)] * 2
    torch.testing.assert_close(t.output, u(x))
    torch.testing.assert_close(t.x + t.added, t.output.unsqueeze(2))
    assert t.shapes()["V"] == (2, 25, 8) and t.shapes()["A"][1] == (2, 1, 3, 3, 2, 4)


def test_trace_steps_compose_to_the_forward():
    """The trace's fields are the steps' outputs: recompute each from the previous."""
    u = _unit()
    x = torch.randn(1, 16, 7, 7, dtype=torch.float64)
    u = u.double()
    with torch.no_grad():
        t = u.explain(x)
        V, grids, _ = u.refine_regions(t.A)
        torch.testing.assert_close(V, t.V)
        torch.testing.assert_close(u.relate(t.V, grids), t.Z)
        Y = u.distribute(t.Z, t.xi, grids)
        for a, b in zip(Y, t.Y):
            torch.testing.assert_close(a, b)
        torch.testing.assert_close(u.residual(t.x, t.Y_sum), t.x + t.added)
        # without refine V is A itself, scale by scale
        plain = _unit(refine=False).double()
        tp = plain.explain(x)
        assert tp.offsets is None
        for A_s, V_s in zip(tp.A, tp.by_scale("V")):
            torch.testing.assert_close(A_s.flatten(-2), V_s)


def test_trace_is_frozen_and_matches_the_literal_reference():
    u = _unit().double()
    x = torch.randn(1, 16, 2, 7, 7, dtype=torch.float64)
    with torch.no_grad():
        t = u.explain(x)
    with pytest.raises(dataclasses.FrozenInstanceError):
        t.V = None
    torch.testing.assert_close(t.output, rg.reference.regr_forward(x, u.state_dict(), **u.config))


def test_region_layout_walks_the_list():
    lay = RegionLayout(((2, 2), (3, 3)), [(2, 4, 4), (2, 3, 3)])
    assert lay.num_regions == 32 + 18 and lay.slices()[1] == slice(32, 50)
    for i in range(lay.num_regions):
        assert lay.index(*lay.locate(i)) == i
    assert lay.locate(0) == (0, 0, 0, 0) and lay.locate(17) == (0, 1, 0, 1)
    assert lay.locate(32 + 9 + 5) == (1, 1, 1, 2)
    assert lay.cells(32 + 9 + 5) == (1, 3, 6, 3, 3)
    V = torch.arange(50.0).reshape(1, 50, 1)
    a, b = lay.split(V)
    assert a.shape == (1, 2, 4, 4, 1) and b.shape == (1, 2, 3, 3, 1) and b[0, 0, 0, 0, 0] == 32


@pytest.mark.parametrize("call, match", [
    (lambda: RegionLayout(((2, 2),), []), "same length"),
    (lambda: RegionLayout(((2, 2),), [(1, 2, 2)]).locate(4), r"index must be an integer in \[0, 3\]"),
    (lambda: RegionLayout(((2, 2),), [(1, 2, 2)]).index(0, 0, 2, 0), r"gy must lie in \[0, 1\]"),
    (lambda: RegionLayout(((2, 2),), [(1, 2, 2)]).split(torch.zeros(1, 5, 3)), "N=4 regions"),
    (lambda: _unit().explain(torch.randn(1, 16, 7, 7)).by_scale("grids"), "name must be"),
])
def test_layout_and_trace_errors_name_the_rule(call, match):
    with pytest.raises(ValueError, match=match):
        call()
