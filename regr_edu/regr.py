r"""The ReGr unit: Eq. 1–13 in one residual block.

::

    x (B, C, T, H, W)
    ├─ mu, nu, xi: 1x1 convs C -> c_mu, c_nu, c_nu           (computed once, shared by all scales)
    ├─ for each scale (h, w):  pad, split into regions (Eq. 1)
    │     A_i = mu(X_i) softmax_P(nu(X_i))^T   -> (c_mu x c_nu) = M numbers     (Eq. 2)
    │     refine on the scale's region grid (Eq. 3-4)
    ├─ V = all regions of all scales and frames   (B, N, M)
    ├─ Z = relation(V)                            (B, N, M)                    (Eq. 5-12)
    ├─ for each scale: Y_i = z_i xi(X_i), merged back and cropped            (Eq. 13)
    └─ x + BN(W_out(sum over scales of Y))        BN weight starts at 0 -> identity at init

A fresh unit is the identity map; it runs on its input's device and dtype and gives back the
rank it was given.
"""
from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ._checks import (as_5d, check_choice, check_positive_int, check_scales,
                      refuse_jit_script)
from .aggregation import AGGREGATIONS, aggregate, pool_bins, pool_regions
from .distribution import distribute
from .refine import Refine
from .regions import cell_mask, grid_size, pad_to_scale, split_regions
from .relations import RELATIONS


def count_regions(input_size: Sequence[int], scales: Sequence[tuple[int, int]]) -> int:
    """``N`` for a map of ``input_size`` ``(T, H, W)`` or ``(H, W)``: all regions, all scales."""
    size = tuple(input_size)
    if len(size) == 2:
        size = (1, *size)
    if len(size) != 3 or not all(isinstance(v, int) and v >= 1 for v in size):
        raise ValueError(f"input_size must be (H, W) or (T, H, W) of positive integers, "
                         f"got {tuple(input_size)!r}")
    T, H, W = size
    return sum(T * Gh * Gw for Gh, Gw in (grid_size(H, W, s) for s in scales))


def _check_finite_for_batchnorm(x5: torch.Tensor) -> None:
    """In training mode one NaN or inf cell would enter the BatchNorm's running statistics and
    poison every later output: refuse it, naming where it is."""
    bad = ~torch.isfinite(x5.detach())
    if bool(bad.any()):
        idx = tuple(int(i) for i in bad.nonzero()[0])
        raise ValueError(f"x must hold finite values in training mode (a NaN or inf would enter "
                         f"the BatchNorm's running statistics of every later batch), got "
                         f"{int(bad.sum())} non-finite value(s), the first at index {idx} "
                         f"(of the (B, C, T, H, W) view): {float(x5.detach()[idx])}")


class ReGr(nn.Module):
    r"""Region-based global reasoning unit (Wang et al., AAAI 2020), as read in SPEC.md.

    Args:
        in_channels: ``C``.
        scales: region sizes ``(h, w)`` in feature-map cells; all regions form one set.
        relation: ``"bilinear"`` (Eq. 5–6, default), ``"gcn"`` (Eq. 7–8) or ``"attention"``
            (Eq. 9–10).
        refine: apply the refine of Eq. 3–4 to each scale's region grid.
        input_size: ``(T, H, W)`` or ``(H, W)`` of the map the unit sees; required for ``"gcn"``,
            whose relation matrix has a fixed size ``N``.
        mu_channels: ``c_mu`` (default ``max(1, in_channels // 8)``).
        nu_channels: ``c_nu`` (default 8). ``M = c_mu * c_nu``.
        nu_softmax: softmax over each region's cells on :math:`\nu` (Eq. 2, default True).
        refine_context: 1 (:math:`\eta` reads one region, default) or 3 (its 3x3 neighbours).
        refine_mode: ``"replace"`` (default) or ``"add"``.
        refine_max_offset: bound of the offsets, in ``(0, 1]`` (default 1, Eq. 3 as written).
        refine_mask_init: :math:`m` of a fresh refine, in ``(0, 1)`` (default 0.5).
        refine_lr_scale: factor on :math:`\eta`'s learning rate, applied by
            :func:`regr_edu.training.param_groups` (default 1).
        refine_detach: :math:`\eta` reads the regions without passing a gradient back to them
            (default False).
        relation_norm: bilinear only, ``"softmax"`` (default) or ``"dot"``.
        inner_channels: bilinear only, ``M'`` (default ``M // 4``).
        gcn_scale: GCN only, scale ``R`` by ``1/N`` (default True).
        gcn_orientation: GCN only, ``"row"`` (default, SPEC.md: region ``i``'s features give
            row ``i`` of ``R``, :math:`R_{ij} = w_j \cdot U_i + b_j`, so region ``i`` decides
            whom it reads) or ``"column"`` (the transpose: region ``i``'s features give column
            ``i``, and output region ``j`` weighs every region by a learned query :math:`w_j`).
        aggregation: ``"bilinear"`` (Eq. 2, :math:`\mu\nu^\top`, default), or ``"avg"`` /
            ``"max"``: each region's :math:`\mu` average- or max-pooled onto ``c_nu`` fixed
            sub-cells, the same ``M`` numbers (the paper's aggregation study; :math:`\nu` is
            then unused and frozen).
        attention_mode: attention only, ``"sequential"`` (default) or ``"letter"``.
        attention_reduction: attention only, ``r`` in ``M -> M/r -> M`` (default 16).
    """

    def __init__(self, in_channels: int, scales: Sequence[tuple[int, int]] = ((4, 4), (7, 7)),
                 relation: str = "bilinear", refine: bool = True,
                 input_size: Sequence[int] | None = None, mu_channels: int | None = None,
                 nu_channels: int | None = None, *, nu_softmax: bool = True,
                 refine_context: int = 1, refine_mode: str = "replace",
                 refine_max_offset: float = 1.0, refine_mask_init: float = 0.5,
                 refine_lr_scale: float = 1.0, refine_detach: bool = False,
                 relation_norm: str = "softmax", inner_channels: int | None = None,
                 gcn_scale: bool = True, gcn_orientation: str = "row",
                 attention_mode: str = "sequential", attention_reduction: int = 16,
                 aggregation: str = "bilinear") -> None:
        super().__init__()
        check_positive_int("in_channels", in_channels)
        self.scales = check_scales("scales", scales)
        check_choice("relation", relation, tuple(RELATIONS))
        c_mu = max(1, in_channels // 8) if mu_channels is None else mu_channels
        c_nu = 8 if nu_channels is None else nu_channels
        check_positive_int("mu_channels", c_mu)
        check_positive_int("nu_channels", c_nu)
        # the unit's own option names in the messages, before the parts check theirs
        check_choice("refine_context", refine_context, (1, 3))
        check_choice("refine_mode", refine_mode, ("replace", "add"))
        check_choice("relation_norm", relation_norm, ("softmax", "dot"))
        check_choice("attention_mode", attention_mode, ("sequential", "letter"))
        check_choice("gcn_orientation", gcn_orientation, ("row", "column"))
        check_choice("aggregation", aggregation, AGGREGATIONS)
        check_choice("refine", refine, (True, False))
        check_choice("nu_softmax", nu_softmax, (True, False))
        check_choice("gcn_scale", gcn_scale, (True, False))
        # a reading of another relation than the one built would be silently ignored (the sizes
        # inner_channels and attention_reduction may be passed to any relation)
        for option, value, default, owner in (
                ("relation_norm", relation_norm, "softmax", "bilinear"),
                ("gcn_scale", gcn_scale, True, "gcn"),
                ("gcn_orientation", gcn_orientation, "row", "gcn"),
                ("attention_mode", attention_mode, "sequential", "attention")):
            if relation != owner and value != default:
                raise ValueError(f"{option} applies to relation={owner!r} only and would be "
                                 f"ignored with relation={relation!r}; got {option}={value!r}")
        self.aggregation = aggregation
        self.in_channels, self.mu_channels, self.nu_channels = in_channels, c_mu, c_nu
        self.M = c_mu * c_nu
        self.relation_name = relation
        self.nu_softmax = bool(nu_softmax)
        self.input_size = None if input_size is None else tuple(input_size)
        self.num_regions = None
        if self.input_size is not None:
            self.num_regions = count_regions(self.input_size, self.scales)

        # Eq. 2 and Eq. 13: per-cell 1x1 convs, shared by every scale
        self.mu = nn.Conv2d(in_channels, c_mu, kernel_size=1)
        self.nu = nn.Conv2d(in_channels, c_nu, kernel_size=1)
        self.xi = nn.Conv2d(in_channels, c_nu, kernel_size=1)
        if aggregation != "bilinear":
            self.nu.requires_grad_(False)                        # pooling replaces Eq. 2's nu
        # Eq. 3-4: one eta shared by every scale. The paper says "all the scales have the same
        # amount of parameters" (its scale ablation); sharing one set of weights (mu, nu, xi, eta,
        # the relation) across scales is our reading of it, which gives that (SPEC.md)
        refine_options = dict(max_offset=refine_max_offset, mask_init=refine_mask_init,
                              lr_scale=refine_lr_scale, detach_input=refine_detach)
        self.refine = Refine(self.M, refine_context, refine_mode, **refine_options) \
            if refine else None
        # Eq. 5-10
        if relation == "bilinear":
            self.relation = RELATIONS[relation](self.M, inner_channels, relation_norm)
        elif relation == "gcn":
            if self.num_regions is None:
                raise ValueError("relation='gcn' needs input_size=(T, H, W) or (H, W) of the map "
                                 "the unit sees, since its relation matrix is N x N with N fixed; "
                                 "got input_size=None")
            self.relation = RELATIONS[relation](self.M, self.num_regions, gcn_scale,
                                                orientation=gcn_orientation)
        else:
            self.relation = RELATIONS[relation](self.M, attention_reduction, mode=attention_mode)
        # Eq. 13 and the residual: lift c_mu -> C, BatchNorm starting at zero
        self.out = nn.Conv2d(c_mu, in_channels, kernel_size=1)
        self.bn = nn.BatchNorm2d(in_channels)
        self.zero_init_last()

        self.config: dict[str, Any] = dict(
            in_channels=in_channels, scales=self.scales, relation=relation, refine=bool(refine),
            input_size=self.input_size, mu_channels=c_mu, nu_channels=c_nu,
            nu_softmax=self.nu_softmax, refine_context=refine_context, refine_mode=refine_mode,
            refine_max_offset=refine_max_offset, refine_mask_init=refine_mask_init,
            refine_lr_scale=refine_lr_scale, refine_detach=refine_detach,
            relation_norm=relation_norm, gcn_scale=gcn_scale, attention_mode=attention_mode,
            gcn_orientation=gcn_orientation, aggregation=aggregation)

    def __prepare_scriptable__(self):
        refuse_jit_script(self)                 # torch.jit.script: our message, not its compiler's

    def zero_init_last(self) -> None:
        """Set the last BatchNorm's weight (and bias) to zero: the unit becomes the identity."""
        nn.init.zeros_(self.bn.weight)
        nn.init.zeros_(self.bn.bias)

    def extra_repr(self) -> str:
        return (f"in_channels={self.in_channels}, scales={self.scales}, "
                f"relation={self.relation_name!r}, M={self.mu_channels}x{self.nu_channels}")

    # ------------------------------------------------------------------------------------------
    def _features(self, x5: torch.Tensor):
        """mu, nu, xi of every cell with one fused 1x1 conv: three ``(B, c, T, H, W)`` maps."""
        B, C, T, H, W = x5.shape
        weight = torch.cat([self.mu.weight, self.nu.weight, self.xi.weight])   # (c_mu+2c_nu, C, 1, 1)
        bias = torch.cat([self.mu.bias, self.nu.bias, self.xi.bias])
        if torch.compiler.is_compiling():
            # the same 1x1 conv as a 1x1x1 conv3d: Inductor fails on conv2d's backward with
            # symbolic sizes (torch.compile(dynamic=True)); eager keeps conv2d, bit for bit
            f = F.conv3d(x5, weight.unsqueeze(-1), bias)         # (B, c_mu+2c_nu, T, H, W)
        else:
            f = F.conv2d(x5.reshape(B, C, T * H, W), weight, bias)  # (B, c_mu+2c_nu, T*H, W)
            f = f.reshape(B, -1, T, H, W)                        # (B, c_mu+2c_nu, T, H, W)
        return f.split([self.mu_channels, self.nu_channels, self.nu_channels], dim=1)

    def _regions(self, mu, nu, scale):
        """Eq. 1–2 for one scale: ``A`` as ``(B, T, Gh, Gw, c_mu, c_nu)``."""
        H, W = mu.shape[-2:]
        mu_r = split_regions(pad_to_scale(mu, scale), scale)     # (B, T, Gh, Gw, c_mu, P)
        nu_r = split_regions(pad_to_scale(nu, scale), scale)     # (B, T, Gh, Gw, c_nu, P)
        padded = (H % scale[0]) or (W % scale[1])
        mask = cell_mask(H, W, scale, device=mu.device) if padded else None  # (Gh, Gw, P)
        if self.aggregation != "bilinear":                       # the aggregation study
            return pool_regions(mu_r, scale, pool_bins(self.nu_channels), self.aggregation,
                                mask)                            # (B, T, Gh, Gw, c_mu, c_nu)
        return aggregate(mu_r, nu_r, mask, self.nu_softmax)      # (B, T, Gh, Gw, c_mu, c_nu)

    def explain(self, x: torch.Tensor) -> dict[str, Any]:
        """Run the unit and keep what it computed on the way: ``V``, ``R`` (or the attention
        maps), the refine offsets, the region grids, ``Z`` and the output."""
        return self._forward(x, keep=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._forward(x, keep=False)

    def _forward(self, x: torch.Tensor, keep: bool):
        x5, was_4d = as_5d("x", x, self.in_channels, dtype=self.mu.weight.dtype)
        B, C, T, H, W = x5.shape
        for s in self.scales:
            grid_size(H, W, s)                                   # a scale larger than the map
        if B == 0 and not keep:
            return x.clone()                                     # an empty batch: nothing to do
        if self.training and B * T * H * W == 1:
            raise ValueError(f"x must give the unit's BatchNorm more than one value per channel "
                             f"in training mode (B*T*H*W > 1), got shape {tuple(x.shape)}; "
                             "use a larger batch or map, or unit.eval()")
        if self.training and not torch.compiler.is_compiling():
            _check_finite_for_batchnorm(x5)
        mu, nu, xi = self._features(x5)                          # (B, c, T, H, W) each
        xi = torch.softmax(xi, dim=1)                            # normalise over c_nu per cell

        vectors, grids, offsets = [], [], []
        for s in self.scales:
            A = self._regions(mu, nu, s)                         # (B, T, Gh, Gw, c_mu, c_nu)
            _, _, Gh, Gw, _, _ = A.shape
            V_s = A.reshape(B, T * Gh * Gw, self.M)              # (B, n_s, M)
            if self.refine is not None:
                G = A.reshape(B * T, Gh, Gw, self.M).permute(0, 3, 1, 2)  # (B*T, M, Gh, Gw)
                if keep:
                    offsets.append(self.refine.offsets(G))
                G = self.refine(G)                               # (B*T, M, Gh, Gw)
                V_s = G.permute(0, 2, 3, 1).reshape(B, T * Gh * Gw, self.M)  # (B, n_s, M)
            vectors.append(V_s)
            grids.append((T, Gh, Gw))
        V = torch.cat(vectors, dim=1)                            # (B, N, M)
        Z = self.relation(V, grids)                              # (B, N, M)

        Y, start = None, 0
        for s, (_, Gh, Gw) in zip(self.scales, grids):
            n = T * Gh * Gw
            z = Z[:, start:start + n].reshape(B, T, Gh, Gw, self.mu_channels, self.nu_channels)
            Y_s = distribute(z, xi, s)                           # (B, c_mu, T, H, W)
            Y = Y_s if Y is None else Y + Y_s
            start += n
        out = self.bn(self.out(Y.reshape(B, self.mu_channels, T * H, W)))  # (B, C, T*H, W)
        y = x5 + out.reshape(B, C, T, H, W)                      # residual: (B, C, T, H, W)
        y = y.squeeze(2) if was_4d else y
        if not keep:
            return y
        info: dict[str, Any] = dict(V=V, Z=Z, grids=grids, offsets=offsets, output=y,
                                    scales=self.scales)
        if hasattr(self.relation, "matrix"):
            info["R"] = self.relation.matrix(V, grids)
        else:
            info["Lc"], info["Ls"] = self.relation.maps(V, grids)
        return info
