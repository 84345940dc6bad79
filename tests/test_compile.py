"""torch.compile (dynamic shapes, an image then a clip), torch.export and torch.jit.script on every
unit: the first two work and match eager; TorchScript is refused with our message, not its
compiler's. Tiny shapes; the first compile of a session warms Inductor up (about 45 s on a busy
2-core CPU, a few seconds per unit after that), so the compile tests are marked ``slow``; they
still run in CI (``scripts/run_tests.py`` deselects nothing).
"""
from __future__ import annotations

import copy
import warnings

import pytest
import torch

import regr_edu as rg
from regr_edu.refine import Refine

UNITS = ["regr", "nl", "cgnl", "glore"]


def _unit(name: str):
    torch.manual_seed(0)
    if name == "regr":
        unit = rg.ReGr(16, scales=((2, 2),))
        torch.nn.init.normal_(unit.bn.weight)               # not the identity: outputs differ
        torch.nn.init.normal_(unit.refine.eta.weight, std=0.1)
    else:
        unit = rg.create_unit(name, 16)
        for m in unit.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                torch.nn.init.normal_(m.weight)
    return unit.eval()


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.mark.parametrize("name", [*UNITS, "refine"])
def test_jit_script_is_refused_with_our_message(name):
    module = Refine(4) if name == "refine" else _unit(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)     # torch.jit.script is deprecated
        with pytest.raises(TypeError, match=r"torch.jit.script's argument must be a module "
                                            r"TorchScript can compile, got \w+.*torch.compile"):
            torch.jit.script(module)


@pytest.mark.parametrize("name", UNITS)
def test_export_matches_eager_on_an_image_and_a_clip(name):
    unit = _unit(name)
    for x in (torch.randn(2, 16, 4, 4), torch.randn(2, 16, 2, 4, 4)):
        exported = torch.export.export(unit, (x,))
        torch.testing.assert_close(exported.module()(x), unit(x))


def _compile_image_then_clip(unit):
    torch._dynamo.reset()
    compiled = torch.compile(unit, dynamic=True)
    for x in (torch.randn(2, 16, 4, 4), torch.randn(2, 16, 2, 4, 6)):
        torch.testing.assert_close(compiled(x), unit(x), rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_compile_regr_with_dynamic_shapes_image_then_clip():
    # failed in Inductor before: conv2d with symbolic sizes (the fused mu/nu/xi conv, eta)
    _compile_image_then_clip(_unit("regr"))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["nl", "cgnl", "glore"])
def test_compile_peers_with_dynamic_shapes_image_then_clip(name):
    _compile_image_then_clip(_unit(name))


@pytest.mark.slow
def test_compile_regr_training_step_matches_eager():
    """Training mode, forward and backward: compiled (plain operators through Inductor) and
    eager (the fast paths: BatchNorm folded into the last product, refine as one matrix
    product) give the same output, gradients and running statistics."""
    torch._dynamo.reset()
    eager = _unit("regr").train()
    twin = copy.deepcopy(eager)
    compiled = torch.compile(twin)
    x = torch.randn(2, 16, 6, 6)
    w = torch.randn(2, 16, 6, 6)
    results = []
    for module, params in ((eager, eager), (compiled, twin)):
        xi = x.clone().requires_grad_()
        y = module(xi)
        (y * w).sum().backward()
        results.append([y.detach(), xi.grad, params.bn.running_mean, params.bn.running_var]
                       + [p.grad for n, p in params.named_parameters() if n != "out.bias"])
    for ours, theirs in zip(*results):
        torch.testing.assert_close(theirs, ours, rtol=1e-4, atol=1e-4)
