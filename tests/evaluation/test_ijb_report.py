"""IJB 1:1 in the eval report: ``python -m common.evaluate --protocol ijb --out R.json`` writes the pair side file
(``R_pairs.npz``) that the report reads. Its thresholds at FAR 1e-3 / 1e-4 equal those read off scikit-learn's
roc_curve on the FULL score list (scored here by plain loops over the published rules), its worst false accepts /
rejects equal a brute-force sort of every pair, each template shown by its first image; the kept part stays small."""
import json
import math
import os
import re

import numpy as np
import pytest
from sklearn.metrics import roc_curve

from common.data.synthetic_ijb import generate
from common.evaluation import report

FARS = (1e-3, 1e-4)


def _read(path):
    with open(path) as f:
        return [line.split() for line in f if line.strip()]


def _loop_scores(meta, emb, flip):
    """Every listed template pair's cosine by the published rules, written as plain loops (independent)."""
    lmk = _read(os.path.join(meta, "ijbc_name_5pts_score.txt"))
    tm = _read(os.path.join(meta, "ijbc_face_tid_mid.txt"))
    media, first = {}, {}
    for i, (parts, (name, tid, mid)) in enumerate(zip(lmk, tm)):
        f = [(float(a) + float(b)) * float(parts[-1]) for a, b in zip(emb[i], flip[i])]
        media.setdefault(int(tid), {}).setdefault(int(mid), []).append(f)
        first.setdefault(int(tid), name)
    tmpl = {}
    for t, ms in media.items():
        tot = [0.0] * emb.shape[1]
        for imgs in ms.values():
            tot = [a + sum(col) / len(imgs) for a, col in zip(tot, zip(*imgs))]
        n = math.sqrt(sum(v * v for v in tot))
        tmpl[t] = [v / n for v in tot]
    rows = []
    for line, (t1, t2, lab) in enumerate(_read(os.path.join(meta, "ijbc_template_pair_label.txt"))):
        s = sum(a * b for a, b in zip(tmpl[int(t1)], tmpl[int(t2)]))
        rows.append((s, int(lab), int(t1), int(t2), line))
    return rows, first


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    from common.evaluation.scoring import main

    root = tmp_path_factory.mktemp("ijbrep")
    meta = generate(str(root / "IJBC"), "IJBC", subjects=38, templates=4, media=2, frames=2, outsiders=2,
                    images=False, seed=3, log=lambda *_: None)
    n = len(_read(os.path.join(meta, "ijbc_name_5pts_score.txt")))
    tm = _read(os.path.join(meta, "ijbc_face_tid_mid.txt"))
    rng = np.random.default_rng(0)
    centre = {t: rng.normal(size=8) for t in {int(t) // 40 for _, t, _ in tm}}  # noisy: many close impostors
    emb = np.stack([centre[int(t) // 40] + rng.normal(0, 1.6, 8) for _, t, _ in tm]).astype(np.float32)
    flip = (emb + rng.normal(0, 0.3, emb.shape)).astype(np.float32)
    np.save(root / "e.npy", emb)
    np.save(root / "f.npy", flip)
    out = str(root / "r.json")
    res = main(["--protocol", "ijb", "--target", "IJBC", "--meta", meta, "--embeddings", str(root / "e.npy"),
                "--flip_embeddings", str(root / "f.npy"), "--out", out])
    rows, first = _loop_scores(meta, emb, flip)
    assert len(rows) == res["counts"]["pairs_scored"] and n == res["images"]
    return dict(root=root, meta=meta, out=out, res=res, rows=rows, first=first)


def test_thresholds_equal_sklearn_roc_on_the_full_score_list(scored):
    res = json.load(open(scored["out"]))
    assert res["files"]["pair_scores"].endswith("r_pairs.npz")
    pairs = report.load_pairs(res, scored["out"])
    score = np.array([r[0] for r in scored["rows"]])
    label = np.array([r[1] for r in scored["rows"]])
    n_imp = int((label == 0).sum())
    assert n_imp > 1e4  # FAR 1e-4 is resolved by this many impostors
    fpr, tpr, thr = roc_curve(label, score, drop_intermediate=False)
    gen, imp, n = report._distributions(pairs)
    assert n == n_imp and imp.size < n_imp // 50  # only the top of the impostors is kept
    for far in FARS:
        t = report.threshold_from(gen, imp, n, far)
        best = np.flatnonzero(fpr <= far + 1e-12)
        k = best[tpr[best] == tpr[best].max()][-1]  # the highest TAR at FAR <= far, at the lowest threshold
        assert math.isclose(t["tar"], tpr[k], abs_tol=1e-6) and math.isclose(t["far"], fpr[k], abs_tol=1e-6)
        # the same decisions on every pair as sklearn's threshold (accept score >= threshold)
        away = np.abs(score - t["threshold"]) > 1e-9  # the report's threshold sits just above an impostor
        assert np.count_nonzero(~away) <= 1
        assert np.array_equal(score[away] >= t["threshold"], score[away] >= thr[k]), far
        assert t["resolved"]


def test_worst_pairs_equal_a_brute_force_sort(scored):
    res = json.load(open(scored["out"]))
    pairs = report.load_pairs(res, scored["out"])
    fa, fr = report.worst_pairs(pairs["score"], pairs["label"])
    rows = scored["rows"]
    want_fa = sorted((r for r in rows if r[1] == 0), key=lambda r: (-r[0], r[4]))[:8]
    want_fr = sorted((r for r in rows if r[1] == 1), key=lambda r: (r[0], r[4]))[:8]
    for got, want in ((fa, want_fa), (fr, want_fr)):
        assert [int(pairs["pair_line"][i]) for i in got] == [r[4] for r in want]
        assert np.allclose([pairs["score"][i] for i in got], [r[0] for r in want], atol=1e-6)
        assert [(int(pairs["first_template"][i]), int(pairs["second_template"][i])) for i in got] == \
            [(r[2], r[3]) for r in want]
        images = os.path.join(os.path.dirname(scored["meta"]), "loose_crop")  # meta only: named, not readable
        assert [str(pairs["first"][i]) for i in got] == [scored["first"][r[2]] for r in want] or \
            [str(pairs["first"][i]) for i in got] == [os.path.join(images, scored["first"][r[2]]) for r in want]
    assert os.path.getsize(res["files"]["pair_scores"]) < 200_000
    page = report.render([("ijbc", res, scored["out"])])
    assert page.count('class="pair fa"') == 8 and page.count('class="pair fr"') == 8
    assert "template " in page and "pair line " in page
    for far in FARS:
        assert re.search(rf'<tr data-far="{far:g}">', page)


def test_top_pairs_in_small_chunks_equal_a_full_sort(scored):
    """The chunked selection (bounded memory on 15.6 M pairs) gives the same kept scores and worst pairs as
    sorting everything at once, ties broken by pair order."""
    score = np.round(np.array([r[0] for r in scored["rows"]]), 2)  # many ties
    label = np.array([r[1] for r in scored["rows"]]).astype(bool)
    got = report.top_pairs(score, label, chunk=997)
    imp = np.flatnonzero(~label)
    order = sorted(imp.tolist(), key=lambda i: (-score[i], i))
    keep = int(math.floor(1e-3 * imp.size)) + 1
    assert got["impostors"] == imp.size and got["impostor_top"].tolist() == [score[i] for i in order[:max(keep, 8)]]
    assert got["fa"].tolist() == order[:8]
    assert got["fr"].tolist() == sorted(np.flatnonzero(label).tolist(), key=lambda i: (score[i], i))[:8]
    assert sorted(got["genuine_scores"].tolist()) == sorted(score[label].tolist())
