"""Download and extract UCF101 (``UCF101.rar``) and its split lists (the RecognitionTask zip).

    python data_scripts/download_ucf101.py --root data/
    python data_scripts/download_ucf101.py --root data/ --no-download   # offline: files put by hand

``UCF101.rar`` (about 6.5 GB, RAR 3) is extracted with Debian's ``unar``: install it first with
``apt-get install -y unar``. Downloads resume from ``*.part`` files; UCF publishes no MD5, so pass
``--md5``/``--splits-md5`` to check against your own. Extraction refuses members that would land
outside ``--root``. Without network it says which URL to fetch by hand and where to put the file.
"""
from __future__ import annotations

import argparse
import sys

import _common  # noqa: F401  (puts the checkout on sys.path)


def main(argv: list[str] | None = None) -> int:
    from regr_edu.data import UCF101, download as dl

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--root", default="data",
                        help="folder to hold UCF-101/ and ucfTrainTestlist/ (default: data)")
    parser.add_argument("--url", default=dl.UCF101_URL, help="video archive URL")
    parser.add_argument("--splits-url", default=dl.UCF101_SPLITS_URL, help="split-list zip URL")
    parser.add_argument("--md5", default=None, help="expected MD5 of UCF101.rar (optional)")
    parser.add_argument("--splits-md5", default=None, help="expected MD5 of the zip (optional)")
    parser.add_argument("--no-download", action="store_true",
                        help="never touch the network: use the archives put in ROOT by hand")
    parser.add_argument("--delete-archive", action="store_true",
                        help="remove the archives after a successful extraction")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    try:
        videos, splits = dl.prepare_ucf101(
            args.root, download=not args.no_download, keep_archive=not args.delete_archive,
            url=args.url, splits_url=args.splits_url, md5=args.md5, splits_md5=args.splits_md5,
            progress=not args.quiet)
    except (dl.DownloadError, dl.ChecksumError, dl.UnsafeArchiveError, dl.CorruptArchiveError, dl.MissingToolError,
            FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    train = UCF101(videos, splits, fold=1, train=True)
    test = UCF101(videos, splits, fold=1, train=False)
    print(f"UCF101 ready: {videos} and {splits}: {len(train.classes)} classes, split 1 "
          f"{len(train)} train / {len(test)} test videos")
    if (len(train.classes), len(train), len(test)) != (101, 9537, 3783):
        print("warning: the official split 1 has 101 classes, 9537 train / 3783 test videos",
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
