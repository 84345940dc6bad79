"""Backbones with global-reasoning units placed as configuration.

- :func:`resnet50` — torchvision's ResNet-50 for images;
- :func:`c2d_resnet50`, :func:`i3d_resnet50` — the non-local paper's video ResNet-50s for clips;
- :func:`small_resnet` — a small ResNet for CPU-scale experiments.

Each takes ``unit=None | "regr" | "nl" | "cgnl" | "glore"`` and ``num_units``, works out each
stage's map size from ``input_size`` and builds every unit for its own stage.
"""
from .resnet import RESNET50_PLACEMENTS, resnet50, resnet50_stage_sizes
from .small import SMALL_PLACEMENTS, small_resnet, small_stage_sizes
from .video import c2d_resnet50, i3d_resnet50, video_stage_sizes
from .weights import imagenet_cache_path, inflate

__all__ = ["resnet50", "c2d_resnet50", "i3d_resnet50", "small_resnet", "RESNET50_PLACEMENTS",
           "SMALL_PLACEMENTS", "resnet50_stage_sizes", "video_stage_sizes", "small_stage_sizes",
           "imagenet_cache_path", "inflate"]
