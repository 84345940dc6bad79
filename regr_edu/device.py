"""Pick the device the notebooks and scripts run on, and say what fixes a CPU run's numbers."""
from __future__ import annotations

import platform

import torch


def device() -> str:
    """Return ``"cuda"`` when a CUDA device is present, else ``"cpu"``."""
    return "cuda" if torch.cuda.is_available() else "cpu"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def numerics_fingerprint() -> dict[str, str]:
    """What decides the floating-point numbers of a one-thread CPU run besides the code: the
    PyTorch build, the vector instructions it dispatches to (``AVX2``, ``AVX512``, ...) and the
    processor. Two runs of the same code and seed with equal fingerprints give the same bits;
    with different ones, sums may be taken in another order, and a training run drifts apart
    (``benchmarks/`` writes this into every record; the chapters' replays read it)."""
    try:
        capability = torch.backends.cpu.get_cpu_capability()
    except AttributeError:                      # an older torch
        capability = "unknown"
    return {"torch": torch.__version__, "cpu_capability": capability, "cpu": _cpu_model(),
            "machine": platform.machine()}
