"""Offline triplets (the old zoo's path): write / read a CSV of anchor, positive, negative image paths.

Identity folders: ``<root>/<identity>/<image>``; paths in the CSV are relative to ``root`` with ``/``.
Generation is deterministic for a given folder content and seed (sorted listings, ``random.Random(seed)``).
CLI: ``python facenet/src/triplets_csv.py --root DIR --out triplets.csv [--num 10000] [--seed 0]``.
"""
import argparse
import csv
import os
import random

from common.data.images import IMAGE_EXTS  # the one extension list of every path
HEADER = ("anchor", "positive", "negative")


def list_identities(root):
    """Sorted {identity: sorted relative image paths} for each sub-folder of ``root`` holding images."""
    if not os.path.isdir(root):
        raise ValueError(f"error: {root}: not a directory of identity folders")
    ids = {}
    for name in sorted(os.listdir(root)):
        folder = os.path.join(root, name)
        if not os.path.isdir(folder):
            continue
        images = sorted(f for f in os.listdir(folder) if f.lower().endswith(IMAGE_EXTS))
        if images:
            ids[name] = [f"{name}/{f}" for f in images]
    return ids


def make_triplets(identities, num, seed=0):
    """``num`` (anchor, positive, negative) tuples: anchor != positive from one identity, negative from another."""
    anchors = [k for k, v in identities.items() if len(v) >= 2]
    if not anchors or len(identities) < 2:
        raise ValueError("need at least one identity with 2+ images and 2+ identities to make triplets "
                         f"(found {len(anchors)} with 2+ images among {len(identities)})")
    names = list(identities)
    rng = random.Random(seed)
    out = []
    for _ in range(num):
        pos_id = rng.choice(anchors)
        neg_id = rng.choice(names[:names.index(pos_id)] + names[names.index(pos_id) + 1:])
        a, p = rng.sample(identities[pos_id], 2)
        out.append((a, p, rng.choice(identities[neg_id])))
    return out


def write_triplets(path, triplets):
    """Write the CSV with a header row."""
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(HEADER)
        writer.writerows(triplets)


def read_triplets(path, root=None):
    """Read a triplets CSV -> list of (anchor, positive, negative); with ``root``, every image must exist."""
    if not os.path.isfile(path):
        raise ValueError(f"error: {path}: triplets CSV not found")
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows or tuple(c.strip() for c in rows[0]) != HEADER:
        raise ValueError(f"error: {path}: line 1: expected header {','.join(HEADER)}")
    triplets = []
    for line, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) != 3 or not all(row):
            raise ValueError(f"error: {path}: line {line}: expected 3 non-empty paths, got {row}")
        if root is not None:
            for rel in row:
                if not os.path.isfile(os.path.join(root, rel)):
                    raise ValueError(f"error: {path}: line {line}: image not found: {os.path.join(root, rel)}")
        triplets.append(tuple(row))
    return triplets


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True, help="folder of identity sub-folders")
    parser.add_argument("--out", required=True, help="CSV to write")
    parser.add_argument("--num", type=int, default=10000, help="number of triplets")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        identities = list_identities(args.root)
    except ValueError as exc:
        raise SystemExit(str(exc))
    try:
        triplets = make_triplets(identities, args.num, args.seed)
    except ValueError as exc:
        raise SystemExit(f"error: {args.root}: {exc}")
    write_triplets(args.out, triplets)
    print(f"wrote {len(triplets)} triplets to {args.out}")


if __name__ == "__main__":
    main()
