"""Alignment: the similarity transform against an independent least-squares solve, the warp against dots drawn
into a photo, template geometry, and the eyes of the real photos' aligned crops."""
import os
import sys

import cv2
import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from common.align import Aligner, read_photo  # noqa: E402
from common.align.templates import (ARCFACE_112, TEMPLATES, apply_points, box_transform,  # noqa: E402
                                    similarity_transform, warp)
from common.core.errors import FaceIdError  # noqa: E402

PHOTOS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures", "raw_photos")
ALL = sorted(f for f in os.listdir(PHOTOS) if not f.endswith(".md"))


def lstsq_similarity(src, dst):
    """Independent: x' = a x - b y + tx, y' = b x + a y + ty is linear in (a, b, tx, ty); any (a, b) is a scale
    times a rotation, so the linear least-squares solution is the best similarity without reflection."""
    rows, rhs = [], []
    for (x, y), (u, v) in zip(src, dst):
        rows += [[x, -y, 1, 0], [y, x, 0, 1]]
        rhs += [u, v]
    a, b, tx, ty = np.linalg.lstsq(np.array(rows, float), np.array(rhs, float), rcond=None)[0]
    return np.array([[a, -b, tx], [b, a, ty]])


def test_similarity_equals_linear_least_squares():
    rng = np.random.default_rng(0)
    for _ in range(50):
        src = rng.uniform(0, 300, (5, 2))
        dst = rng.uniform(0, 112, (5, 2))
        np.testing.assert_allclose(similarity_transform(src, dst), lstsq_similarity(src, dst), atol=1e-8)
    # a mirrored face: still a proper rotation (det > 0), and still the least-squares optimum
    src = ARCFACE_112 * [-1, 1] + [200, 0]
    m = similarity_transform(src, ARCFACE_112)
    assert np.linalg.det(m[:, :2]) > 0
    np.testing.assert_allclose(m, lstsq_similarity(src, ARCFACE_112), atol=1e-8)
    # exact for points that are a similarity of the template
    theta, s = 0.3, 2.5
    r = s * np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    src = (ARCFACE_112 - 56) @ np.linalg.inv(r).T + [400, 300]
    np.testing.assert_allclose(apply_points(similarity_transform(src, ARCFACE_112), src), ARCFACE_112, atol=1e-9)
    with pytest.raises(FaceIdError):
        similarity_transform(np.ones((5, 2)), ARCFACE_112)


@pytest.mark.parametrize("template", ["arcface112", "lightcnn144"])
def test_warp_moves_pixels_where_the_matrix_says(template):
    """Dots drawn at 5 points of a 900x700 photo land in the crop at M @ point (centroid within 0.5 px), through
    the anti-alias pre-shrink as well (the face is 3x the template size)."""
    rng = np.random.default_rng(1)
    img = rng.integers(0, 40, (700, 900, 3)).astype(np.uint8)
    t = TEMPLATES[template]
    # a rotated, scaled copy of the template in the photo
    theta, s = -0.2, 3.0
    r = s * np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    pts = (np.asarray(t.points) - np.array(t.size[::-1]) / 2) @ r.T + [450, 350]
    pts += rng.normal(0, 3, pts.shape)
    for x, y in pts:
        cv2.circle(img, (int(round(x * 16)), int(round(y * 16))), 5 * 16, (255, 255, 255), -1, cv2.LINE_AA, 4)
    m = similarity_transform(pts, t.points)
    crop = warp(img, m, template)
    assert crop.shape == (*t.size, t.channels)
    want = apply_points(m, pts)
    gray = crop[:, :, 0].astype(float) if crop.shape[2] == 1 else crop.mean(axis=2)
    for wx, wy in want:
        x0, y0 = int(wx) - 4, int(wy) - 4
        patch = np.clip(gray[y0:y0 + 9, x0:x0 + 9] - 60, 0, None)
        ys, xs = np.mgrid[y0:y0 + 9, x0:x0 + 9]
        c = np.array([(patch * xs).sum(), (patch * ys).sum()]) / patch.sum()
        assert np.abs(c - [wx, wy]).max() < 0.5, (c, (wx, wy))


def test_template_geometry():
    np.testing.assert_allclose(TEMPLATES["sphereface112x96"].points, ARCFACE_112 - [8, 0])
    assert TEMPLATES["sphereface112x96"].size == (112, 96)
    lc = TEMPLATES["lightcnn144"]
    np.testing.assert_allclose(lc.points[:2].mean(axis=0), [72, 48], atol=1e-9)
    eye_c, mouth_c = lc.points[:2].mean(axis=0), lc.points[3:].mean(axis=0)
    assert abs(np.linalg.norm(mouth_c - eye_c) - 48) < 1e-9 and lc.channels == 1
    np.testing.assert_allclose(TEMPLATES["facenet160_5pt"].points, ARCFACE_112 * 160 / 112)
    # box template: box grown by margin 32 of 160 (16 px each side of the 128 px face), corners to the edges
    box = np.array([100.0, 50.0, 228.0, 178.0])
    m = box_transform(box, (400, 400), TEMPLATES["facenet160"])
    edges = apply_points(m, [[100 - 16 - 0.5, 50 - 16 - 0.5], [228 + 16 - 0.5, 178 + 16 - 0.5]])
    np.testing.assert_allclose(edges, [[-0.5, -0.5], [159.5, 159.5]], atol=1e-9)
    with pytest.raises(FaceIdError, match="--align nope"):
        Aligner("nope")


@pytest.fixture(scope="module")
def detections():
    a = Aligner("arcface112")
    out = {}
    for f in ALL:
        img = read_photo(os.path.join(PHOTOS, f))
        out[f] = (img, a.faces(img))
    return out


def test_eyes_of_aligned_real_faces(detections):
    """Detected landmarks mapped by each face's transform: the eyes land on the template's eye points.

    The transform is the 5-point least-squares fit the recipes use, so eye residuals come from face shape
    (a broad smile moves the mouth corners): mean over all eyes <= 2 px, every eye <= 4 px of the 112 crop."""
    errs = []
    for f, (img, faces) in detections.items():
        for face in faces:
            for name in ("arcface112", "sphereface112x96"):
                t = TEMPLATES[name]
                m = similarity_transform(face.landmarks, t.points)
                errs.extend(np.linalg.norm(apply_points(m, face.landmarks[:2]) - t.points[:2], axis=1))
    errs = np.array(errs)
    print(f"eye error over {errs.size} eyes: mean {errs.mean():.2f} px, max {errs.max():.2f} px")
    assert errs.mean() <= 2.0 and errs.max() <= 4.0


def test_crops_shapes_and_gray(detections):
    img, faces = detections["lennon-2.jpg"]
    for name, t in TEMPLATES.items():
        crop = Aligner(name).crop(img, faces[0])
        assert crop.shape == (*t.size, t.channels) and crop.dtype == np.uint8
        assert crop.std() > 20                                   # a face, not an empty border
    gray = Aligner("lightcnn144").crop(img, faces[0])[:, :, 0]
    rgb = warp(img, similarity_transform(faces[0].landmarks, TEMPLATES["lightcnn144"].points), "arcface112")
    assert gray.shape == (144, 144) and rgb.shape == (112, 112, 3)


def test_aligner_call_and_all(detections):
    img, _ = detections["two_people.jpg"]
    a = Aligner("arcface112")
    items = a.all(img)
    assert len(items) == 2 and all(c.shape == (112, 112, 3) for _, _, c in items)
    assert items[0][0][0] < items[1][0][0]
    crop = a(img)
    assert any(np.array_equal(crop, c) for _, _, c in items)
    with pytest.raises(FaceIdError, match="blank.png: no face found"):
        a(np.full((120, 160, 3), 200, np.uint8), name="blank.png")
