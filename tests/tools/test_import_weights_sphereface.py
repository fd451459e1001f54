"""sphereface_pytorch sphere20a .pth -> common/nets spherenet20a: embeddings equal an independent PyTorch
sphere20a (random weights) fed the BGR images it was trained on, the zoo net fed RGB; (x - 127.5) / 128."""
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch is needed to write sphereface .pth files")

from tests.torch_nets import Sphere20a, randomize  # noqa: E402

from common.core.env import set_device  # noqa: E402
from common.tools.import_weights.cli import main  # noqa: E402
from common.train.checkpoint import load_weights  # noqa: E402

set_device("CPU")
torch.set_num_threads(2)
WIDTHS, EMB = (16, 32, 48, 64), 64


def test_sphere20a_bgr_source_rgb_zoo(tmp_path, capsys):
    import mindspore as ms

    from common.nets import create_backbone

    src = randomize(Sphere20a(WIDTHS, EMB), seed=5)
    torch.save({"module." + k: v for k, v in src.state_dict().items()}, tmp_path / "sphere20a_20171020.pth")
    out = tmp_path / "sphere20a.ckpt"
    imp = main(["--from", "sphereface_torch", "--arch", "spherenet20a", "--in",
                str(tmp_path / "sphere20a_20171020.pth"), "--out", str(out)])
    printed = capsys.readouterr().out
    assert "fc6.weight" in printed and "(dropped)" in printed and "BGR -> RGB" in printed
    assert imp.net_kwargs == {"widths": WIDTHS, "embedding_size": EMB}

    rgb = np.random.default_rng(0).integers(0, 256, (2, 112, 96, 3)).astype(np.float32)
    x_rgb = ((rgb - 127.5) / 128.0).transpose(0, 3, 1, 2).copy()
    x_bgr = x_rgb[:, ::-1].copy()
    with torch.no_grad():
        ref = src(torch.from_numpy(x_bgr)).numpy()
    net = create_backbone("spherenet20a", widths=WIDTHS, embedding_size=EMB)
    load_weights(net, str(out))
    net.set_train(False)
    got = net(ms.Tensor(x_rgb)).asnumpy()
    assert np.abs(got - ref).max() / np.abs(ref).max() < 1e-4

    # --source_channels rgb keeps the channel order: then the zoo net must be fed what the source was fed
    main(["--from", "sphereface_torch", "--arch", "spherenet20a", "--in", str(tmp_path / "sphere20a_20171020.pth"),
          "--out", str(out), "--source_channels", "rgb", "--quiet"])
    load_weights(net, str(out))
    got = net(ms.Tensor(x_bgr)).asnumpy()
    assert np.abs(got - ref).max() / np.abs(ref).max() < 1e-4


def test_zoo_spherenet20_layout_refused(tmp_path):
    from common.core.errors import FaceIdError

    torch.save(randomize(Sphere20a(WIDTHS, EMB)).state_dict(), tmp_path / "s.pth")
    with pytest.raises(FaceIdError, match="spherenet20a"):
        main(["--from", "sphereface_torch", "--arch", "spherenet20", "--in", str(tmp_path / "s.pth"),
              "--out", str(tmp_path / "s.ckpt")])
