"""Synthetic demo faces: deterministic, learnable, not trivial.

Every identity is a parametric face drawing (face shape, eyes, brows, nose, mouth,
skin and hair tone, hair style, optional glasses/beard). Every image of it is
rendered with its own pose (roll, yaw-like feature shift), scale, translation,
expression jitter, lighting gradient, background, blur and noise.

    python -m common.data.synthetic OUT [--train_ids 300] [--train_images 16]
                                        [--test_ids 150] [--test_images 10] [--size 144] [--seed 0]
                                        [--pairs_per_fold 300]

writes ``OUT/train/<id>/<n>.jpg`` and, on disjoint identities, ``OUT/test/<id>/<id>_<n>.jpg``
with ``OUT/test/pairs.txt`` in the LFW View-2 format (10 folds x 300 same + 300 different,
each fold on its own identities, as in LFW). THIS DATA IS SYNTHETIC: it exercises the
pipeline; numbers on it say nothing about real faces.
"""
import argparse
import os
import sys

import cv2
import numpy as np

CANVAS = 256  # identities are drawn on a CANVAS x CANVAS frame, then warped to the output size


def sample_identity(rng):
    """Identity parameters: what stays the same across all images of one person."""
    tone = rng.uniform(0.3, 1.0)                               # dark .. light skin, BGR with R > G > B
    skin = np.clip(tone * np.array([150.0, 185.0, 235.0]) + rng.normal(0, 12, 3), 0, 255)
    return {
        "face_w": rng.uniform(0.27, 0.37), "face_h": rng.uniform(0.36, 0.47), "jaw": rng.uniform(0.7, 1.15),
        "skin": skin, "hair": rng.uniform(10, 150, 3) * rng.uniform(0.3, 1.0),
        "hair_style": int(rng.integers(0, 4)), "hair_len": rng.uniform(0.05, 0.2),
        "eye_y": rng.uniform(0.40, 0.50), "eye_dx": rng.uniform(0.09, 0.15),
        "eye_w": rng.uniform(0.028, 0.055), "eye_h": rng.uniform(0.012, 0.03), "iris": rng.uniform(20, 160, 3),
        "brow_dy": rng.uniform(0.035, 0.08), "brow_len": rng.uniform(0.05, 0.1),
        "brow_tilt": rng.uniform(-0.35, 0.35), "brow_th": int(rng.integers(2, 8)),
        "nose_len": rng.uniform(0.07, 0.16), "nose_w": rng.uniform(0.02, 0.06),
        "mouth_y": rng.uniform(0.66, 0.78), "mouth_w": rng.uniform(0.07, 0.15),
        "mouth_curve": rng.uniform(-0.04, 0.04), "lip": np.clip(skin * rng.uniform(0.4, 0.8), 0, 255),
        "glasses": bool(rng.random() < 0.2), "beard": bool(rng.random() < 0.2), "mole": rng.uniform(-1, 1, 2),
        "has_mole": bool(rng.random() < 0.3),
    }


def _pt(x, y):
    return int(round(x * CANVAS * 16)), int(round(y * CANVAS * 16))


def _ax(w, h):
    return max(1, int(round(w * CANVAS * 16))), max(1, int(round(h * CANVAS * 16)))


def draw_face(p, rng, canvas=None):
    """Draw one instance of identity ``p`` (with expression and yaw jitter) on a BGR canvas."""
    img = canvas if canvas is not None else np.zeros((CANVAS, CANVAS, 3), np.uint8)
    aa, sh = cv2.LINE_AA, 4
    yaw = rng.uniform(-0.035, 0.035)                   # inner features shift sideways with yaw
    cx, cy = 0.5, 0.54
    fx = cx + yaw
    hair = tuple(float(c) for c in p["hair"])
    skin = tuple(float(c) for c in p["skin"])
    # hair behind the head
    if p["hair_style"] in (1, 3):
        cv2.ellipse(img, _pt(cx, cy - 0.02), _ax(p["face_w"] + 0.04, p["face_h"] + p["hair_len"]), 0, 0, 360,
                    hair, -1, aa, sh)
    # face outline: an ellipse with a scaled jaw (lower half)
    cv2.ellipse(img, _pt(cx, cy), _ax(p["face_w"], p["face_h"] * 0.8), 0, 180, 360, skin, -1, aa, sh)
    cv2.ellipse(img, _pt(cx, cy), _ax(p["face_w"] * p["jaw"] ** 0.3, p["face_h"]), 0, 0, 180, skin, -1, aa, sh)
    # hair on top
    top = cy - p["face_h"] * 0.8
    if p["hair_style"] != 2:
        cv2.ellipse(img, _pt(cx, top + p["hair_len"] * 0.6), _ax(p["face_w"] * 1.02, p["hair_len"] + 0.04),
                    0, 180, 360, hair, -1, aa, sh)
    if p["hair_style"] == 3:  # fringe
        cv2.rectangle(img, _pt(cx - p["face_w"] * 0.8, top), _pt(cx + p["face_w"] * 0.2, top + p["hair_len"]),
                      hair, -1, aa, sh)
    if p["beard"]:
        cv2.ellipse(img, _pt(fx, cy + p["face_h"] * 0.55), _ax(p["face_w"] * 0.7, p["face_h"] * 0.38), 0, 0, 180,
                    tuple(c * 0.8 for c in hair), -1, aa, sh)
    openness = rng.uniform(0.6, 1.15)
    for side in (-1, 1):
        ex, ey = fx + side * p["eye_dx"], p["eye_y"]
        cv2.ellipse(img, _pt(ex, ey), _ax(p["eye_w"], p["eye_h"] * openness), 0, 0, 360, (235, 235, 235), -1, aa, sh)
        cv2.circle(img, _pt(ex + yaw * 0.3, ey), int(p["eye_h"] * openness * CANVAS * 16 * 0.9),
                   tuple(float(c) for c in p["iris"]), -1, aa, sh)
        bx, by, bl = ex, ey - p["brow_dy"], p["brow_len"]
        tilt = p["brow_tilt"] * side + rng.uniform(-0.08, 0.08)
        cv2.line(img, _pt(bx - bl / 2, by + tilt * bl / 2), _pt(bx + bl / 2, by - tilt * bl / 2),
                 hair, p["brow_th"], aa, sh)
        if p["glasses"]:
            cv2.circle(img, _pt(ex, ey), int(p["eye_w"] * 1.5 * CANVAS * 16), (30, 30, 30), 2, aa, sh)
    if p["glasses"]:
        cv2.line(img, _pt(fx - p["eye_dx"] + p["eye_w"] * 1.5, p["eye_y"]),
                 _pt(fx + p["eye_dx"] - p["eye_w"] * 1.5, p["eye_y"]), (30, 30, 30), 2, aa, sh)
    ny = p["eye_y"] + 0.03
    nose_tip = (fx + yaw * 0.8, ny + p["nose_len"])
    shade = tuple(c * 0.7 for c in skin)
    cv2.line(img, _pt(fx, ny), _pt(*nose_tip), shade, 2, aa, sh)
    cv2.line(img, _pt(nose_tip[0] - p["nose_w"], nose_tip[1]), _pt(nose_tip[0] + p["nose_w"], nose_tip[1]),
             shade, 3, aa, sh)
    curve = p["mouth_curve"] + rng.uniform(-0.015, 0.015)
    mw = p["mouth_w"] * rng.uniform(0.9, 1.1)
    xs = np.linspace(-1, 1, 9)
    pts = np.array([_pt(fx + mw * x, p["mouth_y"] + curve * (x * x - 0.5)) for x in xs], np.int32)
    cv2.polylines(img, [pts], False, tuple(float(c) for c in p["lip"]), 5, aa, sh)
    if p["has_mole"]:
        m = p["mole"]
        cv2.circle(img, _pt(fx + m[0] * p["face_w"] * 0.6, cy + m[1] * p["face_h"] * 0.4), 3 * 16,
                   tuple(c * 0.45 for c in skin), -1, aa, sh)
    return img


def render(p, rng, size):
    """One image of identity ``p``: drawing + pose + lighting + background + blur + noise, BGR uint8."""
    bg = rng.uniform(0, 255, 3)
    canvas = np.empty((CANVAS, CANVAS, 3), np.uint8)
    canvas[:] = bg.astype(np.uint8)
    # background clutter: a few random blobs
    for _ in range(int(rng.integers(0, 4))):
        c = tuple(float(v) for v in rng.uniform(0, 255, 3))
        cv2.circle(canvas, tuple(int(v) for v in rng.uniform(0, CANVAS, 2)), int(rng.uniform(10, 60)), c, -1)
    img = draw_face(p, rng, canvas)
    angle = rng.normal(0, 7)
    scale = size / CANVAS * rng.uniform(0.9, 1.1)
    m = cv2.getRotationMatrix2D((CANVAS / 2, CANVAS / 2), angle, scale)
    m[:, 2] += (size / 2 - CANVAS / 2) + rng.normal(0, 0.03 * size, 2)
    img = cv2.warpAffine(img, m, (size, size), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)
    img = img.astype(np.float32)
    # lighting: a linear gradient in a random direction, global gain and colour cast
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size - 0.5
    th = rng.uniform(0, 2 * np.pi)
    grad = 1.0 + rng.uniform(0.1, 0.6) * (np.cos(th) * xx + np.sin(th) * yy) * 2
    img *= grad[:, :, None] * rng.uniform(0.6, 1.3) * rng.uniform(0.85, 1.15, 3)
    sigma = rng.uniform(0, 1.6)
    if sigma > 0.3:
        img = cv2.GaussianBlur(img, (0, 0), sigma)
    img += rng.normal(0, rng.uniform(0, 10), img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def _write(path, img):
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 92])
    if not ok:
        raise RuntimeError(f"cannot encode {path}")
    buf.tofile(path)


def make_pairs(ids, n_images, rng, folds=10, per_fold=300):
    """LFW-style folds over disjoint identity groups: per fold ``per_fold`` same + ``per_fold`` different."""
    groups = np.array_split(np.asarray(ids), folds)
    out = []
    for g in groups:
        same = [(a, i, j) for a in g for i in range(1, n_images + 1) for j in range(i + 1, n_images + 1)]
        if len(same) < per_fold or len(g) < 2:
            raise ValueError(f"{len(g)} identities x {n_images} images per fold cannot give {per_fold} same pairs")
        pick = rng.choice(len(same), per_fold, replace=False)
        fold_same = [same[k] for k in sorted(pick)]
        fold_diff, seen = [], set()
        while len(fold_diff) < per_fold:
            a, b = rng.choice(g, 2, replace=False)
            i, j = rng.integers(1, n_images + 1, 2)
            key = (min(a, b), max(a, b), i, j)
            if key not in seen:
                seen.add(key)
                fold_diff.append((a, int(i), b, int(j)))
        out.append((fold_same, fold_diff))
    return out


def generate(out, train_ids=300, train_images=16, test_ids=150, test_images=10, size=144, seed=0,
             pairs_per_fold=300, log=print):
    rng = np.random.default_rng(seed)
    identities = [sample_identity(rng) for _ in range(train_ids + test_ids)]
    train_dir, test_dir = os.path.join(out, "train"), os.path.join(out, "test")
    for k in range(train_ids):
        d = os.path.join(train_dir, f"id{k:05d}")
        os.makedirs(d, exist_ok=True)
        for n in range(train_images):
            _write(os.path.join(d, f"{n:03d}.jpg"), render(identities[k], rng, size))
    names = []
    for k in range(test_ids):
        name = f"person{k:04d}"
        names.append(name)
        d = os.path.join(test_dir, name)
        os.makedirs(d, exist_ok=True)
        for n in range(1, test_images + 1):
            _write(os.path.join(d, f"{name}_{n:04d}.jpg"), render(identities[train_ids + k], rng, size))
    folds = make_pairs(names, test_images, rng, per_fold=pairs_per_fold)
    with open(os.path.join(test_dir, "pairs.txt"), "w") as f:
        f.write(f"{len(folds)}\t{len(folds[0][0])}\n")
        for same, diff in folds:
            f.writelines(f"{a}\t{i}\t{j}\n" for a, i, j in same)
            f.writelines(f"{a}\t{i}\t{b}\t{j}\n" for a, i, b, j in diff)
    log(f"synthetic demo data in {out}: train {train_ids} ids x {train_images} images, "
        f"test {test_ids} ids x {test_images} images + pairs.txt ({len(folds)} folds), {size}x{size}, seed {seed}")
    return train_dir, test_dir


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out")
    ap.add_argument("--train_ids", type=int, default=300)
    ap.add_argument("--train_images", type=int, default=16)
    ap.add_argument("--test_ids", type=int, default=150)
    ap.add_argument("--test_images", type=int, default=10)
    ap.add_argument("--size", type=int, default=144)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--pairs_per_fold", type=int, default=300, help="same (and different) pairs per fold")
    a = ap.parse_args(argv)
    generate(a.out, a.train_ids, a.train_images, a.test_ids, a.test_images, a.size, a.seed, a.pairs_per_fold)


if __name__ == "__main__":
    sys.exit(main())
