"""Checkers that cannot be fooled: inputs changed in place, hooks and replaced methods are caught;
every checker takes ``seed=``; float32 slips get a precision hint; ``grade_distribute`` accepts
the package's own ``distribute``; the GCN checker says when a function follows the printed sign.
"""
from __future__ import annotations

import inspect

import pytest
import torch

import regr_edu as rg
from regr_edu import exercises as ex
from regr_edu import reference
from regr_edu.exercises.aggregation import reference_aggregate
from regr_edu.exercises.distribution import distribute_literal


def _then_zero_inputs(fn):
    """A correct function that, once its result is computed, zeroes its tensor inputs."""
    def student(*args, **kwargs):
        out = fn(*(a.clone() if isinstance(a, torch.Tensor) else a for a in args), **kwargs)
        for a in args:
            if isinstance(a, torch.Tensor):
                a.zero_()
        return out
    return student


@pytest.mark.parametrize("checker, correct", [
    (ex.grade_split_regions, reference.split_regions),
    (ex.grade_aggregate, reference_aggregate),
    (ex.grade_gather, lambda R, V: R @ V),
    (ex.grade_bilinear_shift, reference.bilinear_shift),
    (ex.grade_distribute, distribute_literal),
], ids=["split", "aggregate", "gather", "bilinear_shift", "distribute"])
def test_a_function_that_changes_its_input_in_place_fails(checker, correct):
    assert checker(correct, verbose=False)
    result = checker(_then_zero_inputs(correct), verbose=False)
    assert not result and "changed its input(s) in place (argument 1" in str(result)


def test_check_residual_identity_catches_a_forward_hook():
    def hook(unit):
        unit.register_forward_hook(lambda module, inputs, output: inputs[0])
    result = ex.grade_residual_identity(hook, verbose=False)
    assert not result and "hook" in str(result) and "forward_hooks" in str(result)


def test_check_residual_identity_catches_a_replaced_forward():
    def replace(unit):
        unit.forward = lambda x: x
    result = ex.grade_residual_identity(replace, verbose=False)
    assert not result and "'forward' replaced" in str(result)


def test_check_residual_identity_catches_a_global_hook_and_a_swapped_module():
    from torch.nn.modules.module import register_module_forward_hook
    handles = []

    def global_hook(unit):
        handles.append(register_module_forward_hook(
            lambda module, inputs, output: inputs[0] if module is unit else output))
    try:
        result = ex.grade_residual_identity(global_hook, verbose=False)
    finally:
        for h in handles:
            h.remove()
    assert not result and "global module hook" in str(result)

    def swap(unit):
        unit.bn = torch.nn.Identity()
        unit.out = torch.nn.Conv2d(2, 8, 1)
        torch.nn.init.zeros_(unit.out.weight)
        torch.nn.init.zeros_(unit.out.bias)
    result = ex.grade_residual_identity(swap, verbose=False)
    assert not result and "modules changed" in str(result)


CHECKERS = [name for name in ex.__all__ if name.startswith("check_")]


@pytest.mark.parametrize("name", CHECKERS)
def test_every_checker_takes_a_seed(name):
    assert "seed" in inspect.signature(getattr(ex, name)).parameters


def test_another_seed_gives_other_cases_that_still_pass():
    assert ex.grade_g(reference.g, verbose=False, seed=1)
    assert ex.grade_bilinear_shift(reference.bilinear_shift, verbose=False, seed=2)
    seen = []
    ex.grade_bilinear_shift(lambda *a: seen.append(a[0].clone()) or reference.bilinear_shift(*a),
                            verbose=False, seed=0)
    ex.grade_bilinear_shift(lambda *a: seen.append(a[0].clone()) or reference.bilinear_shift(*a),
                            verbose=False, seed=5)
    assert not torch.equal(seen[0], seen[len(seen) // 2])


def test_a_float32_computation_cast_back_gets_a_precision_hint():
    def in_float32(R, V):
        return (R.float() @ V.float()).double()
    result = ex.grade_gather(in_float32, verbose=False)
    assert not result and "float32 rounding" in str(result)
    assert "within rtol=" in str(ex.grade_gather(lambda R, V: R @ V, verbose=False))


def test_check_distribute_accepts_the_package_distribute():
    assert ex.grade_distribute(rg.distribute, verbose=False)
    assert ex.grade_distribute(rg.distribute, xi_input="softmax", verbose=False)
    # a function written for normalised xi, checked as the exercise (logits): fails with a hint
    result = ex.grade_distribute(lambda z, xi, s: rg.distribute(z, xi, s), verbose=False)
    assert not result and "xi_input='softmax'" in str(result)
    with pytest.raises(ValueError, match=r"xi_input must be one of \['logits', 'softmax'\], "
                                         r"got 'raw'"):
        ex.grade_distribute(rg.distribute, xi_input="raw")


def test_check_gcn_relation_says_when_a_function_follows_the_printed_sign():
    def printed(V, nw, nb, rw, rb):               # Eq. 7 as printed: (I - A_g) V
        N = V.shape[0]
        U = torch.relu(V - nw @ V + nb[:, None])
        return (U @ rw.T + rb[None, :]) / N
    result = ex.grade_gcn_relation(printed, verbose=False)
    assert not result and "Eq. 7 as the paper prints it" in str(result)
    assert "GloRe" in str(result)
