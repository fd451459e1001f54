"""IJB-B / IJB-C protocols (common.protocols.ijb) against an independent implementation of the published rules
written here with plain Python loops and scikit-learn's roc_curve (insightface ijb_11.py's TAR rule), and the
``python -m common.evaluate --protocol ijb`` command end to end."""
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
from sklearn.metrics import roc_curve as sk_roc_curve
from sklearn.metrics import auc as sk_auc

from common.data.synthetic_ijb import generate
from common.protocols import ProtocolError, ijb
from tests.helpers import ROOT

FARS = [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1]


# ----------------------------------------------------------------------------------------- independent reference
def _read(path):
    with open(path) as f:
        return [line.split() for line in f if line.strip()]


def _csv(path):
    with open(path) as f:
        rows = [line.strip().split(",") for line in f if line.strip()]
    head = rows[0]
    t, s = head.index("TEMPLATE_ID"), head.index("SUBJECT_ID")
    return {int(r[t]): int(r[s]) for r in rows[1:]}


def reference(meta_dir, prefix, galleries, emb, flip=None, norm_score=True, detector_score=True, skip=()):
    """The published rules, image by image, template by template, pair by pair."""
    lmk = _read(os.path.join(meta_dir, f"{prefix}_name_5pts_score.txt"))
    tm = _read(os.path.join(meta_dir, f"{prefix}_face_tid_mid.txt"))
    feats = {}
    for i, (parts, (_, tid, mid)) in enumerate(zip(lmk, tm)):
        if i in skip:
            continue
        f = [float(v) for v in emb[i]]
        if flip is not None:
            f = [a + float(b) for a, b in zip(f, flip[i])]
        if not norm_score:
            n = math.sqrt(sum(v * v for v in f))
            f = [v / n for v in f]
        if detector_score:
            f = [v * float(parts[-1]) for v in f]
        feats.setdefault(int(tid), {}).setdefault(int(mid), []).append(f)
    tmpl = {}
    for tid, media in feats.items():
        total = [0.0] * len(emb[0])
        for imgs in media.values():
            mean = [sum(col) / len(imgs) for col in zip(*imgs)]
            total = [a + b for a, b in zip(total, mean)]
        n = math.sqrt(sum(v * v for v in total))
        tmpl[tid] = [v / n for v in total]

    def cos(a, b):
        return sum(x * y for x, y in zip(tmpl[a], tmpl[b]))

    scores, labels = [], []
    for t1, t2, lab in _read(os.path.join(meta_dir, f"{prefix}_template_pair_label.txt")):
        if int(t1) in tmpl and int(t2) in tmpl:
            scores.append(cos(int(t1), int(t2)))
            labels.append(int(lab))
    fpr, tpr, _ = sk_roc_curve(labels, scores)
    out = {"auc": sk_auc(fpr, tpr), "tar": {}}
    fpr, tpr = np.flipud(fpr), np.flipud(tpr)
    for x in FARS:  # insightface: min over (|fpr - x|, index) of the flipped curve
        _, k = min(zip(abs(fpr - x), range(len(fpr))))
        out["tar"][x] = tpr[k]
    gal = {g: {t: s for t, s in _csv(os.path.join(meta_dir, f"{prefix}_1N_gallery_{g}.csv")).items() if t in tmpl}
           for g in galleries}
    probes = {t: s for t, s in _csv(os.path.join(meta_dir, f"{prefix}_1N_probe_mixed.csv")).items() if t in tmpl}
    union = {**gal[galleries[0]], **gal[galleries[1]]}
    ranks = []
    for p, s in probes.items():
        if s not in union.values():
            continue
        ordered = sorted(union, key=lambda g: -cos(p, g))
        ranks.append(next(k for k, g in enumerate(ordered, 1) if union[g] == s))
    for k in (1, 5, 10):
        out[f"rank{k}"] = sum(r <= k for r in ranks) / len(ranks)
    out["tpir"] = {}
    for g, members in gal.items():
        mated, nonmated = [], []
        for p, s in probes.items():
            best = max(members, key=lambda t: cos(p, t))
            top = cos(p, best)
            if s in members.values():
                mated.append((top, members[best] == s))
            else:
                nonmated.append(top)
        points = [(0.0, 0.0)]
        for t in sorted(set([x for x, _ in mated if True] + nonmated), reverse=True):
            points.append((sum(v >= t for v in nonmated) / len(nonmated),
                           sum(v >= t and hit for v, hit in mated) / len(mated)))
        for f in (0.01, 0.1):
            d = min(abs(a - f) for a, _ in points)
            out["tpir"][(g, f)] = max(b for a, b in points if abs(a - f) == d)
    return out


# ------------------------------------------------------------------------------------------------------ data
def _subjects(meta_dir, prefix, galleries):
    t2s = {}
    for name in list(galleries) + ["probe"]:
        path = os.path.join(meta_dir, f"{prefix}_1N_{'gallery_' + name if name != 'probe' else 'probe_mixed'}.csv")
        t2s.update(_csv(path))
    tm = _read(os.path.join(meta_dir, f"{prefix}_face_tid_mid.txt"))
    return np.array([t2s[int(t)] for _, t, _ in tm])


def _embeddings(subj, dim=16, noise=1.3, seed=0):
    rng = np.random.default_rng(seed)
    centres = {s: rng.normal(size=dim) for s in np.unique(subj)}
    e = np.stack([centres[s] + noise * rng.normal(size=dim) for s in subj]).astype(np.float32)
    return e, (e + 0.4 * rng.normal(size=e.shape)).astype(np.float32)


@pytest.fixture(scope="module", params=["IJBC", "IJBB"])
def ijbset(request, tmp_path_factory):
    out = tmp_path_factory.mktemp(request.param)
    _, (prefix, gals) = ijb.target_info(request.param)
    meta = generate(str(out), request.param, subjects=24, templates=4, media=3, frames=3, outsiders=3,
                    seed=3 if request.param == "IJBC" else 4, images=False, log=lambda *_: None)
    subj = _subjects(meta, prefix, gals)
    emb, flip = _embeddings(subj)
    return request.param, meta, prefix, gals, emb, flip


def _compare(res, ref, gals):
    for f in FARS:
        assert res["tar_at_far"][ijb.far_key(f)] == pytest.approx(ref["tar"][f], abs=1e-6), f
    assert res["auc"] == pytest.approx(ref["auc"], abs=1e-9)
    for k in (1, 5, 10):
        assert res[f"rank{k}"] == pytest.approx(ref[f"rank{k}"], abs=1e-6), k
    for f in (0.01, 0.1):
        for g in gals:
            assert res["tpir_at_fpir"][ijb.far_key(f)][g] == pytest.approx(ref["tpir"][(g, f)], abs=1e-6), (g, f)
        assert res["tpir_at_fpir"][ijb.far_key(f)]["mean"] == pytest.approx(
            np.mean([ref["tpir"][(g, f)] for g in gals]), abs=1e-9)


@pytest.mark.parametrize("norm_score,detector_score,use_flip", [(True, True, True), (False, True, True),
                                                                (True, False, False)])
def test_matches_independent_published_rules(ijbset, norm_score, detector_score, use_flip):
    target, meta_dir, prefix, gals, emb, flip = ijbset
    meta = ijb.Meta(meta_dir, target)
    res = ijb.evaluate(meta, emb, flip if use_flip else None, norm_score, detector_score)
    ref = reference(meta_dir, prefix, gals, emb, flip if use_flip else None, norm_score, detector_score)
    _compare(res, ref, gals)
    assert 0 < res["tar_at_far"]["0.1"] < 1 and 0 < res["rank1"] < 1      # not a degenerate set
    assert res["options"] == {"flip": use_flip, "norm_score": norm_score, "detector_score": detector_score}
    assert res["counts"]["pairs_scored"] == res["counts"]["genuine_pairs"] + res["counts"]["impostor_pairs"]
    assert set(res["tar_at_far"]) == {"1e-06", "1e-05", "0.0001", "0.001", "0.01", "0.1"}
    assert set(res["tpir_at_fpir"]) == {"0.01", "0.1"}
    roc = res["roc"][f"{target} 1:1"]
    assert len(roc["far"]) == len(roc["tpr"]) and roc["far"][0] == 0.0 and roc["far"][-1] == 1.0


def test_unreadable_images_left_out_of_their_templates(ijbset):
    target, meta_dir, prefix, gals, emb, flip = ijbset
    meta = ijb.Meta(meta_dir, target)
    tm = _read(os.path.join(meta_dir, f"{prefix}_face_tid_mid.txt"))
    first = {}
    for i, (_, t, _) in enumerate(tm):
        first.setdefault(t, []).append(i)
    single = next(rows for rows in first.values() if len(rows) == 1)     # a template losing its only image
    multi = next(rows for rows in first.values() if len(rows) > 1)
    skip = {single[0], multi[0]}
    e, f = emb.copy(), flip.copy()
    e[list(skip)] = np.nan
    f[list(skip)] = np.nan
    res = ijb.evaluate(meta, e, f, unreadable=sorted(skip))
    _compare(res, reference(meta_dir, prefix, gals, emb, flip, skip=skip), gals)
    assert res["counts"]["unreadable_images"] == 2 and res["counts"]["templates_scored"] == \
        res["counts"]["templates"] - 1 and res["counts"]["pairs_dropped"] > 0
    with pytest.raises(ProtocolError, match="NaN"):          # a NaN row not named unreadable is refused
        ijb.evaluate(meta, e, f, unreadable=[single[0]])


def test_blocked_pair_scores_dense_and_sparse_paths():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(700, 24))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    r1, r2 = rng.integers(0, 700, 5000), rng.integers(0, 700, 5000)
    want = np.einsum("ij,ij->i", x[r1], x[r2])
    for block, dense in ((64, 0.5), (100, 2.0), (1000, 0.0)):   # 2.0: always the gathered-columns path
        np.testing.assert_allclose(ijb.pair_scores(x, r1, r2, block=block, dense=dense), want, atol=1e-12)


def test_nearest_point_ties_go_to_the_higher_tpr():
    fpr = np.array([0.0, 0.0, 0.001, 0.003, 0.003, 1.0])
    tpr = np.array([0.0, 0.2, 0.3, 0.5, 0.6, 1.0])
    assert tpr[ijb.nearest_point(fpr, tpr, 0.002)] == 0.6      # 0.001 and 0.003 equally near: the higher TPR
    assert tpr[ijb.nearest_point(fpr, tpr, 1e-6)] == 0.2       # vertical run at 0: its top
    assert tpr[ijb.nearest_point(fpr, tpr, 0.0011)] == 0.3


def test_bad_meta_files_are_one_line_naming_the_file(tmp_path):
    meta = generate(str(tmp_path / "s"), "IJBC", subjects=4, templates=2, images=False, log=lambda *_: None)
    pairs = os.path.join(meta, "ijbc_template_pair_label.txt")
    good = open(pairs).read()
    with open(pairs, "a") as f:
        f.write("3 99999 0\n")
    with pytest.raises(ProtocolError, match=r"ijbc_template_pair_label.txt:\d+: template 99999"):
        ijb.Meta(meta, "IJBC")
    open(pairs, "w").write(good.replace(" 0\n", " 2\n", 1))
    with pytest.raises(ProtocolError, match="label must be 0 or 1"):
        ijb.Meta(meta, "IJBC")
    open(pairs, "w").write(good)
    lm = os.path.join(meta, "ijbc_name_5pts_score.txt")
    lines = open(lm).read().splitlines(True)
    base = ijb.Meta(meta, "IJBC")
    open(lm, "w").write("".join([lines[1], lines[0]] + lines[2:]))    # another order: matched by image name
    swapped = ijb.Meta(meta, "IJBC")
    assert swapped.names[:2] == base.names[:2][::-1]
    assert list(swapped.templates[:2]) == list(base.templates[:2][::-1])
    open(lm, "w").write("".join([lines[0].replace(".jpg", "x.jpg", 1)] + lines[1:]))
    with pytest.raises(ProtocolError, match="must list the same images"):
        ijb.Meta(meta, "IJBC")
    with pytest.raises(ProtocolError, match="unknown IJB target"):
        ijb.Meta(meta, "IJBX")


def _cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "common.evaluate", "--protocol", "ijb", *map(str, args)],
                          cwd=str(cwd), capture_output=True, text=True, env={**os.environ, "PYTHONPATH": ROOT})


def test_cli_end_to_end_and_bad_inputs(ijbset, tmp_path):
    target, meta_dir, prefix, gals, emb, flip = ijbset
    np.save(tmp_path / "E.npy", emb)
    np.save(tmp_path / "F.npy", flip)
    out = tmp_path / "R.json"
    p = _cli("--target", target, "--meta", meta_dir, "--embeddings", tmp_path / "E.npy", "--flip_embeddings",
             tmp_path / "F.npy", "--out", out, cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "TAR@FAR=0.0001" in p.stdout and "rank1" in p.stdout
    res = json.loads(out.read_text())
    assert (tmp_path / "R_roc.png").stat().st_size > 0
    for key in ("tar_at_far", "rank1", "rank5", "rank10", "tpir_at_fpir", "counts", "options", "roc", "auc"):
        assert key in res, key
    _compare(res, reference(meta_dir, prefix, gals, emb, flip), gals)
    # no flip, published switches off
    p = _cli("--target", target, "--meta", meta_dir, "--embeddings", tmp_path / "E.npy", "--ijb_norm_score", "false",
             "--ijb_detector_score", "false", "--out", out, cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-2000:]
    _compare(json.loads(out.read_text()), reference(meta_dir, prefix, gals, emb, None, False, False), gals)
    if target != "IJBC":
        return
    # bad inputs: one 'error:' line, exit 2, no traceback, nothing written
    np.save(tmp_path / "short.npy", emb[:-1])
    bad = [("--meta", tmp_path / "nowhere", "--embeddings", tmp_path / "E.npy"),
           ("--meta", meta_dir, "--embeddings", tmp_path / "short.npy"),
           ("--meta", meta_dir, "--embeddings", tmp_path / "E.npy", "--flip_embeddings", tmp_path / "short.npy"),
           ("--embeddings", tmp_path / "E.npy")]
    for args in bad:
        q = _cli("--target", target, *args, "--out", tmp_path / "bad.json", cwd=tmp_path)
        assert q.returncode == 2 and "Traceback" not in q.stderr, q.stderr
        assert q.stderr.strip().splitlines()[-1].startswith("error: "), q.stderr
        assert not (tmp_path / "bad.json").exists()
    q = _cli("--target", target, "--meta", meta_dir, "--embeddings", tmp_path / "E.npy",
             "--out", os.path.join(meta_dir, f"{prefix}_face_tid_mid.txt"), cwd=tmp_path)
    assert q.returncode == 2 and "input" in q.stderr


def test_fast_roc_equals_sklearn_and_the_sorting_roc_with_ties():
    from common.protocols import roc

    rng = np.random.default_rng(5)
    for scores in (rng.normal(size=20000), np.round(rng.normal(size=20000), 2)):   # distinct, then tie-heavy
        labels = rng.random(scores.size) < 0.05
        scores = scores + labels                      # genuine higher on the whole
        got = ijb.roc_curve(scores, labels)
        want = roc.roc_curve(scores, labels, drop_intermediate=True)
        sk = sk_roc_curve(labels, scores)
        for g, w, k in zip(got, want, sk):
            np.testing.assert_array_equal(g, w)
            np.testing.assert_array_equal(g[1:], k[1:])   # sklearn's first threshold is inf or max + 1
