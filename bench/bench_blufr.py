"""Time BLUFR (10 trials, 13,233 x 256 embeddings, the official config) against naive baselines.

    python bench/bench_blufr.py [--noise 1.6] [--loop_rows 4]

Baselines, same rules: (1) straightforward numpy, one trial timed and scaled by 10: full float64 score
matrix, ``np.tril`` mask, full descending sort, genuine x threshold comparison matrix; (2) the pure-Python
pair loops of the older LightCNN port (``bsxfun_eq``-style), timed on a few rows and scaled to all pairs.
"""
import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402

from common.protocols import blufr  # noqa: E402

CONFIGS = [os.path.join(ROOT, "protocols", "blufr_lfw_config.mat"),
           os.path.join(os.path.dirname(ROOT), "shared", "fixtures", "blufr_lfw_config.mat")]


def naive_trial_vr(emb, labels):
    """One trial's VR the straightforward way (full matrix, full sort)."""
    x = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    score = x @ x.T
    lower = np.tril(np.ones(score.shape, dtype=bool), k=-1)
    same = labels[:, None] == labels[None, :]
    gen, imp = score[lower & same], score[lower & ~same]
    imp = np.sort(imp)[::-1]
    k = blufr.false_alarms(blufr.VERI_FARS, imp.size)
    thr = imp[np.clip(k - 1, 0, imp.size - 1)]
    return np.mean(gen[:, None] >= thr[None, :], axis=0)


def loop_rows_seconds(labels, rows):
    """Seconds for the pure-Python label loop over ``rows`` rows of the test matrix."""
    n = labels.size
    lab = labels.tolist()
    out = np.zeros((rows, n))
    t = time.perf_counter()
    for i in range(rows):
        for j in range(n):
            out[i, j] = 1 if lab[i] == lab[j] else 0
    return time.perf_counter() - t


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--noise", type=float, default=1.6, help="within-identity noise (class centres are N(0,1))")
    p.add_argument("--loop_rows", type=int, default=4, help="rows timed for the pure-Python loop baseline")
    args = p.parse_args()
    path = next((c for c in CONFIGS if os.path.isfile(c)), None)
    if path is None:
        print("skip: blufr_lfw_config.mat not found in protocols/ or ../shared/fixtures/")
        return
    cfg = blufr.load_config(path)
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(cfg.labels.max() + 1, 256))
    emb = (centers[cfg.labels] + args.noise * rng.normal(size=(len(cfg.labels), 256))).astype(np.float32)

    t = time.perf_counter()
    res = blufr.evaluate(emb, cfg)
    ours = time.perf_counter() - t
    test = cfg.test_index[0]
    t = time.perf_counter()
    vr_naive = naive_trial_vr(emb[test].astype(np.float64), cfg.labels[test])
    naive = 10 * (time.perf_counter() - t)
    n = len(test)
    loop = loop_rows_seconds(cfg.labels[test], args.loop_rows) * n / args.loop_rows * 10

    j = int(np.argmin(np.abs(blufr.VERI_FARS - 1e-3)))
    print(f"config {path}: {len(cfg.image_list)} images, {res['trials']} trials, test sets of ~{n} images")
    print(f"VR@FAR=0.1% {res['VR@FAR=0.1%']['mean_minus_std']:.4f} (mean-std), "
          f"DIR@FAR=1% rank 1 {res['DIR@FAR=1%,rank=1']['mean_minus_std']:.4f}; "
          f"trial 1 VR@0.1%: ours {res['VR@FAR=0.1%']['trials'][0]:.5f}, naive {vr_naive[j]:.5f}")
    print(f"ours (10 trials, verification + open-set):        {ours:8.1f} s")
    print(f"naive numpy (verification only, 1 trial x 10):     {naive:8.1f} s   ratio {naive / ours:5.1f}x")
    print(f"Python loops, label matrix only (scaled, 10 trials): {loop:8.0f} s   ratio {loop / ours:5.0f}x")


if __name__ == "__main__":
    main()
