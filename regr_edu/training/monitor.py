r"""Watch refine (Eq. 3–4) while a network trains: a step callback for :func:`regr_edu.training.run`.

:class:`RefineMonitor` hooks every :class:`regr_edu.refine.Refine` inside a model and records,
after each optimizer step, one row of plain numbers:

- ``delta_abs_mean``, ``delta_abs_p50``, ``delta_abs_p90``, ``delta_abs_max``: the distribution of
  :math:`|\delta|` (both axes, every region of every scale) in the step's training forward;
- ``delta_near_edge``: the fraction of offsets within 0.05 of :math:`\pm` their bound (a saturated
  ``tanh``);
- ``delta_sign_flip``: the fraction of offsets whose sign differs from the previous step's at the
  same place of the batch (a rough measure of how much the offsets jitter);
- ``m_mean``, ``m_min``, ``m_max``: the amplitude :math:`m`;
- ``norm_in``, ``norm_out``: the mean L2 norm of a region vector before and after refine;
- ``grad_eta``, ``grad_mu``, ``grad_nu``: the L2 norms of the gradients that reached
  :math:`\eta`'s weight and the :math:`\mu`, :math:`\nu` projections' weights in that step
  (before the step's update; the trainer zeroes them only at the next step);
- ``eta_weight``: the L2 norm of :math:`\eta`'s weight;
- ``bn_weight``: the mean absolute weight of the units' last BatchNorm (every
  :class:`~regr_edu.ReGr` in the model, refine or not). It starts at zero (the paper's), and while
  it is near zero hardly any gradient reaches the unit's inner weights.

Use::

    monitor = RefineMonitor(model)              # or pass it to run(cfg, callback=monitor)
    ...                                         # train; call monitor(payload) after each step
    monitor.rows                                # list of dicts, one per step

With several units, the numbers pool every refine of every unit. A model whose units have no refine
gives rows with only ``step``, ``epoch``, ``loss`` and ``bn_weight``; one without a unit, the
first three.
"""
from __future__ import annotations

import json
import math
import os
import pathlib
from typing import Any

import torch
from torch import nn

from ..refine import Refine

EDGE = 0.05  # "near the bound" means within this distance of +-max_offset


def _grad_norm(params: list[torch.Tensor]) -> float:
    total = 0.0
    for p in params:
        if p.grad is not None:
            total += float(p.grad.detach().double().pow(2).sum())
    return math.sqrt(total)


class RefineMonitor:
    """Record refine's offsets, amplitudes, region norms and gradient norms at every step.

    Args:
        model: the network (or a unit) whose :class:`~regr_edu.refine.Refine` modules to watch.
        every: record every ``every``-th step (the hooks still run at each forward).
    """

    def __init__(self, model: nn.Module | None = None, every: int = 1) -> None:
        if not isinstance(every, int) or isinstance(every, bool) or every < 1:
            raise ValueError(f"every must be a positive integer, got {every!r}")
        self.every = every
        self.rows: list[dict[str, Any]] = []
        self._handles: list[Any] = []
        self._batch: list[dict[str, torch.Tensor]] = []
        self._previous_signs: list[torch.Tensor] | None = None
        self._model = None
        if model is not None:
            self.attach(model)

    def attach(self, model: nn.Module) -> None:
        """Watch ``model`` (called by the constructor, or by the first step's ``payload["model"]``
        when the monitor was built without one: that first step is then not recorded)."""
        self.close()
        self._model = model
        self._refines = [m for m in model.modules() if isinstance(m, Refine)]
        owners = [m for m in model.modules() if any(c in self._refines for c in m.children())]
        self._mu = [p for u in owners for p in (u.mu.weight,) if hasattr(u, "mu")]
        self._nu = [p for u in owners for p in (u.nu.weight,) if hasattr(u, "nu")]
        self._eta = [p for r in self._refines for p in r.eta_parameters()]
        from ..regr import ReGr                     # (regr imports refine, as this module does)
        self._bn = [u.bn.weight for u in model.modules() if isinstance(u, ReGr)]
        self._handles = [r.register_forward_hook(self._hook) for r in self._refines]

    def close(self) -> None:
        """Remove the hooks (the recorded rows stay)."""
        for h in self._handles:
            h.remove()
        self._handles = []

    @torch.no_grad()
    def _hook(self, module: Refine, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        if not module.training:
            return
        grid = inputs[0]                                              # (B, M, Hg, Wg)
        dx, dy, m = module.offsets(grid)                              # (B, 1, Hg, Wg) each
        self._batch.append({"delta": torch.cat([dx, dy], 1).flatten().float(),
                            "bound": torch.tensor(float(module.max_offset)),
                            "m": m.flatten().float(),
                            "norm_in": grid.float().norm(dim=1).flatten(),
                            "norm_out": output.float().norm(dim=1).flatten()})

    def __call__(self, payload: dict[str, Any]) -> None:
        """The step callback: ``payload`` holds at least ``step`` (and ``epoch``, ``loss``)."""
        if self._model is None:
            if "model" not in payload:
                raise ValueError("RefineMonitor was built without a model and the payload has "
                                 "no 'model': pass RefineMonitor(model)")
            self.attach(payload["model"])
            return
        batch, self._batch = self._batch, []
        step = int(payload.get("step", len(self.rows) + 1))
        if step % self.every:
            return
        row: dict[str, Any] = {"step": step, "epoch": payload.get("epoch"),
                               "loss": payload.get("loss")}
        if batch:
            delta = torch.cat([b["delta"] for b in batch])
            bound = torch.cat([b["bound"].expand(b["delta"].numel()) for b in batch])
            a = delta.abs()
            m = torch.cat([b["m"] for b in batch])
            signs = [torch.sign(b["delta"]) for b in batch]
            flips = float("nan")
            if self._previous_signs is not None and [s.shape for s in signs] == [
                    s.shape for s in self._previous_signs]:
                flips = float(torch.cat([(s != p).float() for s, p in
                                         zip(signs, self._previous_signs)]).mean())
            self._previous_signs = signs
            row.update(
                delta_abs_mean=float(a.mean()), delta_abs_p50=float(a.quantile(0.5)),
                delta_abs_p90=float(a.quantile(0.9)), delta_abs_max=float(a.max()),
                delta_near_edge=float((a >= bound - EDGE).float().mean()),
                delta_sign_flip=flips,
                m_mean=float(m.mean()), m_min=float(m.min()), m_max=float(m.max()),
                norm_in=float(torch.cat([b["norm_in"] for b in batch]).mean()),
                norm_out=float(torch.cat([b["norm_out"] for b in batch]).mean()))
        if self._eta:
            row.update(grad_eta=_grad_norm(self._eta),
                       eta_weight=math.sqrt(sum(float(p.detach().double().pow(2).sum())
                                                for p in self._eta)))
        if self._mu:
            row.update(grad_mu=_grad_norm(self._mu), grad_nu=_grad_norm(self._nu))
        if self._bn:
            row["bn_weight"] = float(torch.cat([w.detach().abs().flatten().double()
                                                for w in self._bn]).mean())
        self.rows.append(row)

    def write_jsonl(self, path: "str | os.PathLike[str]") -> pathlib.Path:
        """Write the rows as JSON lines, atomically; return the path."""
        from .checkpoint import write_text_atomic
        path = pathlib.Path(path)
        write_text_atomic("".join(json.dumps(r) + "\n" for r in self.rows), path)
        return path
