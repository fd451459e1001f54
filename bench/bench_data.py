"""Training input speed: decoded + augmented images/s delivered as batches, no model.

    python bench/bench_data.py [--quick] [--json data.json] [--images 4000] [--repeats 3]

Writes a temporary set of 112x112 JPEG identity folders and the same images as an indexed RecordIO .rec
(common.data.recordio's writer), then measures, for 1, 2 and 4 workers (capped at the usable cores):

- ``zoo``: common.data.dataset.build_epoch_dataset (what training uses), with worker threads and with worker
  processes, folder and .rec; batches read through MindSpore's iterator as numpy, the training step's input;
- ``legacy``: the pre-issue-16 pipeline (GeneratorDataset over single samples, ``num_parallel_workers`` threads,
  then ``.batch``), to show its multi-worker slowdown;
- ``native``: MindSpore's C++ ImageFolderDataset + vision Decode / RandomHorizontalFlip / Normalize / HWC2CHW.
  It cannot reproduce the zoo's per-sample seeded augmentation (its own RNG picks the flips), so it is a speed
  reference, not a drop-in; whether its Decode equals OpenCV's bit for bit is reported.

Preprocessing: the CosFace MobileFaceNet recipe's (cosface/configs/cosface_mobilefacenet_casia.yaml), batch 64.
Timings on a busy machine are noisy; the JSON records the load average.
"""
import argparse
import glob
import json
import os
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
import common.core.env  # noqa: E402,F401

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import yaml  # noqa: E402

from common.data.dataset import (ImageSource, RecordItems, build_epoch_dataset, epoch_indices,  # noqa: E402
                                 usable_workers)
from common.data.transforms import Preprocess  # noqa: E402

BATCH = 64


def write_data(root, identities, per_id):
    """Identity folders of smooth random 112x112 JPEGs (quality 95) and a .rec of the same files."""
    from common.data import recordio

    rng = np.random.default_rng(0)
    paths, labels = [], []
    for c in range(identities):
        d = os.path.join(root, "train", f"id{c:04d}")
        os.makedirs(d)
        for i in range(per_id):
            img = cv2.resize(rng.integers(0, 256, (14, 14, 3), dtype=np.uint8), (112, 112),
                             interpolation=cv2.INTER_CUBIC)
            p = os.path.join(d, f"{i:03d}.jpg")
            cv2.imwrite(p, img, [cv2.IMWRITE_JPEG_QUALITY, 95])
            paths.append(p)
            labels.append(c)
    rec = os.path.join(root, "train.rec")
    with recordio.RecordWriter(rec) as w:
        for key, (p, y) in enumerate(zip(paths, labels), start=1):
            with open(p, "rb") as f:
                w.write(key, y, f.read())
    return paths, labels, rec


def drain(data):
    n = 0
    for images, _ in data.create_tuple_iterator(output_numpy=True, num_epochs=1):
        n += len(images)
    return n


def zoo(paths, labels, pre, workers, processes, read=None, name=None):
    t = time.perf_counter()
    data, _ = build_epoch_dataset(paths, labels, pre, BATCH, 0, seed=0, workers=workers, read=read, name=name,
                                  processes=processes)
    return drain(data) / (time.perf_counter() - t)


def legacy(paths, labels, pre, workers):
    import mindspore.dataset as ds

    t = time.perf_counter()
    src = ImageSource(paths, labels, pre, epoch_indices(len(paths), 0, 0), 0, 0)
    data = ds.GeneratorDataset(src, ["image", "label"], shuffle=False, num_parallel_workers=workers,
                               python_multiprocessing=False).batch(BATCH, drop_remainder=True)
    return drain(data) / (time.perf_counter() - t)


def native(root, pre, workers):
    import mindspore.dataset as ds
    import mindspore.dataset.vision as vision

    t = time.perf_counter()
    data = ds.ImageFolderDataset(os.path.join(root, "train"), shuffle=True, num_parallel_workers=workers)
    ops = [vision.Decode(), vision.RandomHorizontalFlip(0.5),
           vision.Normalize([pre.mean] * 3, [pre.std] * 3), vision.HWC2CHW()]
    data = data.map(ops, ["image"], num_parallel_workers=workers).batch(BATCH, drop_remainder=True)
    return drain(data) / (time.perf_counter() - t)


def decode_identical(paths, n=20):
    """Max |MindSpore vision.Decode - OpenCV decode (RGB)| over the first ``n`` files."""
    import mindspore.dataset.vision as vision

    worst = 0
    for p in paths[:n]:
        with open(p, "rb") as f:
            a = vision.Decode()(np.frombuffer(f.read(), np.uint8))
        b = cv2.cvtColor(cv2.imread(p, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        worst = max(worst, int(np.abs(a.astype(int) - b.astype(int)).max()))
    return worst


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", default=None)
    parser.add_argument("--images", type=int, default=3200, help="images in the temporary set (50 per identity)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--quick", action="store_true", help="smoke test: 256 images, 1 repeat, 1 and 2 workers")
    args = parser.parse_args(argv)
    if args.quick:
        args.images, args.repeats, args.workers = 256, 1, "1,2"
    with open(os.path.join(ROOT, "cosface", "configs", "cosface_mobilefacenet_casia.yaml"), encoding="utf-8") as f:
        pre = Preprocess.from_config(yaml.safe_load(f)["preprocess"])
    workers = sorted({usable_workers(int(w)) for w in args.workers.split(",")})
    load = os.getloadavg()[0]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        per_id = 50 if args.images >= 500 else 16
        paths, labels, rec = write_data(tmp, max(1, args.images // per_id), per_id)
        items = RecordItems(rec)
        cases = []
        for w in workers:
            for processes in (False, True):
                mode = "processes" if processes else "threads"
                if w == 1 and processes:
                    continue  # one worker runs in the pipeline's own thread either way
                cases.append(("zoo", "folder", mode, w, lambda w=w, p=processes: zoo(paths, labels, pre, w, p)))
                cases.append(("zoo", "rec", mode, w, lambda w=w, p=processes: zoo(
                    items.keys, items.labels, pre, w, p, items.read, items.name)))
            cases.append(("legacy", "folder", "threads", w, lambda w=w: legacy(paths, labels, pre, w)))
            cases.append(("native", "folder", "C++ threads", w, lambda w=w: native(tmp, pre, w)))
        speeds = {i: [] for i in range(len(cases))}
        zoo(paths[:4 * BATCH], labels[:4 * BATCH], pre, 1, False)  # warm-up: MindSpore's dataset engine start
        for _ in range(args.repeats):  # interleaved repeats
            for i, case in enumerate(cases):
                speeds[i].append(case[4]())
        for i, (kind, source, mode, w, _) in enumerate(cases):
            rows.append({"pipeline": kind, "source": source, "mode": mode, "workers": w,
                         "images_per_s": statistics.median(speeds[i]), "repeats": speeds[i]})
            print(f"{kind:7s} {source:6s} {mode:12s} workers {w}: {rows[-1]['images_per_s']:8.0f} img/s", flush=True)
        diff = decode_identical(paths)
    out = {"images": len(paths), "batch": BATCH, "preprocess": vars(pre), "load_average_at_start": load,
           "native_decode_max_abs_diff_vs_opencv": diff, "rows": rows}
    print(f"MindSpore vision.Decode vs OpenCV: max |diff| {diff} (0 = identical)")
    if args.json:
        with open(args.json + ".tmp", "w", encoding="utf-8") as f:
            json.dump(out, f, indent=1, default=str)
        os.replace(args.json + ".tmp", args.json)
    return out


if __name__ == "__main__":
    main()
