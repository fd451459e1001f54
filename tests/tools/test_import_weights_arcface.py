"""insightface arcface_torch backbone.pth -> common/nets IResNet / mbf: embeddings equal an independent PyTorch
network in the public layout (random weights and BN statistics), with insightface's preprocessing."""
import os

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch is needed to write arcface_torch .pth files")

from tests.torch_nets import MBF, IResNet, randomize  # noqa: E402

from common.core.env import set_device  # noqa: E402
from common.tools.import_weights.cli import main  # noqa: E402
from common.train.checkpoint import load_weights  # noqa: E402

set_device("CPU")
torch.set_num_threads(2)


def faces(n=2, h=112, w=112, seed=1):
    """insightface preprocessing of RGB uint8 faces: (x - 127.5) / 127.5, NCHW."""
    img = np.random.default_rng(seed).integers(0, 256, (n, h, w, 3)).astype(np.float32)
    return ((img - 127.5) / 127.5).transpose(0, 3, 1, 2).copy()


def rel(a, b):
    return float(np.abs(a - b).max() / np.abs(b).max())


def ms_embed(arch, ckpt, x, **kwargs):
    import mindspore as ms

    from common.nets import create_backbone

    net = create_backbone(arch, **kwargs)
    load_weights(net, ckpt)  # what the model folders' --ckpt_file does
    net.set_train(False)
    return net(ms.Tensor(x)).asnumpy()


@pytest.mark.parametrize("half,widths", [(False, (64, 128, 256, 512)), (True, (16, 32, 48, 64))])
def test_iresnet18(tmp_path, half, widths, capsys):
    """Full width in fp32; the fp16 .pth variant on a narrow net (same code path, less time)."""
    src = randomize(IResNet((2, 2, 2, 2), widths=widths), seed=3)
    sd = src.state_dict()
    if half:  # the fp16 .pth variants: half tensors in the file, the reference uses the same rounded weights
        sd = {k: (v.half() if v.is_floating_point() else v) for k, v in sd.items()}
        src.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in sd.items()})
    torch.save(sd, tmp_path / "backbone.pth")
    out = tmp_path / "r18.ckpt"
    main(["--from", "arcface_torch", "--arch", "iresnet18", "--in", str(tmp_path / "backbone.pth"),
          "--out", str(out)])
    printed = capsys.readouterr().out
    assert "layer1.0.bn1.weight" in printed and "stages.0.body.0.gamma" in printed
    assert ("fp16" in printed) == half
    x = faces()
    with torch.no_grad():
        ref = src(torch.from_numpy(x)).numpy()
    kwargs = {} if widths[0] == 64 else {"widths": widths}
    assert rel(ms_embed("iresnet18", str(out), x, **kwargs), ref) < 1e-4


def test_mbf(tmp_path):
    src = randomize(MBF(), seed=4)
    torch.save(src.state_dict(), tmp_path / "mbf.pth")
    out = tmp_path / "mbf.ckpt"
    main(["--from", "arcface_torch", "--arch", "mbf", "--in", str(tmp_path / "mbf.pth"), "--out", str(out),
          "--quiet"])
    x = faces(seed=2)
    with torch.no_grad():
        ref = src(torch.from_numpy(x)).numpy()
    assert rel(ms_embed("mbf", str(out), x), ref) < 1e-4


def test_iresnet100_names_and_shapes():
    """Full-size r100: every tensor of the public layout lands on a zoo parameter of the same shape (no forward)."""
    from common.tools.import_weights.layers import match, torch_layers, zoo_slots
    from common.nets import create_backbone

    with torch.device("meta"):
        src = IResNet((3, 13, 30, 3))
    sd = {k: np.broadcast_to(np.float32(0), tuple(v.shape)) for k, v in src.state_dict().items()}
    layers, unused = torch_layers(sd)
    net = create_backbone("iresnet100")
    params, rows = match(layers, zoo_slots(net), "r100")
    own = {p.name: tuple(p.shape) for p in net.get_parameters()}
    assert not unused and set(params) == set(own)
    assert all(tuple(params[n].shape) == s for n, s in own.items())
    n_src = sum(int(np.prod(v.shape)) for k, v in sd.items() if not k.endswith("num_batches_tracked"))
    assert n_src == sum(int(np.prod(s)) for s in own.values())


def test_wrong_arch_and_unmapped_refused(tmp_path):
    from common.core.errors import FaceIdError

    src = randomize(IResNet((2, 2, 2, 2), widths=(8, 8, 16, 16), emb=32))
    sd = dict(src.state_dict())
    torch.save(sd, tmp_path / "a.pth")
    with pytest.raises(FaceIdError, match="a.pth"):
        main(["--from", "arcface_torch", "--arch", "iresnet34", "--in", str(tmp_path / "a.pth"),
              "--out", str(tmp_path / "a.ckpt")])
    sd["extra.weight"] = torch.zeros(3, 3, 3)
    torch.save(sd, tmp_path / "b.pth")
    with pytest.raises(FaceIdError, match="extra.weight"):
        main(["--from", "arcface_torch", "--arch", "iresnet18", "--in", str(tmp_path / "b.pth"),
              "--out", str(tmp_path / "b.ckpt")])
    assert not os.path.exists(tmp_path / "b.ckpt")
    imp = main(["--from", "arcface_torch", "--arch", "iresnet18", "--in", str(tmp_path / "b.pth"),
                "--out", str(tmp_path / "b.ckpt"), "--allow_missing", "extra.*", "--quiet"])
    assert imp.net_kwargs == {"widths": (8, 8, 16, 16), "embedding_size": 32}
    assert os.path.exists(tmp_path / "b.ckpt")
