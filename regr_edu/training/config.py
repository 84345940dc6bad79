r"""The training configuration: one dataclass, one comment per field, recipes as JSON files.

Precedence, lowest first: the dataclass defaults (the CPU-scale synthetic run), a shipped recipe
(``--config cub_regr``, a file ``regr_edu/configs/cub_regr.json``), the configuration saved in a
checkpoint (``--resume``), then the flags given on the command line.
"""
from __future__ import annotations

import dataclasses
import json
import math
import pathlib
from dataclasses import dataclass, field
from typing import Any, Mapping

from .._checks import check_choice, check_nonnegative_int, check_positive_int

DATASETS = ("synthetic-image", "synthetic-video", "cub", "ucf101", "kinetics")
MODELS = ("small_resnet", "resnet50", "c2d_resnet50", "i3d_resnet50")
UNIT_NAMES = ("regr", "nl", "cgnl", "glore")
SCHEDULES = ("step", "cosine")
OPTIMIZERS = ("sgd", "adam")
VIDEO_DATASETS = ("synthetic-video", "ucf101", "kinetics")
VIDEO_MODELS = ("c2d_resnet50", "i3d_resnet50")
CONFIG_DIR = pathlib.Path(__file__).resolve().parents[1] / "configs"
SMALL_WIDTHS = [16, 32, 64]  # small_resnet's widths when model_kwargs is None


@dataclass
class TrainConfig:
    """Everything a run depends on. Defaults: the synthetic image task on the CPU (~1-2 min)."""

    # --- data ---------------------------------------------------------------------------------
    dataset: str = "synthetic-image"   # synthetic-image | synthetic-video | cub | ucf101 |
    #                                    kinetics
    data_path: str | None = None       # cub: folder holding CUB_200_2011/ (or that folder);
    #                                    ucf101: folder holding UCF-101/ and ucfTrainTestlist/;
    #                                    kinetics: folder holding train/, val/, kinetics400/
    fold: int = 1                      # ucf101: official split (the paper reports split 1)
    train_samples: int = 2048          # synthetic: training set size
    test_samples: int = 512            # synthetic: test set size
    data_seed: int = 0                 # synthetic: seed of the data, fixed across model seeds
    image_size: int = 64               # training input side: crop (cub 448, ucf101 224) or image
    test_resize: int | None = None     # cub: shorter side before the test centre crop (512);
    #                                    ucf101: shorter side of the test views (256)
    frames: int = 8                    # clips: T frames per clip
    test_clips: int = 10               # ucf101: evenly spaced clips per test video
    test_crops: int = 3                # ucf101: crops per test clip along the longer side
    # --- model --------------------------------------------------------------------------------
    model: str = "small_resnet"        # small_resnet | resnet50 | c2d_resnet50 | i3d_resnet50
    unit: str | None = "regr"          # regr | nl | cgnl | glore | None (the plain backbone)
    num_units: int = 1                 # units in the backbone (small_resnet 1|2, ResNet-50 1|2|5)
    unit_kwargs: dict = field(default_factory=dict)  # options for every unit, e.g.
    #                                    {"relation": "gcn", "scales": [[4, 4]]}
    model_kwargs: dict | None = None   # options for the backbone; None: its defaults, except
    #                                    small_resnet gets {"widths": [16, 32, 64]} (CPU scale;
    #                                    its own default is 32-64-128, 4x the compute)
    weights: str | None = None         # None (random) | "imagenet" | path to a state dict
    dropout: float | None = None       # before the classifier; None: the model's default
    #                                    (0.5 for ResNet-50s, 0 for small_resnet)
    # --- optimisation -------------------------------------------------------------------------
    epochs: int = 6                    # passes over the training set
    batch_size: int = 64               # per process (torchrun: global batch = this x processes)
    test_batch_size: int | None = None  # per process at test time; None: batch_size (ucf101:
    #                                    batch_size // views, at least 1)
    optimizer: str = "sgd"             # sgd | adam (refine's eta at lr x refine_lr_scale)
    lr: float = 0.05                   # peak learning rate
    momentum: float = 0.9              # SGD momentum (Adam ignores it)
    weight_decay: float = 5e-4         # L2 on every parameter (the recipes: 1e-4)
    schedule: str = "cosine"           # step: x lr_gamma at lr_milestones | cosine: to 0
    lr_milestones: list = field(default_factory=list)  # epochs where step multiplies lr
    lr_gamma: float = 0.1              # step: factor at each milestone
    warmup_epochs: float = 1.0         # gradual warm-up (linear, per step) over this many epochs
    warmup_factor: float = 0.1         # warm-up starts at lr x warmup_factor
    label_smoothing: float = 0.0       # cross-entropy label smoothing
    # --- running ------------------------------------------------------------------------------
    device: str | None = None          # cpu | cuda | cuda:N; None: cuda when present, else cpu
    amp: bool = False                  # mixed precision: float16 + GradScaler on CUDA,
    #                                    bfloat16 autocast on the CPU
    workers: int = 0                   # DataLoader worker processes per training process
    threads: int | None = None         # torch.set_num_threads; None: PyTorch's default. On a
    #                                    busy shared CPU, 1 can be several times faster
    seed: int = 0                      # model init, data order, dropout (rank r adds r)
    deterministic: bool = False        # torch.use_deterministic_algorithms (warn only)
    sync_bn: bool = False              # torchrun on GPUs: SyncBatchNorm across processes
    max_steps: int | None = None       # cap on training steps per epoch (smoke runs, tests)
    max_eval_steps: int | None = None  # cap on test batches per evaluation
    eval_every: int = 1                # evaluate every N epochs (and always after the last)
    stop_epoch: int | None = None      # stop after this many epochs, as if killed there (the LR
    #                                    schedule still spans `epochs`; --resume continues)
    output_dir: str = "runs/synthetic-image"  # checkpoint.pth, metrics.jsonl, summary.json
    resume: str | None = None          # checkpoint to continue from (exactly)
    test_only: bool = False            # evaluate the resumed or given weights and stop
    keep_checkpoints: bool = False     # also keep checkpoint_<epoch>.pth for every epoch
    progress: bool = True              # tqdm progress bars (rank 0)

    def to_dict(self) -> dict[str, Any]:
        """Plain types only (str, int, float, bool, None, list, dict): JSON and
        ``torch.load(weights_only=True)`` both read it back."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @property
    def is_video(self) -> bool:
        return self.dataset in VIDEO_DATASETS


FIELDS = {f.name: f for f in dataclasses.fields(TrainConfig)}


def list_recipes() -> list[str]:
    """Names of the recipes shipped in ``regr_edu/configs/``."""
    return sorted(p.stem for p in CONFIG_DIR.glob("*.json"))


def load_recipe(name: str) -> dict[str, Any]:
    """The fields a recipe sets: ``name`` is a shipped recipe or a path to a JSON file.

    Keys starting with ``_`` (``_comment``, ``_paper``) document the recipe and are dropped.
    """
    path = pathlib.Path(name)
    if not path.suffix == ".json" or not path.is_file():
        path = CONFIG_DIR / f"{name}.json"
    if not path.is_file():
        raise ValueError(f"config must be one of {list_recipes()} or a path to a .json file, "
                         f"got {name!r}")
    values = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(values, dict):
        raise ValueError(f"config {path} must hold a JSON object, got {type(values).__name__}")
    values = {k: v for k, v in values.items() if not k.startswith("_")}
    unknown = sorted(set(values) - set(FIELDS))
    if unknown:
        raise ValueError(f"config {path} sets unknown field(s) {unknown}; fields are "
                         f"{sorted(FIELDS)}")
    return values


def make_config(*layers: Mapping[str, Any]) -> TrainConfig:
    """A checked :class:`TrainConfig` from dicts applied in order (later wins)."""
    values: dict[str, Any] = {}
    for layer in layers:
        unknown = sorted(set(layer) - set(FIELDS))
        if unknown:
            raise ValueError(f"unknown configuration field(s) {unknown}; fields are "
                             f"{sorted(FIELDS)}")
        values.update(layer)
    cfg = TrainConfig(**values)
    check_config(cfg)
    return cfg


def _positive(cfg: TrainConfig, *names: str) -> None:
    for name in names:
        value = getattr(cfg, name)
        if value is None and FIELDS[name].default is None:
            continue
        check_positive_int(name, value)


def check_config(cfg: TrainConfig) -> None:
    """``ValueError`` naming the field, the rule and the value for every inconsistency."""
    check_choice("dataset", cfg.dataset, list(DATASETS))
    check_choice("model", cfg.model, list(MODELS))
    if cfg.unit is not None and cfg.unit not in UNIT_NAMES:
        raise ValueError(f"unit must be one of {list(UNIT_NAMES)} or none, got {cfg.unit!r}")
    check_choice("optimizer", cfg.optimizer, list(OPTIMIZERS))
    check_choice("schedule", cfg.schedule, list(SCHEDULES))
    _positive(cfg, "epochs", "batch_size", "num_units", "image_size", "frames", "test_clips",
              "test_crops", "train_samples", "test_samples", "eval_every", "test_batch_size",
              "max_steps", "max_eval_steps", "test_resize", "threads", "stop_epoch")
    for name in ("workers", "seed", "data_seed"):
        check_nonnegative_int(name, getattr(cfg, name))
    for name in ("lr", "momentum", "weight_decay", "lr_gamma", "warmup_epochs",
                 "warmup_factor", "label_smoothing"):
        value = getattr(cfg, name)
        if (not isinstance(value, (int, float)) or isinstance(value, bool)
                or not math.isfinite(value) or value < 0):
            raise ValueError(f"{name} must be a finite non-negative number, got {value!r}")
    if cfg.lr == 0:
        raise ValueError("lr must be > 0, got 0")
    if not cfg.momentum < 1:
        raise ValueError(f"momentum must be in [0, 1), got {cfg.momentum!r}")
    if not cfg.label_smoothing < 1:
        raise ValueError(f"label_smoothing must be in [0, 1), got {cfg.label_smoothing!r}")
    if isinstance(cfg.epochs, int) and cfg.warmup_epochs > cfg.epochs:
        raise ValueError(f"warmup_epochs must be at most epochs={cfg.epochs} (a warm-up longer "
                         f"than the training never reaches the peak lr), got "
                         f"{cfg.warmup_epochs!r}")
    if not 0 < cfg.warmup_factor <= 1:
        raise ValueError(f"warmup_factor must be in (0, 1], got {cfg.warmup_factor!r}")
    if cfg.dropout is not None and not 0 <= cfg.dropout < 1:
        raise ValueError(f"dropout must be in [0, 1) or None, got {cfg.dropout!r}")
    if not isinstance(cfg.lr_milestones, list) or not all(
            isinstance(m, int) and not isinstance(m, bool) and m >= 1 for m in cfg.lr_milestones):
        raise ValueError(f"lr_milestones must be a list of positive integer epochs, got "
                         f"{cfg.lr_milestones!r}")
    if any(b <= a for a, b in zip(cfg.lr_milestones, cfg.lr_milestones[1:])):
        raise ValueError(f"lr_milestones must be strictly increasing epochs, got "
                         f"{cfg.lr_milestones!r}")
    if cfg.model_kwargs is not None and not isinstance(cfg.model_kwargs, dict):
        raise ValueError(f"model_kwargs must be a dict (a JSON object), got {cfg.model_kwargs!r}")
    if not isinstance(cfg.unit_kwargs, dict):
        raise ValueError(f"unit_kwargs must be a dict (a JSON object), got {cfg.unit_kwargs!r}")
    if cfg.unit is None and cfg.unit_kwargs:
        raise ValueError(f"unit_kwargs {cfg.unit_kwargs} were given without a unit; name one "
                         f"with --unit {{{','.join(UNIT_NAMES)}}}")
    if cfg.dataset in ("cub", "ucf101", "kinetics") and not cfg.data_path:
        raise ValueError(f"dataset {cfg.dataset!r} needs --data-path (the folder holding the "
                         "data set); see the module docstring of regr_edu.train")
    video_data, video_model = cfg.is_video, cfg.model in VIDEO_MODELS
    if video_model and not video_data:
        raise ValueError(f"model {cfg.model!r} takes clips; use it with dataset 'ucf101', "
                         f"'kinetics' or 'synthetic-video', got dataset {cfg.dataset!r}")
    if cfg.model == "resnet50" and video_data:
        raise ValueError(f"model 'resnet50' takes images; for dataset {cfg.dataset!r} use "
                         "'c2d_resnet50', 'i3d_resnet50' or 'small_resnet'")
    if cfg.weights is not None and cfg.model == "small_resnet":
        raise ValueError("weights are available for the ResNet-50s only; small_resnet starts "
                         f"from random weights, got weights={cfg.weights!r}")
    if cfg.test_only and cfg.resume is None:
        raise ValueError("test_only needs a trained model to test: pass --resume CHECKPOINT")
