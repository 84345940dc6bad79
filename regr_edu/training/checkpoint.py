r"""Checkpoints: written atomically, read with ``torch.load(..., weights_only=True)``.

A checkpoint is a dict of tensors, dicts, lists, numbers, strings and None only, so the safe
unpickler of ``weights_only=True`` reads all of it::

    {"version": 1, "epoch": e (last finished, 0-based), "step": optimizer steps so far,
     "model": state_dict, "optimizer": ..., "scheduler": ..., "scaler": ...,
     "args": TrainConfig as a dict, "history": [metrics of each epoch],
     "world_size": processes, "rng": [one RNG state per rank, see rng_state()]}

Writing: ``torch.save`` into a temporary file in the same folder, flush and ``fsync``, then
``os.replace`` onto the final name (atomic on POSIX and Windows), then ``fsync`` the folder. A
crash at any moment leaves either the previous checkpoint or the new one, never a torn file.
"""
from __future__ import annotations

import os
import pathlib
import random
import tempfile
from typing import IO, Any, Callable

import numpy as np
import torch

CHECKPOINT_VERSION = 1


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _temporary(path: pathlib.Path) -> tuple[int, str]:
    """A new file beside ``path`` (same file system, so ``os.replace`` is atomic), with the
    permissions an ordinary ``open`` would give (``mkstemp`` makes it 0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.chmod(tmp, 0o666 & ~_umask())
    return fd, tmp


def save_atomic(obj: Any, path: "str | os.PathLike[str]") -> pathlib.Path:
    """``torch.save(obj)`` to ``path`` so that ``path`` is either the old or the new file."""
    return write_atomic(path, lambda f: torch.save(obj, f))


def write_text_atomic(text: str, path: "str | os.PathLike[str]") -> pathlib.Path:
    """Write a text file the same way (temporary file, fsync, ``os.replace``)."""
    return write_atomic(path, lambda f: f.write(text), binary=False)


def write_atomic(path: "str | os.PathLike[str]", write: Callable[[IO], Any], *,
                 binary: bool = True) -> pathlib.Path:
    """Call ``write(file)`` on a temporary file beside ``path``, fsync it, then ``os.replace``:
    a crash leaves either the old file or the new one, never half of it. The package's one
    atomic writer (:func:`save_atomic` and :func:`write_text_atomic` are it for a torch object
    and a string). An exception from ``write`` removes the temporary file and leaves ``path`` as
    it was. Text files are UTF-8 with newlines written as given (``newline=""``, as ``csv``
    wants)."""
    path = pathlib.Path(path)
    fd, tmp = _temporary(path)
    try:
        with os.fdopen(fd, "wb" if binary else "w",
                       **({} if binary else {"encoding": "utf-8", "newline": ""})) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(path.parent)
    return path


def _fsync_dir(folder: pathlib.Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. Windows cannot open a folder
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def load_checkpoint(path: "str | os.PathLike[str]",
                    map_location: Any = "cpu") -> dict[str, Any]:
    """Read a checkpoint with the safe unpickler; clear errors for a missing or foreign file.

    ``path`` is a checkpoint file or a run's folder (then its ``checkpoint.pth``). Every failure
    is a ``FileNotFoundError`` or ``ValueError`` that names the file and what is wrong with it:
    an empty or truncated file, a file that is not a torch checkpoint, one whose pickle would run
    code (refused by ``weights_only=True``), or one of another format version.
    """
    path = pathlib.Path(path)
    if path.is_dir():
        inside = path / "checkpoint.pth"
        if not inside.is_file():
            raise FileNotFoundError(f"resume must name a checkpoint file or a run's folder "
                                    f"holding checkpoint.pth, got the folder {path}, which has "
                                    "no checkpoint.pth")
        path = inside
    if not path.is_file():
        raise FileNotFoundError(f"resume must name a checkpoint file, got {path}, which does not "
                                "exist")
    if path.stat().st_size == 0:
        raise ValueError(f"resume must name a checkpoint file, got {path}, which is empty "
                         "(0 bytes): a copy or a save that did not finish")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # EOFError, UnpicklingError, RuntimeError from the zip reader...
        first = str(err).strip().splitlines()[0][:300] if str(err).strip() else ""
        raise ValueError(f"resume must name a regr_edu checkpoint readable with "
                         f"torch.load(weights_only=True), got {path}, which could not be read "
                         f"({type(err).__name__}{': ' + first if first else ''}); it may be "
                         "truncated, corrupt, not a torch file, or hold objects that the safe "
                         "loader refuses") from None
    if not isinstance(ckpt, dict) or "model" not in ckpt or "epoch" not in ckpt:
        raise ValueError(f"{path} is not a regr_edu training checkpoint (expected a dict with "
                         f"'model' and 'epoch'; got {type(ckpt).__name__} with keys "
                         f"{sorted(ckpt)[:8] if isinstance(ckpt, dict) else '-'})")
    version = ckpt.get("version")
    if version != CHECKPOINT_VERSION:
        raise ValueError(f"checkpoint version must be {CHECKPOINT_VERSION} (the format this "
                         f"regr_edu reads), got version={version!r} in {path}; it was written "
                         "by another version of regr_edu")
    return ckpt


# --- random number generators -----------------------------------------------------------------
def rng_state(loader_generator: torch.Generator | None = None) -> dict[str, Any]:
    r"""Every RNG a training step may draw from, as tensors and plain lists.

    ``torch`` (dropout, CPU-side augmentation in the main process), ``cuda`` (one state per
    visible device), ``numpy`` (the legacy global generator), ``python`` (``random``) and
    ``loader`` (the DataLoader's generator: it draws the workers' base seed each epoch).
    """
    version, internal, gauss_next = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "cuda": [s for s in torch.cuda.get_rng_state_all()] if torch.cuda.is_available() else [],
        "numpy": {"kind": str(kind), "keys": torch.from_numpy(keys.astype(np.int64)),
                  "pos": int(pos), "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "python": {"version": int(version), "internal": torch.tensor(internal, dtype=torch.int64),
                   "gauss_next": gauss_next},
        "loader": loader_generator.get_state() if loader_generator is not None else None,
    }
    return state


def set_rng_state(state: dict[str, Any], loader_generator: torch.Generator | None = None) -> None:
    """Restore what :func:`rng_state` captured."""
    torch.set_rng_state(state["torch"].cpu())
    if state.get("cuda") and torch.cuda.is_available():
        cuda = [s.cpu() for s in state["cuda"]]
        if len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda)
        else:
            torch.cuda.set_rng_state(cuda[0])
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"],
                         n["has_gauss"], n["cached_gaussian"]))
    p = state["python"]
    random.setstate((p["version"], tuple(int(v) for v in p["internal"].tolist()),
                     p["gauss_next"]))
    if loader_generator is not None and state.get("loader") is not None:
        loader_generator.set_state(state["loader"].cpu())


def seed_everything(seed: int) -> None:
    """Seed torch (all devices), numpy's global generator and ``random``."""
    random.seed(seed)
    np.random.seed(seed % 2 ** 32)
    torch.manual_seed(seed)
