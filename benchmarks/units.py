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

import torch
from torchvision.models.resnet import Bottleneck

import regr_edu as rg
from regr_edu.costs import count_flops, forward_backward, time_interleaved

SHAPES = [  # (name, B, C, H, W)
    ("res4 of 448 (C=1024, 28x28)", 2, 1024, 28, 28),
    ("res3 of 448 (C=512, 56x56)", 2, 512, 56, 56),
]


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
        x = torch.randn(B, C, H, W, device=dev, requires_grad=True)
        f_unit, f_block = count_flops(unit, x)[0], count_flops(block, x)[0]
        times = time_interleaved({"unit": lambda: forward_backward(unit, x),
                                  "block": lambda: forward_backward(block, x)},
                                 repeats=args.repeats, warmup=2)
        mu, mb = statistics.median(times["unit"]), statistics.median(times["block"])
        print(f"{label:32s} {f_unit / 1e9:10.3f} {f_block / 1e9:11.3f} {mu * 1e3:8.1f} "
              f"{mb * 1e3:9.1f} {mu / mb:10.3f}")
    print("bar: unit / bottleneck time <= 1.5 at res4 of 448 (C=1024, 28x28)")


if __name__ == "__main__":
    main()
