"""The training input pipeline: decode + augment in Python, batched by MindSpore.

Each epoch has its own permutation (seed + epoch), padded so every rank gets the same
number of samples and sharded by rank, so a resumed run replays exactly the same order
(``skip_batches`` drops the batches already trained). Per-sample augmentation randomness
is seeded by (seed, epoch, index), so it does not depend on worker scheduling.
Undecodable images are skipped (the next image in the shard takes their place) and counted.
"""
import threading

import numpy as np

from common.data.transforms import ImageError


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
    """Random-access source for GeneratorDataset: item k of the epoch order -> (CHW float32, int32 label)."""

    def __init__(self, paths, labels, preprocess, order, seed, epoch, bad=None, train=True):
        self.paths, self.labels = paths, np.asarray(labels, np.int32)
        self.pre, self.order, self.seed, self.epoch = preprocess, order, seed, epoch
        self.bad = bad if bad is not None else BadImages()
        self.train = train

    def __len__(self):
        return len(self.order)

    def __getitem__(self, k):
        for attempt in range(len(self.order)):
            idx = int(self.order[(k + attempt) % len(self.order)])
            path = self.paths[idx]
            if path in self.bad.files:
                continue
            try:
                img = self.pre.load(path)
                if self.train:
                    rng = np.random.default_rng([self.seed, self.epoch, idx])
                    x = self.pre.train_image(img, rng)
                else:
                    x = self.pre.eval_image(img)
                return x, self.labels[idx]
            except ImageError as exc:
                self.bad.add(path, str(exc))
        raise SystemExit("error: no decodable image in the training set")


def build_epoch_dataset(paths, labels, preprocess, batch_size, epoch, seed=0, rank=0, world=1,
                        skip_batches=0, workers=2, bad=None):
    """MindSpore dataset of one epoch for this rank; returns (dataset, number of batches)."""
    import mindspore.dataset as ds

    order = epoch_indices(len(paths), epoch, seed, rank, world)
    steps = len(order) // batch_size
    if steps == 0:
        raise SystemExit(f"error: {len(paths)} images over {world} rank(s) cannot fill one batch of {batch_size}")
    order = order[skip_batches * batch_size: steps * batch_size]
    source = ImageSource(paths, labels, preprocess, order, seed, epoch, bad)
    data = ds.GeneratorDataset(source, ["image", "label"], shuffle=False, num_parallel_workers=workers,
                               python_multiprocessing=False)
    return data.batch(batch_size, drop_remainder=True), steps - skip_batches
