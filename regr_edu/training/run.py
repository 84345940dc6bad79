r"""The training run: build everything from a :class:`TrainConfig`, train, evaluate, checkpoint.

:func:`run` is what ``python -m regr_edu.train`` calls and what notebooks call directly::

    from regr_edu.training import make_config, run
    summary = run(make_config({"epochs": 2, "output_dir": "runs/try"}))

Exact resume. Everything random is a function of state saved at the end of each epoch: the
permutation of epoch ``e`` is drawn from ``seed + e`` (``DistributedSampler``), synthetic samples
from their index, and dropout, augmentations and the workers' seeds from generators whose states
go into the checkpoint (one set per rank). Resuming restores those states, so the run continues
bit for bit on the same machine and software (a killed epoch is redone from its start).
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import pathlib
import platform
import time
import warnings
from typing import Any, Callable

import torch
from torch import nn

from .checkpoint import (CHECKPOINT_VERSION, load_checkpoint, rng_state, save_atomic,
                         seed_everything, set_rng_state, write_text_atomic)
from .config import SMALL_WIDTHS, TrainConfig, check_config
from .data import Data, build_datasets, build_loaders, describe
from .distributed import DistInfo, barrier, cleanup, gather_objects, init_distributed
from .engine import evaluate, train_one_epoch
from .optim import build_optimizer

METRICS_FILE = "metrics.jsonl"
CHECKPOINT_FILE = "checkpoint.pth"
SUMMARY_FILE = "summary.json"

# Fields that may change between a run and its resumption without changing its trajectory.
RESUME_FREE = {"output_dir", "resume", "test_only", "progress", "device", "keep_checkpoints",
               "eval_every", "max_eval_steps", "test_batch_size", "data_path", "stop_epoch"}
# Files that mark a folder as holding a run: a new run refuses it unless told to overwrite.
RUN_FILES = (CHECKPOINT_FILE, METRICS_FILE, SUMMARY_FILE, "config.json")


def _holds_run(folder: pathlib.Path) -> list[str]:
    """The run files in ``folder`` (empty when it holds no run)."""
    found = [name for name in RUN_FILES if (folder / name).exists()]
    found += sorted(p.name for p in folder.glob("checkpoint_*.pth"))
    return found


def check_output_dir(cfg: TrainConfig, overwrite: bool = False) -> None:
    """``ValueError`` when ``cfg.output_dir`` cannot take this run's files.

    It must be a folder (or not exist yet). A new run (not ``resume``, not ``test_only``) refuses a
    folder that already holds a run -- its checkpoint, metrics or configuration would be replaced
    -- unless ``overwrite``. Resuming may write into the folder of the checkpoint it resumes.
    """
    out = pathlib.Path(cfg.output_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"output_dir must be a folder (or not exist yet), got {str(out)!r}, "
                         "which is a file")
    if cfg.test_only or overwrite or not out.is_dir():
        return
    if cfg.resume:
        resume = pathlib.Path(cfg.resume)
        ckpt_dir = resume if resume.is_dir() else resume.parent
        if ckpt_dir.resolve() == out.resolve():
            return
    found = _holds_run(out)
    if found:
        raise ValueError(
            f"output_dir {str(out)!r} already holds a run ({', '.join(found)}); a new run would "
            f"replace it. To continue that run: --resume {out / CHECKPOINT_FILE}; to start over "
            "and replace it: --overwrite (run(..., overwrite=True)); or choose another "
            "--output-dir")


def build_model(cfg: TrainConfig, data: Data) -> nn.Module:
    """The backbone of ``cfg.model`` with ``cfg.num_units`` units of kind ``cfg.unit``."""
    from .. import models
    model_kwargs = cfg.model_kwargs
    if model_kwargs is None:
        model_kwargs = {"widths": SMALL_WIDTHS} if cfg.model == "small_resnet" else {}
    kwargs: dict[str, Any] = {**model_kwargs, **cfg.unit_kwargs}
    if cfg.dropout is not None:
        kwargs["dropout"] = cfg.dropout
    common = dict(unit=cfg.unit, num_units=cfg.num_units, input_size=data.input_size)
    if cfg.model == "small_resnet":
        return models.small_resnet(data.num_classes, **common, **kwargs)
    builder = {"resnet50": models.resnet50, "c2d_resnet50": models.c2d_resnet50,
               "i3d_resnet50": models.i3d_resnet50}[cfg.model]
    return builder(data.num_classes, weights=cfg.weights, **common, **kwargs)


def lr_lambda(cfg: TrainConfig, steps_per_epoch: int) -> Callable[[int], float]:
    r"""Factor on ``cfg.lr`` after ``step`` optimizer steps: linear gradual warm-up from
    ``warmup_factor`` to 1 over ``warmup_epochs`` (Goyal et al. 2017), then step decay at
    ``lr_milestones`` or a cosine to 0 at the end of ``epochs``."""
    warm = cfg.warmup_epochs * steps_per_epoch
    total = cfg.epochs * steps_per_epoch

    def factor(step: int) -> float:
        if step < warm:
            return cfg.warmup_factor + (1.0 - cfg.warmup_factor) * step / warm
        if cfg.schedule == "step":
            epoch = step // steps_per_epoch
            return cfg.lr_gamma ** sum(epoch >= m for m in cfg.lr_milestones)
        progress = min(1.0, (step - warm) / max(1.0, total - warm))
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    return factor


def auto_threads(local_world: int = 1) -> int:
    r"""CPU threads for one training process: the cores left idle by the rest of the machine.

    ``round(cores - load average over the last minute)``, shared among the processes of this
    machine, at least 1. On a busy shared machine this matters a lot: PyTorch's OpenMP threads
    spin while they wait, and two spinning threads on two cores that other programs also want
    ran 5-10x slower here than one thread. (``OMP_WAIT_POLICY=PASSIVE``, set before Python
    starts, removes the spinning too.)
    """
    cores = os.cpu_count() or 1
    return max(1, min(cores, round(cores - _load())) // max(1, local_world))


def _load() -> float:
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):  # pragma: no cover - Windows
        return 0.0


def _configure_backend(cfg: TrainConfig, info: DistInfo) -> TrainConfig:
    """Threads, determinism, cuDNN autotuning; returns ``cfg`` with ``threads`` resolved (a CPU
    run saves the thread count it used, so a resumed run uses the same: float sums can depend
    on it, and exact resume needs them not to)."""
    if cfg.threads is None and info.device.type == "cpu":
        local_world = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
        cfg = dataclasses.replace(cfg, threads=auto_threads(local_world))
        _log(info, f"regr_edu.train: {cfg.threads} CPU thread(s) per process (load "
                   f"{_load():.1f} on {os.cpu_count()} cores; --threads sets it)")
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    if cfg.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    elif info.device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    return cfg


def _check_resume_args(cfg: TrainConfig, saved: dict[str, Any], path: str) -> None:
    changed = {k: (saved.get(k), v) for k, v in cfg.to_dict().items()
               if k not in RESUME_FREE and k in saved and saved[k] != v}
    if changed:
        text = ", ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in sorted(changed.items()))
        warnings.warn(f"resuming {path} with a changed configuration ({text}); the run will not "
                      "continue exactly as it would have", stacklevel=3)


def _sync_buffers(model: nn.Module, info: DistInfo) -> None:
    """Give every rank rank 0's buffers (BatchNorm statistics) before testing: the test runs on
    the bare model, not through DDP, because the test shards may differ in length by one batch
    and DDP's forward would then wait for a broadcast that never comes."""
    if info.distributed:
        import torch.distributed as dist
        for b in model.buffers():
            dist.broadcast(b, 0)


def _log(info: DistInfo, text: str) -> None:
    if info.is_main:
        print(text, flush=True)


def _row_text(row: dict[str, Any], epochs: int) -> str:
    parts = [f"epoch {row['epoch'] + 1}/{epochs}", f"lr {row['lr']:.4g}",
             f"train loss {row['train_loss']:.4f} acc1 {row['train_acc1']:.2f}%"]
    if "test_acc1" in row:
        parts.append(f"test loss {row['test_loss']:.4f} acc1 {row['test_acc1']:.2f}% "
                     f"acc5 {row['test_acc5']:.2f}%")
    if "test_video_acc1" in row:
        parts.append(f"video acc1 {row['test_video_acc1']:.2f}% "
                     f"acc5 {row['test_video_acc5']:.2f}%")
    parts.append(f"{row['epoch_seconds']:.1f} s, {row['train_images_per_s']:.0f} samples/s")
    return "  ".join(parts)


def run(cfg: TrainConfig, callback: Callable[[dict], None] | None = None, *,
        overwrite: bool = False) -> dict[str, Any]:
    """Train (or test) as ``cfg`` says; return the summary (also written to ``summary.json``).

    ``callback(info)`` is called after every optimizer step with ``epoch``, ``step``, ``batch``,
    ``loss``, ``model``, ``optimizer``, ``rank``, ``world`` and the training ``sampler`` (tests
    use it to compare ranks step by step). A new run refuses an ``output_dir`` that already holds
    a run unless ``overwrite`` (see :func:`check_output_dir`). Nothing is written before the first
    epoch ends, and every file is written atomically.
    """
    check_config(cfg)
    check_output_dir(cfg, overwrite)
    started = time.perf_counter()
    info = init_distributed(cfg.device)
    try:
        return _run(cfg, info, callback, started)
    finally:
        cleanup(info)


def _run(cfg: TrainConfig, info: DistInfo, callback, started: float) -> dict[str, Any]:
    ckpt = load_checkpoint(cfg.resume) if cfg.resume else None
    if ckpt is not None and cfg.threads is None and ckpt.get("args", {}).get("threads"):
        cfg = dataclasses.replace(cfg, threads=ckpt["args"]["threads"])  # as the run began
    cfg = _configure_backend(cfg, info)
    device = info.device
    out_dir = pathlib.Path(cfg.output_dir)
    if ckpt is not None:
        _check_resume_args(cfg, ckpt.get("args", {}), cfg.resume)

    seed_everything(cfg.seed)                        # identical model init on every rank
    data = build_datasets(cfg)
    model = build_model(cfg, data).to(device)
    if cfg.sync_bn and info.distributed and device.type == "cuda":
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    elif cfg.sync_bn:
        warnings.warn("sync_bn applies to torchrun on GPUs; this run keeps per-process "
                      "BatchNorm statistics", stacklevel=2)
    loaders = build_loaders(cfg, data, info.world, info.rank, pin_memory=device.type == "cuda")
    steps_per_epoch = len(loaders.train) if cfg.max_steps is None else min(len(loaders.train),
                                                                          cfg.max_steps)
    if steps_per_epoch == 0:
        raise ValueError(f"no training step per epoch: {len(data.train)} samples over "
                         f"{info.world} process(es) give no full batch of {cfg.batch_size}")
    optimizer = build_optimizer(cfg.optimizer, model, cfg.lr, cfg.momentum, cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(cfg, steps_per_epoch))
    scaler = torch.amp.GradScaler(device.type, enabled=cfg.amp and device.type == "cuda")

    start_epoch, step, history = 0, 0, []
    if ckpt is not None:
        try:
            model.load_state_dict(ckpt["model"])
        except RuntimeError as err:
            lines = [ln.strip() for ln in str(err).splitlines()[1:] if ln.strip()][:3]
            raise ValueError(
                f"resume must name a checkpoint of the model this configuration builds "
                f"({cfg.model} + {cfg.num_units if cfg.unit else 0} x {cfg.unit or 'no unit'}, "
                f"unit_kwargs={cfg.unit_kwargs}), got {cfg.resume}, whose weights do not fit it "
                f"({'; '.join(lines)[:600]}); flags that change the model (--model, --unit, "
                "--unit-kwargs, --model-kwargs) must match the checkpoint's") from None
        if not cfg.test_only:
            optimizer.load_state_dict(ckpt["optimizer"])
            scheduler.load_state_dict(ckpt["scheduler"])
            if ckpt.get("scaler"):
                scaler.load_state_dict(ckpt["scaler"])
        start_epoch, step = int(ckpt["epoch"]) + 1, int(ckpt["step"])
        history = [dict(r) for r in ckpt.get("history", [])]
        states = ckpt.get("rng") or []
        if len(states) == info.world:
            set_rng_state(states[info.rank], loaders.generator)
        else:
            warnings.warn(f"the checkpoint holds RNG states for {len(states)} process(es), this "
                          f"run has {info.world}: random streams are reseeded, so the run does "
                          "not continue exactly", stacklevel=2)
            seed_everything(cfg.seed + info.rank + 1000 * start_epoch)
    else:
        seed_everything(cfg.seed + info.rank)        # each rank its own dropout/augmentation

    net = model
    if info.distributed:
        net = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)

    params = sum(p.numel() for p in model.parameters())
    _log(info, f"regr_edu.train: {cfg.dataset} {describe(data)}, {cfg.model} + "
               f"{cfg.num_units if cfg.unit else 0} x {cfg.unit or 'no unit'} "
               f"({params / 1e6:.2f} M parameters), {info.world} process(es) on {device}")

    end = cfg.epochs if cfg.stop_epoch is None else min(cfg.epochs, cfg.stop_epoch)
    if ckpt is not None and not cfg.test_only:
        if start_epoch >= cfg.epochs:
            _log(info, f"regr_edu.train: the run in {cfg.resume} is finished: it trained all "
                       f"{cfg.epochs} epochs; nothing to do (to train longer pass a larger "
                       "--epochs; to test it: --test-only)")
            last = history[-1] if history else {}
            return {"config": cfg.to_dict(), "epochs_run": len(history), "final": last,
                    "finished": True, "output_dir": str(out_dir)}
        if start_epoch >= end:
            raise ValueError(f"stop_epoch must be larger than the {start_epoch} epoch(s) the "
                             f"checkpoint {cfg.resume} has trained, got stop_epoch="
                             f"{cfg.stop_epoch}: there is nothing to do")
        _log(info, f"regr_edu.train: resuming {cfg.resume}: it stopped after epoch "
                   f"{start_epoch} of {cfg.epochs}; continuing with epoch {start_epoch + 1} "
                   f"up to epoch {end}")

    if cfg.test_only:
        metrics = evaluate(model, loaders.test, device, amp=cfg.amp, video_level=data.video_level,
                           max_steps=cfg.max_eval_steps, progress=cfg.progress and info.is_main)
        summary = {"test_only": True, "checkpoint": cfg.resume, "epoch": start_epoch - 1,
                   **metrics}
        _log(info, json.dumps(summary))
        if info.is_main:
            write_text_atomic(json.dumps(summary, indent=2) + "\n", out_dir / "test_metrics.json")
        return summary

    if info.is_main and ckpt is not None:
        # the metrics file is derived from the checkpoint: a killed epoch leaves no line behind
        write_text_atomic("".join(json.dumps(r) + "\n" for r in history), out_dir / METRICS_FILE)
    # a new run writes nothing before its first epoch ends: a run that fails early leaves no
    # half-written folder behind (and so nothing that a rerun would refuse)

    step_callback = None
    if callback is not None:
        def step_callback(payload: dict) -> None:
            callback({**payload, "rank": info.rank, "world": info.world,
                      "sampler": loaders.sampler})

    for epoch in range(start_epoch, end):
        t0 = time.perf_counter()
        loaders.sampler.set_epoch(epoch)
        lr = optimizer.param_groups[0]["lr"]
        row: dict[str, Any] = {"epoch": epoch, "lr": lr}
        row.update(train_one_epoch(net, loaders.train, optimizer, scheduler, scaler, device, epoch,
                                   amp=cfg.amp, label_smoothing=cfg.label_smoothing,
                                   max_steps=cfg.max_steps, progress=cfg.progress and info.is_main,
                                   callback=step_callback, step0=step))
        step += row["steps"]
        if (epoch + 1) % cfg.eval_every == 0 or epoch + 1 in (cfg.epochs, end):
            _sync_buffers(model, info)
            row.update(evaluate(model, loaders.test, device, amp=cfg.amp,
                                video_level=data.video_level, max_steps=cfg.max_eval_steps,
                                progress=cfg.progress and info.is_main))
        row["step"] = step
        row["epoch_seconds"] = time.perf_counter() - t0
        history.append(row)
        states = gather_objects(rng_state(loaders.generator), info)
        if info.is_main:
            state = {"version": CHECKPOINT_VERSION, "epoch": epoch, "step": step,
                     "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                     "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(),
                     "args": cfg.to_dict(), "history": history, "world_size": info.world,
                     "rng": states}
            save_atomic(state, out_dir / CHECKPOINT_FILE)
            if cfg.keep_checkpoints:
                save_atomic(state, out_dir / f"checkpoint_{epoch:03d}.pth")
            if epoch == start_epoch:
                write_text_atomic(json.dumps(cfg.to_dict(), indent=2) + "\n",
                                  out_dir / "config.json")
            # rewritten whole (atomically) from the history, never appended to in place
            write_text_atomic("".join(json.dumps(r) + "\n" for r in history),
                              out_dir / METRICS_FILE)
        _log(info, _row_text(row, cfg.epochs))
        barrier(info)

    last = history[-1] if history else {}
    summary = {"config": cfg.to_dict(), "epochs_run": len(history), "final": last,
               "best_test_acc1": max((r["test_acc1"] for r in history if "test_acc1" in r),
                                     default=None),
               "wall_seconds": time.perf_counter() - started, "world_size": info.world,
               "device": torch.cuda.get_device_name(device) if device.type == "cuda"
               else f"cpu ({platform.processor() or platform.machine()}, "
                    f"{torch.get_num_threads()} threads)",
               "torch": torch.__version__, "output_dir": str(out_dir)}
    if info.is_main:
        write_text_atomic(json.dumps(summary, indent=2) + "\n", out_dir / SUMMARY_FILE)
    return summary


def read_metrics(path: "str | os.PathLike[str]") -> list[dict[str, Any]]:
    """The rows of a ``metrics.jsonl`` file (or of ``<folder>/metrics.jsonl``)."""
    path = pathlib.Path(path)
    if path.is_dir():
        path = path / METRICS_FILE
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()]
