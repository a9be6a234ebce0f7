"""Copies one split's usable files out of the Kaggle download into Real/ and Fake/ folders.

`make demo SOURCE=<folder with the zip>` builds from the zip in place and never extracts it,
which left nothing for `dfd-lite classify` to read. This writes the test split's files
through the same tree and checks the builder uses, so a hostile zip gets no further here
than in the build: entries refused from their header (links, encryption, oversize, zip
bombs, long names), entries failing their CRC, and hidden, backup, duplicate or misplaced
names are left out and counted. Names are single path components the tree has vetted, and
each file is created new inside the output folder, so nothing is overwritten or escapes.

    python -m dfd.builders.deepfake_real_images.extract_split --source=DIR --split=test --out=DIR
"""

from __future__ import annotations

import argparse
import collections
import os
import sys

from dfd.builders.deepfake_real_images import source_files
from dfd.builders.deepfake_real_images.source_tree import ArchiveError, SourceError


def open_source(manual_dir: str):
    """(tree, root) of a download folder: its Dataset/ folders, or else its zip."""
    tree = source_files.FolderTree(manual_dir)
    root = source_files.find_root_in(tree)
    if root is None:
        archive = source_files.find_zip(manual_dir)
        if archive is None:
            raise FileNotFoundError(f"{manual_dir} holds neither Dataset/ folders nor a zip")
        tree = source_files.open_tree(archive)
        root = source_files.find_root_in(tree)
        if root is None:
            raise FileNotFoundError(f"{archive} has no Dataset/{{Train,Validation,Test}} folders")
    return tree, root


def extract_split(manual_dir: str, split: str, out: str) -> collections.Counter:
    """Writes `split`'s usable files to out/Real and out/Fake; counts written and left out."""
    tree, root = open_source(manual_dir)
    counts = collections.Counter()
    for class_name, name, path, reason in source_files.list_split(tree, root, split):
        if reason or tree.problem(path) or "/" in name or name in ("", ".", ".."):
            counts["left out"] += 1
            continue
        try:
            data = tree.read(path)
        except SourceError:
            counts["left out"] += 1
            continue
        folder = os.path.join(out, source_files.CLASS_FOLDERS[class_name])
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, name), "xb") as f:
            f.write(data)
        counts["written"] += 1
    return counts


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source", required=True,
                        help="the folder given to tfds build as --manual_dir")
    parser.add_argument("--split", default="test", choices=sorted(source_files.SPLIT_FOLDERS))
    parser.add_argument("--out", required=True, help="a folder that does not exist yet")
    args = parser.parse_args(argv)
    if os.path.exists(args.out):
        parser.error(f"--out={args.out} already exists; give a new folder")
    try:
        counts = extract_split(args.source, args.split, args.out)
    except (FileNotFoundError, ArchiveError) as e:
        print(f"extract_split: {e}", file=sys.stderr)
        return 2
    print(f"extract_split: {args.split}: {counts['written']} files written to {args.out}, "
          f"{counts['left out']} left out (the build's metadata says why)", file=sys.stderr)
    return 0 if counts["written"] else 1


if __name__ == "__main__":
    sys.exit(main())
