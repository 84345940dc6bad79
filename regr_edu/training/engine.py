r"""One training epoch and one evaluation, with metrics summed exactly across processes.

Top-k accuracy counts a sample as right when its label is among the ``k`` highest scores
(``k`` is capped at the number of classes, so on a 2-class task top-5 is 100 % by definition).
On UCF101 the test loader gives every video as ``V = clips x crops`` views: *clip level* scores
each view alone (every view counts), *video level* averages the softmax over the ``V`` views
(the paper's protocol) and counts each video once.
"""
from __future__ import annotations

import contextlib
import math
import time
from typing import Any, Callable

import torch
import torch.distributed as dist
import torch.nn.functional as F


def topk_correct(logits: torch.Tensor, target: torch.Tensor, ks: tuple[int, ...] = (1, 5)
                 ) -> list[int]:
    """How many rows of ``logits`` (B, K) have ``target`` among their top ``k``, for each k."""
    kmax = min(max(ks), logits.shape[1])
    top = logits.topk(kmax, dim=1).indices                    # (B, kmax)
    hit = top.eq(target[:, None])                             # (B, kmax)
    return [int(hit[:, :min(k, kmax)].any(1).sum()) for k in ks]


def reduce_sums(sums: dict[str, float], device: torch.device) -> dict[str, float]:
    """Sum each value over all processes (no-op without a process group)."""
    if not (dist.is_available() and dist.is_initialized()):
        return sums
    keys = sorted(sums)
    t = torch.tensor([float(sums[k]) for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return dict(zip(keys, t.tolist()))


def autocast(device: torch.device, enabled: bool):
    """float16 autocast on CUDA, bfloat16 on the CPU; a no-op when disabled."""
    if not enabled:
        return contextlib.nullcontext()
    dtype = torch.float16 if device.type == "cuda" else torch.bfloat16
    return torch.autocast(device.type, dtype=dtype)


def train_one_epoch(model: torch.nn.Module, loader, optimizer, scheduler, scaler,
                    device: torch.device, epoch: int, *, amp: bool = False,
                    label_smoothing: float = 0.0, max_steps: int | None = None,
                    progress: bool = False, callback: Callable[[dict], None] | None = None,
                    step0: int = 0) -> dict[str, float]:
    """Train for one pass over ``loader`` (or ``max_steps`` batches); return mean loss, top-1,
    the number of samples and images per second (over all processes)."""
    model.train()
    steps = len(loader) if max_steps is None else min(len(loader), max_steps)
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=steps, desc=f"epoch {epoch}", leave=False, dynamic_ncols=True)
    sums = {"loss": 0.0, "correct": 0.0, "n": 0.0}
    start = time.perf_counter()
    for i, (x, y) in enumerate(loader):
        if i >= steps:
            break
        x = x.to(device, non_blocking=True)
        y = y.to(device, non_blocking=True)
        with autocast(device, amp):
            logits = model(x)                                 # (B, K)
            loss = F.cross_entropy(logits, y, label_smoothing=label_smoothing)
        if not math.isfinite(loss.item()):
            raise FloatingPointError(f"the training loss is {loss.item()} at epoch {epoch}, step "
                                     f"{i}: lower --lr or check the data")
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        scheduler.step()
        B = y.shape[0]
        sums["loss"] += loss.item() * B
        sums["correct"] += topk_correct(logits.detach().float(), y, (1,))[0]
        sums["n"] += B
        if callback is not None:
            callback({"epoch": epoch, "step": step0 + i + 1, "batch": i, "loss": loss.item(),
                      "model": model, "optimizer": optimizer})
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}", lr=f"{optimizer.param_groups[0]['lr']:.3g}")
    if bar is not None:
        bar.close()
    seconds = time.perf_counter() - start
    total = reduce_sums(dict(sums), device)
    n = max(total["n"], 1.0)
    return {"train_loss": total["loss"] / n, "train_acc1": 100.0 * total["correct"] / n,
            "train_samples": int(total["n"]), "train_seconds": seconds,
            "train_images_per_s": total["n"] / max(seconds, 1e-9), "steps": min(steps, i + 1)
            if steps else 0}


@torch.no_grad()
def evaluate(model: torch.nn.Module, loader, device: torch.device, *, amp: bool = False,
             video_level: bool = False, max_steps: int | None = None, progress: bool = False,
             view_chunk: int = 0) -> dict[str, float]:
    """Loss, top-1 and top-5 on ``loader`` (summed over processes). With ``video_level``,
    batches are ``(B, V, ...)`` views: clip-level and video-level metrics."""
    model.eval()
    steps = len(loader) if max_steps is None else min(len(loader), max_steps)
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=steps, desc="test", leave=False, dynamic_ncols=True)
    sums = {"loss": 0.0, "c1": 0.0, "c5": 0.0, "n": 0.0, "v1": 0.0, "v5": 0.0, "videos": 0.0}
    for i, (x, y) in enumerate(loader):
        if i >= steps:
            break
        x = x.to(device, non_blocking=True)
        y = y.to(device, non_blocking=True)
        with autocast(device, amp):
            if video_level:
                B, V = x.shape[:2]
                flat = x.flatten(0, 1)                        # (B*V, 3, T, H, W)
                chunk = view_chunk or flat.shape[0]
                logits = torch.cat([model(flat[j:j + chunk])
                                    for j in range(0, flat.shape[0], chunk)]).float()
                yv = y.repeat_interleave(V)                   # (B*V,)
                sums["loss"] += F.cross_entropy(logits, yv, reduction="sum").item()
                c1, c5 = topk_correct(logits, yv)
                probs = logits.softmax(-1).view(B, V, -1).mean(1)   # (B, K) video scores
                v1, v5 = topk_correct(probs, y)
                sums["v1"] += v1
                sums["v5"] += v5
                sums["videos"] += B
                sums["n"] += B * V
            else:
                logits = model(x).float()                     # (B, K)
                sums["loss"] += F.cross_entropy(logits, y, reduction="sum").item()
                c1, c5 = topk_correct(logits, y)
                sums["n"] += y.shape[0]
        sums["c1"] += c1
        sums["c5"] += c5
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    total = reduce_sums(sums, device)
    n = max(total["n"], 1.0)
    out = {"test_loss": total["loss"] / n, "test_acc1": 100.0 * total["c1"] / n,
           "test_acc5": 100.0 * total["c5"] / n, "test_samples": int(total["n"])}
    if video_level:
        v = max(total["videos"], 1.0)
        out.update({"test_clip_acc1": out["test_acc1"], "test_clip_acc5": out["test_acc5"],
                    "test_video_acc1": 100.0 * total["v1"] / v,
                    "test_video_acc5": 100.0 * total["v5"] / v,
                    "test_videos": int(total["videos"])})
    return out
