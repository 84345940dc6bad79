"""Shared fixtures: every device test runs on the CPU and, when one is present, on CUDA."""
from __future__ import annotations

import pathlib
import sys

import pytest
import torch

ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
CUDA_PARAM = pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(),
                                                           reason="needs a CUDA device"))


@pytest.fixture(params=["cpu", CUDA_PARAM])
def device(request) -> str:
    """The device a test runs on: the CPU, and CUDA (skipped without a GPU)."""
    return request.param


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield


def randomize_(module: torch.nn.Module, std: float = 0.3) -> torch.nn.Module:
    """Give every parameter and BatchNorm buffer random values (so nothing is zero-initialised)."""
    with torch.no_grad():
        for p in module.parameters():
            p.normal_(0.0, std)
        for name, b in module.named_buffers():
            if name.endswith("running_mean"):
                b.normal_()
            elif name.endswith("running_var"):
                b.uniform_(0.5, 2.0)
    return module


@pytest.fixture(scope="module")
def photo_map():
    """A 128-pixel photograph and its (1, 256, 8, 8) layer3 map (stride 16): four (4, 4)
    regions of P = 16. Shared by the chapters' interactive tests."""
    from regr_edu.interactive._photo import feature_map, photo
    image = photo("astronaut", 128)
    return image, feature_map(image, "layer3")


@pytest.fixture(autouse=True)
def _close_figures():
    """Close every matplotlib figure a test left open (only if pyplot was imported)."""
    yield
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")
