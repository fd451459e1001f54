"""Score precomputed embeddings with a protocol; writes result JSON and a ROC PNG beside it.

    python -m common.evaluate --protocol lfw --embeddings E.npy --list images.txt --pairs pairs.txt --out r.json
    python -m common.evaluate --protocol blufr --embeddings E.npy [--list images.txt] --config cfg.mat --out r.json
    python -m common.evaluate --protocol bin --embeddings E.npy [--flip_embeddings F.npy] --pairs lfw.bin --out r.json
    python -m common.evaluate --report A.json B.json ... --out cmp.html   # results side by side (HTML page)
    python -m common.evaluate --protocol ijb --target IJBC --meta DIR --embeddings E.npy [--flip_embeddings F.npy]
                              [--ijb_norm_score true] [--ijb_detector_score true] --out r.json

For ``ijb`` (IJB-B / IJB-C, :mod:`common.protocols.ijb`) row i of E.npy (and F.npy) is line i of the meta
folder's ``<p>_name_5pts_score.txt``. Row i of E.npy is otherwise image i of the list (one relative path per line, optional label column). For ``lfw`` the
pairs file may also be LightCNN's ``lfw_pairs.mat`` (indices into the list). For ``bin`` rows follow the
.bin's image order. Without --pairs / --config the copies shipped in ``protocols/`` are used.

Checked before scoring (one line naming the file, exit 2): ``--out`` (and its ROC PNG) is none of the inputs; the
pairs file / .bin can be scored (at least 2 folds, both classes in every fold; a .bin: >= 10 pairs of each
class, folds cut per class, see ``common.protocols.binsets``); embeddings are not all zero / constant (some
all-zero rows: a warning); a scored row holding NaN or infinity is refused, naming the rows. Images an eval could
not read (``--save_embeddings``) are named in ``STEM_unreadable.txt`` beside ``STEM_embeddings.npy`` (their rows
are NaN): the pairs holding them are dropped, as in that eval, and said; a NaN row not named there is refused like
any other. VAL@FAR is n/a (null, with the reason) unless every training split holds at least 1/FAR impostor
pairs.
"""
import argparse
import os
import sys


import numpy as np  # noqa: E402

from common.core.errors import FaceIdError, guard  # noqa: E402
from common.evaluation.printer import ijb_table, metrics_table  # noqa: E402
from common.core.paths import PROTOCOLS_DIR, check_output, writable_file  # noqa: E402
from common.protocols import ProtocolError, binsets, blufr, lfw  # noqa: E402
from common.protocols.roc import roc_metrics  # noqa: E402
from common.protocols.listfile import image_key, key_index, read_image_list  # noqa: E402
from common.protocols.plots import result_paths, write_result  # noqa: E402
from common.protocols.sanity import check_embeddings, check_finite  # noqa: E402

SHIPPED = {"lfw": os.path.join(PROTOCOLS_DIR, "lfw_pairs.txt"),
           "blufr": os.path.join(PROTOCOLS_DIR, "blufr_lfw_config.mat")}


def read_lfw_pairs(pairs_path, names=None):
    """LFW pairs from ``pairs.txt`` or LightCNN's ``.mat`` (needs ``names``, the image list), checked for the
    k-fold protocol (at least 2 folds, each with same- and different-person pairs) — before any embedding."""
    if lfw.is_mat(pairs_path):
        if names is None:
            raise ProtocolError(f"{pairs_path}: a .mat pairs file indexes an image list; give the list too")
        pairs = lfw.read_pairs_mat(pairs_path, names)
    else:
        pairs = lfw.read_pairs(pairs_path)
    return lfw.check_pairs(pairs, pairs_path)


def evaluate_lfw(embeddings, names, pairs_path, unreadable=(), source="embeddings", pairs_out=None):
    """LFW View 2 from ``pairs.txt`` (or LightCNN ``.mat``): 10-fold accuracy and ROC metrics on cosine scores.

    ``unreadable``: names (entries of ``names``) whose images could not be read; the pairs touching them are
    dropped (recorded as ``unreadable_images`` and ``pairs_dropped``), refused when a fold loses a class.
    ``pairs_out`` (a dict) receives the scored pairs: score, label, fold, rows (n x 2 rows of ``names``).
    """
    pairs = read_lfw_pairs(pairs_path, names)
    emb = _check_rows(embeddings, len(names), source)
    rows = lfw.pair_indices(names, pairs, pairs_path)
    bad, used = set(unreadable), set(np.unique(rows).tolist())
    bad_rows = [i for i, n in enumerate(names) if n in bad and i in used]
    pairs, rows, dropped = lfw.drop_pairs(pairs, rows, bad_rows, pairs_path,
                                          example=names[bad_rows[0]] if bad_rows else None)
    warnings = check_embeddings(emb, source, rows, names)
    scores = lfw.cosine_scores(emb, rows)
    if pairs_out is not None:  # the scored pairs, for the report (common.evaluation.report)
        pairs_out.update(score=scores, label=pairs.issame, fold=pairs.fold, rows=rows, score_name="cosine")
    out = {"protocol": "lfw", "pairs": len(scores), "images": len(names), "embedding_dim": emb.shape[1],
           "unreadable_images": [names[i] for i in bad_rows], "pairs_dropped": dropped}
    out.update(lfw.kfold_accuracy(scores, pairs.issame, pairs.fold))
    metrics, curve = roc_metrics(scores, pairs.issame)
    out.update(metrics)
    out["roc"] = {"LFW 6000 pairs" if len(scores) == 6000 else "pairs": curve}
    return _warn(out, warnings)


def evaluate_blufr(embeddings, config_path, image_names=None, source="embeddings", pairs_out=None):
    """BLUFR with the official config; rows follow ``image_names`` when given, else the config's imageList.

    ``pairs_out`` (a dict) receives trial 1's pairs for the report (common.evaluation.report.hardest_pairs) and
    ``rows``: the input row of each of its test images."""
    cfg = blufr.load_config(config_path)
    emb = np.asarray(embeddings)
    if image_names is not None:
        emb = _check_rows(emb, len(image_names), source)
        index = key_index(image_names, "image list")
        rows = []
        for name in cfg.image_list:
            k = image_key(name)
            if k not in index:
                raise ProtocolError(f"{config_path}: image {name} is not in the image list")
            rows.append(index[k])
        check_finite(emb, source, rows, image_names)
        emb = emb[rows]
    warnings = check_embeddings(emb, source, names=cfg.image_list)
    out = {"protocol": "blufr", "images": len(cfg.image_list), "embedding_dim": int(emb.shape[1])}
    out.update(blufr.evaluate(emb, cfg))
    v = out["verification"]
    out["roc"] = {"BLUFR verification (mean of trials)": {"far": v["mean_far"], "tpr": v["vr_mean"]}}
    if pairs_out is not None:  # trial 1: every genuine score and the hardest impostors, for the report
        from common.evaluation.report import hardest_pairs
        from common.protocols.listfile import l2_normalize

        test = cfg.test_index[0]
        pairs_out.update(hardest_pairs(l2_normalize(emb).astype(np.float32)[test], cfg.labels[test]),
                         rows=(np.asarray(rows) if image_names is not None else np.arange(emb.shape[0]))[test])
    return _warn(out, warnings)


def evaluate_bin(emb, emb_flip, issame, unreadable=(), source="embeddings", bin_path=None, pairs_out=None):
    """insightface .bin protocol on embeddings of the .bin images (and of their flips, or None).

    ``unreadable``: image indices (rows) that could not be decoded; the pairs holding them are dropped
    (``unreadable_images``, ``pairs_dropped``), refused when too few pairs of a class are left for 10 folds.
    ``pairs_out`` (a dict) receives the scored pairs: cosine score (with flip when given), label, fold, rows (the
    image indices of each pair).
    """
    emb = np.asarray(emb)
    issame = np.asarray(issame, bool)
    _check_rows(emb, 2 * issame.size, source)
    bad = np.zeros(emb.shape[0], bool)
    bad[list(unreadable)] = True
    keep = ~(bad[0::2] | bad[1::2])
    dropped = int((~keep).sum())
    note = f" (after dropping {dropped} pairs with unreadable images)" if dropped else ""
    binsets.check_issame(issame[keep], bin_path or source, dropped=note)
    rows = np.stack([2 * np.flatnonzero(keep), 2 * np.flatnonzero(keep) + 1], 1).ravel()
    check_finite(emb, source, rows)                  # named by .bin image index
    if emb_flip is not None:
        check_finite(_check_rows(emb_flip, bad.size, source + " (flipped)"), source + " (flipped)", rows)
    emb, issame = emb[rows], issame[keep]
    warnings = check_embeddings(emb, source)
    if emb_flip is not None:
        emb_flip = _check_rows(emb_flip, bad.size, source + " (flipped)")[rows]
        warnings += check_embeddings(emb_flip, source + " (flipped)")
    out = {"protocol": "bin", "images": int(bad.size), "embedding_dim": int(np.shape(emb)[1]),
           "unreadable_images": [int(i) for i in sorted(set(unreadable))], "pairs_dropped": dropped}
    out.update(binsets.verification_metrics(emb, emb_flip, issame, source=bin_path or source))
    out["roc"] = {}
    sets = [("no flip", np.asarray(emb))] + ([("flip", np.asarray(emb) + emb_flip)] if emb_flip is not None else [])
    for name, e in sets:
        metrics, curve = roc_metrics(-binsets.pair_distances(e), issame)
        out["roc_" + name.replace(" ", "_")] = {k: v for k, v in metrics.items() if not k.startswith("threshold")}
        out["roc"][name] = curve
    if pairs_out is not None:  # the scored pairs (the last set: with flip when given), for the report
        pairs_out.update(score=1.0 - binsets.pair_distances(e) / 2.0, label=issame,
                         fold=binsets.stratified_folds(issame, out["folds"]), rows=rows.reshape(-1, 2),
                         score_name="cosine" + (" of embedding + flipped embedding" if emb_flip is not None else ""))
    return _warn(out, warnings)


def _warn(out, warnings):
    """Record warning lines in the result and say them on stderr."""
    if warnings:
        out["warnings"] = list(warnings)
        for w in warnings:
            print(f"warning: {w}", file=sys.stderr, flush=True)
    return out


def nan_rows(emb):
    """Rows that are entirely NaN (what an eval writes for an image it could not read). Not a reason to drop a
    row by itself: only the rows :func:`unreadable_rows` names are dropped, any other NaN row is refused."""
    e = np.asarray(emb)
    if e.ndim != 2 or e.dtype.kind != "f" or e.shape[1] == 0:
        return []
    return np.flatnonzero(np.isnan(e).all(axis=1)).tolist()


UNREADABLE_SUFFIX = "_unreadable.txt"


def unreadable_file(embeddings_path):
    """``STEM_unreadable.txt`` of ``STEM_embeddings.npy`` / ``STEM_flip_embeddings.npy`` (None for other names)."""
    for tail in ("_flip_embeddings.npy", "_embeddings.npy"):
        if embeddings_path.endswith(tail):
            return embeddings_path[: -len(tail)] + UNREADABLE_SUFFIX
    return None


def unreadable_rows(embeddings_path, names=None, n=None):
    """(rows, file): the rows named in the eval's ``STEM_unreadable.txt`` (one image name a line, as in
    ``STEM_images.txt``; a .bin: ``name#index``), [] when there is none."""
    path = unreadable_file(embeddings_path)
    if not path or not os.path.isfile(path):
        return [], None
    with open(path, encoding="utf-8") as f:
        listed = [line.strip() for line in f if line.strip()]
    index = {m: i for i, m in enumerate(names)} if names is not None else {}
    rows = []
    for m in listed:
        if m in index:
            rows.append(index[m])
        elif names is None and "#" in m and m.rsplit("#", 1)[1].isdigit():
            rows.append(int(m.rsplit("#", 1)[1]))
        else:
            raise ProtocolError(f"{path}: {m!r} is not an image of the embeddings' list")
    bad = [r for r in rows if n is not None and not 0 <= r < n]
    if bad:
        raise ProtocolError(f"{path}: row {bad[0]} is outside the {n} embeddings")
    return sorted(set(rows)), path


def _check_rows(embeddings, n, source="embeddings"):
    emb = np.asarray(embeddings)
    if emb.ndim != 2 or emb.shape[0] != n:
        raise ProtocolError(f"{source}: expected {n} rows (one per listed image), got shape {emb.shape}")
    return emb


def _load_npy(path):
    try:
        a = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ProtocolError(f"{path}: cannot read embeddings ({str(exc).splitlines()[0] if str(exc) else exc})") \
            from None
    if a.ndim != 2 or a.dtype.kind not in "fiu":
        raise ProtocolError(f"{path}: embeddings must be a 2-D numeric array, got {a.dtype} {a.shape}")
    return a


def _bool(value):
    v = str(value).strip().lower()
    if v in ("1", "true", "yes", "on"):
        return True
    if v in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {value!r}")


def run_ijb(args):
    """``--protocol ijb``: the meta folder is read and checked before the embeddings (common.protocols.ijb)."""
    from common.protocols import ijb

    meta_dir, target = getattr(args, "meta", None), getattr(args, "target", None)
    if not meta_dir or not target:
        raise FaceIdError("--protocol ijb needs --meta DIR (the IJB meta folder) and --target IJBB|IJBC")
    files = ijb.meta_files(meta_dir, target)
    inputs = [args.embeddings, args.flip_embeddings] + [v for k, v in files.items() if k != "1N"] + \
        list((files["1N"] or {}).values())
    if getattr(args, "out", None):
        from common.evaluation.report import pairs_path

        for path in result_paths(args.out) + (pairs_path(args.out),):
            check_output(path, *inputs, what="--out")
            writable_file(path, "--out")  # before the meta folder or any embedding is read
    meta = ijb.Meta(meta_dir, target)
    emb = _check_rows(_load_npy(args.embeddings), len(meta), args.embeddings)
    flip = None
    if args.flip_embeddings:
        flip = _check_rows(_load_npy(args.flip_embeddings), len(meta), args.flip_embeddings)
    missing, marked = unreadable_rows(args.embeddings, meta.names, emb.shape[0])
    if marked:
        print(f"note: {marked}: {len(missing)} image(s) the eval could not read; left out of their templates",
              flush=True)
    norm = getattr(args, "ijb_norm_score", True)
    det = getattr(args, "ijb_detector_score", True)
    scored = {}
    out = ijb.evaluate(meta, emb, flip, norm_score=True if norm is None else norm,
                       detector_score=True if det is None else det, unreadable=missing, source=args.embeddings,
                       pairs_out=scored)
    out["files"] = {"meta": os.path.abspath(meta_dir), "embeddings": os.path.abspath(args.embeddings)}
    if args.flip_embeddings:
        out["files"]["flip_embeddings"] = os.path.abspath(args.flip_embeddings)
    if marked:
        out["files"]["unreadable"] = os.path.abspath(marked)
    if getattr(args, "out", None):  # the report's side file: thresholds, worst template pairs (their loose crops)
        from common.evaluation.ijb import image_folder, write_pair_file

        out["files"]["pair_scores"] = write_pair_file(args.out, scored, meta, image_folder(meta_dir), missing,
                                                      [p for p in inputs if p])
    return _warn(out, out.pop("warnings", []))


def run(args):
    """Compute the metrics dict for parsed CLI ``args`` (files recorded with absolute paths).

    The output paths (``args.out`` and its ROC PNG) are checked against every input first."""
    if args.protocol == "ijb":
        return run_ijb(args)
    pairs_default = SHIPPED.get(args.protocol) if args.protocol != "bin" else None
    inputs = [args.embeddings, args.flip_embeddings, args.list, args.pairs, args.config,
              None if args.pairs or args.config else pairs_default]
    if getattr(args, "out", None):
        for path in result_paths(args.out):
            check_output(path, *inputs, what="--out")
            writable_file(path, "--out")  # a read-only folder, a file in the way, a full disk: now, not after the work
    files = {"embeddings": os.path.abspath(args.embeddings)}
    if args.protocol == "bin":  # refuse a .bin the protocol cannot score before reading the embeddings
        if not args.pairs:
            raise FaceIdError("--pairs <file.bin> is required for --protocol bin (its issame flags are used)")
        issame = binsets.check_issame(binsets.load_issame(args.pairs), args.pairs)
    elif args.protocol == "lfw":
        if not args.list:
            raise FaceIdError("--list is required for --protocol lfw")
        pairs = args.pairs or SHIPPED["lfw"]
        if not lfw.is_mat(pairs):
            read_lfw_pairs(pairs)
    emb = _load_npy(args.embeddings)
    names = None
    if args.list:
        files["list"] = os.path.abspath(args.list)
        names, _ = read_image_list(args.list)
        emb = _check_rows(emb, len(names), args.embeddings)
    # images the eval could not read: named in STEM_unreadable.txt (their NaN rows); any other NaN row is refused
    missing, marked = unreadable_rows(args.embeddings, names, emb.shape[0])
    if marked:
        files["unreadable"] = os.path.abspath(marked)
        print(f"note: {marked}: {len(missing)} image(s) the eval could not read; their pairs are dropped",
              flush=True)
    if args.protocol == "lfw":
        files["pairs"] = os.path.abspath(pairs)
        out = evaluate_lfw(emb, names, pairs, unreadable=[names[i] for i in missing], source=args.embeddings)
    elif args.protocol == "blufr":
        config = args.config or SHIPPED["blufr"]
        files["config"] = os.path.abspath(config)
        out = evaluate_blufr(emb, config, names, source=args.embeddings)
    else:
        files["pairs"] = os.path.abspath(args.pairs)
        emb = _check_rows(emb, 2 * issame.size, args.embeddings)
        flip = None
        if args.flip_embeddings:
            files["flip_embeddings"] = os.path.abspath(args.flip_embeddings)
            flip = _check_rows(_load_npy(args.flip_embeddings), emb.shape[0], args.flip_embeddings)
        out = evaluate_bin(emb, flip, issame, unreadable=missing, source=args.embeddings, bin_path=args.pairs)
    out["files"] = files
    return out


def main(argv=None):
    if "--report" in (sys.argv[1:] if argv is None else list(argv)):  # several results on one HTML page
        from common.evaluation.report import main as report_main

        return report_main(sys.argv[1:] if argv is None else list(argv))
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--protocol", required=True, choices=["lfw", "blufr", "bin", "ijb"])
    p.add_argument("--embeddings", required=True, help=".npy, row i = image i of --list")
    p.add_argument("--list", help="image list: one relative path per line, optional label column")
    p.add_argument("--pairs", help="lfw: pairs.txt or lfw_pairs.mat; bin: the .bin file")
    p.add_argument("--config", help="blufr: blufr_lfw_config.mat")
    p.add_argument("--flip_embeddings", help="bin, ijb: .npy of the horizontally flipped images")
    p.add_argument("--target", help="ijb: IJBB or IJBC")
    p.add_argument("--meta", help="ijb: the meta folder (<p>_face_tid_mid.txt, <p>_name_5pts_score.txt, ...)")
    p.add_argument("--ijb_norm_score", type=_bool, default=True,
                   help="ijb: keep each image feature's norm (true, published) or L2-normalise it (false)")
    p.add_argument("--ijb_detector_score", type=_bool, default=True,
                   help="ijb: multiply each image feature by its detector score (true, published)")
    p.add_argument("--out", required=True, help="result .json (the ROC PNG is written beside it)")
    args = p.parse_args(argv)
    out = run(args)
    json_path, png_path = write_result(args.out, out)
    print(f"{out['protocol']}: {out['images']} images, dim {out['embedding_dim']}")
    print(ijb_table(out) if out["protocol"] == "ijb" else metrics_table(out))
    print(f"wrote {json_path} and {png_path}")
    return out


if __name__ == "__main__":
    guard(main)
