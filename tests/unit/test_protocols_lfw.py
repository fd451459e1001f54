"""LFW pairs parsing (txt and LightCNN .mat forms), cosine scores, 10-fold accuracy vs brute force."""
import os

import numpy as np
import pytest
import scipy.io

from common.protocols import lfw
from common.protocols.listfile import read_image_list

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # tests/
ROOT = os.path.dirname(HERE)
CANDIDATES = [os.path.join(ROOT, "protocols", "lfw_pairs.txt"),
              os.path.join(os.path.dirname(ROOT), "shared", "fixtures", "lfw_pairs.txt")]
REAL_PAIRS = next((p for p in CANDIDATES if os.path.isfile(p)), None)
needs_real = pytest.mark.skipif(REAL_PAIRS is None, reason="real LFW pairs.txt not found (protocols/ or ../shared)")


def _write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


@needs_real
def test_real_pairs_txt_structure():
    pairs = lfw.read_pairs(REAL_PAIRS)
    assert len(pairs.first) == 6000
    assert pairs.issame.sum() == 3000
    assert np.array_equal(np.bincount(pairs.fold), np.full(10, 600))
    assert pairs.first[0] == "Abel_Pacheco/Abel_Pacheco_0001.jpg"
    assert pairs.second[0] == "Abel_Pacheco/Abel_Pacheco_0004.jpg"
    assert pairs.first[300] == "Abdel_Madi_Shabneh/Abdel_Madi_Shabneh_0001.jpg"
    assert pairs.second[300] == "Dean_Barker/Dean_Barker_0001.jpg"
    assert pairs.issame[:300].all() and not pairs.issame[300:600].any()


@needs_real
def test_mat_form_gives_same_pairs(tmp_path):
    pairs = lfw.read_pairs(REAL_PAIRS)
    names = sorted(set(pairs.first) | set(pairs.second))
    # LightCNN-style list: another folder prefix and extension, with a label column
    list_path = _write(tmp_path, "list.txt", "".join(f"lfw/{n[:-4]}.bmp {i}\n" for i, n in enumerate(names)))
    row = {n: i + 1 for i, n in enumerate(names)}
    pos = np.array([[row[a], row[b]] for a, b, s in zip(pairs.first, pairs.second, pairs.issame) if s])
    neg = np.array([[row[a], row[b]] for a, b, s in zip(pairs.first, pairs.second, pairs.issame) if not s])
    for layout in ("2xN", "Nx2"):
        mat_path = str(tmp_path / f"pairs_{layout}.mat")
        if layout == "2xN":
            scipy.io.savemat(mat_path, {"pos_pair": pos.T.astype(np.float64), "neg_pair": neg.T.astype(np.float64)})
        else:
            scipy.io.savemat(mat_path, {"pos_pair": pos.astype(np.uint16), "neg_pair": neg.astype(np.uint16)})
        got = lfw.read_pairs_mat(mat_path, read_image_list(list_path)[0])
        def strip(p):  # lfw/Name/Name_0001.bmp -> Name/Name_0001
            return os.path.splitext(p)[0].split("/", 1)[1]
        assert [strip(p) for p in got.first] == [p[:-4] for p in pairs.first]
        assert [strip(p) for p in got.second] == [p[:-4] for p in pairs.second]
        assert np.array_equal(got.fold, pairs.fold)
        assert np.array_equal(got.issame, pairs.issame)


def test_malformed_lines_name_file_and_line(tmp_path):
    good_same = "A 1 2\n"
    good_diff = "A 1 B 1\n"
    p = _write(tmp_path, "p.txt", "1 2\n" + good_same + "A 1\n" + good_diff * 2)
    with pytest.raises(ValueError, match=r"p\.txt:3: fold 1 same-person line"):
        lfw.read_pairs(p)
    p = _write(tmp_path, "q.txt", "1 1\n" + good_same + "A 1 B x\n")
    with pytest.raises(ValueError, match=r"q\.txt:3: image number must be a positive integer"):
        lfw.read_pairs(p)
    p = _write(tmp_path, "r.txt", "10\t300\n" + good_same)
    with pytest.raises(ValueError, match=r"r\.txt: header promises 6000 pair lines, found 1"):
        lfw.read_pairs(p)
    p = _write(tmp_path, "s.txt", "ten\n")
    with pytest.raises(ValueError, match=r"s\.txt:1: header"):
        lfw.read_pairs(p)


def test_missing_image_is_one_clear_line(tmp_path):
    p = _write(tmp_path, "pairs.txt", "1 1\nA 1 2\nA 1 B 3\n")
    pairs = lfw.read_pairs(p)
    names = ["A/A_0001.jpg", "A/A_0002.jpg", "B/B_0001.jpg"]
    with pytest.raises(ValueError) as err:
        lfw.pair_indices(names, pairs, p)
    msg = str(err.value)
    assert "\n" not in msg and "pairs.txt:3" in msg and "B/B_0003.jpg is not in the image list" in msg


def test_cosine_scores_numpy():
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(6, 5)) * rng.uniform(0.5, 3, size=(6, 1))
    rows = np.array([[0, 1], [2, 3], [4, 5], [1, 1]])
    got = lfw.cosine_scores(emb, rows)
    expect = [np.dot(emb[a], emb[b]) / np.sqrt(np.dot(emb[a], emb[a]) * np.dot(emb[b], emb[b])) for a, b in rows]
    np.testing.assert_allclose(got, expect, rtol=1e-12)


def _brute_threshold(scores, labels):
    u = np.unique(scores)
    cands = [u[0]] + [(u[i] + u[i + 1]) / 2 for i in range(len(u) - 1)]
    best_t, best_acc = None, -1.0
    for t in cands:  # ascending: strict '>' keeps the smallest of equally good thresholds
        acc = np.mean((scores >= t) == labels)
        if acc > best_acc:
            best_t, best_acc = t, acc
    return best_t, best_acc


def test_best_threshold_and_kfold_vs_brute_force():
    rng = np.random.default_rng(7)
    n = 600
    labels = np.tile(np.r_[np.ones(30, bool), np.zeros(30, bool)], 10)
    fold = np.repeat(np.arange(10), 60)
    scores = np.round(rng.normal(size=n) * 0.3 + 0.5 * labels, 2)  # rounding makes ties
    t, acc = lfw.best_threshold(scores, labels)
    bt, bacc = _brute_threshold(scores, labels)
    assert t == pytest.approx(bt) and acc == pytest.approx(bacc)
    res = lfw.kfold_accuracy(scores, labels, fold)
    accs = []
    for k in range(10):
        tr = fold != k
        tk, _ = _brute_threshold(scores[tr], labels[tr])
        assert res["fold_thresholds"][k] == pytest.approx(tk)
        accs.append(np.mean((scores[~tr] >= tk) == labels[~tr]))
    assert res["fold_accuracies"] == pytest.approx(accs)
    assert res["accuracy_mean"] == pytest.approx(np.mean(accs))
    assert res["accuracy_std"] == pytest.approx(np.std(accs))


def test_kfold_ids_matches_sklearn_kfold():
    from sklearn.model_selection import KFold

    for n in (20, 23, 6000):
        ids = lfw.kfold_ids(n, 10)
        for k, (_, test) in enumerate(KFold(10, shuffle=False).split(np.zeros(n))):
            assert np.array_equal(np.flatnonzero(ids == k), test)


@needs_real
def test_shipped_copy_is_identical():
    shared = CANDIDATES[1]
    if not os.path.isfile(CANDIDATES[0]) or not os.path.isfile(shared):
        pytest.skip("needs both protocols/lfw_pairs.txt and ../shared/fixtures/lfw_pairs.txt")
    with open(CANDIDATES[0], "rb") as a, open(shared, "rb") as b:
        assert a.read() == b.read()


def test_image_list_errors(tmp_path):
    p = _write(tmp_path, "l.txt", "a/a_0001.jpg 1\na/a_0002.jpg\n")
    with pytest.raises(ValueError, match=r"l\.txt:2: some lines have a label column"):
        read_image_list(p)
    p = _write(tmp_path, "m.txt", "a/a_0001.jpg\n\nb.jpg\n\n")
    with pytest.raises(ValueError, match=r"m\.txt:2: expected 'relative/path \[label\]'"):
        read_image_list(p)
    assert read_image_list(_write(tmp_path, "n.txt", "x/a_1.jpg 3\ny/b_2.png 4\n\n")) == (["x/a_1.jpg", "y/b_2.png"],
                                                                                          ["3", "4"])
