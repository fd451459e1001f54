"""Detection + alignment speed on 640x480 photos: MTCNN on onnxruntime vs MindSpore, 1 and 2 worker processes.

    python bench/bench_align.py [--repeat 3] [--workers 1 2] [--backends onnxruntime mindspore]

The 14 real photos of tests/fixtures/raw_photos are centre-cropped to 4:3 and resized to 640x480; each worker
process runs ``Aligner('arcface112')`` (detect, pick the face, similarity warp) on its share of
``repeat`` x 14 photos, the nets with one thread per process. Reported: photos/s of the whole run (after
one warm-up photo per process), and the parity of the two backends' detections on the same photos
(max |box| and |landmark| difference in pixels).
"""
import argparse
import glob
import multiprocessing as mp
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import common.core.env  # noqa: E402,F401
import cv2  # noqa: E402
import numpy as np  # noqa: E402

PHOTOS = os.path.join(ROOT, "tests", "fixtures", "raw_photos")


def photos_640x480():
    from common.align import read_photo

    out = []
    for p in sorted(glob.glob(os.path.join(PHOTOS, "*.*"))):
        if p.endswith(".md"):
            continue
        img = read_photo(p)
        h, w = img.shape[:2]
        if w * 3 > h * 4:
            cw, ch = h * 4 // 3, h
        else:
            cw, ch = w, w * 3 // 4
        y, x = (h - ch) // 2, (w - cw) // 2
        out.append(cv2.resize(img[y:y + ch, x:x + cw], (640, 480), interpolation=cv2.INTER_AREA))
    return out


_W = {}


def _init(backend, imgs):
    if backend == "mindspore":
        import mindspore as ms
        ms.set_context(mode=ms.PYNATIVE_MODE)
    from common.align import Aligner

    _W["imgs"] = imgs
    _W["a"] = Aligner("arcface112", backend=backend, threads=1)


def _work(idx):
    """Align the photos ``idx``; -> (photos, CPU seconds of this process)."""
    a, t = _W["a"], time.process_time()
    for i in idx:
        faces = a.faces(_W["imgs"][i])
        if faces:
            a.crop(_W["imgs"][i], faces[0] if len(faces) == 1 else faces[a_pick(faces, i)])
    return len(idx), time.process_time() - t


def a_pick(faces, i):
    from common.align import pick_face

    return pick_face(faces, _W["imgs"][i].shape)


def measure(backend, workers, repeat):
    """-> (photos/s wall, CPU ms per photo) for ``workers`` processes."""
    imgs = photos_640x480()
    order = [i % len(imgs) for i in range(repeat * len(imgs))]
    if workers == 1:
        _init(backend, imgs)
        _work([0])
        t = time.perf_counter()
        n, cpu = _work(order)
        return n / (time.perf_counter() - t), cpu / n * 1000
    shares = [order[k::workers] for k in range(workers)]
    with mp.get_context("fork").Pool(workers, initializer=_init, initargs=(backend, imgs)) as pool:
        pool.map(_work, [[0]] * workers, chunksize=1)        # warm-up: sessions built, first photo run
        t = time.perf_counter()
        out = pool.map(_work, shares, chunksize=1)
        rate = sum(n for n, _ in out) / (time.perf_counter() - t)
    return rate, sum(c for _, c in out) / sum(n for n, _ in out) * 1000


def parity(imgs):
    import mindspore as ms

    ms.set_context(mode=ms.PYNATIVE_MODE)
    from common.align import MTCNN

    a, b = MTCNN(backend="onnxruntime"), MTCNN(backend="mindspore")
    dbox = dlm = 0.0
    counts_equal = True
    for img in imgs:
        fa, fb = a.detect(img), b.detect(img)
        if len(fa) != len(fb):
            counts_equal = False
            continue
        for x, y in zip(fa, fb):
            dbox = max(dbox, float(np.abs(x.box - y.box).max()))
            dlm = max(dlm, float(np.abs(x.landmarks - y.landmarks).max()))
    return counts_equal, dbox, dlm


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--backends", nargs="+", default=["onnxruntime", "mindspore"])
    ap.add_argument("--one", nargs=2, metavar=("BACKEND", "WORKERS"), help=argparse.SUPPRESS)
    ap.add_argument("--parity", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:       # a child: one measurement in a fresh process
        rate, cpu_ms = measure(args.one[0], int(args.one[1]), args.repeat)
        print(f"RESULT {rate:.3f} {cpu_ms:.3f}")
        return
    if args.parity:
        same, dbox, dlm = parity(photos_640x480())
        print(f"parity onnxruntime vs mindspore (14 photos): same face counts {same}, max |box| diff {dbox:.2e} px, "
              f"max |landmark| diff {dlm:.2e} px")
        return
    print(f"14 photos at 640x480, {args.repeat} passes; {os.cpu_count()} CPU cores; "
          f"load average {os.getloadavg()[0]:.2f} at start")
    for backend in args.backends:
        for w in args.workers:
            out = subprocess.run([sys.executable, __file__, "--one", backend, str(w), "--repeat", str(args.repeat)],
                                 capture_output=True, text=True)
            line = [x for x in out.stdout.splitlines() if x.startswith("RESULT ")]
            if not line:
                print(f"  {backend:<12s} workers {w}: failed\n{out.stderr[-2000:]}")
                continue
            rate, cpu_ms = (float(v) for v in line[0].split()[1:])
            print(f"  {backend:<12s} workers {w}: {rate:6.1f} photos/s wall, {cpu_ms:6.1f} ms CPU per photo "
                  f"(= {1000 / cpu_ms:5.1f} photos/s per fully available core)", flush=True)
    if "mindspore" in args.backends and "onnxruntime" in args.backends:
        out = subprocess.run([sys.executable, __file__, "--parity"], capture_output=True, text=True)
        print("".join(x for x in out.stdout.splitlines(True) if x.startswith("parity")) or out.stderr[-2000:],
              end="")
    print(f"load average {os.getloadavg()[0]:.2f} at end (the machine is shared: other jobs lower the wall rates)")


if __name__ == "__main__":
    main()
