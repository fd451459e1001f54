"""insightface .bin: safe loading (hostile / truncated / corrupt files) and the verification protocol."""
import os
import pickle

import cv2
import numpy as np
import pytest
from scipy.interpolate import interp1d
from sklearn.model_selection import KFold, StratifiedKFold

from common.protocols import binsets

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # tests/
SMALL = [os.path.join(HERE, "fixtures", "small_lfw.bin"),
         os.path.join(os.path.dirname(os.path.dirname(HERE)), "shared", "fixtures", "small_lfw.bin")]
SMALL_BIN = next((p for p in SMALL if os.path.isfile(p)), None)


def _rgb_images(n, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, size=(8 + i, 10, 3), dtype=np.uint8) for i in range(n)]


def _png(rgb):
    ok, buf = cv2.imencode(".png", rgb[:, :, ::-1])
    assert ok
    return buf.tobytes()


def test_write_load_round_trip(tmp_path):
    images = _rgb_images(6)
    path = str(tmp_path / "t.bin")
    binsets.write_bin(path, [_png(im) for im in images], [True, False, True])
    got, issame = binsets.load_bin(path)
    assert issame.tolist() == [True, False, True]
    for a, b in zip(got, images):
        assert a.dtype == np.uint8 and np.array_equal(a, b)


@pytest.mark.skipif(SMALL_BIN is None, reason="small_lfw.bin not found (tests/fixtures or ../shared)")
def test_real_small_lfw_bin():
    images, issame = binsets.load_bin(SMALL_BIN)
    assert len(images) == 20 and all(im.shape == (112, 112, 3) for im in images)
    assert issame.dtype == bool and issame.tolist() == [True] * 10
    with open(SMALL_BIN, "rb") as f:
        raw = pickle.load(f, encoding="bytes")  # trusted fixture: plain pickle as the reference
    ref = cv2.imdecode(np.frombuffer(raw[0][5], np.uint8), cv2.IMREAD_COLOR)
    assert np.array_equal(images[5], ref[:, :, ::-1])


class _Hostile:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_hostile_pickle_is_refused_and_not_run(tmp_path):
    marker = tmp_path / "pwned"
    path = str(tmp_path / "evil.bin")
    with open(path, "wb") as f:
        pickle.dump(([_Hostile(marker)], [True]), f)
    with pytest.raises(ValueError) as err:
        binsets.load_bin(path)
    msg = str(err.value)
    assert msg.startswith(path) and "refusing to load" in msg and "system" in msg and "\n" not in msg
    assert not marker.exists()


def test_truncated_bin_one_line(tmp_path):
    path = str(tmp_path / "t.bin")
    binsets.write_bin(path, [_png(im) for im in _rgb_images(4)], [True, False])
    data = open(path, "rb").read()
    cut = str(tmp_path / "cut.bin")
    for n in (len(data) // 2, 10, len(data) - 1):
        with open(cut, "wb") as f:
            f.write(data[:n])
        with pytest.raises(ValueError) as err:
            binsets.load_bin(cut)
        assert str(err.value).startswith(f"{cut}: ") and "\n" not in str(err.value)
    with open(cut, "wb") as f:
        f.write(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated"):
        binsets.load_bin(cut)


def test_corrupt_image_names_index(tmp_path):
    path = str(tmp_path / "c.bin")
    blobs = [_png(im) for im in _rgb_images(4)]
    blobs[3] = b"\xff\xd8 not a jpeg"
    binsets.write_bin(path, blobs, [True, False])
    with pytest.raises(ValueError, match=r"c\.bin: image 3 cannot be decoded"):
        binsets.load_bin(path)


def _brute(emb, issame, far_target=1e-3):
    """insightface verification.test by loops; folds: sklearn StratifiedKFold (== the module's rule when each
    class count is a multiple of 10: the k-th chunk of each class, in file order, is fold k)."""
    e = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    d = np.array([np.sum((e[2 * i] - e[2 * i + 1]) ** 2) for i in range(len(issame))])
    accs, vals = [], []
    grid = np.arange(0, 4, 0.001)
    for train, test in StratifiedKFold(10, shuffle=False).split(d, issame):
        u = np.unique(d[train])
        cands = list((u[:-1] + u[1:]) / 2) + [u[-1]]
        best_t, best = None, -1
        for t in cands:  # ascending; '>=' keeps the largest of equally good thresholds
            acc = np.mean((d[train] <= t) == issame[train])
            if acc >= best:
                best_t, best = t, acc
        accs.append(np.mean((d[test] <= best_t) == issame[test]))
        imp = d[train][~issame[train]]
        far = np.array([np.count_nonzero(imp <= t) for t in grid]) / imp.size
        uniq, first = np.unique(far, return_index=True)
        thr = float(interp1d(uniq, grid[first], kind="slinear")(far_target)) if far.max() >= far_target else -1
        vals.append(np.count_nonzero(d[test][issame[test]] <= thr) / np.count_nonzero(issame[test]))
    return np.mean(accs), np.std(accs), np.mean(vals)


def test_verification_metrics_vs_brute_force():
    rng = np.random.default_rng(3)
    n = 300
    issame = rng.permutation(np.arange(n) < 150)  # any order; 150 of each class
    a = rng.normal(size=(n, 16))
    b = np.where(issame[:, None], a + 0.9 * rng.normal(size=(n, 16)), rng.normal(size=(n, 16)))
    emb = np.empty((2 * n, 16))
    emb[0::2], emb[1::2] = a, b
    flip = emb + 0.5 * rng.normal(size=emb.shape)
    res = binsets.verification_metrics(emb, flip, issame, far_target=1e-2)  # 135 training impostors >= 1/FAR
    for key, e in (("", emb), ("_flip", emb + flip)):
        mean, std, val = _brute(e, issame, 1e-2)
        assert res["accuracy" + key]["accuracy_mean"] == pytest.approx(mean)
        assert res["accuracy" + key]["accuracy_std"] == pytest.approx(std)
        assert res["VAL@FAR=0.01" + key]["val_mean"] == pytest.approx(val)
    norms = [np.sqrt(np.sum(v ** 2)) for v in np.vstack([emb, flip])]
    assert res["xnorm"] == pytest.approx(np.mean(norms))
    assert 0.6 < res["accuracy"]["accuracy_mean"] < 1.0
