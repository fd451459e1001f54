"""``uint8_input``: training batches cross to the device as uint8 (B, H, W, C), a quarter of float32's bytes, and
the graph's first op casts, normalises and transposes them: ``(x.astype(float32) - mean) / std`` per channel, then
HWC -> CHW, the same float32 operations in the same order as the host preprocessing
(``common.data.transforms.Preprocess._finish``), so the network sees the same numbers bit for bit
(tests/data/test_device_input.py)."""
import numpy as np
from mindspore import Tensor, nn, ops
from mindspore import dtype as mstype


class NormalizeInput(nn.Cell):
    """uint8 (B, H, W, C) -> float32 (B, C, H, W): ``(x - mean) / std`` (numbers or one per channel)."""

    def __init__(self, mean, std, channels):
        super().__init__()
        self.mean = Tensor(np.broadcast_to(np.asarray(mean, np.float32), (int(channels),)).copy())
        self.std = Tensor(np.broadcast_to(np.asarray(std, np.float32), (int(channels),)).copy())

    def construct(self, x):
        y = (x.astype(mstype.float32) - self.mean) / self.std
        return ops.transpose(y, (0, 3, 1, 2))


class Uint8Input(nn.Cell):
    """``net_with_loss(images, labels)`` fed uint8 HWC batches: ``NormalizeInput`` first. Parameter names are the
    wrapped network's (no prefix), so checkpoints are unchanged."""

    def __init__(self, net_with_loss, preprocess):
        super().__init__(auto_prefix=False)
        self.net = net_with_loss
        self.normalize = NormalizeInput(preprocess.mean, preprocess.std, preprocess.channels)

    def construct(self, images, labels):
        return self.net(self.normalize(images), labels)


def wanted(cfg, device, data_kind):
    """``uint8_input`` option: True / False, or None: on GPU and Ascend. Image-batch data only (P x K batches
    stay float32)."""
    from common.core.errors import FaceIdError

    want = cfg.get("uint8_input")
    if want is None:
        return device in ("GPU", "Ascend") and data_kind == "classes"
    if want and data_kind != "classes":
        raise FaceIdError("--uint8_input true: this recipe trains on P x K batches, which are fed as float32; "
                          "leave uint8_input unset")
    return bool(want)
