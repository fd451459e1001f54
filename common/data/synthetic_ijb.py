"""A synthetic IJB-B / IJB-C-format set: loose crops, meta files, landmarks, detector scores, 1:N galleries.

    python -m common.data.synthetic_ijb OUT [--target IJBC] [--subjects 16] [--templates 3] [--media 2]
                                            [--frames 2] [--outsiders 2] [--size 112] [--seed 0] [--no_images]

writes, in the layout of insightface's IJB folders (``<p>`` = ijbc or ijbb)::

    OUT/loose_crop/<n>.jpg                 loose face crops of varying size, pose and position
    OUT/meta/<p>_face_tid_mid.txt          image template_id media_id
    OUT/meta/<p>_name_5pts_score.txt       image x1 y1 .. x5 y5 detector_score (the faces' true 5 points)
    OUT/meta/<p>_template_pair_label.txt   every pair of templates, label 1 = same subject
    OUT/meta/<p>_1N_gallery_G1.csv, _G2.csv (IJB-B: _S1, _S2), <p>_1N_probe_mixed.csv  (TEMPLATE_ID,SUBJECT_ID,FILENAME)

Every subject has ``templates`` templates of ``1..media`` media (videos / photos) of ``1..frames`` images each;
subjects alternate between the two galleries (their first template is the gallery template, the others are
probes); ``outsiders`` more subjects have probe templates only (non-mated in both galleries). Template and media
ids are sparse (as in IJB). THIS DATA IS SYNTHETIC: it exercises the pipeline; numbers on it mean nothing.
"""
import argparse
import os
import sys

import cv2
import numpy as np

from common.core.fileio import atomic_write, write_text_atomic
from common.data import synthetic


def _landmarks(p):
    """The identity drawing's 5 points on the synthetic CANVAS (x, y pixels): eyes, nose tip, mouth corners."""
    c = synthetic.CANVAS
    fx = 0.5
    ny = p["eye_y"] + 0.03 + p["nose_len"]
    my = p["mouth_y"] + 0.5 * p["mouth_curve"]
    pts = [(fx - p["eye_dx"], p["eye_y"]), (fx + p["eye_dx"], p["eye_y"]), (fx, ny),
           (fx - p["mouth_w"], my), (fx + p["mouth_w"], my)]
    return np.asarray(pts, np.float64) * c


def render_loose(p, rng, size, jitter=1.0):
    """(BGR loose crop, its 5 landmarks): the face drawn, rotated, scaled and shifted into a size x size' frame."""
    c = synthetic.CANVAS
    canvas = np.empty((c, c, 3), np.uint8)
    canvas[:] = rng.uniform(0, 255, 3).astype(np.uint8)
    img = synthetic.draw_face(p, rng, canvas)
    h = int(size)
    w = int(round(size * rng.uniform(0.8, 1.0)))
    angle = rng.normal(0, 8 * jitter)
    scale = h / c * rng.uniform(0.75, 0.95)
    m = cv2.getRotationMatrix2D((c / 2, c / 2), angle, scale)
    m[:, 2] += np.array([w / 2 - c / 2, h / 2 - c / 2]) + rng.normal(0, 0.04 * h * jitter, 2)
    out = cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)
    out = out.astype(np.float32) * rng.uniform(0.7, 1.2) + rng.normal(0, 4, out.shape)
    lmk = _landmarks(p) @ m[:, :2].T + m[:, 2] + rng.normal(0, 0.5, (5, 2))
    return np.clip(out, 0, 255).astype(np.uint8), lmk


def generate(out, target="IJBC", subjects=16, templates=3, media=2, frames=2, outsiders=2, size=112, seed=0,
             images=True, log=print):
    """Write the set (module doc) under ``out``; returns the meta folder."""
    from common.protocols.ijb import target_info

    key, (prefix, galleries) = target_info(target)
    if subjects < 2 or templates < 2:
        raise ValueError("need at least 2 subjects and 2 templates per subject")
    rng = np.random.default_rng(seed)
    meta, crops = os.path.join(out, "meta"), os.path.join(out, "loose_crop")
    os.makedirs(meta, exist_ok=True)
    if images:
        os.makedirs(crops, exist_ok=True)
    n_subj = subjects + outsiders
    ids = [synthetic.sample_identity(rng) for _ in range(n_subj)]
    subject_ids = 1 + np.sort(rng.choice(np.arange(1, 50 * n_subj), n_subj, replace=False))
    tid_lines, lmk_lines, tmpl = [], [], []      # tmpl: (template id, subject index, [image names])
    next_tid, next_mid, n_img = 3, 11, 0
    for s in range(n_subj):
        for _ in range(templates):
            tid = next_tid
            next_tid += int(rng.integers(1, 9))
            names = []
            for _ in range(int(rng.integers(1, media + 1))):
                mid = next_mid
                next_mid += int(rng.integers(1, 5))
                for _ in range(int(rng.integers(1, frames + 1))):
                    n_img += 1
                    name = f"{n_img}.jpg"
                    if images:
                        img, lmk = render_loose(ids[s], rng, int(size * rng.uniform(0.85, 1.25)))
                        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 92])
                        atomic_write(os.path.join(crops, name), lambda f, b=buf: f.write(b.tobytes()))
                    else:
                        lmk = _landmarks(ids[s]) * (size / synthetic.CANVAS) + rng.normal(0, 1.0, (5, 2))
                    score = rng.uniform(0.6, 1.0)
                    tid_lines.append(f"{name} {tid} {mid}\n")
                    lmk_lines.append(name + " " + " ".join(f"{v:.3f}" for v in lmk.ravel()) + f" {score:.6f}\n")
                    names.append(name)
            tmpl.append((tid, s, names))
    pairs = []
    for a in range(len(tmpl)):
        for b in range(a + 1, len(tmpl)):
            t1, t2 = (tmpl[a][0], tmpl[b][0]) if rng.random() < 0.5 else (tmpl[b][0], tmpl[a][0])
            pairs.append(f"{t1} {t2} {int(tmpl[a][1] == tmpl[b][1])}\n")
    order = rng.permutation(len(pairs))
    write_text_atomic(os.path.join(meta, f"{prefix}_face_tid_mid.txt"), "".join(tid_lines))
    write_text_atomic(os.path.join(meta, f"{prefix}_name_5pts_score.txt"), "".join(lmk_lines))
    write_text_atomic(os.path.join(meta, f"{prefix}_template_pair_label.txt"), "".join(pairs[k] for k in order))
    head = "TEMPLATE_ID,SUBJECT_ID,FILENAME,SIGHTING_ID\n"
    rows = {g: [head] for g in list(galleries) + ["probe"]}
    first = set()
    for tid, s, names in tmpl:
        gallery = s < subjects and s not in first
        first.add(s)
        dest = galleries[s % 2] if gallery else "probe"
        rows[dest] += [f"{tid},{subject_ids[s]},loose_crop/{n},{k}\n" for k, n in enumerate(names)]
    for g in galleries:
        write_text_atomic(os.path.join(meta, f"{prefix}_1N_gallery_{g}.csv"), "".join(rows[g]))
    write_text_atomic(os.path.join(meta, f"{prefix}_1N_probe_mixed.csv"), "".join(rows["probe"]))
    log(f"synthetic {key} set in {out}: {n_subj} subjects ({outsiders} outside the galleries), {len(tmpl)} "
        f"templates, {n_img} images{'' if images else ' (meta only)'}, {len(pairs)} pairs; seed {seed}")
    return meta


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out")
    ap.add_argument("--target", default="IJBC", help="IJBB or IJBC (file prefix, gallery names)")
    ap.add_argument("--subjects", type=int, default=16, help="subjects with a gallery template")
    ap.add_argument("--templates", type=int, default=3, help="templates per subject")
    ap.add_argument("--media", type=int, default=2, help="at most this many media per template")
    ap.add_argument("--frames", type=int, default=2, help="at most this many images per media")
    ap.add_argument("--outsiders", type=int, default=2, help="subjects in no gallery (probe templates only)")
    ap.add_argument("--size", type=int, default=112, help="loose crop height (varies by -15%% .. +25%%)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no_images", action="store_true", help="meta files only (for precomputed embeddings)")
    a = ap.parse_args(argv)
    generate(a.out, a.target, a.subjects, a.templates, a.media, a.frames, a.outsiders, a.size, a.seed,
             images=not a.no_images)


if __name__ == "__main__":
    sys.exit(main())
