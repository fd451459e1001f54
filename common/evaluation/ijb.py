"""IJB-B / IJB-C eval target: loose crops aligned from the GIVEN landmarks -> embeddings (+ flips) -> protocol.

``--ijb_dir DIR --ijb_target IJBB|IJBC``: ``DIR/meta`` (or DIR itself) holds the published meta files,
``DIR/loose_crop`` the images. Each image (line i of ``<p>_name_5pts_score.txt``) is aligned by the similarity
transform of its 5 landmarks onto the recipe's template (``--ijb_align`` to choose another; a box template such
as FaceNet's is replaced by its 5-point equivalent, :func:`landmark_template`; no detection), then goes through
the model's own preprocessing; with flip its mirror is embedded too. Scoring: :mod:`common.protocols.ijb` (the
published rules).

Everything is checked before any image is embedded: the meta files (consistent, both pair classes), every image
file present, the outputs none of the inputs. An image that cannot be decoded is
skipped: named on the console and in the result (``unreadable_images``), left out of its template.

``--save_embeddings true``: images are embedded in chunks of :data:`CHUNK`, each chunk written atomically to
``STEM_cache/chunk_NNNNN.npz`` as soon as it is done (``STEM_cache/manifest.json`` says which model, checkpoint,
template and preprocessing wrote it); a run that dies continues from the chunks already there (a cache written by
another model / checkpoint / setting is refused, naming the folder). At the end ``STEM_embeddings.npy`` (and
``STEM_flip_embeddings.npy``), ``STEM_images.txt`` and, when some image could not be read,
``STEM_unreadable.txt`` are written, which ``python -m common.evaluate --protocol ijb`` scores back to the same
numbers; then the chunks are removed.

Beside the result JSON, ``STEM_result_pairs.npz`` (:func:`write_pair_file`) gives the eval report
(common/evaluation/report.py) the 1:1 thresholds at FAR 1e-3 / 1e-4 and the worst template pairs, each template
shown by its first readable loose crop; ``python -m common.evaluate --protocol ijb --out R.json`` writes it too.
"""
import json
import os
import shutil
import time

import cv2
import numpy as np

from common.core.errors import FaceIdError
from common.core.fileio import atomic_write, write_json_atomic, write_text_atomic
from common.core.paths import check_output
from common.protocols import ijb
from common.protocols.plots import result_paths, write_result

CHUNK = 2048  # images per cache file


def locate(ijb_dir):
    """(meta folder, image folder) of an IJB folder: DIR/meta (or DIR) and DIR/loose_crop (or DIR/images)."""
    if not os.path.isdir(ijb_dir):
        raise FaceIdError(f"--ijb_dir {ijb_dir}: not a folder")
    meta = os.path.join(ijb_dir, "meta")
    meta = meta if os.path.isdir(meta) else ijb_dir
    for sub in ("loose_crop", "images"):
        if os.path.isdir(os.path.join(ijb_dir, sub)):
            return meta, os.path.join(ijb_dir, sub)
    raise FaceIdError(f"--ijb_dir {ijb_dir}: no loose_crop/ image folder in it")


def detect_target(ijb_dir):
    """IJBB or IJBC, from which ``<p>_face_tid_mid.txt`` the meta folder holds (one line when unclear)."""
    meta, _ = locate(ijb_dir)
    found = [k for k, (p, _) in ijb.TARGETS.items() if os.path.isfile(os.path.join(meta, f"{p}_face_tid_mid.txt"))]
    if len(found) != 1:
        raise FaceIdError(f"--ijb_dir {ijb_dir}: give --ijb_target IJBB or IJBC ("
                          f"{'both' if found else 'neither'} ijbb_/ijbc_ meta files found in {meta})")
    return found[0]


def landmark_template(name):
    """The alignment template for IJB, which gives 5 landmarks and no face box. A box template (``facenet160`` /
    ``facenet182``: MTCNN box + margin) is replaced by its 5-point equivalent: ``facenet160_5pt``'s points (the
    face of a 160 px crop with margin 32, i.e. a 128 px box) scaled to the template's box size (size - margin)
    about the crop centre."""
    from common.align.templates import TEMPLATES, Template, get_template

    if not name:
        raise FaceIdError("--ijb_dir: the recipe names no alignment template (align); give --ijb_align TEMPLATE")
    t = get_template(name)
    if t.points is not None:
        return t
    h, w = t.size
    ref = TEMPLATES["facenet160_5pt"].points
    points = (ref - 80.0) * ((min(h, w) - t.margin) / 128.0) + np.array([w / 2.0, h / 2.0])
    return Template(f"{t.name}_5pt", t.size, t.channels, points,
                    note=f"5-point equivalent of the box template {t.name} (for landmarks without a box)")


class LandmarkAlign:
    """Preprocessing of one IJB image for :func:`common.evaluation.embed.extract`: items are (path, landmarks);
    decode -> similarity transform of the landmarks onto the template -> warp -> the model's preprocessing."""

    def __init__(self, preprocess, template):
        self.preprocess = getattr(preprocess, "preprocess", preprocess)  # never a detecting AlignedPreprocess
        self.template = landmark_template(template)
        self.channels = self.preprocess.channels

    def crop(self, path, landmarks, name=None):
        """The aligned uint8 crop, in the model's channels (and channel order)."""
        from common.align.photo import read_photo
        from common.align.templates import similarity_transform, warp
        from common.data.images import ImageError

        try:
            img = read_photo(path, name)
            m = similarity_transform(landmarks, self.template.points)
        except FaceIdError as exc:
            raise ImageError(str(exc), kind="unreadable") from None
        out = warp(img, m, self.template)
        if self.channels == 1 and out.shape[2] == 3:
            out = cv2.cvtColor(out, cv2.COLOR_RGB2GRAY)[:, :, None]
        elif self.channels == 3 and out.shape[2] == 1:
            out = np.repeat(out, 3, axis=2)
        if self.channels == 3 and getattr(self.preprocess, "color", "rgb") == "bgr":
            out = np.ascontiguousarray(out[:, :, ::-1])
        return out

    def eval_array(self, item, name=None):
        path, landmarks = item
        return self.preprocess.eval_image(self.crop(path, landmarks, name), name)


def _fingerprint(meta, extra, template, preprocess, flip):
    ckpt = extra.get("checkpoint") or extra.get("onnx")
    stat = os.stat(ckpt) if ckpt and os.path.isfile(ckpt) else None
    return {"target": meta.target, "images": len(meta), "first": meta.names[0], "last": meta.names[-1],
            "model": extra.get("model"), "backbone": extra.get("backbone"), "checkpoint": ckpt,
            "checkpoint_size": stat.st_size if stat else None, "checkpoint_mtime": int(stat.st_mtime) if stat else None,
            "template": template, "preprocess": {k: (list(v) if isinstance(v, tuple) else v)
                                                 for k, v in vars(preprocess).items()},
            "flip": bool(flip), "chunk": CHUNK}


def _open_cache(folder, fp):
    """Create the cache folder with its manifest, or check an existing one was written by this same setting."""
    manifest = os.path.join(folder, "manifest.json")
    if os.path.isfile(manifest):
        try:
            with open(manifest, encoding="utf-8") as f:
                old = json.load(f)
        except (OSError, ValueError):
            old = None
        if old != json.loads(json.dumps(fp)):
            diff = [k for k in fp if not isinstance(old, dict) or old.get(k) != json.loads(json.dumps(fp))[k]]
            raise FaceIdError(f"{folder}: embedding cache written by another run (differs in "
                              f"{', '.join(diff) or 'manifest'}); remove the folder or use another --out_dir")
        return
    os.makedirs(folder, exist_ok=True)
    write_json_atomic(manifest, fp)


def _load_chunk(path, n, flip):
    try:
        with np.load(path, allow_pickle=False) as z:
            emb = z["emb"]
            fl = z["flip"] if flip else None
            bad = z["unreadable"]
    except (OSError, ValueError, KeyError):
        return None                  # a damaged chunk (should not happen: written atomically) is embedded again
    if emb.shape[0] != n or (flip and fl.shape != emb.shape):
        return None
    return emb, fl, bad


def embed_all(net, meta, image_dir, adapter, batch_size, flip, cache=None, log=print):
    """(emb, flip emb or None, [(row, message)] of unreadable images) for every image of ``meta``, chunk by chunk,
    resumed from / saved to ``cache`` (a folder) when given; one progress line per chunk with rate and ETA."""
    from common.evaluation.embed import extract

    n = len(meta)
    items = [(os.path.join(image_dir, name), meta.landmarks[i]) for i, name in enumerate(meta.names)]
    names = [os.path.join(image_dir, name) for name in meta.names]
    embs, flips, bad = [], [], []
    done, resumed, t0 = 0, 0, time.time()
    n_chunks = (n + CHUNK - 1) // CHUNK
    for c in range(n_chunks):
        a, b = c * CHUNK, min(n, (c + 1) * CHUNK)
        path = os.path.join(cache, f"chunk_{c:05d}.npz") if cache else None
        got = _load_chunk(path, b - a, flip) if path and os.path.isfile(path) else None
        if got is not None:
            e, f, rows = got
            resumed += b - a
            bad += [(a + int(r), f"{names[a + int(r)]}: unreadable (cached)") for r in rows]
        else:
            un = []
            res = extract(net, items[a:b], adapter, batch_size, flip=flip, desc=f"{meta.target} images",
                          unreadable=un, names=names[a:b], disable=True)
            e, f = res if flip else (res, None)
            rows = np.asarray([k for k, _ in un], np.int64)
            bad += [(a + k, msg) for k, msg in un]
            if path:
                def write(fh, e=e, f=f, rows=rows):
                    np.savez(fh, emb=e, flip=f if f is not None else np.zeros((0,), np.float32), unreadable=rows)
                atomic_write(path, write)
            done += b - a
        embs.append(e)
        flips.append(f)
        el = time.time() - t0
        rate = done / el if done and el > 0 else 0.0
        eta = (n - b) / rate if rate > 0 else 0.0
        log(f"{meta.target}: {b}/{n} images" + (f" ({resumed} from cache)" if resumed else "") +
            (f", {rate:.1f} img/s, ETA {eta / 60:.1f} min" if rate else ""))
    emb = np.concatenate(embs)
    return emb, (np.concatenate(flips) if flip else None), bad


def image_folder(meta_dir):
    """The loose_crop/ (or images/) folder beside an IJB meta folder, or None (thumbnails then say unreadable)."""
    up = os.path.dirname(os.path.abspath(meta_dir))
    for sub in ("loose_crop", "images"):
        for base in (up, os.path.abspath(meta_dir)):
            if os.path.isdir(os.path.join(base, sub)):
                return os.path.join(base, sub)
    return None


def template_images(meta, unreadable=()):
    """{template id: row of its first readable image} (file order of ``_name_5pts_score.txt``): the image that
    shows a template in the report."""
    ok = np.ones(len(meta), bool)
    ok[np.asarray(list(unreadable), np.int64)] = False
    rows = np.flatnonzero(ok)
    tids, first = np.unique(meta.templates[rows], return_index=True)
    return dict(zip(tids.tolist(), rows[first].tolist()))


def write_pair_file(out_json, scored, meta, image_dir=None, unreadable=(), inputs=()):
    """The report's side file of the 1:1 pairs (``<stem>_pairs.npz``, common/evaluation/report.py), kept small
    whatever the number of pairs: every genuine score, the top impostor scores the thresholds at FAR 1e-3 / 1e-4
    need, and the worst false accepts / rejects as template pairs, each template shown by its first readable
    image. ``scored``: :func:`common.protocols.ijb.evaluate`'s ``pairs_out``. Returns its absolute path."""
    from common.evaluation.report import pairs_path, top_pairs, write_pairs

    path = check_output(pairs_path(out_json), *inputs, what="result")
    score, label = scored["score"], scored["label"]
    kept = top_pairs(score, label)
    idx = np.unique(np.concatenate([kept["fa"], kept["fr"]]))
    rep = template_images(meta, unreadable)

    def image(t):
        name = meta.names[rep[int(t)]]
        return os.path.join(image_dir, name) if image_dir else name

    t1, t2 = scored["template_1"][idx], scored["template_2"][idx]
    return write_pairs(path, score[idx], label[idx], np.zeros(idx.size, np.int64), [image(t) for t in t1],
                       [image(t) for t in t2], score_name="cosine of the template features",
                       extra={"genuine_scores": kept["genuine_scores"], "impostor_top": kept["impostor_top"],
                              "impostors": kept["impostors"], "first_template": t1, "second_template": t2,
                              "pair_line": scored["line"][idx],
                              "set_name": f"{meta.target} 1:1 (every scored template pair)"})


def ijb_set(net, preprocess, ijb_dir, target, out_json=None, batch_size=64, flip=True, template=None,
            extra=None, embeddings_out=None, norm_score=True, detector_score=True, log=print):
    """The IJB protocols on an IJB folder with the model ``net`` (module doc); returns the result dict."""
    meta_dir, image_dir = locate(ijb_dir)
    target = target or detect_target(ijb_dir)
    adapter = LandmarkAlign(preprocess, template)
    meta = ijb.Meta(meta_dir, target)
    inputs = meta.inputs()
    if out_json:
        from common.evaluation.report import pairs_path

        for path in result_paths(out_json) + (pairs_path(out_json),):
            check_output(path, *inputs, what="result")
    outs = {}
    if embeddings_out:
        outs = {"embeddings": embeddings_out + "_embeddings.npy", "images": embeddings_out + "_images.txt",
                "unreadable": embeddings_out + "_unreadable.txt"}
        if flip:
            outs["flip_embeddings"] = embeddings_out + "_flip_embeddings.npy"
        for p in outs.values():
            check_output(p, *inputs, what="embeddings")
    missing = [n for n in meta.names if not os.path.isfile(os.path.join(image_dir, n))]
    if missing:
        raise FaceIdError(f"{meta.files['name_5pts_score']}: names {len(missing)} image(s) missing under "
                          f"{image_dir}, e.g. {missing[0]}")
    cache = None
    if embeddings_out:
        cache = embeddings_out + "_cache"
        _open_cache(cache, _fingerprint(meta, extra or {}, adapter.template.name, adapter.preprocess, flip))
    log(f"{meta.target}: {len(meta)} images, {meta.label.size} pairs; aligned from the given landmarks to "
        f"{adapter.template.name}" + (", with flip" if flip else ""))
    emb, emb_flip, bad = embed_all(net, meta, image_dir, adapter, batch_size, flip, cache, log)
    if bad:
        shown = ", ".join(m for _, m in bad[:3]) + (f", +{len(bad) - 3} more" if len(bad) > 3 else "")
        log(f"{ijb_dir}: skipped {len(bad)} unreadable image(s) ({shown}); left out of their templates")
    rows = sorted(r for r, _ in bad)
    scored = {}
    result = ijb.evaluate(meta, emb, emb_flip, norm_score, detector_score, unreadable=rows,
                          source=f"embeddings of {ijb_dir}", pairs_out=scored)
    for w in result.pop("warnings", []):
        log(f"warning: {w}")
    result["unreadable_images"] = [os.path.join(image_dir, meta.names[r]) for r in rows]
    result["files"] = {"meta": os.path.abspath(meta_dir), "images": os.path.abspath(image_dir)}
    result["options"]["template"] = adapter.template.name
    result.update(extra or {})
    if embeddings_out:
        atomic_write(outs["embeddings"], lambda f: np.save(f, emb.astype(np.float32)))
        if flip:
            atomic_write(outs["flip_embeddings"], lambda f: np.save(f, emb_flip.astype(np.float32)))
        write_text_atomic(outs["images"], "".join(f"{n}\n" for n in meta.names))
        if rows:
            write_text_atomic(outs["unreadable"], "".join(f"{meta.names[r]}\n" for r in rows))
        elif os.path.isfile(outs["unreadable"]):
            os.unlink(outs["unreadable"])
        result["files"].update({k: os.path.abspath(v) for k, v in outs.items() if os.path.isfile(v)})
        shutil.rmtree(cache, ignore_errors=True)
    if out_json:
        result["files"]["pair_scores"] = write_pair_file(out_json, scored, meta, image_dir, rows, inputs)
        json_path, png = write_result(out_json, result, inputs=inputs)
        log(f"wrote {json_path} and {png}")
    return result
