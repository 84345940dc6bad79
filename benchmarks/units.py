"""Cost of one ReGr unit beside a ResNet bottleneck block at the same shape (issue: core speed).

Usage:  python benchmarks/units.py [--repeats 7] [--threads N] [--device cpu|cuda]

For each shape it prints FLOPs (``torch.utils.flop_counter``, which counts a multiply-add as 2
and does not count softmax, element-wise ops or the BatchNorm) and the median forward+backward
time over interleaved repeats, then the ratio unit / bottleneck. Ratios are measured in one run,
so they hold on a noisy shared machine better than absolute times do.
"""
from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch
from torch.utils.flop_counter import FlopCounterMode
from torchvision.models.resnet import Bottleneck

import regr_edu as rg

SHAPES = [  # (name, B, C, H, W)
    ("res4 of 448 (C=1024, 28x28)", 2, 1024, 28, 28),
    ("res3 of 448 (C=512, 56x56)", 2, 512, 56, 56),
]


def flops(module: torch.nn.Module, x: torch.Tensor) -> int:
    with FlopCounterMode(display=False) as counter:
        module(x)
    return counter.get_total_flops()


def fwd_bwd(module: torch.nn.Module, x: torch.Tensor) -> float:
    x = x.detach().requires_grad_()
    if x.is_cuda:
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    module(x).sum().backward()
    if x.is_cuda:
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=7, help="interleaved repeats (median is kept)")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    ap.add_argument("--device", default=rg.device())
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else platform.processor() or "cpu"
    print(f"device: {dev} ({name}), torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"repeats {args.repeats} (median of interleaved runs)")
    print(f"{'shape':32s} {'unit GFLOP':>10s} {'block GFLOP':>11s} {'unit ms':>8s} "
          f"{'block ms':>9s} {'time ratio':>10s}")
    for label, B, C, H, W in SHAPES:
        torch.manual_seed(0)
        unit = rg.ReGr(C).to(dev)                       # SPEC defaults: scales (4,4),(7,7), bilinear, refine
        torch.nn.init.ones_(unit.bn.weight)             # a trained unit, not the identity shortcut
        block = Bottleneck(C, C // 4).to(dev)
        x = torch.randn(B, C, H, W, device=dev)
        f_unit, f_block = flops(unit, x), flops(block, x)
        for _ in range(2):                              # warm-up
            fwd_bwd(unit, x), fwd_bwd(block, x)
        t_unit, t_block = [], []
        for _ in range(args.repeats):                   # interleaved: both see the same load
            t_unit.append(fwd_bwd(unit, x))
            t_block.append(fwd_bwd(block, x))
        mu, mb = statistics.median(t_unit), statistics.median(t_block)
        print(f"{label:32s} {f_unit / 1e9:10.3f} {f_block / 1e9:11.3f} {mu * 1e3:8.1f} "
              f"{mb * 1e3:9.1f} {mu / mb:10.3f}")
    print("bar: unit / bottleneck time <= 1.5 at res4 of 448 (C=1024, 28x28)")


if __name__ == "__main__":
    main()
