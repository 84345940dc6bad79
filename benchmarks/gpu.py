r"""On a GPU machine: run the CUDA tests, then measure training images/s at 448 for ResNet-50.

Usage::

    python benchmarks/gpu.py                 # tests + throughput; skips cleanly without CUDA
    python benchmarks/gpu.py --no-tests      # throughput only
    python benchmarks/gpu.py --batch-size 32 --steps 20

1. ``pytest -k cuda tests``: every test parametrized over the ``device`` fixture runs its CUDA
   case (on a machine without CUDA those cases are skipped, which is why this script exists).
2. Training throughput of ResNet-50 at 448 x 448 (200 classes, the CUB recipe's input) with and
   without one ReGr unit (res4, before its last block), in float32 and under AMP (float16
   autocast + GradScaler), interleaved (see ``benchmarks/throughput.py``). The bar: with / without
   >= 0.9 under AMP.

The figures go to ``benchmarks/results/gpu.json`` and, with the device's name, to a section of
``benchmarks/RESULTS.md`` (replaced on every run). Exit status: 0 when the tests pass and the
bar is met (or when there is no CUDA device: skipped), 1 otherwise.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import subprocess
import sys

import torch

ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
from regr_edu.training.checkpoint import write_text_atomic      # noqa: E402  the one writer
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
RESULTS_JSON = ROOT / "benchmarks" / "results" / "gpu.json"
RESULTS_MD = ROOT / "benchmarks" / "RESULTS.md"
SECTION = "## Training throughput on a GPU (benchmarks/gpu.py)"
BAR = 0.9


def run_cuda_tests() -> int:
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", "cuda",
           str(ROOT / "tests")]
    print("+", " ".join(cmd), flush=True)
    return subprocess.call(cmd, cwd=ROOT)


def markdown(result: dict) -> str:
    f = result["figures"]
    lines = [SECTION, "",
             f"{result['date']}, {result['device']}, torch {result['torch']}, ResNet-50 at "
             f"{result['size']} x {result['size']}, batch {result['batch_size']}, "
             f"{result['steps']} steps x {result['rounds']} interleaved rounds (median).", "",
             "| precision | without unit (images/s) | +1 ReGr (images/s) | with / without |",
             "|---|---:|---:|---:|"]
    for tag in ("fp32", "amp"):
        lines.append(f"| {tag} | {f[f'plain_{tag}']['images_per_s']:.1f} | "
                     f"{f[f'regr_{tag}']['images_per_s']:.1f} | {result['ratios'][tag]:.3f} |")
    verdict = "met" if result["ratios"]["amp"] >= BAR else "NOT met"
    lines += ["", f"Bar (with / without >= {BAR} under AMP): {verdict}. CUDA tests: "
              f"{'passed' if result['tests_rc'] == 0 else 'skipped' if result['tests_rc'] is None else 'FAILED'}.",
              ""]
    return "\n".join(lines)


def record(result: dict) -> None:
    RESULTS_JSON.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(json.dumps(result, indent=1) + "\n", RESULTS_JSON)
    text = RESULTS_MD.read_text(encoding="utf-8") if RESULTS_MD.is_file() else "# Results\n"
    section = markdown(result)
    if SECTION in text:                                    # replace our section only
        start = text.index(SECTION)
        nxt = text.find("\n## ", start + len(SECTION))
        text = text[:start] + section + ("\n" + text[nxt + 1:] if nxt != -1 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    write_text_atomic(text, RESULTS_MD)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--no-tests", action="store_true")
    p.add_argument("--size", type=int, default=448)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args(argv)
    if not torch.cuda.is_available():
        print("benchmarks/gpu.py: no CUDA device (torch.cuda.is_available() is False): skipped. "
              "For a CPU figure run: python benchmarks/throughput.py")
        return 0
    tests_rc = None if args.no_tests else run_cuda_tests()
    from throughput import device_name, measure  # benchmarks/ is this script's folder
    device = torch.device("cuda")
    torch.backends.cudnn.benchmark = True
    variants = {f"{u}_{tag}": {"model": "resnet50", "unit": None if u == "plain" else "regr",
                               "amp": tag == "amp"}
                for tag in ("fp32", "amp") for u in ("plain", "regr")}
    figures = measure(variants, device, args.size, args.batch_size, 200, steps=args.steps,
                      warmup=5, rounds=args.rounds)
    result = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "device": device_name(device), "torch": torch.__version__,
              "cuda": torch.version.cuda, "size": args.size, "batch_size": args.batch_size,
              "steps": args.steps, "rounds": args.rounds, "figures": figures,
              "ratios": {tag: figures[f"regr_{tag}"]["images_per_s"]
                         / figures[f"plain_{tag}"]["images_per_s"] for tag in ("fp32", "amp")},
              "tests_rc": tests_rc}
    record(result)
    print(markdown(result))
    ok = result["ratios"]["amp"] >= BAR and tests_rc in (0, None)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
