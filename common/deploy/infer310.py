"""Python side of the C++ inference harness (ascend310_infer/): images -> .bin inputs, .bin outputs -> array.

``preprocess`` writes one raw float32 CHW file per image, named by its index (``000000.bin``...) so the
harness's sorted order is the input order, plus ``inputs.txt`` (the .bin names, for ``--input_list``) and
``manifest.tsv`` (``stem<TAB>image path``). The preprocessing is the one the exported model's sidecar
(``<model file>.json``, written by export.py) records, so a preprocessing changed at training time is followed.
``read_outputs`` reads the harness's ``<stem>.bin`` outputs (``<stem>_<k>.bin`` for output k of a model with
several) in the order given. CLI (used by scripts/run_infer_310.sh)::

    python -m common.infer310 preprocess --model MODEL.onnx --images DIR_OR_LIST --out_dir DIR

Every image goes through the one loader of the Python paths (``common.data.images``: the pixel limit and the
minimum size included). An LFW-format folder is read as the Python eval reads it
(:func:`common.evaluation.sets.pair_images`: ``pairs.txt`` in the folder or in its single subfolder, images under
it or under its single subfolder, any image extension, e.g. the old CosFace ``LFW_112/pairs.txt`` +
``LFW_112/lfw_align_112/<name>/...``), and checked before anything is preprocessed: pairs the protocol can score,
every image they name present. Images the Python eval skips (unreadable, no face found, over the pixel limit,
under the minimum size) are skipped here too: named on the console and in ``skipped.tsv`` (``path<TAB>why``) beside
the manifest; the post-step drops their pairs as the Python eval does.
"""
import argparse
import os

import numpy as np

from common.core.errors import FaceIdError
from common.data.images import IMAGE_EXTS


class HarnessError(FaceIdError, ValueError):
    """A bad input or output file of the C++ path (one line naming the file)."""


MANIFEST = "manifest.tsv"
INPUT_LIST = "inputs.txt"
SKIPPED = "skipped.tsv"   # images the pre-step skipped (unreadable, no face, over the pixel limit, too small)


def list_images(path):
    """Image paths under a directory (recursive, sorted by relative path) or listed in a text file
    (one a line, first column, relative to the file's folder)."""
    if os.path.isdir(path):
        found = []
        for dirpath, dirnames, filenames in os.walk(path):
            dirnames.sort()
            found += [os.path.join(dirpath, f) for f in filenames if f.lower().endswith(IMAGE_EXTS)]
        if not found:
            raise HarnessError(f"{path}: no images ({', '.join(IMAGE_EXTS)}) in this directory")
        return sorted(found, key=lambda p: os.path.relpath(p, path))
    if not os.path.isfile(path):
        raise HarnessError(f"{path}: no such image directory or list file")
    base = os.path.dirname(os.path.abspath(path))
    with open(path, encoding="utf-8") as f:
        names = [line.split()[0] for line in f if line.strip()]
    if not names:
        raise HarnessError(f"{path}: image list is empty")
    return [n if os.path.isabs(n) else os.path.join(base, n) for n in names]


def find_dataset_pairs(dataset_path, pairs=None):
    """The ``pairs.txt`` an LFW-format folder is scored with: ``pairs`` if given, else ``pairs.txt`` in the folder or
    in its single subfolder (as the Python eval finds it); None for other datasets (embeddings only: the shipped
    pairs are not assumed for an arbitrary image folder)."""
    from common.evaluation.sets import _single_subfolder

    if pairs:
        if not os.path.isfile(pairs):
            raise HarnessError(f"{pairs}: pairs file not found")
        return pairs
    if not os.path.isdir(dataset_path):
        return None
    for folder in dict.fromkeys([dataset_path, _single_subfolder(dataset_path)]):
        if folder and os.path.isfile(os.path.join(folder, "pairs.txt")):
            return os.path.join(folder, "pairs.txt")
    return None


def pair_image_paths(dataset_path, pairs_path):
    """(the pair names, sorted as the Python eval sorts them; their files under ``dataset_path`` or None), found as
    :mod:`common.evaluation.sets` finds them (single subfolder, any image extension)."""
    from common.evaluation.sets import image_root, resolve_images
    from common.protocols import lfw

    pairs = lfw.read_pairs(pairs_path)
    names = sorted(set(pairs.first) | set(pairs.second))
    return names, resolve_images(image_root(dataset_path, names), names)


def check_layout(dataset_path, pairs=None):
    """Before preprocessing: an LFW-format folder's pairs can be scored and every image they name is there (one
    line naming the first missing one). Returns the pairs file (None: not an LFW-format folder)."""
    from common.evaluation.scoring import read_lfw_pairs

    pairs_path = find_dataset_pairs(dataset_path, pairs)
    if pairs_path is None or not os.path.isdir(dataset_path):
        return pairs_path
    read_lfw_pairs(pairs_path)                 # at least 2 folds, both classes in each: as the Python eval
    names, paths = pair_image_paths(dataset_path, pairs_path)
    missing = [n for n, p in zip(names, paths) if p is None]
    if missing:
        raise HarnessError(f"{pairs_path}: names {len(missing)} image(s) missing under {dataset_path}, e.g. "
                           f"{missing[0]} (any of {'/'.join(e[1:] for e in IMAGE_EXTS)}, directly or under one "
                           f"subfolder)")
    return pairs_path


def preprocess(image_paths, preprocess_fn, out_dir, naming="index", skip_bad=False, log=print):
    """Write ``preprocess_fn(path)`` (float32 CHW) of each image to ``out_dir/<stem>.bin``; return the stems.

    ``naming`` "index": stems are zero-padded indices in the given order; "stem": the image file stems
    (must be unique). Also writes ``inputs.txt`` and ``manifest.tsv`` in ``out_dir``. ``skip_bad``: an image the
    Python eval would skip (ImageError of a kind in ``common.evaluation.embed.SKIPPED``) is left out of the inputs
    and the manifest and named in ``skipped.tsv`` (else it stops the run, naming the file).
    """
    from common.data.images import SKIPPED_KINDS as kinds, ImageError
    image_paths = list(image_paths)
    if not image_paths:
        raise HarnessError(f"{out_dir}: no images to preprocess")
    if naming == "index":
        width = max(6, len(str(len(image_paths) - 1)))
        stems = [f"{i:0{width}d}" for i in range(len(image_paths))]
    elif naming == "stem":
        stems = [os.path.splitext(os.path.basename(p))[0] for p in image_paths]
        seen = {}
        for stem, path in zip(stems, image_paths):
            if stem in seen:
                raise HarnessError(f"{path}: file stem '{stem}' repeats {seen[stem]}; use naming='index'")
            seen[stem] = path
    else:
        raise HarnessError(f"naming must be 'index' or 'stem', got {naming!r}")
    os.makedirs(out_dir, exist_ok=True)
    shape = None
    kept, skipped = [], []
    for stem, path in zip(stems, image_paths):
        try:
            x = np.asarray(preprocess_fn(path))
        except ImageError as exc:
            if not skip_bad or exc.kind not in kinds:
                raise
            skipped.append((os.path.abspath(path), str(exc).replace("\t", " ").replace("\n", " ")))
            continue
        kept.append((stem, path))
        if x.dtype != np.float32 or x.ndim != 3:
            raise HarnessError(f"{path}: preprocessing gave {x.dtype} {x.shape}, expected float32 CHW")
        if shape is None:
            shape = x.shape
        elif x.shape != shape:
            raise HarnessError(f"{path}: preprocessed shape {x.shape} differs from the first image's {shape}")
        np.ascontiguousarray(x).tofile(os.path.join(out_dir, stem + ".bin"))
    if not kept:
        raise HarnessError(f"{out_dir}: none of the {len(image_paths)} images could be used (e.g. {skipped[0][1]})")
    if skipped:
        shown = "; ".join(m for _, m in skipped[:3]) + (f"; +{len(skipped) - 3} more" if len(skipped) > 3 else "")
        log(f"preprocess: skipped {len(skipped)} image(s) ({shown}); listed in {os.path.join(out_dir, SKIPPED)}")
    with open(os.path.join(out_dir, SKIPPED), "w", encoding="utf-8") as f:
        f.writelines(f"{p}\t{m}\n" for p, m in skipped)
    with open(os.path.join(out_dir, INPUT_LIST), "w", encoding="utf-8") as f:
        f.writelines(stem + ".bin\n" for stem, _ in kept)
    with open(os.path.join(out_dir, MANIFEST), "w", encoding="utf-8") as f:
        f.writelines(f"{stem}\t{os.path.abspath(path)}\n" for stem, path in kept)
    return [stem for stem, _ in kept]


def read_skipped(manifest):
    """{absolute image path: why} of the images the pre-step skipped (``skipped.tsv`` beside ``manifest``)."""
    path = os.path.join(os.path.dirname(os.path.abspath(manifest)), SKIPPED)
    if not os.path.isfile(path):
        return {}
    out = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                p, _, why = line.rstrip("\n").partition("\t")
                out[p] = why
    return out


def read_manifest(path):
    """``manifest.tsv`` -> (stems, image paths), in input order."""
    if not os.path.isfile(path):
        raise HarnessError(f"{path}: manifest not found")
    stems, images = [], []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 2:
                raise HarnessError(f"{path}: line {n}: expected 'stem<TAB>image path'")
            stems.append(parts[0])
            images.append(parts[1])
    return stems, images


def output_file(out_dir, stem, index=None):
    """The harness's output file: ``<stem>.bin`` (one-output model) or ``<stem>_<index>.bin``."""
    return os.path.join(out_dir, f"{stem}.bin" if index is None else f"{stem}_{index}.bin")


def read_outputs(out_dir, stems, dim, index=None):
    """Read ``out_dir/<stem>.bin`` (``<stem>_<index>.bin`` for output ``index`` of a several-output model;
    float32, ``dim`` values each) in the order of ``stems`` -> (N, dim)."""
    out = np.empty((len(stems), dim), np.float32)
    for i, stem in enumerate(stems):
        path = output_file(out_dir, stem, index)
        if not os.path.isfile(path):
            raise HarnessError(f"{path}: output file missing")
        size = os.path.getsize(path)
        if size != 4 * dim:
            raise HarnessError(f"{path}: {size} bytes, expected {4 * dim} (float32 x {dim})")
        out[i] = np.fromfile(path, np.float32)
    return out


def read_latency(path):
    """The harness's latency file (``key=value`` words) -> dict; numbers as float."""
    if not os.path.isfile(path):
        raise HarnessError(f"{path}: latency file not found")
    with open(path, encoding="utf-8") as f:
        words = f.read().split()
    result = {}
    for word in words:
        key, sep, value = word.partition("=")
        if not sep:
            raise HarnessError(f"{path}: expected key=value, got {word!r}")
        try:
            result[key] = float(value)
        except ValueError:
            result[key] = value
    return result


def preprocess_for_model(model_path, images, out_dir, naming="index", sidecar=None, align=None):
    """Images -> harness inputs prepared as ``model_path``'s sidecar says; returns (stems, Preprocess).

    ``align``: detect and align raw photos first (a template name, or ``true`` for the sidecar's ``align``)."""
    from common.deploy.sidecar import preprocess_from_sidecar, read_sidecar, sidecar_path

    meta = read_sidecar(model_path, sidecar)
    pre = preprocess_from_sidecar(meta, sidecar or sidecar_path(model_path))
    dims = meta["input"].get("shape") or []
    want = tuple(dims[1:]) if len(dims) == 4 and all(isinstance(d, int) for d in dims[1:]) else None
    try:
        got = tuple(pre.output_size)
    except (ValueError, FaceIdError):
        got = None
    if want and got and want != got:
        raise FaceIdError(f"{sidecar or sidecar_path(model_path)}: preprocess gives {got} (C, H, W) but the model "
                          f"input is {want}")
    if align:
        from common.align import aligned_preprocess

        template = meta.get("align") if str(align).lower() == "true" else align
        if not template:
            raise FaceIdError(f"{sidecar or sidecar_path(model_path)}: names no alignment template; give --align "
                              f"TEMPLATE (arcface112, sphereface112x96, facenet182, lightcnn144, ...)")
        return preprocess(list_images(images), aligned_preprocess(pre, template).eval_array, out_dir, naming,
                          skip_bad=True), pre
    return preprocess(list_images(images), pre.eval_array, out_dir, naming, skip_bad=True), pre


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m common.infer310")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("preprocess", help="images -> float32 CHW .bin files for the C++ harness")
    p.add_argument("--model", required=True,
                   help="the exported model file (.onnx / .mindir); its sidecar MODEL.json gives the preprocessing")
    p.add_argument("--sidecar", help="the sidecar to use instead of MODEL.json (e.g. for a Lite model made by "
                                     "faceid_convert, give the sidecar of the ONNX it came from)")
    p.add_argument("--images", required=True, help="image directory or list file")
    p.add_argument("--out_dir", required=True)
    p.add_argument("--naming", choices=("index", "stem"), default="index")
    p.add_argument("--align", help="raw photos: detect + align with this template first (true: the sidecar's)")
    args = parser.parse_args(argv)
    if os.path.isdir(args.images):
        check_layout(args.images)              # before anything is preprocessed (and before the build)
    from common.core.paths import writable_dir

    writable_dir(args.out_dir, "--out_dir")
    stems, pre = preprocess_for_model(args.model, args.images, args.out_dir, args.naming, args.sidecar, args.align)
    print(f"preprocess: {len(stems)} images -> {args.out_dir} ({INPUT_LIST}, {MANIFEST}); channels {pre.channels}, "
          f"resize {pre.resize}, crop {pre.crop}, mean {pre.mean}, std {pre.std} (from the sidecar of {args.model})")


if __name__ == "__main__":
    from common.core.errors import guard

    guard(main)
