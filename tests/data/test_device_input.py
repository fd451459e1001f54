"""uint8 batches normalised as the graph's first op (issue 23, item 2): bit for bit the host preprocessing, and the
direct iterator (no copy out of the workers' shared memory) yields the same batches as the independent reference
of tests/data/test_data_pipeline.py, for 1 and 2 workers, threads and processes."""
import mindspore as ms
import numpy as np
import pytest
from mindspore import Tensor

from common.data.dataset import BadImages, build_epoch_dataset, tuple_iterator
from common.data.device_input import NormalizeInput, Uint8Input
from common.data.transforms import Preprocess
from tests.data.test_data_pipeline import BATCH, PRE, SEED, expected_batches, folder  # noqa: F401,F811


@pytest.mark.parametrize("pre", [
    Preprocess(channels=3, resize=14, crop=12, mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375]),
    Preprocess(channels=3, resize=14, crop=12, mean=127.5, std=128.0),
    Preprocess(channels=1, resize=14, crop=12, mean=0.0, std=255.0),
])
def test_graph_normalisation_equals_host_preprocessing_bit_for_bit(pre):
    ms.set_context(mode=ms.GRAPH_MODE)
    rng = np.random.default_rng(4)
    batch = rng.integers(0, 256, (6, 12, 12, pre.channels), dtype=np.uint8)
    batch[0, 0, 0], batch[0, 0, 1] = 0, 255
    host = np.stack([pre._finish(img) for img in batch])  # what the workers computed before: float32 CHW
    got = NormalizeInput(pre.mean, pre.std, pre.channels)(Tensor(batch)).asnumpy()
    assert got.dtype == np.float32 and got.shape == host.shape == (6, pre.channels, 12, 12)
    assert np.array_equal(got.view(np.uint32), host.view(np.uint32))  # the same bits


def test_uint8_wrapper_keeps_parameter_names():
    from mindspore import nn

    class Net(nn.Cell):
        def __init__(self):
            super().__init__()
            self.backbone = nn.Dense(3, 2)

        def construct(self, x, y):
            return self.backbone(x.reshape(x.shape[0], -1)[:, :3]).sum() + y.sum() * 0

    net = Net()
    names = [p.name for p in net.get_parameters()]
    wrapped = Uint8Input(net, PRE)
    assert [p.name for p in wrapped.get_parameters()] == names == ["backbone.weight", "backbone.bias"]


@pytest.mark.parametrize("workers, processes", [(1, True), (2, False), (2, True)])
def test_uint8_batches_from_shared_memory_equal_the_reference(folder, workers, processes):  # noqa: F811
    _, paths, labels = folder
    want = expected_batches(paths, labels, 1)
    norm = NormalizeInput(PRE.mean, PRE.std, PRE.channels)
    got = []
    for raw in (True, False):
        data, steps = build_epoch_dataset(paths, labels, PRE, BATCH, epoch=1, seed=SEED, workers=workers,
                                          bad=BadImages(quiet=True), processes=processes, raw=raw)
        held = list(tuple_iterator(data))  # every batch held at once: a reused slot would show here
        assert len(held) == steps == len(want)
        got.append([(norm(x).asnumpy() if raw else x.asnumpy(), y.asnumpy()) for x, y in held])
        if raw:
            assert held[0][0].dtype == ms.uint8 and tuple(held[0][0].shape) == (BATCH, 12, 12, 3)
    for batches in got:
        for (gx, gy), (wx, wy) in zip(batches, want):
            np.testing.assert_array_equal(gy, wy)
            assert gx.dtype == np.float32 and np.array_equal(gx, wx)
