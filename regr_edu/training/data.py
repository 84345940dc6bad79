r"""Data sets and loaders for each ``--dataset``, with sharding that is exact under torchrun.

Training order: :class:`torch.utils.data.DistributedSampler` for one process and for many
(``num_replicas = world size``): epoch ``e`` is the permutation drawn from ``seed + e``, and rank
``r`` takes positions ``r, r + W, r + 2W, ...`` of it. It pads the permutation with its own first
indices up to a multiple of ``W``, so shards are disjoint and cover the set exactly when ``W``
divides its size. Testing: :class:`ShardSampler` gives rank ``r`` the indices ``r, r + W, ...``
without padding, and the metrics are summed over ranks, so every sample counts exactly once.
"""
from __future__ import annotations

import math
import pathlib
from dataclasses import dataclass
from typing import Any, Iterator

import torch
import torch.utils.data
from torch.utils.data import DataLoader, DistributedSampler, Sampler

from .config import TrainConfig


class ShardSampler(Sampler[int]):
    """Indices ``rank, rank + world, ...`` of ``range(n)``, in order, without padding."""

    def __init__(self, n: int, world: int = 1, rank: int = 0) -> None:
        if not 0 <= rank < world:
            raise ValueError(f"rank must be in [0, {world}), got {rank}")
        self.n, self.world, self.rank = n, world, rank

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.rank, self.n, self.world))

    def __len__(self) -> int:
        return len(range(self.rank, self.n, self.world))


@dataclass
class Data:
    """What the training loop needs from the data."""

    train: torch.utils.data.Dataset
    test: torch.utils.data.Dataset
    num_classes: int
    input_size: tuple[int, ...]          # (H, W) or (T, H, W) the model is built for
    video_level: bool                    # test batches hold several views per video


def _scaled(base: int, size: int, ref: int) -> int:
    return max(size, round(base * size / ref))


def build_datasets(cfg: TrainConfig) -> Data:
    """The training and test sets of ``cfg.dataset`` with the paper's transforms."""
    S = cfg.image_size
    if cfg.dataset == "synthetic-image":
        from ..data.synthetic import SyntheticImages
        train = SyntheticImages(cfg.train_samples, size=S, seed=cfg.data_seed, split="train")
        test = SyntheticImages(cfg.test_samples, size=S, seed=cfg.data_seed, split="test")
        return Data(train, test, train.num_classes, (S, S), False)
    if cfg.dataset == "synthetic-video":
        from ..data.synthetic import SyntheticClips
        train = SyntheticClips(cfg.train_samples, size=S, frames=cfg.frames, seed=cfg.data_seed,
                               split="train")
        test = SyntheticClips(cfg.test_samples, size=S, frames=cfg.frames, seed=cfg.data_seed,
                              split="test")
        return Data(train, test, train.num_classes, (cfg.frames, S, S), False)
    if cfg.dataset == "cub":
        from ..data import CUB200, cub_test_transform, cub_train_transform
        resize = cfg.test_resize or _scaled(512, S, 448)      # 448 -> 512, as the paper
        train = CUB200(cfg.data_path, train=True, transform=cub_train_transform(S))
        test = CUB200(cfg.data_path, train=False, transform=cub_test_transform(resize, S))
        return Data(train, test, len(train.classes), (S, S), False)
    if cfg.dataset in ("ucf101", "kinetics"):
        from ..data import Kinetics, UCF101, ucf101_test_transform, ucf101_train_transform
        low, high = _scaled(256, S, 224), _scaled(320, S, 224)  # 224 -> [256, 320]
        short = cfg.test_resize or low
        # a GCN unit fixes N at build time: test on crops of the training size instead of the
        # fully-convolutional full-height views
        fixed = cfg.unit_kwargs.get("relation") == "gcn"
        if cfg.dataset == "ucf101":
            def make(train, **kw):
                return UCF101(cfg.data_path, cfg.data_path, fold=cfg.fold, train=train, **kw)
        else:  # kinetics: data_path holds train/, val/ and kinetics400/ (the annotation CSVs)
            def make(train, **kw):
                return Kinetics(cfg.data_path, pathlib.Path(cfg.data_path) / "kinetics400",
                                train=train, **kw)
        # the same clip recipe for both (the paper gives one for action recognition)
        train = make(True, frames=cfg.frames, clips_per_video=1,
                     transform=ucf101_train_transform((low, high), S))
        test = make(False, frames=cfg.frames, clips_per_video=cfg.test_clips,
                    transform=ucf101_test_transform(short, S if fixed else None, cfg.test_crops))
        return Data(train, test, len(train.classes), (cfg.frames, S, S), True)
    raise ValueError(f"dataset must be one of synthetic-image, synthetic-video, cub, ucf101, "
                     f"kinetics, got {cfg.dataset!r}")


@dataclass
class Loaders:
    train: DataLoader
    test: DataLoader
    sampler: DistributedSampler
    generator: torch.Generator


def build_loaders(cfg: TrainConfig, data: Data, world: int = 1, rank: int = 0,
                  pin_memory: bool = False) -> Loaders:
    """Training loader (shuffled by ``seed + epoch``, sharded) and test loader (sharded)."""
    n = len(data.train)
    per_rank = math.ceil(n / world)
    if per_rank < 2:
        raise ValueError(f"the training set has {n} samples for {world} process(es): each needs "
                         "at least 2 (BatchNorm cannot train on batches of one)")
    sampler = DistributedSampler(data.train, num_replicas=world, rank=rank, shuffle=True,
                                 seed=cfg.seed, drop_last=False)
    # The loader's own generator: it draws the workers' base seed at the start of each epoch.
    generator = torch.Generator().manual_seed(cfg.seed * 1000 + rank)
    batch = min(cfg.batch_size, per_rank)
    # drop an incomplete last batch (steps per epoch stay fixed, no batch of one for BatchNorm)
    train = DataLoader(data.train, batch_size=batch, sampler=sampler, num_workers=cfg.workers,
                       pin_memory=pin_memory, drop_last=True, generator=generator,
                       persistent_workers=False)
    if data.video_level:
        views = cfg.test_clips * cfg.test_crops
        test_batch = cfg.test_batch_size or max(1, cfg.batch_size // views)
    else:
        test_batch = cfg.test_batch_size or cfg.batch_size
    # its own generator too: without one, each test pass would draw the workers' base seed
    # from the global RNG and shift the dropout stream of the epochs after it
    test = DataLoader(data.test, batch_size=test_batch,
                      sampler=ShardSampler(len(data.test), world, rank),
                      num_workers=cfg.workers, pin_memory=pin_memory, drop_last=False,
                      generator=torch.Generator().manual_seed(cfg.seed))
    return Loaders(train, test, sampler, generator)


def describe(data: Data) -> dict[str, Any]:
    """One line of facts about the data for the log."""
    return {"train": len(data.train), "test": len(data.test), "classes": data.num_classes,
            "input_size": list(data.input_size)}
