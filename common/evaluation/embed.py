"""Batched feature extraction with a progress bar (images/s): images -> embeddings (and flips).

Images are decoded and preprocessed by a small thread pool (OpenCV releases the GIL) while
the network runs. The last batch is padded to the batch size so graph mode compiles one shape.

An image that cannot be read or decoded is a one-line FaceIdError naming it, unless the caller passes a list
as ``unreadable``: then each such image's index and message are appended there, its embedding row is NaN, and
the caller drops the pairs that hold it (``common.evaluation.targets`` does, and records them in the result JSON).
"""
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from tqdm import tqdm

from common.data.images import SKIPPED_KINDS as SKIPPED, ImageError  # kinds skipped and counted, not fatal


def _load_all(preprocess, items, names, pool, unreadable):
    def one(k):
        try:
            return preprocess.eval_array(items[k], name=names[k] if names is not None else None)
        except ImageError as exc:
            if unreadable is None or exc.kind not in SKIPPED:  # skipped, counted, named
                raise
            return exc
    return list(pool.map(one, range(len(items))))


def extract(net, items, preprocess, batch_size=64, flip=False, desc="embedding", workers=2, disable=None,
            unreadable=None, names=None):
    """Embeddings of ``items`` (paths or encoded bytes) -> (N, D) float32, and (N, D) of the flips if ``flip``.

    ``names``: how to name each item in messages (default: its path, or ``<bytes>``). ``unreadable``: a list
    to collect ``(index, message)`` of images that cannot be read (their rows are NaN) instead of failing.
    """
    run = _runner(net)
    out, out_flip = [], []
    with ThreadPoolExecutor(max(1, workers)) as pool, \
            tqdm(total=len(items), desc=desc, unit="img", disable=disable, dynamic_ncols=True) as bar:
        for start in range(0, len(items), batch_size):
            chunk = items[start:start + batch_size]
            loaded = _load_all(preprocess, chunk, None if names is None else names[start:start + batch_size],
                               pool, unreadable)
            ok = [k for k, a in enumerate(loaded) if not isinstance(a, ImageError)]
            for k, a in enumerate(loaded):
                if isinstance(a, ImageError):
                    unreadable.append((start + k, str(a)))
            n = len(chunk)
            if not ok:  # nothing readable in this batch: NaN rows, filled in once the width is known
                out.append(n)
                out_flip.append(n)
                bar.update(n)
                continue
            x = np.stack([loaded[k] for k in ok])
            m = len(x)
            if m < batch_size:
                x = np.concatenate([x, np.zeros((batch_size - m,) + x.shape[1:], x.dtype)])
            outs = [run(x)]
            if flip:
                outs.append(run(np.ascontiguousarray(x[..., ::-1])))
            for dest, y in zip((out, out_flip), outs):
                y = y[:m]
                rows = np.full((n,) + y.shape[1:], np.nan, np.float32)
                rows[ok] = y
                dest.append(rows)
            bar.update(n)
    shape = next((a.shape[1:] for a in out if not isinstance(a, int)), None)
    if shape is None:
        from common.core.errors import FaceIdError

        raise FaceIdError(f"{desc}: none of the {len(items)} images could be read"
                          + (f" (e.g. {unreadable[0][1]})" if unreadable else ""))
    out, out_flip = ([np.full((a,) + shape, np.nan, np.float32) if isinstance(a, int) else a for a in lst]
                     for lst in (out, out_flip))
    emb = np.concatenate(out).astype(np.float32)
    return (emb, np.concatenate(out_flip).astype(np.float32)) if flip else emb


def _runner(net):
    """numpy NCHW -> numpy outputs: a MindSpore cell (in inference mode), or any callable over numpy such as a
    :class:`common.deploy.backends.Backend` (ONNX Runtime)."""
    if hasattr(net, "set_train"):
        import mindspore as ms   # here, not at import: the C++ post-step reads eval layouts without MindSpore

        net.set_train(False)
        return lambda x: net(ms.Tensor(x)).asnumpy()
    return lambda x: np.asarray(net(x))


def extract_arrays(net, arrays, batch_size=64):
    """Embeddings of already preprocessed float32 NCHW arrays (no progress bar)."""
    from common.deploy.backends import Backend  # fixed-size batches, the last one zero-padded

    run = _runner(net)
    return Backend(lambda x: [run(x)], batch_size, "extract")(arrays)
