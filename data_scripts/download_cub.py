"""Download, verify and extract CUB-200-2011 (``CUB_200_2011.tgz``, MD5 97eceeb1...).

    python data_scripts/download_cub.py --root data/
    python data_scripts/download_cub.py --root data/ --no-download   # offline: uses data/CUB_200_2011.tgz

The download resumes where it stopped (``CUB_200_2011.tgz.part``), the archive is checked against
its published MD5 before anything is extracted, and extraction refuses members that would land
outside ``--root``. Without network it says which URL to fetch by hand and where to put the file.
"""
from __future__ import annotations

import argparse
import sys

import _common  # noqa: F401  (puts the checkout on sys.path)


def main(argv: list[str] | None = None) -> int:
    from regr_edu.data import CUB200, download as dl

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--root", default="data", help="folder to hold CUB_200_2011/ (default: data)")
    parser.add_argument("--url", default=dl.CUB_URL, help=f"archive URL (default: {dl.CUB_URL})")
    parser.add_argument("--md5", default=dl.CUB_MD5, help="expected MD5 ('' to skip the check)")
    parser.add_argument("--no-download", action="store_true",
                        help="never touch the network: use ROOT/CUB_200_2011.tgz put there by hand")
    parser.add_argument("--delete-archive", action="store_true",
                        help="remove the .tgz after a successful extraction")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    try:
        folder = dl.prepare_cub200(args.root, download=not args.no_download,
                                   keep_archive=not args.delete_archive, url=args.url,
                                   md5=args.md5 or None, progress=not args.quiet)
    except (dl.DownloadError, dl.ChecksumError, dl.UnsafeArchiveError, dl.CorruptArchiveError, dl.MissingToolError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    train, test = CUB200(folder, train=True), CUB200(folder, train=False)
    print(f"CUB-200-2011 ready in {folder}: {len(train.classes)} classes, "
          f"{len(train)} train / {len(test)} test images")
    if (len(train.classes), len(train), len(test)) != (200, 5994, 5794):
        print("warning: the official set has 200 classes, 5994 train / 5794 test images",
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
