"""Prepare Kinetics-400 for regr_edu.data.Kinetics: the annotation CSVs, and a check of the videos.

    python data_scripts/prepare_kinetics.py --root data/kinetics
    python data_scripts/prepare_kinetics.py --root data/kinetics --no-download   # offline

What this script CANNOT do: fetch the videos. Kinetics is published as a list of YouTube clips,
not as files; the ~240k training and ~20k validation clips must be downloaded from YouTube with a
crawler (the ActivityNet one: github.com/activitynet/ActivityNet, Crawler/Kinetics, which needs
youtube-dl/yt-dlp and ffmpeg) or copied from a copy you already have. Nothing here reaches
YouTube, and on a machine without network nothing is fetched at all. Put the clips at

    ROOT/train/<label>/<youtube_id>_<time_start:06d>_<time_end:06d>.mp4
    ROOT/val/<label>/<youtube_id>_<time_start:06d>_<time_end:06d>.mp4

(the crawler's names; <label> as in the CSV, e.g. "air drumming", or with underscores,
"air_drumming"), e.g. ROOT/train/abseiling/--07WQ2iBlw_000001_000011.mp4.

What it does: the annotation CSVs come from DeepMind's kinetics400.tar.gz (a few MB); the script
downloads it to ROOT/kinetics400.tar.gz (or, offline, tells you the URL and the exact path to put
the file at) and extracts ROOT/kinetics400/{train,validate,test}.csv safely. Then it reads the
training and validation CSVs against ROOT and reports how many clips are on disk and how many are
missing (every copy misses some: YouTube takes videos down; the ReGr paper trained on "about
240k"). --check-only skips the annotation step.
"""
from __future__ import annotations

import argparse
import logging
import pathlib
import sys

import _common  # noqa: F401  (puts the checkout on sys.path)

KINETICS400_URL = "https://storage.googleapis.com/deepmind-media/Datasets/kinetics400.tar.gz"
ARCHIVE = "kinetics400.tar.gz"
FOLDER = "kinetics400"


def cannot_fetch_videos(root: pathlib.Path) -> str:
    return (f"Videos: this script cannot fetch them (they are YouTube clips, not files to "
            f"download). Put them at\n    {root / 'train'}/<label>/<youtube_id>_<start:06d>_"
            f"<end:06d>.mp4\n    {root / 'val'}/<label>/<youtube_id>_<start:06d>_<end:06d>.mp4\n"
            f"with the ActivityNet crawler (Crawler/Kinetics) or from a copy you have.")


def main(argv: list[str] | None = None) -> int:
    from regr_edu.data import Kinetics, download as dl

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--root", default="data/kinetics",
                        help="folder holding train/, val/ and kinetics400/ (default: "
                             "data/kinetics)")
    parser.add_argument("--url", default=KINETICS400_URL, help="annotation archive URL")
    parser.add_argument("--md5", default=None, help="expected MD5 of the archive (optional: "
                                                    "DeepMind publishes none)")
    parser.add_argument("--no-download", action="store_true",
                        help="never touch the network: use ROOT/kinetics400.tar.gz put by hand")
    parser.add_argument("--check-only", action="store_true",
                        help="only read the CSVs in ROOT/kinetics400/ against the videos")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    root = pathlib.Path(args.root)
    annotations = root / FOLDER
    logging.basicConfig(level=logging.WARNING, format="%(message)s")

    if not args.check_only and not (annotations / "train.csv").is_file():
        archive = root / ARCHIVE
        try:
            if not archive.is_file():
                if args.no_download:
                    raise FileNotFoundError(dl.offline_message(args.url, archive, args.md5,
                                                               "--no-download"))
                dl.download_url(args.url, archive, args.md5, progress=not args.quiet)
            dl.extract_archive(archive, root, args.md5, progress=not args.quiet)
        except (dl.DownloadError, dl.ChecksumError, dl.UnsafeArchiveError,
                dl.CorruptArchiveError, FileNotFoundError, FileExistsError) as err:
            print(f"error: {err}", file=sys.stderr)
            print(cannot_fetch_videos(root), file=sys.stderr)
            return 1
    print(cannot_fetch_videos(root))
    try:
        sets = {name: Kinetics(root, annotations, train=train)
                for name, train in (("train", True), ("val", False))}
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    for name, ds in sets.items():
        listed = len(ds.samples) + len(ds.missing)
        print(f"Kinetics {name}: {len(ds.samples)} of {listed} listed clips on disk "
              f"({len(ds.missing)} missing), {len(ds.classes)} classes ({ds.csv_path})")
    if len(sets["train"].classes) != 400:
        print(f"warning: Kinetics-400 has 400 classes, the training CSV gives "
              f"{len(sets['train'].classes)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
