"""Detect and align a whole data set into the same layout: ``python -m common.align SRC DST --template T``.

SRC is a folder (identity folders ``SRC/<identity>/<image>``, the LFW layout ``SRC/<name>/<name>_0001.jpg`` with
its ``pairs.txt``, or any tree: every image is found recursively) or a list file of ``relative/path [label ...]``
lines (paths relative to ``--root``, default the list's folder). DST receives each aligned crop under the same
relative path and name (formats the writer cannot produce get ``.png`` appended); small metadata files of a
folder (``.txt .csv .lst .list .mat .json``) are copied, a list file is rewritten with the lines of the images
that gave a face.

One face per photo: of several, the largest nearest the centre (facenet's rule, see common/align/mtcnn.py).
``--all_faces`` writes every face instead, ``<stem>_<k><ext>`` left to right (a list file gets one line each).
Re-running skips outputs already written (writes are atomic: temporary file, then rename), so an interrupted
run resumes. The JSON report (``DST/align_report.json`` or ``--report``) counts images read, faces found, photos
without a face, photos with several faces (and which face was used) and names the unreadable files (and those over
the pixel limit, ``common.data.images``). It records the template (written when the run starts, so an interrupted
run's folder is known too): a DST aligned with another template is refused before anything is written, unless
``--overwrite`` re-aligns every image (the old crops are replaced, nothing is skipped).
"""
import argparse
import multiprocessing as mp
import os
import shutil
import time

import cv2

from common.core.errors import FaceIdError
from common.core.fileio import write_json_atomic, write_text_atomic
from common.data.images import IMAGE_EXTS

WRITABLE = tuple(e for e in IMAGE_EXTS if e != ".jpe")  # what the aligned crops may be written as
META_EXTS = (".txt", ".csv", ".lst", ".list", ".mat", ".json")
POLICY = ("one face per photo: of several, the largest nearest the image centre "
          "(max box area - 2 x squared distance of the box centre to the image centre, facenet's rule)")
REPORT = "align_report.json"


def parse_args(argv):
    from common.align.aligner import MIN_SCORE
    from common.align.templates import TEMPLATES

    ap = argparse.ArgumentParser(prog="python -m common.align", description=__doc__.split("\n\n")[0])
    ap.add_argument("src", help="image folder (identity folders, LFW layout) or list file")
    ap.add_argument("dst", help="output folder (created; same layout)")
    ap.add_argument("--template", required=True, choices=sorted(TEMPLATES))
    ap.add_argument("--min_face", type=float, default=20, help="smallest face side in pixels (default 20)")
    ap.add_argument("--min_score", type=float, default=MIN_SCORE, help=f"face score (default {MIN_SCORE})")
    ap.add_argument("--workers", type=int, default=1, help="processes (default 1)")
    ap.add_argument("--all_faces", action="store_true", help="one crop per face instead of one per photo")
    ap.add_argument("--root", default=None, help="base folder of a list file's paths (default: its folder)")
    ap.add_argument("--report", default=None, help=f"JSON report path (default DST/{REPORT})")
    ap.add_argument("--backend", default="onnxruntime", choices=["onnxruntime", "mindspore"])
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    ap.add_argument("--overwrite", action="store_true",
                    help="re-align every image, replacing crops already in DST (also those of another template)")
    return ap.parse_args(argv)


def _inside(path, folder):
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def plan(src, root=None):
    """-> (kind, [relative image paths], base folder, list lines [(rel, rest)] or None, [metadata rel paths])."""
    if os.path.isdir(src):
        rels, meta = [], []
        for d, dirs, files in os.walk(src):
            dirs.sort()
            for f in sorted(files):
                rel = os.path.relpath(os.path.join(d, f), src)
                ext = os.path.splitext(f)[1].lower()
                if ext in IMAGE_EXTS:
                    rels.append(rel)
                elif ext in META_EXTS:
                    meta.append(rel)
        if not rels:
            raise FaceIdError(f"{src}: no images found (extensions {', '.join(IMAGE_EXTS)})")
        return "folder", rels, src, None, meta
    if os.path.isfile(src):
        base = root if root is not None else os.path.dirname(os.path.abspath(src))
        try:
            with open(src, encoding="utf-8") as f:
                text = f.read().splitlines()
        except UnicodeDecodeError:
            raise FaceIdError(f"{src}: neither a folder nor a text list file") from None
        lines = []
        for n, line in enumerate(text, 1):
            parts = line.split(maxsplit=1)
            if not parts:
                continue
            rel = os.path.normpath(parts[0])
            if os.path.isabs(rel) or rel.startswith(".."):
                raise FaceIdError(f"{src}:{n}: path {parts[0]!r} must be relative and stay inside {base}")
            lines.append((rel, parts[1] if len(parts) > 1 else ""))
        if not lines:
            raise FaceIdError(f"{src}: empty list")
        return "list", [r for r, _ in lines], base, lines, []
    raise FaceIdError(f"{src}: no such folder or list file")


def recorded_template(dst, report_path):
    """(template, report file) an earlier run recorded for ``dst`` (its report, or DST/align_report.json)."""
    import json

    for path in dict.fromkeys([report_path, os.path.join(dst, REPORT)]):
        if not os.path.isfile(path):
            continue
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, ValueError) as exc:
            raise FaceIdError(f"{path}: unreadable align report ({exc}); remove it or pass --overwrite") from None
        if isinstance(data, dict) and data.get("template") and (
                not data.get("dst") or os.path.realpath(data["dst"]) == os.path.realpath(dst)):
            return data["template"], path
    return None, None


def check_template(dst, report_path, template, overwrite=False):
    """Refuse aligning into a DST holding crops of another template (one line), unless ``overwrite``."""
    old, where = recorded_template(dst, report_path)
    if old and old != template and not overwrite:
        raise FaceIdError(f"{dst}: already aligned with template {old} ({where}); one folder holds one template: "
                          f"give another DST, or --overwrite to re-align every image with {template}")
    return old


def out_names(rel, n_faces, all_faces):
    stem, ext = os.path.splitext(rel)
    if ext.lower() not in WRITABLE:
        stem, ext = rel, ".png"
    if not all_faces:
        return [stem + ext]
    return [f"{stem}_{k}{ext}" for k in range(n_faces)]


def done_marker(rel, all_faces):
    """The output whose presence means ``rel`` is finished (with --all_faces face 0 is written last)."""
    return out_names(rel, 1, all_faces)[0]


def write_image(path, img):
    """Atomic: encode, write a temporary file in the same folder, rename."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    ext = os.path.splitext(path)[1].lower()
    arr = img if img.shape[2] == 1 else cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
    params = [cv2.IMWRITE_JPEG_QUALITY, 95] if ext in (".jpg", ".jpeg") else []
    ok, buf = cv2.imencode(ext, arr, params)
    if not ok:
        raise FaceIdError(f"{path}: cannot encode {ext}")
    tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(buf.tobytes())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


_STATE = {}


def _init_worker(template, min_face, min_score, backend):
    from common.align import mtcnn
    from common.align.aligner import Aligner

    mtcnn._NETS.clear()                # a forked child builds its own sessions
    _STATE["aligner"] = Aligner(template, min_face=min_face, min_score=min_score, backend=backend, threads=1)


def process_one(job):
    """(src path, rel, dst folder, all_faces) -> result dict; never raises for a bad image."""
    from common.align.mtcnn import pick_face
    from common.align.photo import read_photo

    path, rel, dst, all_faces = job
    aligner = _STATE["aligner"]
    res = {"file": rel}
    try:
        img = read_photo(path, path)
    except FaceIdError as exc:
        return dict(res, status="unreadable", error=str(exc))
    faces = aligner.faces(img)
    res["faces"] = len(faces)
    if not faces:
        return dict(res, status="no_face")
    used = list(range(len(faces))) if all_faces else [pick_face(faces, img.shape)]
    names = out_names(rel, len(faces), all_faces)
    outputs = []
    for k in reversed(used):           # face 0 (the done marker) last
        name = names[k] if all_faces else names[0]
        write_image(os.path.join(dst, name), aligner.crop(img, faces[k]))
        outputs.append(name)
    res.update(status="ok", outputs=outputs[::-1],
               used=None if all_faces else used[0],
               boxes=[[round(float(v), 1) for v in f.box] for f in faces])
    return res


def run(args):
    from tqdm import tqdm

    src, dst = args.src, args.dst
    if os.path.isdir(src) and _inside(dst, src):
        raise FaceIdError(f"{dst}: output folder is the input folder or inside it ({src}); give another DST")
    if args.workers < 1:
        raise FaceIdError(f"--workers {args.workers}: must be at least 1")
    from common.core.paths import writable_dir, writable_file

    writable_dir(dst, "DST")  # a file in the way, read-only, a full disk: before any image is listed or detected
    if args.report:
        writable_file(args.report, "--report")
    kind, rels, base, lines, meta = plan(src, args.root)
    if kind == "list" and os.path.realpath(os.path.join(dst, os.path.basename(src))) == os.path.realpath(src):
        raise FaceIdError(f"{dst}: writing the list there would replace the input list {src}")
    report_path = args.report or os.path.join(dst, REPORT)
    overwrite = bool(getattr(args, "overwrite", False))
    previous = check_template(dst, report_path, args.template, overwrite)
    if previous and previous != args.template:
        print(f"note: {dst} held crops of template {previous}; --overwrite re-aligns every image with "
              f"{args.template}", flush=True)
    os.makedirs(dst, exist_ok=True)
    # the template is on record from the start: an interrupted run's folder is not mixed either
    write_json_atomic(report_path, {"src": os.path.abspath(src), "dst": os.path.abspath(dst), "layout": kind,
                                    "template": args.template, "status": "running"})

    todo, skipped = [], []
    for rel in rels:
        if not overwrite and os.path.exists(os.path.join(dst, done_marker(rel, args.all_faces))):
            skipped.append(rel)
        else:
            todo.append((os.path.join(base, rel), rel, dst, args.all_faces))
    init = (args.template, args.min_face, args.min_score, args.backend)
    results, t0 = [], time.time()
    bar = tqdm(total=len(todo), desc=f"align {args.template}", unit="img", disable=args.quiet or None,
               dynamic_ncols=True)
    if args.workers == 1 or len(todo) <= 1:
        _init_worker(*init)
        for job in todo:
            results.append(process_one(job))
            bar.update(1)
    else:
        ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
        with ctx.Pool(args.workers, initializer=_init_worker, initargs=init) as pool:
            for r in pool.imap_unordered(process_one, todo, chunksize=4):
                results.append(r)
                bar.update(1)
    bar.close()
    elapsed = time.time() - t0

    for rel in meta:
        out = os.path.join(dst, rel)
        if not os.path.exists(out):
            os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
            shutil.copyfile(os.path.join(src, rel), out + ".tmp")
            os.replace(out + ".tmp", out)
    by_file = {r["file"]: r for r in results}
    if kind == "list":
        _write_list(os.path.join(dst, os.path.basename(src)), lines, by_file, dst, args.all_faces)

    read = [r for r in results if r["status"] != "unreadable"]
    report = {
        "src": os.path.abspath(src), "dst": os.path.abspath(dst), "layout": kind, "template": args.template,
        "min_face": args.min_face, "min_score": args.min_score, "backend": args.backend,
        "all_faces": bool(args.all_faces), "policy": "all faces, left to right" if args.all_faces else POLICY,
        "images": len(rels), "skipped_existing": len(skipped), "images_read": len(read),
        "faces_found": sum(1 for r in read if r.get("faces")),
        "faces_written": sum(len(r.get("outputs", [])) for r in read),
        "no_face": sorted(r["file"] for r in read if r["status"] == "no_face"),
        "several_faces": sorted(({"file": r["file"], "faces": r["faces"], "used": r.get("used"),
                                  "boxes": r.get("boxes")} for r in read if r.get("faces", 0) > 1),
                                key=lambda d: d["file"]),
        "unreadable": sorted(({"file": r["file"], "error": r["error"]} for r in results
                              if r["status"] == "unreadable"), key=lambda d: d["file"]),
        "seconds": round(elapsed, 2), "images_per_s": round(len(results) / elapsed, 2) if elapsed > 0 else None,
        "workers": args.workers,
    }
    counts = {k: (len(v) if isinstance(v, list) else v) for k, v in report.items()
              if k in ("images", "skipped_existing", "images_read", "faces_found", "faces_written", "no_face",
                       "several_faces", "unreadable")}
    report["counts"] = counts
    write_json_atomic(report_path, report)
    print("aligned: " + ", ".join(f"{k} {v}" for k, v in counts.items()) + f"; report {report_path}", flush=True)
    return report


def _write_list(path, lines, by_file, dst, all_faces):
    out = []
    for rel, rest in lines:
        r = by_file.get(rel)
        if r is None:       # done in an earlier run: keep what is on disk
            names = [done_marker(rel, all_faces)]
            if all_faces:
                stem, ext = os.path.splitext(out_names(rel, 1, False)[0])
                k = 1
                while os.path.exists(os.path.join(dst, f"{stem}_{k}{ext}")):
                    names.append(f"{stem}_{k}{ext}")
                    k += 1
        else:
            names = r.get("outputs", [])
        out.extend(f"{n} {rest}".rstrip() for n in names)
    write_text_atomic(path, "\n".join(out) + ("\n" if out else ""))


def main(argv=None):
    import common.core.env  # noqa: F401

    run(parse_args(argv))
    return 0

