"""MS-Celeb-1M ``FaceImageCroppedWithAlignment.tsv`` -> ``OUT/<MID>/<rank>-<faceid>.jpg``, streamed row by row.

Each row has 7 tab-separated fields: MID, ImageSearchRank, ImageURL, PageURL, FaceID, FaceRectangle (base64),
FaceData (base64 JPEG). The JPEG bytes are written unchanged after a cv2 decode check. A row whose MID, rank or
FaceID could leave OUT (empty, '.', '..', a path separator, NUL) is rejected, and every target path is checked to
resolve inside OUT. ``--clean_list`` keeps only rows whose ``<MID>/<rank>-<faceid>.jpg`` is the first field of a
line of that file (the ``MS-Celeb-1M_clean_list.txt`` format ``relative/path label``).

CLI: ``python -m common.data.msceleb_tsv TSV OUT [--clean_list F] [--limit N]``
"""
import argparse
import base64
import binascii
import os


NUM_FIELDS = 7
COUNT_KEYS = ("rows", "written", "filtered", "bad_fields", "bad_name", "bad_image")



def _decodable(data):
    """Through the one loader (common.data.images): the pixel limit on the header first, then OpenCV."""
    from common.data.images import ImageError, decode_image

    try:
        decode_image(data)
    except ImageError:
        return False
    return True

def safe_component(text):
    """``text`` if it is usable as one path component, else ``None``."""
    if not text or text in (".", "..") or "\0" in text or "/" in text or "\\" in text:
        return None
    return text


def load_clean_list(path):
    """Set of relative paths (first field of each line, ``\\`` turned into ``/``)."""
    if not os.path.isfile(path):
        raise ValueError(f"error: {path}: no such clean list file")
    keep = set()
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            fields = line.split()
            if fields:
                keep.add(fields[0].replace("\\", "/"))
    return keep


def _inside(root, path):
    return os.path.commonpath([root, os.path.realpath(path)]) == root


def convert(tsv_path, out_dir, clean_list=None, limit=None):
    """Convert the TSV; returns the counts (also printed): rows read, written, filtered by the clean list,
    wrong field count, unsafe names, undecodable base64/JPEG."""
    from tqdm import tqdm

    if not os.path.isfile(tsv_path):
        raise ValueError(f"error: {tsv_path}: no such TSV file")
    keep = load_clean_list(clean_list) if clean_list else None
    os.makedirs(out_dir, exist_ok=True)
    root = os.path.realpath(out_dir)
    counts = dict.fromkeys(COUNT_KEYS, 0)
    with open(tsv_path, "rb") as fh, tqdm(total=os.path.getsize(tsv_path), unit="B", unit_scale=True,
                                          desc="msceleb") as bar:
        for raw in fh:
            bar.update(len(raw))
            line = raw.rstrip(b"\r\n")
            if not line:
                continue
            if limit is not None and counts["rows"] >= limit:
                break
            counts["rows"] += 1
            fields = line.split(b"\t")
            if len(fields) != NUM_FIELDS:
                counts["bad_fields"] += 1
                continue
            names = [safe_component(fields[i].decode("utf-8", "replace").strip()) for i in (0, 1, 4)]
            if None in names:
                counts["bad_name"] += 1
                continue
            mid, rank, face_id = names
            rel = f"{mid}/{rank}-{face_id}.jpg"
            if keep is not None and rel not in keep:
                counts["filtered"] += 1
                continue
            target = os.path.join(root, mid, f"{rank}-{face_id}.jpg")
            if not _inside(root, target):
                counts["bad_name"] += 1
                continue
            try:
                data = base64.b64decode(fields[6], validate=True)
            except (binascii.Error, ValueError):
                data = b""
            if not data or not _decodable(data):
                counts["bad_image"] += 1
                continue
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "wb") as out:
                out.write(data)
            counts["written"] += 1
    print(" ".join(f"{k}={v}" for k, v in counts.items()))
    return counts


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m common.data.msceleb_tsv", description=__doc__.split("\n")[0])
    parser.add_argument("tsv", help="FaceImageCroppedWithAlignment.tsv")
    parser.add_argument("out", help="output folder")
    parser.add_argument("--clean_list", default=None, help="keep only rows listed here (relative/path label)")
    parser.add_argument("--limit", type=int, default=None, help="read at most N rows")
    args = parser.parse_args(argv)
    try:
        return convert(args.tsv, args.out, args.clean_list, args.limit)
    except ValueError as exc:
        raise SystemExit(str(exc))


if __name__ == "__main__":
    main()
