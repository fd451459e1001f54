"""Who is this? Rank the identities of a gallery for a probe photo.

    python -m common.identify --model MODEL --ckpt_file CKPT [--config Y] --gallery DIR --probe PHOTO
                              [--top 5] [--out_dir D] [--align TEMPLATE] [--threshold T | --result result.json]
    python -m common.identify --onnx MODEL.onnx (--config Y | --preprocess '{...}') --gallery DIR --probe PHOTO

The gallery is identity folders ``DIR/<identity>/<photo>``: every photo is detected and aligned like
``common.tools.compare`` does (one face per photo: the largest nearest the centre), embedded and L2-normalised; an
identity is the mean of its unit embeddings (normalised again). The probe's face is scored against each identity
by cosine similarity and the best ``--top`` are printed; with a threshold, a best score below it is reported as
"unknown". Gallery photos without a face or unreadable are skipped and listed. Writes ``identify.json`` and the
probe's aligned crop to ``--out_dir`` (default ``identify_out``).
"""
import argparse
import os


import common.core.env  # noqa: E402,F401
import numpy as np  # noqa: E402

from common.tools.compare import (decide, embed_crops, embedder_of, face_crop, model_and_out_dir,  # noqa: E402,F401
                                  result_threshold, template_of, untrained, write_crop)
from common.core.errors import FaceIdError  # noqa: E402
from common.core.fileio import write_json_atomic  # noqa: E402
from common.data.images import IMAGE_EXTS  # noqa: E402



def scan_gallery(root):
    if not os.path.isdir(root):
        raise FaceIdError(f"{root}: gallery folder not found")
    out = {}
    for name in sorted(os.listdir(root)):
        d = os.path.join(root, name)
        if os.path.isdir(d):
            photos = [os.path.join(d, f) for f in sorted(os.listdir(d)) if f.lower().endswith(IMAGE_EXTS)]
            if photos:
                out[name] = photos
    if not out:
        raise FaceIdError(f"{root}: no identity folders with photos (expected {root}/<identity>/<photo>.jpg)")
    return out


def gallery_embeddings(embedder, aligner, gallery, batch=32):
    """-> (identity names, (K, D) unit mean embeddings, per-identity photo counts, skipped [(photo, why)])."""
    crops, owners, skipped, used = [], [], [], []
    for name, photos in gallery.items():
        for p in photos:
            try:
                crop, _ = face_crop(aligner, p)
            except FaceIdError as exc:
                skipped.append({"photo": p, "error": str(exc)})
                continue
            crops.append(crop)
            owners.append(name)
            used.append(p)
    if not crops:
        raise FaceIdError("gallery: no face found in any gallery photo")
    emb = np.concatenate([embed_crops(embedder, crops[i:i + batch], names=used[i:i + batch])
                          for i in range(0, len(crops), batch)])
    names = sorted(set(owners))
    owners = np.asarray(owners)
    means, counts = [], []
    for n in names:
        m = emb[owners == n].mean(axis=0)
        means.append(m / max(np.linalg.norm(m), 1e-12))
        counts.append(int((owners == n).sum()))
    return names, np.stack(means), counts, skipped


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="python -m common.identify", description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=None, help="zoo model name (with --ckpt_file), or give --onnx")
    ap.add_argument("--ckpt_file", default=None)
    ap.add_argument("--config", default=None)
    ap.add_argument("--onnx", default=None, help="any ONNX face model instead of --model/--ckpt_file (ONNX Runtime)")
    ap.add_argument("--preprocess", default=None, help="--onnx: its preprocessing as YAML (default: --config's)")
    ap.add_argument("--gallery", required=True, help="identity folders DIR/<identity>/<photo>")
    ap.add_argument("--probe", required=True, help="the photo to identify")
    ap.add_argument("--probe_face", type=int, default=None, help="face of the probe (0-based, left to right)")
    ap.add_argument("--top", type=int, default=5)
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--threshold", type=float, default=None, help="cosine below which the probe is 'unknown'")
    g.add_argument("--result", default=None, help="result.json of this model's eval: its threshold")
    ap.add_argument("--align", default=None)
    ap.add_argument("--min_face", type=float, default=20)
    ap.add_argument("--out_dir", default="identify_out")
    return ap.parse_args(argv)


def run(args, embedder=None):
    from common.align import Aligner

    if args.top < 1:
        raise FaceIdError(f"--top {args.top}: must be at least 1")
    gallery = scan_gallery(args.gallery)
    embedder = model_and_out_dir(args, embedder)  # --out_dir probed before the model loads
    template = template_of(embedder, args.align)
    aligner = Aligner(template, min_face=args.min_face)
    probe_crop, probe_info = face_crop(aligner, args.probe, args.probe_face)
    names, means, counts, skipped = gallery_embeddings(embedder, aligner, gallery)
    probe = embed_crops(embedder, [probe_crop], names=[args.probe])[0]
    scores = means @ probe
    order = np.argsort(-scores, kind="stable")[:args.top]
    ranking = [{"rank": r + 1, "identity": names[i], "cosine_similarity": float(scores[i]), "photos": counts[i]}
               for r, i in enumerate(order)]
    if args.threshold is not None:
        threshold, source = float(args.threshold), "--threshold"
    elif args.result:
        threshold, source = result_threshold(args, embedder)
    else:
        threshold, source = None, None
    best = ranking[0]
    verdict = None if threshold is None else (best["identity"] if decide(best["cosine_similarity"], threshold)
                                              == "same person" else "unknown")
    os.makedirs(args.out_dir, exist_ok=True)
    stem = os.path.splitext(os.path.basename(args.probe))[0]
    probe_info["aligned_crop"] = write_crop(os.path.join(args.out_dir, f"probe_{stem}_{template}.png"), probe_crop)
    out = {"model": args.model, "checkpoint": os.path.abspath(args.ckpt_file) if args.ckpt_file else None,
           "onnx": os.path.abspath(args.onnx) if getattr(args, "onnx", None) else None,
           "template": template, "probe": probe_info, "gallery": os.path.abspath(args.gallery),
           "identities": len(names), "ranking": ranking, "threshold": threshold, "threshold_source": source,
           "decision": verdict, "skipped_gallery_photos": skipped}
    json_path = os.path.join(args.out_dir, "identify.json")
    write_json_atomic(json_path, out)
    print(f"{args.probe}: {probe_info['description']} -> {probe_info['aligned_crop']}")
    print(f"gallery: {len(names)} identities, {sum(counts)} faces" +
          (f", {len(skipped)} photo(s) skipped (no face / unreadable, listed in the JSON)" if skipped else ""))
    for r in ranking:
        print(f"  {r['rank']}. {r['identity']:<24s} cosine {r['cosine_similarity']:.4f}  ({r['photos']} photos)")
    if threshold is not None:
        print(f"decision: {verdict} (threshold {threshold:.4f} from {source})")
    if untrained(args):
        print("WARNING: no --ckpt_file: an untrained network; the ranking says nothing about identity")
    print(f"wrote {json_path}")
    return out


def main(argv=None):
    run(parse_args(argv))
    return 0


if __name__ == "__main__":
    from common.core.errors import guard

    guard(main)
