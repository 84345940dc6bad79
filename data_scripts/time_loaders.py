"""Time the loaders per sample at full size on this machine (no network, fixture data).

    python data_scripts/time_loaders.py [--repeats 20]

CUB: one 500x375 JPEG through the 448 train and test transforms. UCF101: one 320x240 25 fps XVID
AVI of 175 frames (7 s, about UCF101's mean length) as a training clip (8 x 224 x 224) and as the
10-clip x 3-crop test views (30 x 3 x 8 x 256 x 256). Single process, median of the repeats.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

import _common  # noqa: F401  (puts the checkout on sys.path)


def _median_ms(fn, repeats: int) -> tuple[float, float]:
    """Median wall-clock and CPU (this process) milliseconds per call. On a shared machine the
    CPU time is the steadier number: waiting for a core counts in wall time only."""
    fn()  # warm-up (imports, codec initialisation)
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return 1000 * statistics.median(wall), 1000 * statistics.median(cpu)


def main(argv: list[str] | None = None) -> int:
    import torch

    from regr_edu import data

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (a DataLoader worker uses 1)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        cub = data.make_cub_fixture(tmp, num_classes=2, images_per_class=2, size=(500, 375))
        train = data.CUB200(cub, train=True, transform=data.cub_train_transform())
        test = data.CUB200(cub, train=False, transform=data.cub_test_transform())
        data.make_ucf101_fixture(tmp, classes=("YoYo",), groups=(1, 8), size=(320, 240),
                                 frames=(175, 175))
        utrain = data.UCF101(tmp, tmp, train=True, transform=data.ucf101_train_transform())
        utest = data.UCF101(tmp, tmp, train=False, clips_per_video=10,
                            transform=data.ucf101_test_transform())
        rows = [
            ("CUB train  (500x375 JPEG -> 3x448x448)", lambda: train[0]),
            ("CUB test   (500x375 JPEG -> 3x448x448)", lambda: test[0]),
            ("UCF101 train (320x240x175 AVI -> 3x8x224x224)", lambda: utrain[0]),
            ("UCF101 test  (10 clips x 3 crops -> 30x3x8x256x256)", lambda: utest[0]),
        ]
        print(f"torch threads: {torch.get_num_threads()}, median of {args.repeats}, "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        print(f"{'':55s} {'wall ms':>9s} {'CPU ms':>9s}  per sample")
        for name, fn in rows:
            wall, cpu = _median_ms(fn, args.repeats)
            print(f"{name:55s} {wall:9.1f} {cpu:9.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
