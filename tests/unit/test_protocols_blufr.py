"""BLUFR against a brute-force implementation (explicit loops) on a small synthetic config."""
import math
import os
import statistics

import numpy as np
import pytest
import scipy.io

from common.protocols import blufr

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REAL = [os.path.join(ROOT, "protocols", "blufr_lfw_config.mat"),
        os.path.join(os.path.dirname(ROOT), "shared", "fixtures", "blufr_lfw_config.mat")]
REAL_CONFIG = next((p for p in REAL if os.path.isfile(p)), None)


def _cell(arrays):
    c = np.empty((len(arrays), 1), dtype=object)
    for i, a in enumerate(arrays):
        c[i, 0] = np.asarray(a, np.uint16).reshape(-1, 1)
    return c


def _make_config(tmp_path, n=60, trials=3, seed=0):
    """60 images of 14 people; per trial a test set, a gallery (1 image of some people) and the probes."""
    rng = np.random.default_rng(seed)
    labels = np.r_[np.arange(1, 15).repeat(4), [15, 16, 17, 18]][:n]
    names = np.empty((n, 1), dtype=object)
    for i in range(n):
        names[i, 0] = f"P{labels[i]:02d}_{i:04d}.jpg"
    tests, gals, probs = [], [], []
    for _ in range(trials):
        test = np.sort(rng.choice(n, size=45, replace=False))
        people = rng.permutation(np.unique(labels[test]))[:6]
        gal = [test[labels[test] == p][0] for p in people]
        prob = np.setdiff1d(test, gal)
        tests.append(test + 1), gals.append(np.array(gal) + 1), probs.append(prob + 1)
    path = str(tmp_path / "cfg.mat")
    scipy.io.savemat(path, {"imageList": names, "labels": labels.astype(np.uint16).reshape(-1, 1),
                            "testIndex": _cell(tests), "galIndex": _cell(gals), "probIndex": _cell(probs),
                            "trainIndex": _cell([np.arange(1, 5)] * trials)})
    centers = rng.normal(size=(20, 8))
    emb = centers[labels] + 0.9 * rng.normal(size=(n, 8))
    return path, emb, labels, tests, gals, probs


def _cos(a, b):
    return float(np.dot(a, b) / math.sqrt(np.dot(a, a) * np.dot(b, b)))


def _thresholds(imp, gen, fars):
    imp = sorted(imp, reverse=True)
    out = []
    for f in fars:
        k = int(math.floor(f * len(imp) + 0.5))
        if k == 0:
            higher = [g for g in gen if g > imp[0]]
            out.append((imp[0] + min(higher)) / 2 if higher else math.nextafter(imp[0], math.inf))
        elif k == len(imp):
            out.append(math.nextafter(min(imp[-1], min(gen)), -math.inf))
        else:
            out.append(imp[k - 1])
    return out


def _brute_trial(emb, labels, test, gal, prob):
    gen, imp = [], []
    for i in range(len(test)):
        for j in range(i):
            s = _cos(emb[test[i]], emb[test[j]])
            (gen if labels[test[i]] == labels[test[j]] else imp).append(s)
    thr = _thresholds(imp, gen, blufr.VERI_FARS)
    vr = [sum(g >= t for g in gen) / len(gen) for t in thr]
    mates, ranks, imp_max = [], [], []
    for p in prob:
        sc = [_cos(emb[g], emb[p]) for g in gal]
        mate_rows = [r for r, g in enumerate(gal) if labels[g] == labels[p]]
        if not mate_rows:
            imp_max.append(max(sc))
            continue
        m = max(mate_rows, key=lambda r: (sc[r], -r))
        rank = 1 + sum(1 for r in range(len(gal)) if sc[r] > sc[m] or (sc[r] == sc[m] and r < m))
        mates.append(sc[m])
        ranks.append(rank)
    othr = _thresholds(imp_max, mates, blufr.OSI_FARS)
    rank_points = [r for r in blufr.RANKS if r <= len(gal)]
    dir_ = [[sum(1 for s, rk in zip(mates, ranks) if s >= t and rk <= r) / len(mates) for t in othr]
            for r in rank_points]
    return np.array(vr), np.array(dir_)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_blufr_matches_brute_force(tmp_path, dtype):
    path, emb, labels, tests, gals, probs = _make_config(tmp_path)
    cfg = blufr.load_config(path)
    assert cfg.image_list[0] == "P01_0000.jpg" and len(cfg.test_index) == 3
    assert np.array_equal(cfg.test_index[1], tests[1] - 1)
    got = blufr.evaluate(emb, cfg, dtype=dtype)
    vrs, dirs = zip(*(_brute_trial(emb, labels, t - 1, g - 1, p - 1) for t, g, p in zip(tests, gals, probs)))
    vrs, dirs = np.array(vrs), np.array(dirs)
    np.testing.assert_allclose(got["verification"]["vr_mean"], vrs.mean(0), atol=1e-12)
    np.testing.assert_allclose(got["open_set"]["dir_mean"], dirs.mean(0), atol=1e-12)
    j = list(blufr.VERI_FARS).index(1e-3)
    trials = [float(v) for v in vrs[:, j]]
    rep = got["VR@FAR=0.1%"]
    assert rep["trials"] == pytest.approx(trials)
    assert rep["std"] == pytest.approx(statistics.stdev(trials))
    assert rep["mean_minus_std"] == pytest.approx(statistics.mean(trials) - statistics.stdev(trials))
    q, f = 0, list(blufr.OSI_FARS).index(1e-2)
    dtrials = [float(v) for v in dirs[:, q, f]]
    assert got["DIR@FAR=1%,rank=1"]["trials"] == pytest.approx(dtrials)
    assert got["DIR@FAR=1%,rank=1"]["std"] == pytest.approx(statistics.stdev(dtrials))


def test_false_alarms_round_half_up():
    assert blufr.false_alarms([0.5, 0.25, 0.0], 5).tolist() == [3, 1, 0]  # MATLAB round(2.5)=3, round(1.25)=1


def test_bad_config_is_one_line(tmp_path):
    path = str(tmp_path / "bad.mat")
    scipy.io.savemat(path, {"imageList": np.array([["a.jpg"]], dtype=object), "labels": np.array([[1]])})
    with pytest.raises(ValueError, match=r"bad\.mat: variable 'testIndex' is missing"):
        blufr.load_config(path)
    with pytest.raises(ValueError, match=r"nope\.mat: cannot read BLUFR config"):
        blufr.load_config(str(tmp_path / "nope.mat"))


@pytest.mark.skipif(REAL_CONFIG is None, reason="blufr_lfw_config.mat not found (protocols/ or ../shared)")
def test_real_config_layout():
    cfg = blufr.load_config(REAL_CONFIG)
    assert len(cfg.image_list) == 13233 and cfg.labels.max() == 5749
    assert cfg.image_list[0] == "Aaron_Eckhart_0001.jpg"
    assert len(cfg.test_index) == 10
    for test, gal, prob in zip(cfg.test_index, cfg.gal_index, cfg.prob_index):
        assert len(gal) == 1000
        assert np.array_equal(np.sort(np.r_[gal, prob]), np.sort(test))
