r"""Train a backbone with global-reasoning units: ``python -m regr_edu.train``.

With no arguments it trains ``small_resnet`` + one ReGr unit on the synthetic relational image
task (:mod:`regr_edu.data.synthetic`) on the CPU in a minute or two, writing to
``runs/synthetic-image/``. Flags follow torchvision's reference ``train.py``::

    python -m regr_edu.train                                   # the synthetic default
    python -m regr_edu.train --unit none --output-dir runs/base   # the same without a unit
    python -m regr_edu.train --dataset synthetic-video --epochs 4

    # the paper's recipes (shipped in regr_edu/configs/, listed by --list-configs)
    python -m regr_edu.train --config cub_regr --data-path /data/cub --output-dir runs/cub
    python -m regr_edu.train --config ucf101_c2d_regr --data-path /data/ucf101 --amp

    # continue exactly where a run stopped (its configuration is read from the checkpoint)
    python -m regr_edu.train --resume runs/cub/checkpoint.pth
    # test a checkpoint (UCF101: clip- and video-level top-1/top-5)
    python -m regr_edu.train --resume runs/cub/checkpoint.pth --test-only

Several GPUs on one machine (``--batch-size`` is per process: the recipe's 8 x 8 GPUs = 64
images a step)::

    torchrun --standalone --nproc_per_node=8 -m regr_edu.train --config cub_regr \
        --data-path /data/cub --sync-bn --amp

Several machines: run the same command on every machine with torchrun's rendezvous flags, e.g.
2 machines x 8 GPUs, the first machine reachable at ``10.0.0.1``::

    torchrun --nnodes=2 --nproc_per_node=8 --rdzv_id=regr-cub --rdzv_backend=c10d \
        --rdzv_endpoint=10.0.0.1:29400 -m regr_edu.train --config cub_regr \
        --data-path /data/cub --batch-size 4 --sync-bn --amp      # 2 x 8 x 4 = 64 a step

(or the static form ``--nnodes=2 --node_rank=0|1 --master_addr=10.0.0.1 --master_port=29500``).
Every process reads ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` from the environment torchrun
sets; NCCL is used on GPUs, gloo on the CPU. Rank 0 writes the checkpoint, ``metrics.jsonl`` and
``summary.json``; the data set must be at ``--data-path`` on every machine.

Outputs in ``--output-dir``: ``config.json``; ``checkpoint.pth`` after every epoch (atomically:
model, optimizer, scheduler, AMP scaler, epoch, configuration, metrics history and every RNG
state of every rank, all readable with ``torch.load(..., weights_only=True)``);
``metrics.jsonl`` (one JSON object per epoch); ``summary.json`` at the end. Every file is
written atomically, and nothing before the first epoch ends. A new run refuses an
``--output-dir`` that already holds a run: ``--resume`` it (a run stopped with ``--stop-epoch``
continues to ``--epochs``; a finished run says so) or pass ``--overwrite``.

Configuration precedence: defaults < ``--config`` recipe < the checkpoint's configuration
(``--resume``) < flags given on the command line. ``--print-config`` shows the result.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Sequence

from .training.config import (DATASETS, FIELDS, MODELS, OPTIMIZERS, SCHEDULES, UNIT_NAMES,
                              TrainConfig, list_recipes, load_recipe, make_config)


def _json_object(text: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise argparse.ArgumentTypeError(f"must be a JSON object such as "
                                         f"'{{\"relation\": \"gcn\"}}', got {text!r} ({err})")
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"must be a JSON object, got {text!r}")
    return value


def _unit(text: str) -> str | None:
    if text.lower() in ("none", "null", ""):
        return None
    if text not in UNIT_NAMES:
        raise argparse.ArgumentTypeError(f"must be one of {', '.join(UNIT_NAMES)} or none, got "
                                         f"{text!r}")
    return text


def _optional(kind):
    def parse(text: str):
        return None if text.lower() in ("none", "null") else kind(text)
    parse.__name__ = kind.__name__
    return parse


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m regr_edu.train", description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1].replace("``", ""),
        argument_default=argparse.SUPPRESS,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add = p.add_argument
    add("--config", metavar="NAME", help=f"a shipped recipe ({', '.join(list_recipes())}) "
        "or a path to a JSON file of fields")
    add("--list-configs", action="store_true", help="print the shipped recipes and exit")
    add("--print-config", action="store_true", help="print the resulting configuration and exit")
    g = p.add_argument_group("data")
    g.add_argument("--dataset", choices=DATASETS)
    g.add_argument("--data-path", help="cub: folder with CUB_200_2011/; ucf101: folder with "
                   "UCF-101/ and ucfTrainTestlist/; kinetics: folder with train/, val/ and "
                   "kinetics400/ (the annotation CSVs)")
    g.add_argument("--fold", type=int, help="ucf101 split (1, 2 or 3)")
    g.add_argument("--train-samples", type=int, help="synthetic: training set size")
    g.add_argument("--test-samples", type=int, help="synthetic: test set size")
    g.add_argument("--data-seed", type=int, help="synthetic: seed of the data")
    g.add_argument("--image-size", type=int, help="training crop / image side")
    g.add_argument("--test-resize", type=_optional(int), help="test shorter side")
    g.add_argument("--frames", type=int, help="frames per clip")
    g.add_argument("--test-clips", type=int, help="ucf101: clips per test video")
    g.add_argument("--test-crops", type=int, help="ucf101: crops per test clip")
    g = p.add_argument_group("model")
    g.add_argument("--model", choices=MODELS)
    g.add_argument("--unit", type=_unit, metavar="{regr,nl,cgnl,glore,none}")
    g.add_argument("--num-units", type=int)
    g.add_argument("--unit-kwargs", type=_json_object, metavar="JSON",
                   help='options for every unit, e.g. \'{"relation": "gcn"}\'')
    g.add_argument("--model-kwargs", type=_json_object, metavar="JSON",
                   help='options for the backbone, e.g. \'{"widths": [16, 32, 64]}\'')
    g.add_argument("--weights", type=_optional(str), help="ResNet-50s: imagenet, a path, none")
    g.add_argument("--dropout", type=_optional(float))
    g = p.add_argument_group("optimisation")
    g.add_argument("--epochs", type=int)
    g.add_argument("-b", "--batch-size", type=int, help="per process")
    g.add_argument("--test-batch-size", type=_optional(int))
    g.add_argument("--optimizer", choices=OPTIMIZERS)
    g.add_argument("--lr", type=float)
    g.add_argument("--momentum", type=float)
    g.add_argument("--wd", "--weight-decay", dest="weight_decay", type=float)
    g.add_argument("--schedule", choices=SCHEDULES)
    g.add_argument("--lr-milestones", type=int, nargs="*", metavar="EPOCH")
    g.add_argument("--lr-gamma", type=float)
    g.add_argument("--warmup-epochs", type=float)
    g.add_argument("--warmup-factor", type=float)
    g.add_argument("--label-smoothing", type=float)
    g = p.add_argument_group("running")
    g.add_argument("--device", type=_optional(str), help="cpu, cuda, cuda:N")
    g.add_argument("--amp", action="store_true", help="mixed precision")
    g.add_argument("-j", "--workers", type=int, help="DataLoader workers per process")
    g.add_argument("--threads", type=_optional(int), help="torch.set_num_threads")
    g.add_argument("--seed", type=int)
    g.add_argument("--deterministic", action="store_true")
    g.add_argument("--sync-bn", action="store_true", help="SyncBatchNorm (torchrun, GPUs)")
    g.add_argument("--max-steps", type=_optional(int), help="training steps per epoch, at most")
    g.add_argument("--max-eval-steps", type=_optional(int), help="test batches, at most")
    g.add_argument("--eval-every", type=int)
    g.add_argument("--stop-epoch", type=_optional(int),
                   help="stop after this many epochs (the schedule still spans --epochs)")
    g.add_argument("--output-dir")
    g.add_argument("--resume", metavar="CHECKPOINT", help="a checkpoint, or a run's folder: "
                   "continue it (to --epochs, also after --stop-epoch)")
    g.add_argument("--overwrite", action="store_true",
                   help="let a new run replace the run already in --output-dir")
    g.add_argument("--test-only", action="store_true")
    g.add_argument("--keep-checkpoints", action="store_true", help="keep one file per epoch")
    g.add_argument("--progress", action=argparse.BooleanOptionalAction,
                   help="tqdm progress bars; --no-progress turns them off")
    defaults = TrainConfig()
    for action in p._actions:                  # show TrainConfig's defaults (flags default to
        if action.dest in FIELDS:              # "not given", so that a recipe can fill them)
            value = getattr(defaults, action.dest)
            action.help = f"{action.help + ' ' if action.help else ''}[default: {value}]"
    return p


def parse_config(argv: Sequence[str] | None = None):
    """The :class:`TrainConfig` that ``argv`` describes (errors exit through argparse)."""
    return _parse(argv)[0]


def _parse(argv: Sequence[str] | None) -> tuple[TrainConfig, dict[str, Any]]:
    """The configuration and the options that are not part of it (``overwrite``)."""
    parser = get_parser()
    args = vars(parser.parse_args(argv))
    options = {"overwrite": bool(args.pop("overwrite", False))}
    if args.pop("list_configs", False):
        for name in list_recipes():
            print(name)
        raise SystemExit(0)
    print_only = args.pop("print_config", False)
    recipe_name = args.pop("config", None)
    layers: list[dict[str, Any]] = []
    try:
        if recipe_name is not None:
            layers.append(load_recipe(recipe_name))
        if "resume" in args and not args["resume"] is None:
            from .training.checkpoint import load_checkpoint
            saved = dict(load_checkpoint(args["resume"]).get("args", {}))
            # stop_epoch: a run stopped early is resumed to its end unless told again
            for key in ("resume", "test_only", "stop_epoch"):
                saved.pop(key, None)
            layers.append({k: v for k, v in saved.items() if k in FIELDS})
        layers.append(args)
        cfg = make_config(*layers)
        if not print_only:
            from .training.run import check_output_dir
            check_output_dir(cfg, options["overwrite"])
    except (ValueError, FileNotFoundError) as err:
        parser.error(str(err))
    if print_only:
        print(json.dumps(cfg.to_dict(), indent=2))
        raise SystemExit(0)
    return cfg, options


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Parse ``argv`` (default: the command line) and run; return the run's summary."""
    from .training.run import run
    cfg, options = _parse(argv)
    return run(cfg, overwrite=options["overwrite"])


if __name__ == "__main__":
    main(sys.argv[1:])
