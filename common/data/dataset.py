"""The training input pipeline: decode + augment in Python, whole batches handed to MindSpore.

Each epoch has its own permutation (seed + epoch), padded so every rank gets the same
number of samples and sharded by rank, so a resumed run replays exactly the same order
(``skip_batches`` drops the batches already trained). Per-sample augmentation randomness
is seeded by (seed, epoch, index), so it does not depend on worker scheduling.
Undecodable images are skipped (the next image in the shard takes their place) and counted.
Samples are file paths or RecordIO keys (:class:`RecordItems`) read through one callable.

Parallelism: :class:`EpochBatches` computes batch ``b`` (items ``[b*B, (b+1)*B)`` of the order) as a whole in
one worker and yields batches in order, so the output is bit-identical for any number of workers and for
threads or processes (tests/test_data_pipeline.py). Processes (``fork``, results through shared memory) are
the default for ``workers > 1``: decoding and augmenting in Python threads scales poorly under the GIL.
MindSpore's own ``GeneratorDataset(num_parallel_workers > 1)`` is not used: its result loop polls with a
100 ms sleep whenever the next sample is not ready yet (``SamplerFn.process``), which made 2 workers 8x
slower than 1 (issue 16).
"""
import mmap
import os
import queue
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from common.data.images import ImageError
from common.core.distributed import debug_dump
from common.core.errors import FaceIdError

MAX_CONSECUTIVE_BAD = 1000  # this many undecodable samples in a row: the training data is unusable


def epoch_indices(n, epoch, seed, rank=0, world=1, shuffle=True):
    """Rank ``rank``'s share of epoch ``epoch``'s order over ``n`` samples (equal share per rank)."""
    order = np.random.default_rng([seed, epoch]).permutation(n) if shuffle else np.arange(n)
    per_rank = -(-n // world)
    order = np.concatenate([order, order[: per_rank * world - n]])
    return order[rank::world]


class BadImages:
    """Thread-safe record of images that failed to decode (``quiet``: record without printing)."""

    def __init__(self, quiet=False):
        self._lock = threading.Lock()
        self.files = {}
        self.quiet = quiet

    def add(self, path, reason):
        with self._lock:
            if path not in self.files:
                self.files[path] = reason
                if not self.quiet:
                    print(f"warning: skipping {reason}", flush=True)
                return True
        return False

    def __len__(self):
        return len(self.files)


class ImageSource:
    """Random-access source: item k of the epoch order -> (CHW float32, int32 label).

    ``items[i]`` is what ``read(items[i])`` turns into a file path or encoded image bytes (default: ``items``
    are paths, read is the identity); ``name(items[i])`` names it in warnings (default ``str``). Image
    folders, list files and RecordIO keys thus share one code path. An undecodable item is replaced by the
    next one of the order; ``MAX_CONSECUTIVE_BAD`` failures in a row raise FaceIdError.
    """

    def __init__(self, paths, labels, preprocess, order, seed, epoch, bad=None, train=True, read=None, name=None,
                 raw=False):
        self.raw = bool(raw)  # uint8 HxWxC (normalised on the device, common/data/device_input.py)
        self.paths, self.labels = paths, np.asarray(labels, np.int32)
        self.pre, self.order, self.seed, self.epoch = preprocess, order, seed, epoch
        self.bad = bad if bad is not None else BadImages()
        self.train = train
        self.read = read or _identity
        self.name = name or str

    def __len__(self):
        return len(self.order)

    def __getitem__(self, k):
        tries = min(len(self.order), MAX_CONSECUTIVE_BAD)
        failed = []
        for attempt in range(tries):
            idx = int(self.order[(k + attempt) % len(self.order)])
            item = self.paths[idx]
            name = self.name(item)
            if name in self.bad.files:
                failed.append(name)
                continue
            try:
                img = self.pre.load(self.read(item), name=name)
                if self.train:
                    rng = np.random.default_rng([self.seed, self.epoch, idx])
                    x = self.pre.train_image(img, rng, name=name, raw=self.raw)
                else:
                    x = self.pre.eval_image(img, name=name)
                return x, self.labels[idx]
            except ImageError as exc:
                self.bad.add(name, str(exc))
                failed.append(name)
        raise FaceIdError(f"{_common_place(failed)}: no decodable image in {tries} consecutive samples "
                          f"(first: {self.bad.files.get(failed[0], failed[0]) if failed else '?'})")


def _common_place(names):
    """The folder (or .rec file) the given sample names share."""
    files = sorted({str(n).split("#")[0] for n in names})
    if len(files) == 1:
        return files[0] if "#" in str(names[0]) else (os.path.dirname(files[0]) or files[0])
    try:
        return os.path.commonpath(files) or "training data"
    except ValueError:
        return "training data"


def _identity(item):
    return item


class RecordItems:
    """Training items of an indexed RecordIO ``.rec``: keys, labels, a thread-safe ``read(key) -> bytes``.

    Worker threads share one open file, so reads (seek + read) hold a lock; a forked worker process
    reopens the file (RecordReader does, per process) and gets a fresh lock.
    """

    def __init__(self, rec_path, idx_path=None):
        from common.data.recordio import RecordReader

        try:
            self.reader = RecordReader(rec_path, idx_path)
            self.keys = self.reader.keys()
            self.labels = self.reader.labels()
        except (ValueError, KeyError) as exc:
            msg = str(exc).strip("'\"")
            raise FaceIdError(msg[len("error: "):] if msg.startswith("error: ") else msg) from None
        self.rec_path = rec_path
        self._lock, self._pid = threading.Lock(), os.getpid()
        if not self.keys:
            raise FaceIdError(f"{rec_path}: no image records")
        if (self.labels < 0).any():
            key = self.keys[int(np.argmax(self.labels < 0))]
            raise FaceIdError(f"{rec_path}: image key {key} lies in no identity range of record 0")
        self.classes = [str(c) for c in range(int(self.labels.max()) + 1)]

    def read(self, key):
        if self._pid != os.getpid():
            self._lock, self._pid = threading.Lock(), os.getpid()
        with self._lock:
            return self.reader.read(key)[1]

    def name(self, key):
        return f"{self.rec_path}#{key}"


def usable_workers(workers):
    """``workers`` capped at the CPU cores this process may use (at least 1); the output does not depend on it."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    return max(1, min(int(workers or 1), cores))


class EpochBatches:
    """The batches of one epoch: iterating yields ``(images (B, C, H, W) float32, labels (B,) int32)`` in order
    (``(B, H, W, C)`` uint8 with a ``raw`` source); ``tensors()`` yields them as MindSpore tensors.

    Batch ``b`` holds items ``[b * B, (b + 1) * B)`` of ``source`` and is computed as a whole by one worker:
    ``workers`` <= 1 in the iterating thread, else ``workers`` threads (``processes=False``) or forked
    processes writing into shared memory (``processes=True``). Batch 0 is computed at construction, in the
    calling (main) thread, so unusable data fails there with a FaceIdError. Each ``iter()`` replays the epoch.
    """

    def __init__(self, source, batch_size, workers=1, processes=True, prefetch=2):
        self.source, self.batch_size = source, int(batch_size)
        self.workers, self.processes, self.prefetch = usable_workers(workers), bool(processes), max(1, prefetch)
        self.steps = len(source) // self.batch_size
        self._first = self._batch(0) if self.steps else None

    # no __len__: GeneratorDataset refuses a sized source of length 0 (a resume at the end of an epoch)

    def _batch(self, b, out=None):
        rows = [self.source[k] for k in range(b * self.batch_size, (b + 1) * self.batch_size)]
        images = np.stack([x for x, _ in rows], out=out)
        return images, np.array([y for _, y in rows], np.int32)

    def __iter__(self):
        return self._iter(copy=True)

    def tensors(self):
        """The batches as MindSpore tensors, each made (one copy) before the next batch is asked for, so a
        worker's shared-memory slot is read in place: no extra copy out of shared memory."""
        from mindspore import Tensor

        for images, labels in self._iter(copy=False):
            yield Tensor(images), Tensor(labels)

    def _iter(self, copy):
        if self.steps == 0:
            return
        yield self._first
        if self.workers <= 1:
            for b in range(1, self.steps):
                yield self._batch(b)
        elif self.processes and "fork" in _start_methods():
            yield from self._iter_processes(copy)
        else:
            yield from self._iter_threads()

    def _iter_threads(self):
        with ThreadPoolExecutor(self.workers) as pool:
            window = self.workers * self.prefetch
            pending = {b: pool.submit(self._batch, b) for b in range(1, min(self.steps, 1 + window))}
            for b in range(1, self.steps):
                result = pending.pop(b).result()
                if b + window < self.steps:
                    pending[b + window] = pool.submit(self._batch, b + window)
                yield result

    def _iter_processes(self, copy=True):
        """``copy``: each batch copied out of its slot (a consumer such as GeneratorDataset may hold several);
        else the slot itself, refilled only once the consumer asks for the next batch."""
        import multiprocessing

        ctx = multiprocessing.get_context("fork")
        images = self._first[0]
        slots = self.workers * self.prefetch
        shared = mmap.mmap(-1, slots * images.nbytes)  # anonymous MAP_SHARED: visible to forked children
        view = np.frombuffer(shared, images.dtype).reshape((slots,) + images.shape)
        tasks, done = ctx.SimpleQueue(), ctx.Queue()
        self._parent_pid = os.getpid()  # the workers watch it (they die with it, also after a kill -9)
        procs = [ctx.Process(target=_process_worker, args=(self, view, tasks, done), daemon=True)
                 for _ in range(self.workers)]
        for p in procs:
            p.start()
        try:
            for b in range(1, min(self.steps, 1 + slots)):
                tasks.put((b, b % slots))
            ready = {}
            for b in range(1, self.steps):
                while b not in ready:
                    try:
                        got, labels, new_bad, error = done.get(timeout=1.0)
                    except queue.Empty:
                        dead = [p.exitcode for p in procs if p.exitcode not in (None, 0)]
                        if dead:
                            raise FaceIdError(f"data worker process died (exit code {dead[0]})") from None
                        continue
                    for name, reason in new_bad:
                        self.source.bad.add(name, reason)
                    if error is not None:
                        raise FaceIdError(error)
                    ready[got] = labels
                labels = ready.pop(b)
                if copy:
                    batch = (view[b % slots].copy(), labels)
                    if b + slots < self.steps:
                        tasks.put((b + slots, (b + slots) % slots))
                    yield batch
                else:
                    yield view[b % slots], labels
                    if b + slots < self.steps:  # the consumer is done with the slot: it asked for the next
                        tasks.put((b + slots, (b + slots) % slots))
        finally:
            for _ in procs:
                tasks.put(None)
            for p in procs:
                p.join(timeout=5)
                if p.is_alive():
                    p.terminate()
                    p.join(timeout=5)
            done.close()
            del view
            try:
                shared.close()
            except BufferError:  # a view still referenced somewhere: the mapping goes with it
                pass


def _start_methods():
    import multiprocessing

    return multiprocessing.get_all_start_methods()  # no "fork" on Windows: threads then


def _process_worker(stream, view, tasks, done):
    """Forked worker: computes the batches it is told into its shared-memory slot; reports bad images.

    No ``cv2.setNumThreads`` here: once the parent has used OpenCV's thread pool, that call deadlocks in a forked
    child (tests/test_data_pipeline.py checks a fork after the parent used the pool)."""
    _die_with_parent(stream._parent_pid)
    source = stream.source
    known = dict(source.bad.files)
    source.bad = BadImages(quiet=True)
    source.bad.files.update(known)
    while True:
        task = tasks.get()
        if task is None:
            return
        b, slot = task
        try:
            before = set(source.bad.files)
            _, labels = stream._batch(b, out=view[slot])
            new_bad = [(n, r) for n, r in source.bad.files.items() if n not in before]
            done.put((b, labels, new_bad, None))
        except Exception as exc:  # reported to the main process, which raises FaceIdError
            msg = str(exc) if isinstance(exc, FaceIdError) else f"data worker: {type(exc).__name__}: {exc}"
            done.put((b, None, [], msg))
            return


def _die_with_parent(parent):
    """In a forked worker: go when the training process goes, also after a kill -9 of it (Linux: the kernel sends
    SIGKILL on the parent's death, PR_SET_PDEATHSIG; elsewhere, or should that fail, a thread watches the parent
    pid). Ctrl-C is the parent's to handle (the terminal sends it to the whole group): ignored here; SIGTERM
    (``terminate()``) takes its default action, not the parent's handler inherited through fork."""
    import signal
    import threading
    import time

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        pass
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)

    def watch():
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def generator_dataset(batches):
    """A MindSpore dataset over already batched ``(image, label)`` pairs (one Python source, no re-batching)."""
    import mindspore.dataset as ds

    data = ds.GeneratorDataset(batches, ["image", "label"], shuffle=False, num_parallel_workers=1)
    data.faceid_batches = batches  # tuple_iterator: the batches without GeneratorDataset's copies
    return data


def tuple_iterator(data):
    """(images, labels) tensors of ``data``: straight from its ``EpochBatches`` when it is one (no copy out of the
    workers' shared memory, no GeneratorDataset queue), else ``data.create_tuple_iterator()``."""
    batches = getattr(data, "faceid_batches", None)
    if isinstance(batches, EpochBatches):
        return batches.tensors()
    return data.create_tuple_iterator()


def build_epoch_dataset(paths, labels, preprocess, batch_size, epoch, seed=0, rank=0, world=1,
                        skip_batches=0, workers=2, bad=None, read=None, name=None, processes=True, raw=False):
    """MindSpore dataset of one epoch for this rank; returns (dataset, number of batches).

    ``raw``: images as uint8 (B, H, W, C), normalised on the device (common/data/device_input.py).
    ``paths`` are file paths, or any items ``read`` turns into a path or encoded bytes (see ImageSource).
    ``workers`` / ``processes`` change only the speed, never a value (see EpochBatches).
    """
    order = epoch_indices(len(paths), epoch, seed, rank, world)
    steps = len(order) // batch_size
    if steps == 0:
        raise FaceIdError(f"training data: {len(paths)} images over {world} rank(s) cannot fill one batch "
                          f"of {batch_size}")
    order = order[skip_batches * batch_size: steps * batch_size]
    debug_dump(f"epoch{epoch}_indices", rank, order)  # only with FACEID_DEBUG_DIR set
    source = ImageSource(paths, labels, preprocess, order, seed, epoch, bad, read=read, name=name, raw=raw)
    return generator_dataset(EpochBatches(source, batch_size, workers, processes)), steps - skip_batches
