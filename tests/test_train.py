"""Training: the CLI, exact resume after SIGKILL, DDP on gloo, atomic checkpoints, errors.

Every run here is tiny (``small_resnet`` with widths 8-16-32, a few steps, one thread) so the
file stays within about two minutes of CPU. The true default (``python -m regr_edu.train`` with
no arguments) is marked ``slow``.
"""
from __future__ import annotations

import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time

import pytest
import torch

from regr_edu.train import main, parse_config
from regr_edu.training import (build_model, load_checkpoint, lr_lambda, make_config, run,
                               save_atomic)
from regr_edu.training.checkpoint import rng_state, seed_everything, set_rng_state
from regr_edu.training.data import build_datasets
from regr_edu.training.engine import evaluate, topk_correct

ROOT = pathlib.Path(__file__).resolve().parents[1]
TINY = ["--model-kwargs", '{"widths": [8, 16, 32]}', "--threads", "1", "--no-progress"]


@pytest.fixture(autouse=True)
def _restore_threads():
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _cli(args: list[str], cwd: pathlib.Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "regr_edu.train", *args], cwd=cwd, env=_env(),
                          capture_output=True, text=True, timeout=timeout)


def _same_state(a: dict, b: dict, what: str) -> None:
    assert a.keys() == b.keys(), what
    for k in a:
        if isinstance(a[k], torch.Tensor):
            assert torch.equal(a[k], b[k]), f"{what}[{k!r}] differs"
        elif isinstance(a[k], dict):
            _same_state(a[k], b[k], f"{what}[{k!r}]")
        elif isinstance(a[k], list):
            assert len(a[k]) == len(b[k]), f"{what}[{k!r}]"
            for i, (x, y) in enumerate(zip(a[k], b[k])):
                if isinstance(x, dict):
                    _same_state(x, y, f"{what}[{k!r}][{i}]")
                elif isinstance(x, torch.Tensor):
                    assert torch.equal(x, y), f"{what}[{k!r}][{i}] differs"
                else:
                    assert x == y, f"{what}[{k!r}][{i}]"
        else:
            assert a[k] == b[k], f"{what}[{k!r}]: {a[k]!r} != {b[k]!r}"


# --- the command line -----------------------------------------------------------------------
def test_cli_short_run_writes_checkpoint_metrics_and_summary(tmp_path):
    out = tmp_path / "run"
    done = _cli(["--epochs", "2", "--max-steps", "2", "--train-samples", "32", "--test-samples",
                 "16", "--batch-size", "8", "--output-dir", str(out), *TINY], ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "epoch 2/2" in done.stdout
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [0, 1]
    assert {"train_loss", "train_acc1", "test_loss", "test_acc1", "test_acc5", "lr"} <= rows[0].keys()
    ckpt = torch.load(out / "checkpoint.pth", map_location="cpu", weights_only=True)
    assert {"model", "optimizer", "scheduler", "scaler", "epoch", "step", "args", "rng",
            "history"} <= ckpt.keys()
    assert ckpt["epoch"] == 1 and ckpt["step"] == 4 and ckpt["args"]["unit"] == "regr"
    assert {"torch", "cuda", "numpy", "python", "loader"} == ckpt["rng"][0].keys()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["epochs_run"] == 2 and summary["final"]["epoch"] == 1
    assert not list(out.glob(".*.tmp"))


@pytest.mark.slow
def test_true_default_runs_in_under_two_minutes(tmp_path):
    """``python -m regr_edu.train`` with no arguments (slow: a full default run)."""
    start = time.perf_counter()
    done = _cli([], tmp_path, timeout=600)
    seconds = time.perf_counter() - start
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads((tmp_path / "runs" / "synthetic-image" / "summary.json").read_text())
    assert summary["epochs_run"] == 6
    print(f"default run: {seconds:.1f} s wall, final {summary['final']['test_acc1']:.1f}% top-1")
    assert seconds < 120 * 2, "the default should take about 2 minutes at most (x2 for load)"


def test_recipes_hold_the_papers_settings(capsys):
    cfg = parse_config(["--config", "cub_regr", "--data-path", "/nowhere"])
    assert (cfg.model, cfg.unit, cfg.num_units, cfg.weights) == ("resnet50", "regr", 1, "imagenet")
    assert (cfg.image_size, cfg.test_resize, cfg.dropout) == (448, 512, 0.5)
    assert (cfg.lr, cfg.momentum, cfg.weight_decay) == (0.01, 0.9, 1e-4)
    assert (cfg.schedule, cfg.lr_milestones, cfg.lr_gamma, cfg.epochs) == ("step", [30, 60, 80],
                                                                          0.1, 100)
    assert cfg.warmup_epochs > 0
    ucf = parse_config(["--config", "ucf101_c2d_regr", "--data-path", "/nowhere", "--lr", "0.02"])
    assert (ucf.model, ucf.frames, ucf.test_clips, ucf.test_crops) == ("c2d_resnet50", 8, 10, 3)
    assert ucf.unit_kwargs == {"scales": [[3, 3], [5, 5]]} and ucf.lr == 0.02   # flag wins
    with pytest.raises(SystemExit) as exit_info:
        parse_config(["--list-configs"])
    assert exit_info.value.code == 0
    assert {"cub_regr", "ucf101_c2d_regr"} <= set(capsys.readouterr().out.split())


@pytest.mark.parametrize("argv, message", [
    (["--dataset", "imagenet"], "invalid choice: 'imagenet'"),
    (["--unit", "transformer"], "must be one of regr, nl, cgnl, glore or none"),
    (["--unit-kwargs", "{relation: gcn}"], "must be a JSON object"),
    (["--epochs", "0"], "epochs must be a positive integer, got 0"),
    (["--dataset", "cub"], "needs --data-path"),
    (["--model", "c2d_resnet50"], "model 'c2d_resnet50' takes clips"),
    (["--config", "imagenet_vit"], "config must be one of"),
    (["--test-only"], "test_only needs a trained model"),
    (["--unit", "none", "--unit-kwargs", '{"relation": "gcn"}'], "were given without a unit"),
    (["--resume", "/nowhere/checkpoint.pth"], "does not exist"),
    (["--lr", "fast"], "invalid float value: 'fast'"),
])
def test_bad_flags_give_clear_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        parse_config(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_bad_device_is_a_clear_error(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("CUDA is present")
    with pytest.raises(ValueError, match="torch.cuda.is_available\\(\\) is False"):
        run(make_config({"device": "cuda", "output_dir": str(tmp_path)}))


# --- exact resume -----------------------------------------------------------------------------
RESUME_ARGS = ["--epochs", "3", "--train-samples", "96", "--test-samples", "16", "--batch-size",
               "16", "--dropout", "0.2", "--seed", "5", *TINY]


def test_resume_after_sigkill_is_bit_identical(tmp_path):
    # an uninterrupted run (in this process)
    main([*RESUME_ARGS, "--output-dir", str(tmp_path / "straight")])
    # the same run in a subprocess, killed with SIGKILL once the first checkpoint exists
    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "regr_edu.train", *RESUME_ARGS,
                             "--output-dir", str(killed)], cwd=ROOT, env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    ckpt_path = killed / "checkpoint.pth"
    deadline = time.monotonic() + 300
    while not ckpt_path.exists():
        assert proc.poll() is None, proc.stderr.read().decode()[-3000:]
        assert time.monotonic() < deadline, "no checkpoint after 300 s"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(60) == -signal.SIGKILL
    proc.stderr.close()
    interrupted = load_checkpoint(ckpt_path)
    assert interrupted["epoch"] < 2, "the run finished before it was killed"
    # resume: the configuration comes from the checkpoint
    main(["--resume", str(ckpt_path)])
    a = load_checkpoint(tmp_path / "straight" / "checkpoint.pth")
    b = load_checkpoint(ckpt_path)
    assert a["epoch"] == b["epoch"] == 2 and a["step"] == b["step"]
    _same_state(a["model"], b["model"], "model")
    _same_state(a["optimizer"], b["optimizer"], "optimizer")
    _same_state(a["scheduler"], b["scheduler"], "scheduler")
    _same_state(a["rng"][0], b["rng"][0], "rng")
    timing = {"train_seconds", "train_images_per_s", "epoch_seconds"}
    strip = [{k: v for k, v in r.items() if k not in timing} for r in a["history"]]
    assert strip == [{k: v for k, v in r.items() if k not in timing} for r in b["history"]]
    rows = [json.loads(line) for line in (killed / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [0, 1, 2]


def test_rng_state_round_trip_through_weights_only(tmp_path):
    import random

    import numpy as np
    g = torch.Generator().manual_seed(7)
    seed_everything(11)
    torch.rand(3), np.random.rand(2), random.random(), torch.rand(2, generator=g)
    save_atomic({"rng": rng_state(g)}, tmp_path / "s.pth")
    expected = (torch.rand(4), np.random.rand(4), [random.random() for _ in range(4)],
                torch.rand(4, generator=g))
    seed_everything(99)
    g.manual_seed(0)
    set_rng_state(torch.load(tmp_path / "s.pth", weights_only=True)["rng"], g)
    got = (torch.rand(4), np.random.rand(4), [random.random() for _ in range(4)],
           torch.rand(4, generator=g))
    assert torch.equal(expected[0], got[0]) and np.array_equal(expected[1], got[1])
    assert expected[2] == got[2] and torch.equal(expected[3], got[3])


# --- atomic checkpoints -----------------------------------------------------------------------
def test_a_failed_save_leaves_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.pth"
    save_atomic({"epoch": 0, "w": torch.ones(3)}, path)
    real_save = torch.save

    def broken(obj, f, *args, **kwargs):
        f.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken)
    with pytest.raises(OSError, match="disk full"):
        save_atomic({"epoch": 1, "w": torch.zeros(3)}, path)
    monkeypatch.setattr(torch, "save", real_save)
    back = torch.load(path, weights_only=True)
    assert back["epoch"] == 0 and torch.equal(back["w"], torch.ones(3))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pth"]


def test_a_crash_while_checkpointing_keeps_the_last_epoch(tmp_path, monkeypatch):
    real_save = torch.save
    calls = {"n": 0}

    def second_fails(obj, f, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            f.write(b"torn")
            raise KeyboardInterrupt("killed while saving")
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", second_fails)
    cfg = parse_config(["--epochs", "3", "--max-steps", "1", "--train-samples", "16",
                        "--test-samples", "8", "--batch-size", "8", "--output-dir",
                        str(tmp_path), *TINY])
    with pytest.raises(KeyboardInterrupt):
        run(cfg)
    monkeypatch.setattr(torch, "save", real_save)
    ckpt = load_checkpoint(tmp_path / "checkpoint.pth")
    assert ckpt["epoch"] == 0
    assert not list(tmp_path.glob(".*.tmp"))


# --- schedule and metrics ---------------------------------------------------------------------
def test_warmup_then_steps_at_the_milestones():
    cfg = make_config({"epochs": 10, "schedule": "step", "lr_milestones": [3, 6, 8],
                       "warmup_epochs": 2, "warmup_factor": 0.1})
    f = lr_lambda(cfg, steps_per_epoch=10)
    assert f(0) == pytest.approx(0.1) and f(10) == pytest.approx(0.55)
    assert f(20) == 1.0 and f(29) == 1.0
    assert f(30) == pytest.approx(0.1) and f(60) == pytest.approx(0.01)
    assert f(80) == pytest.approx(0.001)
    cos = lr_lambda(make_config({"epochs": 4, "warmup_epochs": 0}), 5)
    assert cos(0) == 1.0 and cos(10) == pytest.approx(0.5) and cos(20) == pytest.approx(0.0)


def test_topk_and_video_level_accuracy():
    logits = torch.tensor([[3.0, 2.0, 1.0], [0.0, 1.0, 2.0]])
    assert topk_correct(logits, torch.tensor([1, 2]), (1, 2, 5)) == [1, 2, 2]

    class Fixed(torch.nn.Module):                           # scores = the clip's mean per class
        def forward(self, x):
            return x.mean((2, 3, 4))[:, :3]

    # 2 videos x 3 views; video 0: views vote 0, 0, 1 (label 0); video 1: 2, 1, 1 (label 2)
    views = torch.zeros(2, 3, 3, 1, 1, 1)
    votes = [[0, 0, 1], [2, 1, 1]]
    for b in range(2):
        for v in range(3):
            views[b, v, votes[b][v]] = 5.0
    views[1, 0, 2] = 50.0                                   # one very confident right view
    loader = [(views, torch.tensor([0, 2]))]
    m = evaluate(Fixed(), loader, torch.device("cpu"), video_level=True)
    assert m["test_clip_acc1"] == pytest.approx(100 * 3 / 6)  # views right: 0, 0 | 2
    assert m["test_video_acc1"] == pytest.approx(50.0)      # softmax mean: video 0 right, 1 not
    assert m["test_videos"] == 2 and m["test_samples"] == 6


def test_plot_history(tmp_path):
    import matplotlib
    matplotlib.use("Agg")
    from regr_edu.training import plot_history
    rows = [{"epoch": e, "train_loss": 1.0 / (e + 1), "train_acc1": 50 + e, "test_loss": 0.9,
             "test_acc1": 50 + 2 * e, "test_video_acc1": 55.0} for e in range(3)]
    fig = plot_history({"a": rows, "b": rows}, title="t")
    assert len(fig.axes) == 2 and len(fig.axes[1].lines) == 6


# --- several processes: DistributedDataParallel on gloo ---------------------------------------
DDP_CONFIG = {"train_samples": 64, "test_samples": 16, "batch_size": 8, "epochs": 2,
              "model_kwargs": {"widths": [8, 16, 32]}, "dropout": 0.2, "seed": 3,
              "threads": 1, "progress": False}
# Tolerance against the one-process reference. DDP divides each rank's gradient by 2 and sums
# them in the all-reduce; the reference back-propagates half of each shard's loss into one sum.
# Halving is exact in binary floating point and a sum of two terms does not depend on its order,
# so on gloo with 2 ranks the result is bit-identical (measured: largest difference 0 over 8
# steps). The tolerance leaves room for backends or rank counts where the order of the sum
# changes the last bits (~1e-7 per step, carried along by momentum).
DDP_ATOL, DDP_RTOL = 2e-5, 1e-4


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank: int, world: int, port: int, out: str, cfg_dict: dict) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    record: dict = {"params": [], "shards": {}}

    def callback(info: dict) -> None:
        flat = torch.cat([p.detach().flatten() for p in info["model"].parameters()])
        record["params"].append(flat.clone())
        if info["batch"] == 0:
            record["shards"][info["epoch"]] = list(info["sampler"])
    run(make_config({**cfg_dict, "output_dir": os.path.join(out, "run")}), callback=callback)
    torch.save(record, os.path.join(out, f"rank{rank}.pt"))


def test_ddp_on_gloo_matches_one_process_averaging_two_shards(tmp_path):
    import torch.multiprocessing as mp
    cfg_dict = dict(DDP_CONFIG)
    mp.spawn(_ddp_worker, args=(2, _free_port(), str(tmp_path), cfg_dict), nprocs=2, join=True)
    r0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    r1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    steps = len(r0["params"])
    assert steps == 2 * 64 // (2 * 8)
    for s in range(steps):                                   # identical after every step
        assert torch.equal(r0["params"][s], r1["params"][s]), f"ranks differ after step {s + 1}"
    for epoch in (0, 1):                                     # disjoint shards covering the set
        a, b = set(r0["shards"][epoch]), set(r1["shards"][epoch])
        assert not a & b and a | b == set(range(64)) and len(a) == len(b) == 32
    assert r0["shards"][0] != r0["shards"][1]                # reshuffled each epoch

    # one process: the same two shards, one forward each, gradients averaged
    cfg = make_config({**cfg_dict, "output_dir": str(tmp_path / "ref")})
    torch.set_num_threads(1)
    seed_everything(cfg.seed)
    data = build_datasets(cfg)
    model = build_model(cfg, data)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum,
                          weight_decay=cfg.weight_decay)
    per_epoch = 32 // 8
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(cfg, per_epoch))
    rngs = []
    for r in (0, 1):                                         # each rank's dropout stream
        seed_everything(cfg.seed + r)
        rngs.append(torch.get_rng_state())
    step, worst = 0, 0.0
    model.train()
    for epoch in (0, 1):
        shards = (r0["shards"][epoch], r1["shards"][epoch])
        for i in range(per_epoch):
            opt.zero_grad(set_to_none=True)
            buffers = {k: v.clone() for k, v in model.named_buffers()}
            for r in (1, 0):                                 # rank 0 last: its BN statistics stay
                if r == 0:
                    for k, v in model.named_buffers():
                        v.copy_(buffers[k])
                idx = shards[r][i * 8:(i + 1) * 8]
                x = torch.stack([data.train[j][0] for j in idx])
                y = torch.tensor([data.train[j][1] for j in idx])
                torch.set_rng_state(rngs[r])
                loss = torch.nn.functional.cross_entropy(model(x), y)
                rngs[r] = torch.get_rng_state()
                (loss / 2).backward()
            opt.step()
            sched.step()
            flat = torch.cat([p.detach().flatten() for p in model.parameters()])
            torch.testing.assert_close(flat, r0["params"][step], atol=DDP_ATOL, rtol=DDP_RTOL,
                                       msg=lambda m: f"after step {step + 1}: {m}")
            worst = max(worst, float((flat - r0["params"][step]).abs().max()))
            step += 1
    ckpt = load_checkpoint(tmp_path / "run" / "checkpoint.pth")  # rank 0's BatchNorm statistics
    for k, v in model.named_buffers():
        torch.testing.assert_close(ckpt["model"][k].to(v.dtype), v, atol=DDP_ATOL, rtol=DDP_RTOL)
    assert len(ckpt["rng"]) == 2                             # one RNG state per rank
    print(f"DDP vs one process: largest parameter difference {worst:.2e} over {steps} steps")


def test_gpu_benchmark_skips_cleanly_without_cuda(capsys):
    if torch.cuda.is_available():
        pytest.skip("CUDA is present: benchmarks/gpu.py would run for real")
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import gpu
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    assert gpu.main([]) == 0
    assert "no CUDA device" in capsys.readouterr().out


@pytest.mark.parametrize("extra", [
    ["--amp"],                                                         # bfloat16 autocast on CPU
    ["--dataset", "synthetic-video", "--frames", "4", "--unit", "nl"],  # clips through a unit
])
def test_other_paths_run(tmp_path, extra):
    summary = main(["--epochs", "1", "--max-steps", "1", "--train-samples", "8",
                    "--test-samples", "4", "--batch-size", "4", "--output-dir", str(tmp_path),
                    *TINY, *extra])
    assert summary["epochs_run"] == 1 and summary["final"]["test_samples"] == 4
