"""The training input pipeline: the same bytes whatever the workers, exact resume, no hang on unusable data.

The expected batches are computed independently, sample by sample, straight from the definition (epoch order
= default_rng([seed, epoch]).permutation padded and strided by rank; image = cv2 decode -> Preprocess.train_image
with default_rng([seed, epoch, index])), and compared bit for bit with what MindSpore's iterator yields for
1, 2 and 4 workers, threads and processes, folders and .rec files, fresh and resumed.
"""
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from common.data import recordio
from common.data.dataset import BadImages, RecordItems, build_epoch_dataset
from common.data.folder import scan_folder
from common.data.pk_dataset import build_pk_epoch_dataset
from common.data.transforms import Preprocess
from common.core.errors import FaceIdError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PRE = Preprocess(channels=3, resize=14, crop=12, mean=127.5, std=128.0, flip=True)
BATCH, SEED = 8, 3


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """6 identities x 7 noisy 16x16 JPEGs; one file of identity 2 is corrupt."""
    root = tmp_path_factory.mktemp("pipe") / "train"
    rng = np.random.default_rng(0)
    for c in range(6):
        os.makedirs(root / f"id{c}")
        for i in range(7):
            cv2.imwrite(str(root / f"id{c}" / f"{i}.jpg"), rng.integers(0, 256, (16, 16, 3), dtype=np.uint8))
    (root / "id2" / "3.jpg").write_bytes(b"\xff\xd8\xff not a jpeg")
    paths, labels, _ = scan_folder(str(root))
    return str(root), paths, np.asarray(labels)


def expected_batches(paths, labels, epoch, rank=0, world=1):
    """Independent reference: the epoch's batches sample by sample (a bad file -> the next of the order)."""
    n = len(paths)
    order = np.random.default_rng([SEED, epoch]).permutation(n)
    per = -(-n // world)
    order = np.concatenate([order, order[:per * world - n]])[rank::world]
    steps = len(order) // BATCH
    xs, ys = [], []
    for k in range(steps * BATCH):
        j = k
        while True:
            idx = int(order[j % len(order)])
            img = cv2.imread(paths[idx], cv2.IMREAD_COLOR)
            if img is not None:
                break
            j += 1
        x = PRE.train_image(cv2.cvtColor(img, cv2.COLOR_BGR2RGB), np.random.default_rng([SEED, epoch, idx]))
        xs.append(x)
        ys.append(labels[idx])
    return [(np.stack(xs[b * BATCH:(b + 1) * BATCH]), np.array(ys[b * BATCH:(b + 1) * BATCH], np.int32))
            for b in range(steps)]


def got_batches(data):
    return [(x, y) for x, y in data.create_tuple_iterator(output_numpy=True, num_epochs=1)]


def assert_same(got, want):
    assert len(got) == len(want)
    for (gx, gy), (wx, wy) in zip(got, want):
        assert gx.dtype == np.float32 and gx.shape == wx.shape
        np.testing.assert_array_equal(gy, wy)
        assert np.array_equal(gx, wx)  # bit-identical, not close


@pytest.mark.parametrize("workers, processes", [(1, True), (2, False), (2, True), (4, False), (4, True)])
def test_batches_identical_for_any_workers(folder, workers, processes):
    _, paths, labels = folder
    bad = BadImages()
    data, steps = build_epoch_dataset(paths, labels, PRE, BATCH, epoch=1, seed=SEED, workers=workers, bad=bad,
                                      processes=processes)
    want = expected_batches(paths, labels, 1)
    assert steps == len(want) == 42 // BATCH
    assert_same(got_batches(data), want)
    # the corrupt file is reported to the main process once, whichever worker met it
    assert list(bad.files) == [os.path.join(folder[0], "id2", "3.jpg")]


@pytest.mark.parametrize("processes", [False, True])
def test_resume_equals_the_uninterrupted_stream(folder, processes):
    _, paths, labels = folder
    want = expected_batches(paths, labels, 2, rank=1, world=2)
    for skip in (0, 1, 2):
        data, steps = build_epoch_dataset(paths, labels, PRE, BATCH, epoch=2, seed=SEED, rank=1, world=2,
                                          skip_batches=skip, workers=2, processes=processes)
        assert steps == len(want) - skip
        assert_same(got_batches(data), want[skip:])


def test_rec_source_in_worker_processes(folder, tmp_path):
    root, paths, labels = folder
    rec = str(tmp_path / "train.rec")
    with recordio.RecordWriter(rec) as w:
        for key, (p, y) in enumerate(zip(paths, labels), start=1):
            with open(p, "rb") as f:
                w.write(key, int(y), f.read())
    items = RecordItems(rec)
    assert list(items.labels) == list(labels)
    data, _ = build_epoch_dataset(items.keys, items.labels, PRE, BATCH, epoch=0, seed=SEED, workers=2,
                                  read=items.read, name=items.name)
    assert_same(got_batches(data), expected_batches(paths, labels, 0))


def test_pk_batches_identical_for_any_workers(folder):
    _, paths, labels = folder
    runs = []
    for workers, processes in ((1, True), (2, True), (2, False)):
        data, _ = build_pk_epoch_dataset(paths, labels, PRE, 2, 3, epoch=0, seed=SEED, workers=workers,
                                         processes=processes)
        runs.append(got_batches(data))
    assert len(runs[0]) == 3
    for other in runs[1:]:
        assert_same(other, runs[0])


def test_iterating_twice_replays_the_epoch(folder):
    _, paths, labels = folder
    data, _ = build_epoch_dataset(paths, labels, PRE, BATCH, epoch=0, seed=SEED, workers=2)
    assert_same(got_batches(data), got_batches(data))


def test_no_decodable_image_is_one_error_not_a_hang(tmp_path):
    root = tmp_path / "train"
    for c in range(2):
        os.makedirs(root / f"id{c}")
        for i in range(6):
            (root / f"id{c}" / f"{i}.jpg").write_bytes(b"not an image")
    paths, labels, _ = scan_folder(str(root))
    with pytest.raises(FaceIdError, match="no decodable image in 12 consecutive samples"):
        build_epoch_dataset(paths, labels, PRE, 4, epoch=0, workers=2, bad=BadImages(quiet=True))
    # a process that trains on it (build + iterate, as the training loop does) stops with one line, no hang
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]); import common.core.env\n"
        "from common.core.errors import guard\n"
        "from common.data.folder import scan_folder\n"
        "from common.data.dataset import build_epoch_dataset\n"
        "from common.data.transforms import Preprocess\n"
        "def main(argv):\n"
        "    paths, labels, _ = scan_folder(argv[0])\n"
        "    data, _ = build_epoch_dataset(paths, labels, Preprocess(1, 36, 32), 4, 0, workers=2)\n"
        "    for _ in data.create_tuple_iterator(): pass\n"
        "guard(main, sys.argv[2:])\n")
    p = subprocess.run([sys.executable, "-c", script, ROOT, str(root)], capture_output=True, text=True, timeout=120)
    assert p.returncode == 2, p.stderr[-2000:]
    last = p.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and "train: no decodable image in 12 consecutive samples" in last
    assert "Traceback" not in p.stderr


def test_training_with_worker_processes_equals_one_worker(tmp_path):
    """lightcnn/train.py: 2 worker processes, interrupted and resumed == 1 worker uninterrupted (same weights)."""
    from common.train.checkpoint import read
    from lightcnn import train as lightcnn_train
    from tests.helpers import lightcnn_tiny_args, make_data

    train, _ = make_data(tmp_path / "data", train_ids=4, train_images=8)
    common = dict(epochs=2, dropout=0.0, optimizer="sgd", lr=0.01, save_every_steps=0, keep_ckpt=10)
    full = lightcnn_train.main(lightcnn_tiny_args(tmp_path / "full", train, **common))
    args = lightcnn_tiny_args(tmp_path / "part", train, max_steps=5, **common)
    args[args.index("--workers") + 1] = "2"
    assert lightcnn_train.main(args)["global_step"] == 5
    resumed = lightcnn_train.main(args[:args.index("--max_steps")] + args[args.index("--max_steps") + 2:]
                                  + ["--resume", "true"])
    assert resumed["global_step"] == full["global_step"] == 8

    def weights(ckpt):
        return {k: v.asnumpy() for k, v in read(ckpt).items() if not k.startswith(("moments", "meta_"))}
    a, b = weights(full["checkpoint"]), weights(resumed["checkpoint"])
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


FORK_AFTER_OPENCV = r"""
import sys
import cv2, numpy as np
sys.path.insert(0, sys.argv[1])
from common.data.dataset import EpochBatches, ImageSource
from common.data.folder import scan_folder
from common.data.transforms import Preprocess
big = np.random.default_rng(0).integers(0, 255, (1500, 1500, 3), dtype=np.uint8)
for _ in range(3):  # the parent uses OpenCV's thread pool before the workers are forked (as training does)
    cv2.resize(big, (300, 300), interpolation=cv2.INTER_AREA)
    cv2.GaussianBlur(big, (5, 5), 0)
paths, labels, _ = scan_folder(sys.argv[2])
pre = Preprocess(channels=3, resize=14, crop=12, mean=127.5, std=128.0, flip=True)
src = ImageSource(paths, labels, pre, np.arange(len(paths)), 3, 0)
print(sum(1 for _ in EpochBatches(src, 8, workers=2, processes=True)), "batches")
"""


def test_worker_processes_do_not_hang_after_the_parent_used_opencv(folder):
    """A forked worker must not touch OpenCV's thread pool settings (that deadlocks after the parent used it)."""
    p = subprocess.run([sys.executable, "-c", FORK_AFTER_OPENCV, ROOT, folder[0]], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "5 batches" in p.stdout
