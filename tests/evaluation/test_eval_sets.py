"""One loader of eval sets (common.evaluation.sets): the training-time verification and the eval flow decode a .bin
the same way, so the same network scores the same numbers in both; target lists parse once."""
import os

import cv2
import numpy as np
import pytest

from common.core.errors import FaceIdError
from common.data.transforms import Preprocess
from common.protocols import binsets


def _jpeg_bin(path, pairs=20, seed=0):
    """JPEG colour faces: a colour pattern per person + noise (a gray decode of a JPEG differs from colour->gray)."""
    rng = np.random.default_rng(seed)
    issame = np.arange(pairs) % 2 == 0
    blobs = []
    for i, same in enumerate(issame):
        p = int(rng.integers(8))
        q = p if same else (p + 1 + int(rng.integers(7))) % 8
        for person in (p, q):
            base = np.array([(37 * person) % 255, (91 * person + 40) % 255, (53 * person + 90) % 255], float)
            img = base + 60 * np.sin(np.arange(16)[:, None, None] * (person + 1) / 3.0) + rng.normal(0, 12, (16, 16, 3))
            ok, buf = cv2.imencode(".jpg", np.clip(img, 0, 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 70])
            blobs.append(buf.tobytes())
    binsets.write_bin(path, blobs, issame)
    return blobs, issame


def _tiny_net(channels, seed=1):
    import mindspore as ms
    from mindspore import nn

    net = nn.SequentialCell([nn.Flatten(), nn.Dense(channels * 8 * 8, 16)])
    rng = np.random.default_rng(seed)
    net[1].weight.set_data(ms.Tensor(rng.normal(0, 0.1, (16, channels * 64)).astype(np.float32)))
    net[1].bias.set_data(ms.Tensor(np.zeros(16, np.float32)))
    return net


@pytest.mark.parametrize("channels", [1, 3])
def test_training_verification_equals_eval_for_the_same_weights(tmp_path, channels):
    from common.evaluation.targets import bin_set
    from common.train.verification import build_targets

    blobs, issame = _jpeg_bin(str(tmp_path / "tiny.bin"))
    pre = Preprocess(channels=channels, resize=[8, 8], crop=None, mean=127.5, std=128.0, flip=False)
    net = _tiny_net(channels)
    (target,) = build_targets(str(tmp_path), "tiny")
    train = target.score(net, pre, 16)
    ev = bin_set(net, pre, str(tmp_path / "tiny.bin"), batch_size=16, log=lambda *_: None)
    assert train["accuracy"] == ev["accuracy"]["accuracy_mean"]
    assert train["accuracy_flip"] == ev["accuracy_flip"]["accuracy_mean"]
    assert train["accuracy_std"] == ev["accuracy"]["accuracy_std"]
    assert train["xnorm"] == ev["xnorm"]  # any pixel difference moves the mean embedding norm

    # both read the pixels of decoding the original as colour (an independent OpenCV decode), not a gray decode
    colour = [cv2.imdecode(np.frombuffer(b, np.uint8), cv2.IMREAD_COLOR) for b in blobs]
    want = [cv2.cvtColor(c, cv2.COLOR_BGR2GRAY)[:, :, None] if channels == 1 else c[:, :, ::-1] for c in colour]
    got = [pre.load(item).astype(int) for item in target.items[:]]
    tol = 1 if channels == 1 else 0  # libpng's colour->gray rounds within 1 of OpenCV's cvtColor
    assert max(np.abs(g - w).max() for g, w in zip(got, want)) <= tol
    if channels == 1:  # the raw bytes decoded gray are other pixels (libjpeg's Y): what the test tells apart
        raw = [cv2.imdecode(np.frombuffer(b, np.uint8), cv2.IMREAD_GRAYSCALE).astype(int) for b in blobs]
        assert max(np.abs(r - w[:, :, 0]).max() for r, w in zip(raw, want)) > 1


def test_target_lists_parse_one_way(tmp_path):
    from common.evaluation.sets import bin_file, target_names

    assert target_names(" lfw, cfp_fp ,,agedb_30") == ["lfw", "cfp_fp", "agedb_30"]
    assert target_names(["lfw", " ", "cfp_fp "]) == ["lfw", "cfp_fp"]
    assert target_names(None, "lfw,blufr") == ["lfw", "blufr"] and target_names("", None) == []
    with pytest.raises(FaceIdError) as err:
        bin_file(str(tmp_path), "lfw", "verify_bin_dir")
    msg = str(err.value)
    assert msg.startswith(os.path.join(str(tmp_path), "lfw.bin")) and "verify_bin_dir" in msg and "\n" not in msg


def test_bin_images_pass_undecodable_bytes_on(tmp_path):
    from common.evaluation.sets import BinSet

    blobs, issame = _jpeg_bin(str(tmp_path / "t.bin"))
    blobs[3] = b"\xff\xd8\xff\xe0 truncated"
    binsets.write_bin(str(tmp_path / "t.bin"), blobs, issame)
    s = BinSet(str(tmp_path / "t.bin"))
    assert len(s.images) == 40 and s.images[3] == blobs[3] and s.images[2][:8] == b"\x89PNG\r\n\x1a\n"
    assert s.name == "t" and s.names[3].endswith("t.bin: image 3")
