"""MTCNN in common/align against independent references: the PyTorch nets and MTCNN of facenet-pytorch (same
weights, same thresholds), face counts on the 14 real photos of tests/fixtures/raw_photos (SOURCES.md)."""
import os
import shutil
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from common.align import Aligner, MTCNN, read_photo  # noqa: E402
from common.align.boxes import nms  # noqa: E402
from common.align.weights import WEIGHTS, expected_shapes, load_weights  # noqa: E402
from common.core.errors import FaceIdError  # noqa: E402

PHOTOS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures", "raw_photos")
TWO_FACES = {"two_people.jpg", "longoria-cooper.jpg"}          # SOURCES.md
ALL = sorted(f for f in os.listdir(PHOTOS) if not f.endswith(".md"))


@pytest.fixture(scope="module")
def ours():
    det = MTCNN()
    return {f: (read_photo(os.path.join(PHOTOS, f)), det.detect(read_photo(os.path.join(PHOTOS, f)))) for f in ALL}


@pytest.fixture(scope="module")
def reference():
    pytest.importorskip("torch", reason="PyTorch not installed: facenet-pytorch reference skipped")
    from tests.align_reference import load_facenet_pytorch

    try:
        mod, note = load_facenet_pytorch()
    except ImportError as exc:
        pytest.skip(f"facenet-pytorch reference unavailable: {exc}")
    return mod, note


def test_fixture_photos_present():
    assert len(ALL) == 14 and os.path.isfile(os.path.join(PHOTOS, "SOURCES.md"))


def test_weights_strict_names_and_shapes(tmp_path):
    w = load_weights()
    assert {k: v.shape for k, v in w.items()} == expected_shapes()
    assert sum(v.size for v in w.values()) == 6632 + 100178 + 389040   # P-Net, R-Net, O-Net parameter counts
    bad = dict(w)
    bad["onet.dense5.weight"] = bad["onet.dense5.weight"][:, :-1]
    np.savez(tmp_path / "bad.npz", **bad)
    with pytest.raises(FaceIdError, match="bad.npz: onet.dense5.weight"):
        load_weights(str(tmp_path / "bad.npz"))
    del bad["onet.dense5.weight"]
    np.savez(tmp_path / "missing.npz", **bad)
    with pytest.raises(FaceIdError, match="missing.npz: MTCNN weights do not match"):
        load_weights(str(tmp_path / "missing.npz"))
    shutil.copyfile(__file__, tmp_path / "junk.npz")
    with pytest.raises(FaceIdError, match="junk.npz: cannot read"):
        load_weights(str(tmp_path / "junk.npz"))
    with np.load(WEIGHTS, allow_pickle=False) as z:   # plain arrays, no pickle needed
        assert all(z[k].dtype == np.float32 for k in z.files)


def test_onnx_nets_equal_pytorch_nets(reference):
    import torch

    mod, _ = reference
    from common.align.nets_onnx import OnnxNets

    nets = OnnxNets()
    rng = np.random.default_rng(0)
    cases = [(mod.PNet(), nets.pnet, (2, 3, 31, 47)), (mod.RNet(), nets.rnet, (4, 3, 24, 24)),
             (mod.ONet(), nets.onet, (4, 3, 48, 48))]
    for tnet, ours_fn, shape in cases:
        x = rng.uniform(-1, 1, shape).astype(np.float32)
        with torch.no_grad():
            ref = [t.numpy() for t in tnet.eval()(torch.from_numpy(x))]
        got = ours_fn(x)
        prob_ref = ref[-1][:, 1] if len(ref) == 2 else ref[2][:, 1]
        np.testing.assert_allclose(got[0], prob_ref, atol=1e-5)
        np.testing.assert_allclose(got[1], ref[0], atol=1e-5)          # box regression
        if len(got) == 3:
            np.testing.assert_allclose(got[2], ref[1], atol=1e-5)      # landmarks


def test_mindspore_nets_equal_onnx_nets():
    pytest.importorskip("mindspore", reason="MindSpore not installed")
    import mindspore as ms

    from common.align.nets_ms import MindSporeNets
    from common.align.nets_onnx import OnnxNets

    mode = ms.get_context("mode")
    ms.set_context(mode=ms.PYNATIVE_MODE)
    try:
        a, b = OnnxNets(), MindSporeNets()
        rng = np.random.default_rng(1)
        for fn, shape in (("pnet", (1, 3, 40, 33)), ("rnet", (3, 3, 24, 24)), ("onet", (3, 3, 48, 48))):
            x = rng.uniform(-1, 1, shape).astype(np.float32)
            for u, v in zip(getattr(a, fn)(x), getattr(b, fn)(x)):
                np.testing.assert_allclose(u, v, atol=1e-5)
    finally:
        ms.set_context(mode=mode)


def test_nms_matches_brute_force():
    rng = np.random.default_rng(2)
    xy = rng.uniform(0, 50, (60, 2))
    wh = rng.uniform(5, 30, (60, 2))
    b = np.c_[xy, xy + wh, rng.permutation(60) / 60.0]
    for mode, thr in (("union", 0.5), ("min", 0.7)):
        keep = []
        for i in np.argsort(-b[:, 4]):                     # brute force: compare with every kept box
            ok = True
            for j in keep:
                iw = max(0.0, min(b[i, 2], b[j, 2]) - max(b[i, 0], b[j, 0]) + 1)
                ih = max(0.0, min(b[i, 3], b[j, 3]) - max(b[i, 1], b[j, 1]) + 1)
                ai = (b[i, 2] - b[i, 0] + 1) * (b[i, 3] - b[i, 1] + 1)
                aj = (b[j, 2] - b[j, 0] + 1) * (b[j, 3] - b[j, 1] + 1)
                den = min(ai, aj) if mode == "min" else ai + aj - iw * ih
                ok &= iw * ih / den <= thr
            if ok:
                keep.append(i)
        assert list(nms(b, thr, mode)) == keep


def _iou(a, b):
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    return iw * ih / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - iw * ih)


def test_detections_agree_with_facenet_pytorch(ours, reference):
    """Same weights, thresholds (0.6, 0.7, 0.7), factor 0.709, min face 20: every detection matches one of the
    reference's with IoU >= 0.85 and every landmark within 3% of the box size (the longer side). Both find the
    same number of detections in every photo."""
    import torch

    mod, note = reference
    ref = mod.MTCNN(keep_all=True, device="cpu", min_face_size=20, thresholds=[0.6, 0.7, 0.7], factor=0.709)
    worst_iou, worst_lm = 1.0, 0.0
    for f in ALL:
        img, faces = ours[f]
        with torch.no_grad():
            rb, _, rl = ref.detect(img, landmarks=True)
        rb = np.zeros((0, 4)) if rb is None else np.asarray(rb, np.float64)
        rl = None if rl is None else np.asarray(rl, np.float64)
        assert len(faces) == len(rb), f"{f}: {len(faces)} detections, reference {len(rb)} ({note})"
        for face in faces:
            if face.score < 0.95:
                continue   # not a face (obama.jpg's desk phone, 0.94): its box is unstable in both cascades
            j = int(np.argmax([_iou(face.box, b) for b in rb]))
            iou = _iou(face.box, rb[j])
            size = max(rb[j][2] - rb[j][0], rb[j][3] - rb[j][1])
            lm = float(np.linalg.norm(face.landmarks - rl[j], axis=1).max() / size)
            assert iou >= 0.85, f"{f}: IoU {iou:.3f}"
            assert lm <= 0.03, f"{f}: landmark off by {lm * 100:.2f}% of the box"
            worst_iou, worst_lm = min(worst_iou, iou), max(worst_lm, lm)
    print(f"worst IoU {worst_iou:.3f}, worst landmark {worst_lm * 100:.2f}% of the box ({note or 'real deps'})")


def test_face_counts_on_real_photos(ours):
    """SOURCES.md: two faces in two_people.jpg and longoria-cooper.jpg, one in every other photo."""
    aligner = Aligner("arcface112")
    for f in ALL:
        img, detections = ours[f]
        faces = [d for d in detections if d.score >= aligner.min_score]
        assert len(faces) == (2 if f in TWO_FACES else 1), f"{f}: {len(faces)} faces"
    # the published O-Net threshold 0.7 alone also keeps a desk phone in obama.jpg: min_score drops it
    assert len(ours["obama.jpg"][1]) == 2 and min(d.score for d in ours["obama.jpg"][1]) < 0.95


def test_two_people_left_is_obama_and_order_is_left_to_right(ours):
    img, _ = ours["two_people.jpg"]
    faces = Aligner("arcface112").faces(img)
    assert len(faces) == 2 and faces[0].box[2] < faces[1].box[0]   # left face entirely left of the right one
    eyes = [f.landmarks[:2] for f in faces]
    assert all(e[0, 0] < e[1, 0] for e in eyes)                    # left eye point is on the image left


def test_min_face_and_threshold_options():
    img = read_photo(os.path.join(PHOTOS, "obama_small.jpg"))       # face about 110 px
    assert len(MTCNN(min_face=20).detect(img)) == 1
    assert MTCNN(min_face=300).detect(img) == []                   # larger than the photo: no pyramid level
    assert Aligner("arcface112", min_face=200).faces(img) == []     # found (pyramid 0.06), smaller than 200 px
    with pytest.raises(FaceIdError, match="--min_face"):
        MTCNN(min_face=5)
    assert MTCNN().detect(np.full((60, 80, 3), 127, np.uint8)) == []
