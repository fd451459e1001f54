"""The training input pipeline: decode + augment in Python, batched by MindSpore.

Each epoch has its own permutation (seed + epoch), padded so every rank gets the same
number of samples and sharded by rank, so a resumed run replays exactly the same order
(``skip_batches`` drops the batches already trained). Per-sample augmentation randomness
is seeded by (seed, epoch, index), so it does not depend on worker scheduling.
Undecodable images are skipped (the next image in the shard takes their place) and counted.
Samples are file paths or RecordIO keys (:class:`RecordItems`) read through one callable.
"""
import threading

import numpy as np

from common.data.transforms import ImageError
from common.distributed import debug_dump


def epoch_indices(n, epoch, seed, rank=0, world=1, shuffle=True):
    """Rank ``rank``'s share of epoch ``epoch``'s order over ``n`` samples (equal share per rank)."""
    order = np.random.default_rng([seed, epoch]).permutation(n) if shuffle else np.arange(n)
    per_rank = -(-n // world)
    order = np.concatenate([order, order[: per_rank * world - n]])
    return order[rank::world]


class BadImages:
    """Thread-safe record of images that failed to decode."""

    def __init__(self):
        self._lock = threading.Lock()
        self.files = {}

    def add(self, path, reason):
        with self._lock:
            if path not in self.files:
                self.files[path] = reason
                print(f"warning: skipping {reason}", flush=True)

    def __len__(self):
        return len(self.files)


class ImageSource:
    """Random-access source for GeneratorDataset: item k of the epoch order -> (CHW float32, int32 label).

    ``items[i]`` is what ``read(items[i])`` turns into a file path or encoded image bytes (default: ``items``
    are paths, read is the identity); ``name(items[i])`` names it in warnings (default ``str``). Image
    folders, list files and RecordIO keys thus share one code path.
    """

    def __init__(self, paths, labels, preprocess, order, seed, epoch, bad=None, train=True, read=None, name=None):
        self.paths, self.labels = paths, np.asarray(labels, np.int32)
        self.pre, self.order, self.seed, self.epoch = preprocess, order, seed, epoch
        self.bad = bad if bad is not None else BadImages()
        self.train = train
        self.read = read or _identity
        self.name = name or str

    def __len__(self):
        return len(self.order)

    def __getitem__(self, k):
        for attempt in range(len(self.order)):
            idx = int(self.order[(k + attempt) % len(self.order)])
            item = self.paths[idx]
            name = self.name(item)
            if name in self.bad.files:
                continue
            try:
                img = self.pre.load(self.read(item), name=name)
                if self.train:
                    rng = np.random.default_rng([self.seed, self.epoch, idx])
                    x = self.pre.train_image(img, rng)
                else:
                    x = self.pre.eval_image(img)
                return x, self.labels[idx]
            except ImageError as exc:
                self.bad.add(name, str(exc))
        raise SystemExit("error: no decodable image in the training set")


def _identity(item):
    return item


class RecordItems:
    """Training items of an indexed RecordIO ``.rec``: keys, labels, a thread-safe ``read(key) -> bytes``.

    GeneratorDataset's worker threads share one open file, so reads (seek + read) hold a lock.
    """

    def __init__(self, rec_path, idx_path=None):
        from common.data.recordio import RecordReader

        try:
            self.reader = RecordReader(rec_path, idx_path)
            self.keys = self.reader.keys()
            self.labels = self.reader.labels()
        except (ValueError, KeyError) as exc:
            raise SystemExit(str(exc).strip("'\"")) from None
        self.rec_path = rec_path
        self._lock = threading.Lock()
        if not self.keys:
            raise SystemExit(f"error: {rec_path}: no image records")
        if (self.labels < 0).any():
            key = self.keys[int(np.argmax(self.labels < 0))]
            raise SystemExit(f"error: {rec_path}: image key {key} lies in no identity range of record 0")
        self.classes = [str(c) for c in range(int(self.labels.max()) + 1)]

    def read(self, key):
        with self._lock:
            return self.reader.read(key)[1]

    def name(self, key):
        return f"{self.rec_path}#{key}"


def build_epoch_dataset(paths, labels, preprocess, batch_size, epoch, seed=0, rank=0, world=1,
                        skip_batches=0, workers=2, bad=None, read=None, name=None):
    """MindSpore dataset of one epoch for this rank; returns (dataset, number of batches).

    ``paths`` are file paths, or any items ``read`` turns into a path or encoded bytes (see ImageSource).
    """
    import mindspore.dataset as ds

    order = epoch_indices(len(paths), epoch, seed, rank, world)
    steps = len(order) // batch_size
    if steps == 0:
        raise SystemExit(f"error: {len(paths)} images over {world} rank(s) cannot fill one batch of {batch_size}")
    order = order[skip_batches * batch_size: steps * batch_size]
    debug_dump(f"epoch{epoch}_indices", rank, order)  # only with FACEID_DEBUG_DIR set
    source = ImageSource(paths, labels, preprocess, order, seed, epoch, bad, read=read, name=name)
    data = ds.GeneratorDataset(source, ["image", "label"], shuffle=False, num_parallel_workers=workers,
                               python_multiprocessing=False)
    return data.batch(batch_size, drop_remainder=True), steps - skip_batches
