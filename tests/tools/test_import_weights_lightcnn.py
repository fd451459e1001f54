"""LightCNN official checkpoints (legacy torch format, {'state_dict': ...} with DataParallel 'module.' names)
-> lightcnn/ networks: 256-d features equal an independent PyTorch LightCNN (random weights), gray x / 255."""
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch is needed to write LightCNN .pth.tar files")

from tests.torch_nets import LightCNN9, LightCNN29, randomize  # noqa: E402

from common.core.env import set_device  # noqa: E402
from common.tools.import_weights.cli import main  # noqa: E402
from common.train.checkpoint import load_into, load_weights  # noqa: E402

set_device("CPU")
torch.set_num_threads(2)
CLASSES = 37


def source(arch):
    return {"lightcnn9": lambda: LightCNN9(CLASSES), "lightcnn29": lambda: LightCNN29(CLASSES),
            "lightcnn29v2": lambda: LightCNN29(CLASSES, v2=True)}[arch]()


def zoo(arch):
    from lightcnn.src.lightcnn import LightCNN

    return {"lightcnn9": lambda: LightCNN(), "lightcnn29": lambda: LightCNN(blocks=(1, 2, 3, 4)),
            "lightcnn29v2": lambda: LightCNN(blocks=(1, 2, 3, 4), v2=True)}[arch]()


def save_official(net, path):
    """As AlfredXiangWu/LightCNN's train.py: DataParallel names, epoch/arch/prec1, the pre-1.6 torch format."""
    state = {"module." + k: v for k, v in net.state_dict().items()}
    torch.save({"epoch": 80, "arch": "LightCNN", "state_dict": state, "prec1": 98.7}, path,
               _use_new_zipfile_serialization=False)


@pytest.mark.parametrize("arch", ["lightcnn9", "lightcnn29", "lightcnn29v2"])
def test_lightcnn_features_match(tmp_path, arch, capsys):
    import mindspore as ms

    src = randomize(source(arch), seed=7)
    path = tmp_path / f"{arch}_checkpoint.pth.tar"
    save_official(src, path)
    out = tmp_path / f"{arch}.ckpt"
    main(["--from", "lightcnn_torch", "--arch", arch, "--in", str(path), "--out", str(out)])
    printed = capsys.readouterr().out
    assert "module." in printed and "fc2.weight" in printed and "(dropped)" in printed

    gray = np.random.default_rng(3).integers(0, 256, (2, 1, 128, 128)).astype(np.float32) / 255.0
    with torch.no_grad():
        ref = src(torch.from_numpy(gray)).numpy()
    net = zoo(arch)
    load_weights(net, str(out))
    net.set_train(False)
    got = net(ms.Tensor(gray)).asnumpy()
    assert np.abs(got - ref).max() / np.abs(ref).max() < 1e-4


def test_keep_classifier_loads_into_training_network(tmp_path):
    import mindspore as ms

    from lightcnn.src.lightcnn import LightCNNClassifier

    src = randomize(source("lightcnn29v2"), seed=8)
    save_official(src, tmp_path / "v2.pth.tar")
    out = tmp_path / "v2.ckpt"
    main(["--from", "lightcnn_torch", "--arch", "lightcnn29v2", "--in", str(tmp_path / "v2.pth.tar"),
          "--out", str(out), "--keep_classifier", "--quiet"])
    net = LightCNNClassifier(zoo("lightcnn29v2"), CLASSES, fc2_bias=False)
    load_into(net, str(out))  # strict: every parameter of the training network, classifier included
    assert np.array_equal(net.fc2.weight.asnumpy(), src.fc2.weight.detach().numpy())
    x = np.random.default_rng(4).random((1, 1, 128, 128), dtype=np.float32)
    net.set_train(False)
    with torch.no_grad():
        ref = src.fc2(src(torch.from_numpy(x))).numpy()
    got = net(ms.Tensor(x)).asnumpy()
    assert np.abs(got - ref).max() / np.abs(ref).max() < 1e-4


def test_wrong_arch_names_the_right_one(tmp_path):
    from common.core.errors import FaceIdError

    save_official(randomize(source("lightcnn9")), tmp_path / "9.pth.tar")
    with pytest.raises(FaceIdError, match="try --arch lightcnn9"):
        main(["--from", "lightcnn_torch", "--arch", "lightcnn29", "--in", str(tmp_path / "9.pth.tar"),
              "--out", str(tmp_path / "x.ckpt")])
