"""Evaluation flows shared by every model's eval script: images -> embeddings -> protocol -> JSON + PNG.

Bad input, one rule for every flow:

* the pairs file / .bin is checked before any image is embedded: at least 2 folds (pairs.txt) and, in every
  fold, same- and different-person pairs (a .bin: at least 10 of each class; its folds keep both classes
  whatever the pair order, see :mod:`common.protocols.binsets`);
* an image that cannot be read or decoded (zero-byte, truncated, not an image) is skipped: it is named on the
  console (one line) and in the result JSON (``unreadable_images``), the pairs holding it are not scored
  (``pairs_dropped``); when a fold is left without a same- or a different-person pair the run is refused.
  BLUFR scores every image of its config, so there an unreadable image is refused with the list;
* an image over the pixel limit or under the minimum size (``common.data.images``: checked on the header before
  decoding / a quarter of the network input per side, never upscaled) is skipped and counted like an unreadable one;
* an image smaller than the crop of a preprocessing without resize is refused naming the file;
* the result JSON / PNG may not be one of the inputs (checked before embedding).

LFW folders and .bin sets are found and loaded by :mod:`common.evaluation.sets` (the one loader the
training-time verification uses too).
``image_list`` (LightCNN's ``image_list_for_lfw.txt`` / ``image_list_for_blufr.txt``: relative paths under
``data_root``) names the images instead; a ``.mat`` pairs file indexes it.

``embeddings_out=STEM`` also writes ``STEM_embeddings.npy`` + ``STEM_images.txt`` (a .bin: also
``STEM_flip_embeddings.npy``) that ``python -m common.evaluate`` scores back to the same numbers; an unreadable
image's row is NaN there and the image is named in ``STEM_unreadable.txt``, so its pairs are dropped there too
(a NaN row not named there is refused, as here).
"""
import os

import numpy as np

from common.evaluation.embed import extract
from common.core.errors import FaceIdError
from common.evaluation.scoring import evaluate_bin, evaluate_lfw, read_lfw_pairs
from common.core.paths import check_output
from common.protocols import lfw
from common.protocols.listfile import read_image_list
from common.core.fileio import atomic_write
from common.protocols.plots import result_paths, write_result

from common.evaluation.sets import BinSet, find_pairs, image_root, pair_images, resolve_images


def _say_unreadable(log, bad, what, total_pairs=None, dropped=None):
    if not bad:
        return
    shown = ", ".join(msg for _, msg in bad[:3]) + (f", +{len(bad) - 3} more" if len(bad) > 3 else "")
    tail = f"; {dropped} of {total_pairs} pairs dropped from scoring" if dropped is not None else ""
    log(f"{what}: skipped {len(bad)} unreadable image(s) ({shown}){tail}")


def _result_guard(out_json, *inputs):
    if out_json:
        from common.evaluation.report import pairs_path

        for path in result_paths(out_json) + (pairs_path(out_json),):
            check_output(path, *inputs, what="result")


def _lfw_inputs(data_root, pairs_path, image_list, log):
    """(pairs, names, paths, needed): names/paths of every image (the pairs' images, or the image list's), and
    which of them the pairs use (only those are embedded)."""
    if not image_list:
        pairs, names, paths = pair_images(data_root, pairs_path, log)
        return pairs, names, paths, np.ones(len(names), bool)
    names, _ = read_image_list(image_list)
    pairs = read_lfw_pairs(pairs_path, names)
    rows = lfw.pair_indices(names, pairs, pairs_path)
    needed = np.zeros(len(names), bool)
    needed[np.unique(rows)] = True
    root = image_root(data_root, names)
    paths = resolve_images(root, names)
    missing = [n for n, p, k in zip(names, paths, needed) if k and p is None]
    if missing:
        raise FaceIdError(f"{image_list}: names {len(missing)} image(s) used by {os.path.basename(pairs_path)} missing "
                          f"under {root}, e.g. {missing[0]}")
    return pairs, names, [p or os.path.join(root, n) for p, n in zip(paths, names)], needed


def _embed_needed(net, paths, needed, preprocess, batch_size, flip, desc, bad):
    """extract() on the needed paths only; rows of the others (and of unreadable images) are NaN."""
    idx = np.flatnonzero(needed)
    got = []
    res = extract(net, [paths[i] for i in idx], preprocess, batch_size, flip=flip, desc=desc, unreadable=got)
    bad += [(int(idx[k]), msg) for k, msg in got]
    if idx.size == len(paths):
        return res
    outs = res if flip else (res,)
    full = []
    for e in outs:
        f = np.full((len(paths),) + e.shape[1:], np.nan, np.float32)
        f[idx] = e
        full.append(f)
    return tuple(full) if flip else full[0]


def save_embeddings(stem, emb, names, inputs=(), flip_emb=None, unreadable=()):
    """Write ``STEM_embeddings.npy`` (+ ``STEM_flip_embeddings.npy``) and ``STEM_images.txt`` (one name per row)
    atomically; none may be an input. ``unreadable``: names (of ``names``) of images that could not be read (NaN
    rows), written to ``STEM_unreadable.txt`` (a stale one is removed when there are none).
    Returns {"embeddings": ..., "images": ... [, "flip_embeddings": ...] [, "unreadable": ...]}."""
    from common.evaluation.scoring import UNREADABLE_SUFFIX

    files = {"embeddings": stem + "_embeddings.npy", "images": stem + "_images.txt"}
    if flip_emb is not None:
        files["flip_embeddings"] = stem + "_flip_embeddings.npy"
    if unreadable:
        files["unreadable"] = stem + UNREADABLE_SUFFIX
    for path in files.values():
        check_output(path, *inputs, what="embeddings")
    if unreadable:
        text = "".join(f"{n}\n" for n in unreadable).encode("utf-8")
        atomic_write(files["unreadable"], lambda f: f.write(text))
    elif os.path.isfile(stem + UNREADABLE_SUFFIX):
        os.remove(stem + UNREADABLE_SUFFIX)
    atomic_write(files["embeddings"], lambda f: np.save(f, np.asarray(emb, np.float32)))
    if flip_emb is not None:
        atomic_write(files["flip_embeddings"], lambda f: np.save(f, np.asarray(flip_emb, np.float32)))
    text = "".join(f"{n}\n" for n in names).encode("utf-8")
    atomic_write(files["images"], lambda f: f.write(text))
    return {k: os.path.abspath(v) for k, v in files.items()}


def lfw_folder(net, preprocess, data_root, pairs_path=None, out_json=None, batch_size=64, log=print, flip=False,
               extra=None, image_list=None, embeddings_out=None):
    """LFW View 2 on an image folder: embed every image the pairs name, score, write JSON + ROC PNG.

    ``flip`` adds the horizontally flipped image's embedding to each embedding (as the .bin protocol does).
    Unreadable images are skipped and their pairs dropped (module doc); ``unreadable_images`` lists their paths.
    ``image_list``: the images by a list file (a ``.mat`` pairs file indexes it); ``embeddings_out``: module doc
    (with ``flip`` the saved rows are the scored sums).
    """
    pairs_path = find_pairs(data_root, pairs_path, log)
    pairs, names, paths, needed = _lfw_inputs(data_root, pairs_path, image_list, log)
    inputs = (pairs_path, image_list, [p for p, k in zip(paths, needed) if k])
    _result_guard(out_json, *inputs)
    if embeddings_out:
        for p in (embeddings_out + "_embeddings.npy", embeddings_out + "_images.txt"):
            check_output(p, *inputs, what="embeddings")
    bad = []
    emb = _embed_needed(net, paths, needed, preprocess, batch_size, flip, "LFW embeddings", bad)
    if flip:
        emb = emb[0] + emb[1]
    scored = {}
    result = evaluate_lfw(emb, names, pairs_path, unreadable=[names[i] for i, _ in bad],
                          source=f"embeddings of {data_root}", pairs_out=scored)
    result["unreadable_images"] = [paths[i] for i, _ in bad]
    _say_unreadable(log, bad, data_root, len(pairs.first), result["pairs_dropped"])
    result["files"] = {"pairs": os.path.abspath(pairs_path), "images": os.path.abspath(data_root)}
    if image_list:
        result["files"]["image_list"] = os.path.abspath(image_list)
    result["flip"] = bool(flip)
    result.update(extra or {})
    if embeddings_out:
        result["files"].update(save_embeddings(embeddings_out, emb, names, inputs,
                                               unreadable=[names[i] for i, _ in bad]))
    if out_json:
        rows = scored["rows"]
        result["files"]["pair_scores"] = _write_pairs(out_json, scored, [paths[r] for r in rows[:, 0]],
                                                      [paths[r] for r in rows[:, 1]], inputs=inputs)
        json_path, png = write_result(out_json, result, inputs=inputs)
        log(f"wrote {json_path} and {png}")
    return result


def _write_pairs(out_json, scored, first, second, bin_path="", inputs=()):
    """The scored pairs beside the result JSON (``<stem>_pairs.npz``) for the eval report."""
    from common.evaluation.report import pairs_path, write_pairs

    path = check_output(pairs_path(out_json), *inputs, what="result")
    return write_pairs(path, scored["score"], scored["label"], scored["fold"], first, second, bin_path,
                       scored.get("score_name", "score"))


def bin_set(net, preprocess, bin_path, out_json=None, batch_size=64, log=print, extra=None, embeddings_out=None):
    """insightface .bin set: embed images and flips, accuracy with/without flip, VAL@FAR, XNorm.

    The issame flags are checked before anything is embedded. Images that cannot be decoded are skipped and
    their pairs dropped; ``unreadable_images`` lists their indices in the .bin."""
    bset = BinSet(bin_path)  # issame checked, each image decoded by sets.bin_image (as training-time verification)
    issame = bset.issame
    _result_guard(out_json, bin_path)
    if embeddings_out:
        for p in ("_embeddings.npy", "_flip_embeddings.npy", "_images.txt"):
            check_output(embeddings_out + p, bin_path, what="embeddings")
    items = bset.images
    bad = []
    emb, emb_flip = extract(net, items, preprocess, batch_size, flip=True, desc=os.path.basename(bin_path),
                            unreadable=bad, names=bset.names)
    scored = {}
    result = evaluate_bin(emb, emb_flip, issame, unreadable=[i for i, _ in bad], source=f"embeddings of {bin_path}",
                          bin_path=bin_path, pairs_out=scored)
    _say_unreadable(log, bad, bin_path, issame.size, result["pairs_dropped"])
    result["files"] = {"bin": os.path.abspath(bin_path)}
    result.update(extra or {})
    if embeddings_out:
        names = [f"{os.path.basename(bin_path)}#{i}" for i in range(len(items))]
        result["files"].update(save_embeddings(embeddings_out, emb, names, (bin_path,), flip_emb=emb_flip,
                                               unreadable=[names[i] for i, _ in bad]))
    if out_json:
        result["files"]["pair_scores"] = _write_pairs(out_json, scored, scored["rows"][:, 0], scored["rows"][:, 1],
                                                      os.path.abspath(bin_path), inputs=(bin_path,))
        json_path, png = write_result(out_json, result, inputs=(bin_path,))
        log(f"wrote {json_path} and {png}")
    return result


def blufr_folder(net, preprocess, data_root, config_path, out_json=None, batch_size=64, log=print, extra=None,
                 image_list=None, embeddings_out=None):
    """BLUFR on an LFW image folder (``name/name_%04d`` + any image extension, or the images of ``image_list``)
    with the official config's 13,233 images. Every config image is scored, so an unreadable one is refused
    (with the list)."""
    from common.evaluation.scoring import evaluate_blufr
    from common.protocols import blufr

    cfg = blufr.load_config(config_path)
    if image_list:
        rel, _ = read_image_list(image_list)
    else:
        rel = [os.path.join(n.rsplit("_", 1)[0], n) for n in cfg.image_list]
    root = image_root(data_root, rel)
    paths = resolve_images(root, rel)
    missing = [r for r, p in zip(rel, paths) if p is None]
    if missing:
        raise FaceIdError(f"{image_list or config_path}: lists {len(missing)} image(s) missing under {root}, "
                          f"e.g. {missing[0]}")
    inputs = (config_path, image_list, paths)
    _result_guard(out_json, *inputs)
    if embeddings_out:
        for p in (embeddings_out + "_embeddings.npy", embeddings_out + "_images.txt"):
            check_output(p, *inputs, what="embeddings")
    bad = []
    emb = extract(net, paths, preprocess, batch_size, desc="BLUFR embeddings", unreadable=bad)
    if bad:
        shown = ", ".join(paths[i] for i, _ in bad[:5]) + (f", +{len(bad) - 5} more" if len(bad) > 5 else "")
        raise FaceIdError(f"{data_root}: {len(bad)} unreadable image(s) ({shown}); BLUFR scores every image of "
                          f"{os.path.basename(config_path)}, replace them")
    scored = {}
    result = evaluate_blufr(emb, config_path, rel, source=f"embeddings of {data_root}", pairs_out=scored)
    result["files"] = {"config": os.path.abspath(config_path), "images": os.path.abspath(data_root)}
    if image_list:
        result["files"]["image_list"] = os.path.abspath(image_list)
    result.update(extra or {})
    if embeddings_out:
        result["files"].update(save_embeddings(embeddings_out, emb, rel, inputs))
    if out_json:
        result["files"]["pair_scores"] = _write_blufr_pairs(out_json, scored, paths, inputs)
        json_path, png = write_result(out_json, result, inputs=inputs)
        log(f"wrote {json_path} and {png}")
    return result


def _write_blufr_pairs(out_json, scored, paths, inputs):
    """Trial 1 of BLUFR for the report: the worst false accepts / rejects named, the score distributions kept."""
    from common.evaluation.report import WORST, pairs_path, write_pairs

    gen, imp = scored["genuine_scores"], scored["impostor_top"]
    low = np.argsort(gen, kind="stable")[:WORST]
    pairs = np.concatenate([scored["impostor_pairs"][:WORST], scored["genuine_pairs"][low]])
    names = [paths[r] for r in scored["rows"]]
    path = check_output(pairs_path(out_json), *inputs, what="result")
    return write_pairs(path, np.r_[imp[:WORST], gen[low]], np.r_[np.zeros(min(WORST, imp.size), bool),
                                                                  np.ones(low.size, bool)],
                       np.zeros(len(pairs), np.int64), [names[i] for i in pairs[:, 0]],
                       [names[j] for j in pairs[:, 1]], score_name="cosine",
                       extra={k: scored[k] for k in ("genuine_scores", "impostor_top", "impostors")})
