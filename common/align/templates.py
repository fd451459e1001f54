"""Alignment templates, one per model recipe, and the similarity transform that maps 5 landmarks onto them.

Point order everywhere: left eye, right eye, nose tip, left mouth corner, right mouth corner (image left/right,
as MTCNN returns them); coordinates (x, y) in output pixels, pixel centres at integers (cv2 convention).

* ``arcface112``   112x112 RGB, the insightface 5-point reference (``arcface_dst``), ArcFace / LResNet100E-IR.
* ``sphereface112x96`` 112x96 (H x W) RGB, the SphereFace / CosFace reference (``coord5point`` of the
  SphereFace/CosFace alignment scripts); CosFace and PFE. It is arcface112 shifted 8 px left.
* ``facenet160``   160x160 RGB from the MTCNN box, no landmarks: the box grown by ``margin`` (32 px of the 160
  output, scaled to the box: facenet's ``--image_size 160 --margin 32`` LFW recipe, in facenet-pytorch's scale-
  invariant form), clipped to the image as facenet does, resized to 160x160.
* ``facenet182``   182x182 RGB, the same box rule with margin 44: facenet's training alignment
  (``--image_size 182 --margin 44``), which the FaceNet recipe's preprocessing (resize 182, centre crop 160)
  expects; the recipe YAML names this one.
* ``facenet160_5pt`` 160x160 RGB, 5-point: arcface112 scaled by 160/112 (same face-to-frame proportions: the
  eyes 50 px apart, as in a 160 px MTCNN crop with margin 32).
* ``lightcnn144``  144x144 gray (1 channel): LightCNN's alignment (Wu et al.) puts the eye centre at (72, 48)
  and the mouth centre 48 px below it; the 5 points here are arcface112's, moved and scaled so their eye and
  mouth centres land exactly there. The recipe then centre-crops 128.

The transform is the least-squares similarity (scale, rotation, translation; no reflection) of Umeyama (1991),
closed form in numpy; :func:`warp` applies it with one ``cv2.warpAffine`` (bilinear, constant 0 border: parts
of the template outside the photo are black, as insightface's ``norm_crop``). ``cv2.estimateAffinePartial2D``
is not used: it is RANSAC/LMEDS with a refinement, not the exact least-squares solution.
"""
from dataclasses import dataclass

import cv2
import numpy as np

from common.core.errors import FaceIdError

ARCFACE_112 = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                        [41.5493, 92.3655], [70.7299, 92.2041]], np.float64)


def _lightcnn_points():
    eye_c = ARCFACE_112[:2].mean(axis=0)
    mouth_c = ARCFACE_112[3:].mean(axis=0)
    s = 48.0 / np.linalg.norm(mouth_c - eye_c)
    return (ARCFACE_112 - eye_c) * s + np.array([72.0, 48.0])


@dataclass(frozen=True)
class Template:
    name: str
    size: tuple            # (H, W) of the aligned crop
    channels: int          # 3 RGB, 1 gray
    points: object = None  # (5, 2) reference landmarks; None for a box template
    margin: float = 0.0    # box templates: margin in output pixels (split over both sides)
    note: str = ""


TEMPLATES = {
    "arcface112": Template("arcface112", (112, 112), 3, ARCFACE_112,
                           note="insightface 5-point reference, ArcFace / LResNet100E-IR"),
    "sphereface112x96": Template("sphereface112x96", (112, 96), 3, ARCFACE_112 - np.array([8.0, 0.0]),
                                 note="SphereFace/CosFace 5-point reference, 112x96; CosFace, PFE"),
    "facenet160": Template("facenet160", (160, 160), 3, None, margin=32.0,
                           note="MTCNN box + margin 32 (facenet LFW recipe), resized to 160x160"),
    "facenet182": Template("facenet182", (182, 182), 3, None, margin=44.0,
                           note="MTCNN box + margin 44 (facenet training alignment), 182x182; recipe crops 160"),
    "facenet160_5pt": Template("facenet160_5pt", (160, 160), 3, ARCFACE_112 * (160.0 / 112.0),
                               note="5-point, arcface112 scaled to 160"),
    "lightcnn144": Template("lightcnn144", (144, 144), 1, _lightcnn_points(),
                            note="gray 144x144, eye centre (72, 48), mouth centre 48 px below"),
}


def get_template(name):
    if isinstance(name, Template):
        return name
    if name not in TEMPLATES:
        raise FaceIdError(f"--align {name}: unknown alignment template (choose from {', '.join(TEMPLATES)})")
    return TEMPLATES[name]


def similarity_transform(src, dst):
    """2x3 matrix M of the least-squares similarity (no reflection) with M @ [src; 1] ~ dst (Umeyama 1991)."""
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    n = src.shape[0]
    mu_s, mu_d = src.mean(axis=0), dst.mean(axis=0)
    s_c, d_c = src - mu_s, dst - mu_d
    var_s = (s_c ** 2).sum() / n
    if var_s <= 1e-12:
        raise FaceIdError("landmarks: all points coincide, no transform")
    cov = d_c.T @ s_c / n
    u, sig, vt = np.linalg.svd(cov)
    d = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[1] = -1.0
    rot = u @ np.diag(d) @ vt
    scale = (sig * d).sum() / var_s
    m = np.empty((2, 3))
    m[:, :2] = scale * rot
    m[:, 2] = mu_d - scale * rot @ mu_s
    return m


def box_transform(box, shape, template):
    """2x3 matrix mapping the face box grown by the template's margin (clipped to the image) to the crop."""
    h, w = shape[:2]
    out_h, out_w = template.size
    x1, y1, x2, y2 = (float(v) for v in box[:4])
    # margin given in output pixels: grow the box by margin * box / (output - margin), half each side
    mx = template.margin * (x2 - x1) / (out_w - template.margin) / 2.0
    my = template.margin * (y2 - y1) / (out_h - template.margin) / 2.0
    x1, y1 = max(x1 - mx, 0.0), max(y1 - my, 0.0)
    x2, y2 = min(x2 + mx, float(w)), min(y2 + my, float(h))
    if x2 - x1 < 1 or y2 - y1 < 1:
        raise FaceIdError("face box lies outside the image")
    sx, sy = out_w / (x2 - x1), out_h / (y2 - y1)
    # pixel-area mapping: the box's left edge x1 (pixel centre x1 + 0.5) -> output edge 0 (centre 0.5)
    return np.array([[sx, 0.0, 0.5 * sx - 0.5 - sx * x1],
                     [0.0, sy, 0.5 * sy - 0.5 - sy * y1]])


def transform_for(template, landmarks=None, box=None, shape=None):
    t = get_template(template)
    if t.points is not None:
        return similarity_transform(landmarks, t.points)
    return box_transform(box, shape, t)


def warp(img, m, template):
    """Apply the 2x3 matrix ``m`` to RGB ``img``: aligned uint8 crop (H, W, 3), or (H, W, 1) gray."""
    t = get_template(template)
    out_h, out_w = t.size
    shrink = np.sqrt(abs(np.linalg.det(m[:, :2])))
    # strong shrinking (a big face to 112 px) aliases with plain bilinear: area-average first
    if shrink < 0.5 and min(img.shape[:2]) > 2:
        f = max(1, int(1.0 / shrink / 1.5))
        if f > 1:
            small = cv2.resize(img, (max(1, img.shape[1] // f), max(1, img.shape[0] // f)),
                               interpolation=cv2.INTER_AREA)
            kx, ky = img.shape[1] / small.shape[1], img.shape[0] / small.shape[0]
            # pixel centre p of the small image sits at (p + 0.5) * k - 0.5 in the photo
            to_img = np.array([[kx, 0, 0.5 * kx - 0.5], [0, ky, 0.5 * ky - 0.5], [0, 0, 1]])
            m = (np.vstack([m, [0, 0, 1]]) @ to_img)[:2]
            img = small
    out = cv2.warpAffine(img, m, (out_w, out_h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                         borderValue=(0, 0, 0))
    if t.channels == 1:
        return cv2.cvtColor(out, cv2.COLOR_RGB2GRAY)[:, :, None]
    return out


def apply_points(m, points):
    """Map (N, 2) points with the 2x3 matrix ``m``."""
    p = np.asarray(points, np.float64)
    return p @ m[:, :2].T + m[:, 2]
