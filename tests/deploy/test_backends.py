"""Embedding backends: ONNX Runtime reproduces MindSpore (parity within 1e-4), auto picks and caches, fallbacks."""
import json

import mindspore as ms
import numpy as np
import pytest

from common.deploy.backends import make_backend
from common.core.errors import FaceIdError
from common.nets import create_backbone

pytest.importorskip("onnxruntime", reason="onnxruntime not installed")
SIZE = (3, 112, 112)


@pytest.fixture(scope="module")
def net():
    ms.set_context(mode=ms.GRAPH_MODE)
    ms.set_seed(0)
    return create_backbone("iresnet18", widths=(4, 8, 8, 16), embedding_size=8)


def _x(n, seed=5):
    return np.random.default_rng(seed).standard_normal((n,) + SIZE).astype(np.float32)


def test_onnxruntime_matches_mindspore(net):
    x = _x(5)  # not a multiple of the batch: the last chunk is padded, its padding dropped
    ref = net(ms.Tensor(x)).asnumpy()
    f = make_backend(net, SIZE, "onnxruntime", batch_size=2, log=None)
    assert f.backend == "onnxruntime" and "parity" in f.reason
    got = f(x)
    assert got.shape == (5, 8) and got.dtype == np.float32
    assert np.abs(got - ref).max() <= 1e-4 * np.abs(ref).max()
    m = make_backend(net, SIZE, "mindspore", batch_size=2)
    assert m.backend == "mindspore" and np.abs(m(x) - ref).max() <= 1e-5 * np.abs(ref).max()  # batch 2 vs 5


def test_parity_failure_falls_back_with_a_reason(net):
    said = []
    f = make_backend(net, SIZE, "onnxruntime", batch_size=2, rel_tol=-1.0, log=said.append)
    assert f.backend == "mindspore" and "differ from MindSpore" in f.reason
    assert said and "using mindspore" in said[0]


def test_auto_measures_once_then_uses_the_cache(net, tmp_path):
    said = []
    f = make_backend(net, SIZE, "auto", batch_size=2, name="tiny", cache_dir=str(tmp_path), repeats=1,
                     log=said.append)
    assert f.backend in ("mindspore", "onnxruntime")
    cache = json.loads((tmp_path / "backends.json").read_text())
    (key, entry), = cache.items()
    assert key.startswith("tiny#") and "|3x112x112|b2|" in key and entry["best"] == f.backend
    assert entry["mindspore_s"] > 0 and entry["onnxruntime_s"] > 0
    g = make_backend(net, SIZE, "auto", batch_size=2, name="tiny", cache_dir=str(tmp_path), log=said.append)
    assert g.backend == f.backend and "cached" in g.reason
    ref = net(ms.Tensor(_x(2))).asnumpy()
    assert np.abs(g(_x(2)) - ref).max() <= 1e-4 * np.abs(ref).max()


def test_unknown_backend_is_one_line_error(net):
    with pytest.raises(FaceIdError, match="--backend must be one of"):
        make_backend(net, SIZE, "tensorrt")
