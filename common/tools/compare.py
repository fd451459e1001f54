"""Photo to verdict: are the faces in two photos the same person?

    python -m common.compare --model MODEL --ckpt_file CKPT [--config Y] [--threshold T | --result result.json]
                             a.jpg b.jpg [--out_dir D] [--align TEMPLATE] [--face_a K] [--face_b K]
    python -m common.compare --onnx MODEL.onnx (--config Y | --preprocess '{...}') [--align TEMPLATE] a.jpg b.jpg

Each photo is decoded (any format, EXIF rotation, transparency), its faces detected (MTCNN) and the face used is
aligned with the model's template (its recipe YAML's ``align``, or ``--align``), then embedded with the model's
own preprocessing. Prints the cosine similarity of the L2-normalised embeddings and the decision at the
threshold: ``--threshold``, or from a ``result.json`` of that model's evaluation (LFW: the mean of the 10 fold
thresholds on cosine; insightface .bin: the mean fold threshold on squared L2 distance of unit embeddings,
converted to cosine as 1 - d/2), else no decision. A ``--result`` is refused (one line) unless it records this
model, backbone, alignment template and preprocessing (``model``, ``backbone``, ``align``, ``preprocess`` as an
eval or the C++ post-step writes them): another model's threshold means nothing here. Writes the aligned crops it used and ``compare.json`` to
``--out_dir`` (default ``compare_out``). With several faces in a photo it says which one was used: the largest
nearest the centre, or ``--face_a/--face_b K`` (0-based, left to right).
"""
import argparse
import json
import os


import common.core.env  # noqa: E402,F401
import numpy as np  # noqa: E402

from common.core.errors import FaceIdError  # noqa: E402
from common.core.fileio import write_json_atomic  # noqa: E402


def get_embedder(model, ckpt_file=None, config=None, overrides=None):
    """The zoo model by name (``common.recipes.load.load_embedder``)."""
    try:
        from common.recipes.load import load_embedder
    except ImportError as exc:
        raise FaceIdError(f"--model {model}: cannot build models by name in this checkout ({exc})") from None
    return load_embedder(model, ckpt_file=ckpt_file, config=config, overrides=overrides)


def embedder_of(args):
    """The embedder the command line names: ``--onnx FILE`` (any ONNX face model, run by ONNX Runtime, with the
    preprocessing of ``--preprocess {...}`` or of ``--config`` / ``--model``'s recipe YAML), else the zoo model
    ``--model`` with ``--ckpt_file``."""
    onnx = getattr(args, "onnx", None)
    if not onnx:
        if not args.model and args.config:  # a model bundle / training run's config.yaml names its model
            from common.core.config import read_yaml

            args.model = read_yaml(args.config).get("model")
        if not args.model:
            raise FaceIdError("give --model MODEL (a zoo model, with --ckpt_file), --config YAML naming its model "
                              "(a bundle's or a run's config.yaml) or --onnx FILE (any ONNX face model)")
        if getattr(args, "preprocess", None):
            raise FaceIdError("--preprocess is for --onnx models; a zoo model's preprocessing is its --config's")
        return get_embedder(args.model, args.ckpt_file, args.config)
    if args.ckpt_file:
        raise FaceIdError(f"--onnx {onnx} and --ckpt_file {args.ckpt_file}: give one (the ONNX file is the whole model)")
    from common.deploy.onnx_model import onnx_embedder

    config = args.config
    if not config and args.model:
        from common.recipes import contract

        config = contract.get(args.model).default_config
    return onnx_embedder(onnx, config=config, preprocess=getattr(args, "preprocess", None))


def untrained(args):
    return not args.ckpt_file and not getattr(args, "onnx", None)


def template_of(embedder, given=None):
    template = given or getattr(embedder, "align", None)
    if not template:
        raise FaceIdError("--align: the model's recipe names no alignment template; give --align TEMPLATE")
    return template


def describe_face(faces, used, chosen_by):
    b = faces[used].box
    box = f"box ({b[0]:.0f}, {b[1]:.0f}, {b[2]:.0f}, {b[3]:.0f})"
    if len(faces) == 1:
        return f"1 face, {box}"
    why = "chosen with --face" if chosen_by == "option" else "the largest nearest the centre"
    return f"{len(faces)} faces, used face {used} (0-based, left to right; {why}), {box}"


def face_crop(aligner, path, face_index=None):
    """Photo -> (aligned crop, info dict); FaceIdError naming the photo when it has no (such) face."""
    from common.align import pick_face, read_photo

    img = read_photo(path)
    faces = aligner.faces(img)
    if not faces:
        raise FaceIdError(f"{path}: no face found")
    if face_index is None:
        used, chosen = pick_face(faces, img.shape), "policy"
    else:
        if not 0 <= face_index < len(faces):
            raise FaceIdError(f"{path}: --face {face_index} asked, the photo has {len(faces)} face(s) (0-based)")
        used, chosen = face_index, "option"
    info = {"photo": os.path.abspath(path), "image_size": [int(img.shape[1]), int(img.shape[0])],
            "faces": len(faces), "used": used, "chosen_by": chosen,
            "boxes": [[round(float(v), 1) for v in f.box] for f in faces],
            "scores": [round(f.score, 4) for f in faces], "description": describe_face(faces, used, chosen)}
    return aligner.crop(img, faces[used]), info


def embed_crops(embedder, crops, names=None):
    """Aligned uint8 crops -> (N, D) unit embeddings, through the model's own preprocessing; NaN / inf
    embeddings are refused naming the photos (``names``), as on every scoring path."""
    from common.protocols.sanity import check_finite
    from common.align.aligner import _to_channels

    pre = embedder.preprocess
    x = np.stack([pre.eval_image(_to_channels(c, pre.channels, getattr(pre, "color", "rgb"))) for c in crops])
    emb = np.asarray(embedder.embed(x.astype(np.float32)), np.float64)
    if emb.ndim != 2 or emb.shape[0] != len(crops):
        raise FaceIdError(f"model returned embeddings of shape {emb.shape} for {len(crops)} faces")
    check_finite(emb, "model embeddings", names=names)
    return emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)


def _find_thresholds(node, path=()):
    if isinstance(node, dict):
        if isinstance(node.get("fold_thresholds"), list) and node["fold_thresholds"]:
            yield path, node
        for k, v in node.items():
            yield from _find_thresholds(v, path + (str(k),))


def _same_value(a, b):
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same_value(x, y) for x, y in zip(a, b))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool) \
            and not isinstance(b, bool):
        return float(a) == float(b)
    return a == b


def check_result_origin(data, path, model, backbone=None, preprocess=None, template=None):
    """Refuse a result JSON of another model, backbone, alignment template or preprocessing (one line naming what
    differs)."""
    if not isinstance(data, dict) or not data.get("model"):
        raise FaceIdError(f"{path}: the result records no model, so its threshold cannot be checked against "
                          f"--model {model}; give --threshold T instead")
    if data["model"] != model:
        raise FaceIdError(f"{path}: a result of model {data['model']}, not of --model {model}; its threshold "
                          f"does not apply (give that model's result, or --threshold T)")
    if backbone and data.get("backbone") and data["backbone"] != backbone:
        raise FaceIdError(f"{path}: a result of backbone {data['backbone']}, this {model} is {backbone}; its "
                          f"threshold does not apply")
    if template and data.get("align") and data["align"] != template:
        raise FaceIdError(f"{path}: a result of faces aligned with {data['align']}, here {template}; its threshold "
                          f"does not apply (give --align {data['align']}, or --threshold T)")
    recorded = data.get("preprocess") or (data.get("export") or {}).get("preprocess")
    if preprocess is not None and isinstance(recorded, dict):
        mine = dict(preprocess.__dict__) if not isinstance(preprocess, dict) else preprocess
        diff = [k for k in sorted(set(recorded) | set(mine)) if k in mine and k in recorded
                and not _same_value(recorded[k], mine[k])]
        if diff:
            k = diff[0]
            raise FaceIdError(f"{path}: a result of another preprocessing ({k} {recorded[k]!r}, here {mine[k]!r}"
                              + (f", +{len(diff) - 1} more" if len(diff) > 1 else "") + "); its threshold does not apply")


def threshold_from_result(path, model=None, backbone=None, preprocess=None, template=None):
    """-> (cosine threshold, how it was derived) from an eval's result JSON; FaceIdError when it holds none, or
    (with ``model``) when it is a result of another model / backbone / preprocessing."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError) as exc:
        raise FaceIdError(f"{path}: cannot read the result JSON ({exc})") from None
    if model is not None:
        check_result_origin(data, path, model, backbone, preprocess, template)
    for where, node in _find_thresholds(data):
        t = np.asarray(node["fold_thresholds"], np.float64)
        # LFW (cosine, accept >= t) keeps fold_thresholds at the result's top level (or under a target key);
        # the .bin protocol keeps them under 'accuracy' as squared L2 distances of unit embeddings.
        if where and where[-1].startswith("accuracy"):
            if where[-1] != "accuracy":
                continue   # prefer the no-flip thresholds: compare embeds one image per photo
            d = float(t.mean())
            return 1.0 - d / 2.0, (f"{path}: mean of {t.size} fold thresholds of the .bin protocol, squared L2 "
                                    f"distance {d:.4f} -> cosine {1.0 - d / 2.0:.4f}")
        return float(t.mean()), f"{path}: mean of {t.size} LFW fold thresholds (cosine)"
    raise FaceIdError(f"{path}: no fold thresholds in this result JSON; give --threshold")


def decide(score, threshold):
    if threshold is None:
        return None
    return "same person" if score >= threshold else "different people"


def write_crop(path, crop):
    from common.align.tool import write_image

    write_image(path, crop)
    return path


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="python -m common.compare", description=__doc__.split("\n\n")[0])
    ap.add_argument("photos", nargs=2, metavar="PHOTO")
    ap.add_argument("--model", default=None, help="zoo model name (e.g. lightcnn, cosface, facenet)")
    ap.add_argument("--ckpt_file", default=None, help="trained checkpoint (without it: untrained weights)")
    ap.add_argument("--config", default=None, help="the model YAML (default: its recipe)")
    ap.add_argument("--onnx", default=None, help="any ONNX face model instead of --model/--ckpt_file (ONNX Runtime)")
    ap.add_argument("--preprocess", default=None, help="--onnx: its preprocessing as YAML, e.g. '{resize: [112, "
                                                       "112], mean: 127.5, std: 128.0}' (default: --config's)")
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--threshold", type=float, default=None, help="cosine threshold: same person if >= it")
    g.add_argument("--result", default=None, help="result.json of this model's eval: its threshold")
    ap.add_argument("--align", default=None, help="alignment template (default: the recipe's)")
    ap.add_argument("--face_a", type=int, default=None, help="face of the first photo (0-based, left to right)")
    ap.add_argument("--face_b", type=int, default=None, help="face of the second photo")
    ap.add_argument("--min_face", type=float, default=20)
    ap.add_argument("--out_dir", default="compare_out")
    return ap.parse_args(argv)


def result_threshold(args, embedder):
    """--result's threshold, checked to be of this model, backbone and preprocessing."""
    cfg = getattr(embedder, "cfg", None) or {}
    backbone = cfg.get("backbone") if hasattr(cfg, "get") else None
    return threshold_from_result(args.result, args.model, backbone, getattr(embedder, "preprocess", None),
                                 template_of(embedder, getattr(args, "align", None)))


def model_and_out_dir(args, embedder=None):
    """``--out_dir`` probed (read-only, a file, a full disk) before the model loads, then the embedder and the
    ``--result`` check; a folder the probe created is removed again when the model or the result is refused."""
    from common.core.paths import writable_dir

    created = not os.path.exists(args.out_dir)
    writable_dir(args.out_dir, "--out_dir")
    try:
        embedder = embedder or embedder_of(args)
        if args.threshold is None and args.result:   # before any photo is read
            result_threshold(args, embedder)
    except FaceIdError:
        if created:
            try:
                os.rmdir(args.out_dir)
            except OSError:
                pass
        raise
    return embedder


def run(args, embedder=None):
    from common.align import Aligner

    embedder = model_and_out_dir(args, embedder)
    template = template_of(embedder, args.align)
    aligner = Aligner(template, min_face=args.min_face)
    crops, infos = [], []
    for photo, k in zip(args.photos, (args.face_a, args.face_b)):
        crop, info = face_crop(aligner, photo, k)
        crops.append(crop)
        infos.append(info)
    emb = embed_crops(embedder, crops, names=list(args.photos))
    score = float(emb[0] @ emb[1])
    if args.threshold is not None:
        threshold, source = float(args.threshold), "--threshold"
    elif args.result:
        threshold, source = result_threshold(args, embedder)
    else:
        threshold, source = None, None
    os.makedirs(args.out_dir, exist_ok=True)
    for i, (crop, info) in enumerate(zip(crops, infos)):
        stem = os.path.splitext(os.path.basename(info["photo"]))[0]
        info["aligned_crop"] = write_crop(os.path.join(args.out_dir, f"{'ab'[i]}_{stem}_{template}.png"), crop)
    verdict = decide(score, threshold)
    out = {"model": args.model, "checkpoint": os.path.abspath(args.ckpt_file) if args.ckpt_file else None,
           "onnx": os.path.abspath(args.onnx) if getattr(args, "onnx", None) else None,
           "template": template, "photos": infos, "cosine_similarity": score, "threshold": threshold,
           "threshold_source": source, "decision": verdict}
    if untrained(args):
        out["warning"] = "no --ckpt_file: an untrained network; the score says nothing about identity"
    json_path = os.path.join(args.out_dir, "compare.json")
    write_json_atomic(json_path, out)
    for name, info in zip(args.photos, infos):
        print(f"{name}: {info['description']} -> {info['aligned_crop']}")
    print(f"cosine similarity: {score:.4f}")
    if threshold is None:
        print("decision: none (no threshold; give --threshold T or --result result.json of the model's eval)")
    else:
        print(f"decision: {verdict} (threshold {threshold:.4f} from {source})")
    if untrained(args):
        print("WARNING: " + out["warning"])
    print(f"wrote {json_path}")
    return out


def main(argv=None):
    run(parse_args(argv))
    return 0


if __name__ == "__main__":
    from common.core.errors import guard

    guard(main)
