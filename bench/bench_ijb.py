"""Time IJB-C-sized 1:1 scoring (15.6 M template pairs from 23k x 512-d template embeddings) and 1:N.

    python bench/bench_ijb.py [--templates 23124] [--pairs 15658489] [--dim 512] [--baseline_pairs 1000000]

Synthetic, IJB-C-sized: 23,124 L2-normalised float64 template features (3,531 subjects), 15,658,489 pairs drawn
at random (about 19.5k genuine, as IJB-C: a random-pair structure is the worst case for the blocked scoring,
every block of the score matrix's upper triangle is needed), and 1:N with IJB-C's sizes (G1 1,772 + G2 1,759
gallery templates, 19,593 probes). Timed: ``common.protocols.ijb.pair_scores`` (blocked float64 products),
``verification`` (ROC as sklearn, TAR@FAR 1e-6..1e-1, AUC), ``identification`` (rank-1/5/10, TPIR@FPIR per
gallery), and for reference insightface's ijb_11.py scoring (gather both features of 100k pairs at a time,
multiply, sum), timed on ``--baseline_pairs`` pairs and scaled. Peak extra memory: about 4 x 125 MB of pair
arrays + one 256 x 23k block. Reading the meta files is not timed (about 3 s for the pair file).
"""
import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402

from common.protocols import ijb  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--templates", type=int, default=23124)
    p.add_argument("--subjects", type=int, default=3531)
    p.add_argument("--pairs", type=int, default=15658489)
    p.add_argument("--genuine", type=int, default=19557)
    p.add_argument("--dim", type=int, default=512)
    p.add_argument("--baseline_pairs", type=int, default=1000000)
    p.add_argument("--noise", type=float, default=2.0, help="within-subject noise per dimension (centres N(0, 1))")
    args = p.parse_args()
    rng = np.random.default_rng(0)
    subj = rng.integers(0, args.subjects, args.templates)
    centres = rng.normal(size=(args.subjects, args.dim))
    feats = centres[subj] + args.noise * rng.normal(size=(args.templates, args.dim))
    feats /= np.linalg.norm(feats, axis=1, keepdims=True)
    order = np.argsort(subj, kind="stable")
    start = np.searchsorted(subj[order], np.arange(args.subjects))
    count = np.bincount(subj, minlength=args.subjects)
    # genuine pairs: two templates of one subject; impostors: random pairs of different subjects
    g1 = rng.integers(0, args.templates, 4 * args.genuine)
    g2 = order[start[subj[g1]] + (rng.random(g1.size) * count[subj[g1]]).astype(np.int64)]
    keep = g1 != g2
    g1, g2 = g1[keep][:args.genuine], g2[keep][:args.genuine]
    n_imp = args.pairs - g1.size
    i1, i2 = rng.integers(0, args.templates, n_imp), rng.integers(0, args.templates, n_imp)
    diff = subj[i1] != subj[i2]
    i1, i2 = i1[diff], i2[diff]
    while i1.size < n_imp:
        x, y = rng.integers(0, args.templates, n_imp - i1.size), rng.integers(0, args.templates, n_imp - i1.size)
        d = subj[x] != subj[y]
        i1, i2 = np.r_[i1, x[d]], np.r_[i2, y[d]]
    r1, r2 = np.r_[g1, i1[:n_imp]], np.r_[g2, i2[:n_imp]]
    labels = np.r_[np.ones(g1.size, bool), np.zeros(n_imp, bool)]
    perm = rng.permutation(r1.size)
    r1, r2, labels = r1[perm], r2[perm], labels[perm]
    print(f"{args.templates} templates x {args.dim}, {r1.size} pairs ({int(labels.sum())} genuine), "
          f"{os.cpu_count()} CPUs, numpy {np.__version__}", flush=True)

    t0 = time.perf_counter()
    scores = ijb.pair_scores(feats, r1, r2)
    t1 = time.perf_counter()
    metrics, curve = ijb.verification(scores, labels)
    t2 = time.perf_counter()
    print(f"pair scores (blocked float64)      {t1 - t0:7.2f} s")
    print(f"ROC + TAR@FAR + AUC                {t2 - t1:7.2f} s")
    print(f"1:1 total                          {t2 - t0:7.2f} s   (target < 30 s)")
    print("TAR@FAR " + ", ".join(f"{k}: {v:.4f}" for k, v in metrics["tar_at_far"].items()) +
          f"; AUC {metrics['auc']:.4f}; {len(curve['far'])} ROC points stored")

    # 1:N with IJB-C's sizes: one gallery template per subject, G1 / G2 by subject, probes: the other templates
    first = np.unique(subj, return_index=True)[1]
    half = args.subjects // 2
    gal = {"G1": first[subj[first] < half], "G2": first[subj[first] >= half]}
    probe = np.setdiff1d(np.arange(args.templates), first)
    tids = np.arange(args.templates, dtype=np.int64)
    one_n = {"G1": (gal["G1"], subj[gal["G1"]]), "G2": (gal["G2"], subj[gal["G2"]]),
             "probe": (probe, subj[probe])}
    t3 = time.perf_counter()
    res = ijb.identification(tids, feats, one_n, ("G1", "G2"))
    t4 = time.perf_counter()
    print(f"1:N ({probe.size} probes x {first.size} gallery)  {t4 - t3:7.2f} s   rank-1 {res['rank1']:.4f}, "
          f"TPIR@FPIR=0.01 {res['tpir_at_fpir']['0.01']['mean']:.4f}")

    # insightface ijb_11.py verification(): gather + multiply + sum, 100k pairs a batch
    nb = min(args.baseline_pairs, r1.size)
    t5 = time.perf_counter()
    for s in range(0, nb, 100000):
        f1, f2 = feats[r1[s:s + 100000]], feats[r2[s:s + 100000]]
        np.sum(f1 * f2, -1)
    t6 = time.perf_counter()
    print(f"baseline: insightface gather scoring {(t6 - t5) / nb * r1.size:7.2f} s for all pairs "
          f"(timed on {nb}, scaled)")


if __name__ == "__main__":
    main()
