r"""Training throughput (images/s) of a backbone with and without a unit, measured interleaved.

Usage::

    python benchmarks/throughput.py                      # CPU: small_resnet on the synthetic task
    python benchmarks/throughput.py --device cuda --model resnet50 --size 448 --batch-size 32 --amp

One *step* is what :func:`regr_edu.training.engine.train_one_epoch` does per batch: forward
(under autocast with ``--amp``), cross-entropy, backward (through the GradScaler on CUDA), SGD
with momentum. The batch is real data from the synthetic task (or random images at sizes it does
not make) held in memory, so the figure is the model's, without data loading. The variants run
in rounds (A, B, A, B, ...) and each variant's figure is the median over rounds, so a change of
machine load hits all variants alike. On CUDA every timing is bracketed by
``torch.cuda.synchronize()``.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import sys
import time
from typing import Any

import torch
import torch.nn.functional as F

ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def build(model: str, unit: str | None, size: int, num_classes: int) -> torch.nn.Module:
    import regr_edu as rg
    if model == "small_resnet":
        return rg.models.small_resnet(num_classes, unit=unit, widths=(16, 32, 64),
                                      input_size=(size, size))
    if model == "resnet50":
        return rg.models.resnet50(num_classes, unit=unit, input_size=(size, size))
    raise ValueError(f"model must be small_resnet or resnet50, got {model!r}")


def batch(size: int, batch_size: int, num_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Synthetic-task images when they fit the size (>= 60), random ones otherwise."""
    if size >= 60 and num_classes == 2:
        from regr_edu.data.synthetic import SyntheticImages
        data = SyntheticImages(batch_size, size=size, seed=0)
        xs, ys = zip(*(data[i] for i in range(batch_size)))
        return torch.stack(xs), torch.tensor(ys)
    g = torch.Generator().manual_seed(0)
    return (torch.randn(batch_size, 3, size, size, generator=g),
            torch.randint(0, num_classes, (batch_size,), generator=g))


def measure(variants: dict[str, dict[str, Any]], device: torch.device, size: int,
            batch_size: int, num_classes: int, steps: int = 10, warmup: int = 3,
            rounds: int = 3) -> dict[str, dict[str, Any]]:
    """images/s of each variant (``{"unit": ..., "amp": ...}``), median over interleaved rounds."""
    from regr_edu.training.engine import autocast
    x, y = batch(size, batch_size, num_classes)
    x, y = x.to(device), y.to(device)
    state = {}
    for name, v in variants.items():
        torch.manual_seed(0)
        model = build(v["model"], v["unit"], size, num_classes).to(device).train()
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
        scaler = torch.amp.GradScaler(device.type, enabled=v["amp"] and device.type == "cuda")
        state[name] = (model, opt, scaler)

    def step(name: str) -> None:
        model, opt, scaler = state[name]
        with autocast(device, variants[name]["amp"]):
            loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    for name in variants:                                      # warm-up (cuDNN autotuning too)
        for _ in range(warmup):
            step(name)
    sync()
    rates: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name in variants:
            sync()
            t0 = time.perf_counter()
            for _ in range(steps):
                step(name)
            sync()
            rates[name].append(steps * batch_size / (time.perf_counter() - t0))
    out = {}
    for name, v in variants.items():
        out[name] = {**v, "images_per_s": statistics.median(rates[name]),
                     "rounds": [round(r, 2) for r in rates[name]]}
    return out


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    import platform
    return (f"CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
            f"{torch.get_num_threads()} thread(s), load {os.getloadavg()[0]:.1f}")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--model", default="small_resnet", choices=["small_resnet", "resnet50"])
    p.add_argument("--unit", default="regr")
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--classes", type=int, default=2)
    p.add_argument("--amp", action="store_true", help="also measure mixed precision")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--out", default=None, help="write the figures to this JSON file")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    variants = {}
    for amp in ([False, True] if args.amp else [False]):
        tag = "amp" if amp else "fp32"
        variants[f"plain_{tag}"] = {"model": args.model, "unit": None, "amp": amp}
        variants[f"{args.unit}_{tag}"] = {"model": args.model, "unit": args.unit, "amp": amp}
    figures = measure(variants, device, args.size, args.batch_size, args.classes, args.steps,
                      rounds=args.rounds)
    result = {"device": device_name(device), "torch": torch.__version__, "model": args.model,
              "size": args.size, "batch_size": args.batch_size, "figures": figures,
              "ratios": {}}
    for amp in ([False, True] if args.amp else [False]):
        tag = "amp" if amp else "fp32"
        result["ratios"][tag] = (figures[f"{args.unit}_{tag}"]["images_per_s"]
                                 / figures[f"plain_{tag}"]["images_per_s"])
    for name, f in figures.items():
        print(f"{name:>14}: {f['images_per_s']:8.1f} images/s  (rounds {f['rounds']})")
    for tag, r in result["ratios"].items():
        print(f"with {args.unit} / without, {tag}: {r:.3f}")
    print(result["device"])
    if args.out:
        from regr_edu.training.checkpoint import write_text_atomic
        write_text_atomic(json.dumps(result, indent=1) + "\n", pathlib.Path(args.out))
    return result


if __name__ == "__main__":
    main()
