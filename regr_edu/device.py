"""Pick the device the notebooks and scripts run on."""
from __future__ import annotations

import torch


def device() -> str:
    """Return ``"cuda"`` when a CUDA device is present, else ``"cpu"``."""
    return "cuda" if torch.cuda.is_available() else "cpu"
