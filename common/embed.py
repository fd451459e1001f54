"""Batched feature extraction with a progress bar (images/s): images -> embeddings (and flips).

Images are decoded and preprocessed by a small thread pool (OpenCV releases the GIL) while
the network runs. The last batch is padded to the batch size so graph mode compiles one shape.
"""
from concurrent.futures import ThreadPoolExecutor

import mindspore as ms
import numpy as np
from tqdm import tqdm


def _load_all(preprocess, items, pool):
    return list(pool.map(preprocess.eval_array, items))


def extract(net, items, preprocess, batch_size=64, flip=False, desc="embedding", workers=2, disable=None):
    """Embeddings of ``items`` (paths or encoded bytes) -> (N, D) float32, and (N, D) of the flips if ``flip``."""
    net.set_train(False)
    out, out_flip = [], []
    with ThreadPoolExecutor(max(1, workers)) as pool, \
            tqdm(total=len(items), desc=desc, unit="img", disable=disable, dynamic_ncols=True) as bar:
        for start in range(0, len(items), batch_size):
            chunk = items[start:start + batch_size]
            x = np.stack(_load_all(preprocess, chunk, pool))
            n = len(x)
            if n < batch_size:
                x = np.concatenate([x, np.zeros((batch_size - n,) + x.shape[1:], x.dtype)])
            out.append(net(ms.Tensor(x)).asnumpy()[:n])
            if flip:
                out_flip.append(net(ms.Tensor(np.ascontiguousarray(x[..., ::-1]))).asnumpy()[:n])
            bar.update(n)
    emb = np.concatenate(out).astype(np.float32)
    return (emb, np.concatenate(out_flip).astype(np.float32)) if flip else emb


def extract_arrays(net, arrays, batch_size=64):
    """Embeddings of already preprocessed float32 NCHW arrays (no progress bar)."""
    net.set_train(False)
    res = []
    for start in range(0, len(arrays), batch_size):
        x = arrays[start:start + batch_size]
        n = len(x)
        if n < batch_size:
            x = np.concatenate([x, np.zeros((batch_size - n,) + x.shape[1:], x.dtype)])
        res.append(net(ms.Tensor(np.ascontiguousarray(x))).asnumpy()[:n])
    return np.concatenate(res).astype(np.float32)
