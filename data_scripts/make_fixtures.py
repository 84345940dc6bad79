"""Write tiny CUB-200-2011 / UCF101 / Kinetics-400 data sets in the official on-disk formats.

    python data_scripts/make_fixtures.py --out data/fixtures                 # both, tiny
    python data_scripts/make_fixtures.py --out data/full --full-size         # 500x375 / 320x240
    python data_scripts/make_fixtures.py --out data/arch --archives          # .tgz / .rar / .zip
    python data_scripts/make_fixtures.py --out data/kinetics --dataset kinetics   # CSVs + MP4s

The result loads with ``regr_edu.data.CUB200(OUT)`` and ``regr_edu.data.UCF101(OUT, OUT)``: real
JPEGs, real XVID AVIs written with PyAV, CRLF split lists, the HandstandPushups quirk. It is
deterministic from ``--seed``. Used by the tests and by the book's small modes. ``--dataset
kinetics`` writes ``OUT/train/``, ``OUT/val/`` and ``OUT/kinetics400/*.csv`` for
``regr_edu.data.Kinetics(OUT, OUT / "kinetics400")`` (H.264 MP4s; one listed clip missing).
"""
from __future__ import annotations

import argparse
import sys

import _common  # noqa: F401  (puts the checkout on sys.path)


def main(argv: list[str] | None = None) -> int:
    from regr_edu.data import fixtures

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--out", required=True, help="folder to write into")
    parser.add_argument("--dataset", choices=("cub", "ucf101", "both", "kinetics", "all"),
                        default="both", help="both: cub and ucf101; all: the three")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--full-size", action="store_true",
                        help="CUB images 500x375 and UCF101 videos 320x240 (as the real sets)")
    parser.add_argument("--cub-classes", type=int, default=3)
    parser.add_argument("--cub-images-per-class", type=int, default=4)
    parser.add_argument("--ucf-classes", nargs="+", default=list(fixtures.DEFAULT_UCF_CLASSES),
                        help="class names, e.g. ApplyEyeMakeup HandstandPushups YoYo")
    parser.add_argument("--ucf-groups", type=int, nargs="+", default=[1, 8, 15, 22],
                        help="groups 1..25 to write (split N tests groups 7N-6..7N)")
    parser.add_argument("--ucf-clips-per-group", type=int, default=1)
    parser.add_argument("--ucf-frames", type=int, nargs=2, default=None, metavar=("LOW", "HIGH"),
                        help="video length range in frames (default 24 80; full size 150 200)")
    parser.add_argument("--archives", action="store_true",
                        help="write CUB_200_2011.tgz, UCF101.rar and the split zip instead")
    args = parser.parse_args(argv)
    cub_size = (500, 375) if args.full_size else (80, 60)
    ucf_size = (320, 240) if args.full_size else (64, 48)
    frames = tuple(args.ucf_frames or ((150, 200) if args.full_size else (24, 80)))
    cub_kwargs = dict(num_classes=args.cub_classes, images_per_class=args.cub_images_per_class,
                      size=cub_size, seed=args.seed)
    ucf_kwargs = dict(classes=tuple(args.ucf_classes), groups=tuple(args.ucf_groups),
                      clips_per_group=args.ucf_clips_per_group, size=ucf_size, frames=frames,
                      seed=args.seed)
    if args.dataset in ("cub", "both", "all"):
        if args.archives:
            path, md5 = fixtures.make_cub_archive(args.out, **cub_kwargs)
            print(f"wrote {path} (md5 {md5})")
        else:
            print(f"wrote {fixtures.make_cub_fixture(args.out, **cub_kwargs)}")
    if args.dataset in ("ucf101", "both", "all"):
        if args.archives:
            for path in fixtures.make_ucf101_archives(args.out, **ucf_kwargs):
                print(f"wrote {path}")
        else:
            for path in fixtures.make_ucf101_fixture(args.out, **ucf_kwargs):
                print(f"wrote {path}")
    if args.dataset in ("kinetics", "all"):
        kinetics_size = (340, 256) if args.full_size else (64, 48)
        for path in fixtures.make_kinetics_fixture(args.out, size=kinetics_size, seed=args.seed):
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
