"""``--from torch`` + the model bundle: any PyTorch checkpoint (legacy pickle or zip, the state dict under any key,
a ``module.`` prefix) -> zoo ``--arch`` -> ``--out_dir D`` -> ``cosface/eval.py --config D/config.yaml
--ckpt_file D/model.ckpt`` whose saved embeddings equal an independently written PyTorch network's (the
layout of Xiaoccer/MobileFaceNet_Pytorch: PReLU bottlenecks, 112x96 input, GDC 7x6; random weights and BN
statistics); and refusals that name the layer that does not match."""
import collections
import hashlib
import os

import numpy as np
import pytest
import yaml

torch = pytest.importorskip("torch", reason="PyTorch is needed to write .pth / .ckpt files")

from tests.helpers import PY, ROOT, run  # noqa: E402
from tests.torch_nets import XiaoccerMobileFaceNet, randomize  # noqa: E402

from common.core.errors import FaceIdError  # noqa: E402
from common.tools.import_weights.cli import main  # noqa: E402

torch.set_num_threads(2)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The publisher's form (legacy pickle {'epoch': 68, 'net_state_dict': ...}) and a zip with the weights nested
    under 'ckpt' / 'model' with DataParallel names next to optimizer state."""
    tmp = tmp_path_factory.mktemp("torch_src")
    net = randomize(XiaoccerMobileFaceNet(), seed=7)
    sd = net.state_dict()
    legacy = tmp / "068.ckpt"
    torch.save({"epoch": 68, "net_state_dict": sd}, legacy, _use_new_zipfile_serialization=False)
    nested = tmp / "nested.pth"
    torch.save({"meta": {"arch": "mfn", "epoch": 3},
                "ckpt": {"model": collections.OrderedDict(("module." + k, v) for k, v in sd.items())},
                "optimizer": {"state": {0: {"momentum_buffer": torch.ones(64, 3, 3, 3)}},
                              "param_groups": [{"lr": 0.1}]}}, nested)
    with open(legacy, "rb") as f:
        assert f.read(2) != b"PK"  # really the legacy format
    return tmp, net, legacy, nested


def rel(a, b):
    return float(np.abs(a - b).max() / np.abs(b).max())


def faces_bin(path, n_pairs, seed):
    """A tiny .bin of smooth random 112x112 RGB 'faces' (PNG; .bin images are BGR files): returns the RGB arrays."""
    import cv2

    from common.protocols.binsets import write_bin

    rng = np.random.default_rng(seed)
    rgb = [cv2.resize(rng.integers(0, 256, (14, 14, 3)).astype(np.uint8), (112, 112),
                      interpolation=cv2.INTER_LINEAR) for _ in range(2 * n_pairs)]
    blobs = [cv2.imencode(".png", np.ascontiguousarray(im[:, :, ::-1]))[1].tobytes() for im in rgb]
    write_bin(str(path), blobs, [i % 2 == 0 for i in range(n_pairs)])
    return rgb


def torch_embed(net, rgb):
    """The publisher's preprocessing written out: columns 8..104 of the 112x112 crop, (x - 127.5) / 128, NCHW."""
    x = np.stack([(im[:, 8:104].astype(np.float64) - 127.5) / 128.0 for im in rgb]).transpose(0, 3, 1, 2)
    with torch.no_grad():
        return net(torch.from_numpy(x.astype(np.float32))).numpy()


def ckpt_arrays(path):
    import mindspore as ms

    return {k: v.asnumpy() for k, v in ms.load_checkpoint(str(path)).items()}


def test_legacy_and_zip_to_bundle_eval_equals_pytorch(files, tmp_path, capsys):
    src_dir, net, legacy, nested = files
    d = tmp_path / "D"
    main(["--from", "torch", "--arch", "mobilefacenet", "--input_size", "112x96", "--in", str(legacy),
          "--out_dir", str(d), "--trained_on", "CASIA-WebFace", "--reported", "LFW 99.30", "--quiet"])
    printed = capsys.readouterr().out
    assert "mapped 283 parameters" in printed and "net_state_dict" in printed
    assert sorted(os.listdir(d)) == ["MODEL_CARD.md", "config.yaml", "model.ckpt"]
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".")]  # no temporary folder left
    cfg = yaml.safe_load((d / "config.yaml").read_text())
    assert cfg["backbone"] == "mobilefacenet" and cfg["backbone_args"] == {"input_size": [3, 112, 96]}
    assert cfg["align"] == "sphereface112x96" and cfg["model"] == "cosface"
    assert (cfg["preprocess"]["crop"], cfg["preprocess"]["mean"], cfg["preprocess"]["std"]) == ([112, 96], 127.5, 128)
    card = (d / "MODEL_CARD.md").read_text()
    assert hashlib.sha256(legacy.read_bytes()).hexdigest() in card
    assert "legacy pickle" in card and "CASIA-WebFace" in card and "LFW 99.30" in card
    assert card.count("unknown — check before use") == 2  # origin and license not given
    assert "--input_size 112x96" in card

    # the zip, nested under ckpt/model with 'module.' names, gives the same weights; --out still works beside it
    d2, single = tmp_path / "D2", tmp_path / "single.ckpt"
    main(["--from", "torch", "--arch", "mobilefacenet", "--input_size", "112x96", "--in", str(nested),
          "--out_dir", str(d2), "--out", str(single), "--quiet", "--license", "research only"])
    printed = capsys.readouterr().out
    assert "ckpt/model" in printed and "module." in printed
    a, b, c = ckpt_arrays(d / "model.ckpt"), ckpt_arrays(d2 / "model.ckpt"), ckpt_arrays(single)
    assert set(a) == set(b) == set(c) and len(a) == 283
    assert all(np.array_equal(a[k], b[k]) and np.array_equal(a[k], c[k]) for k in a)
    assert "research only" in (d2 / "MODEL_CARD.md").read_text()

    # the bundle as it is, on the command of the issue: embeddings (and flipped ones) equal PyTorch's
    bins = tmp_path / "bins"
    bins.mkdir()
    rgb = {t: faces_bin(bins / f"{t}.bin", 20, seed) for t, seed in (("cfp_ff", 1), ("cfp_fp", 2))}
    out = tmp_path / "O"
    run([PY, os.path.join(ROOT, "cosface", "eval.py"), "--config", str(d / "config.yaml"), "--ckpt_file",
         str(d / "model.ckpt"), "--bin_dir", str(bins), "--targets", "cfp_ff,cfp_fp", "--out_dir", str(out),
         "--save_embeddings", "true"])
    for t, images in rgb.items():
        emb = np.load(out / "eval" / f"{t}.bin_embeddings.npy")
        flip = np.load(out / "eval" / f"{t}.bin_flip_embeddings.npy")
        assert emb.shape == (40, 128)
        assert rel(emb, torch_embed(net, images)) < 1e-4
        assert rel(flip, torch_embed(net, [im[:, ::-1] for im in images])) < 1e-4
        assert os.path.isfile(out / "eval" / f"{t}.bin_result.json")


def test_refusals_name_the_layer(files, tmp_path, capsys):
    src_dir, net, legacy, nested = files
    base = ["--from", "torch", "--in", str(legacy), "--quiet"]
    # the 112x96 source on the default 112x112 net: the GDC kernel, and the input size that fits it
    with pytest.raises(FaceIdError) as e:
        main(base + ["--arch", "mobilefacenet", "--out", str(tmp_path / "x.ckpt")])
    msg = str(e.value)
    assert "\n" not in msg and "gdc.c" in msg and "(512, 1, 7, 6)" in msg and "(512, 1, 7, 7)" in msg
    assert "--input_size 112x96" in msg
    table = capsys.readouterr().err
    assert "MISMATCH" in table and "widen.a" in table  # the matched layers before it, then the disagreement
    # another architecture: where the layers part, with both sides' layer counts
    with pytest.raises(FaceIdError) as e:
        main(base + ["--arch", "mbf", "--out", str(tmp_path / "x.ckpt")])
    msg = str(e.value)
    assert "\n" not in msg and "is --arch right?" in msg and "source: 50 conv, 50 bn, 33 prelu, 0 dense" in msg
    assert "MISMATCH" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "x.ckpt")
    # a file without any tensor mapping: said so, with what the top level holds
    torch.save({"epoch": 3, "acc": 0.5}, tmp_path / "empty.pth")
    with pytest.raises(FaceIdError, match=r"no mapping of tensor names.*'epoch': int"):
        main(["--from", "torch", "--in", str(tmp_path / "empty.pth"), "--arch", "mobilefacenet",
              "--out", str(tmp_path / "x.ckpt")])
    # bundles: never over a folder with files, nothing half-written when the recipe cannot hold the source
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep.txt").write_text("x")
    with pytest.raises(FaceIdError, match="not an empty folder"):
        main(base + ["--arch", "mobilefacenet", "--input_size", "112x96", "--out_dir", str(full)])
    assert os.listdir(full) == ["keep.txt"]
    with pytest.raises(FaceIdError, match=r"--preprocess gives input \(3, 112, 112\)"):
        main(base + ["--arch", "mobilefacenet", "--input_size", "112x96", "--out_dir", str(tmp_path / "B"),
                     "--preprocess", "crop=[112, 112]"])
    assert not os.path.exists(tmp_path / "B") and not [f for f in os.listdir(tmp_path) if f.startswith(".")]
    with pytest.raises(FaceIdError, match="--input_size 96: expected HxW"):
        main(base + ["--arch", "mobilefacenet", "--input_size", "96", "--out_dir", str(tmp_path / "B")])
    with pytest.raises(FaceIdError, match=r"zoo iresnet18 at input \(3, 112, 96\): 21 conv, 31 bn, 9 prelu, 1 dense"):
        main(base + ["--arch", "iresnet18", "--input_size", "112x96", "--out_dir", str(tmp_path / "B")])
    assert not os.path.exists(tmp_path / "B")


@pytest.mark.parametrize("arch,kwargs,param", [("mobilefacenet", {}, "body.18.block.0.weight"),
                                               ("mbf", {}, "gdc.block.0.weight"),
                                               ("iresnet18", {"widths": (8, 8, 8, 8)}, "fc.weight"),
                                               ("spherenet20", {"widths": (8, 8, 8, 8)}, "fc.weight")])
def test_last_kernel_follows_the_input_size(arch, kwargs, param):
    """Nets whose last kernel (GDC) or flattened map depends on the input take ``input_size``; the map size is
    checked against PyTorch's own conv arithmetic (four stride-2 3x3 convs, padding 1)."""
    from common.nets import BACKBONES, create_backbone

    assert BACKBONES.meta(arch).get("any_size")
    for h, w in ((112, 96), (112, 112), (120, 100)):
        x = torch.zeros(1, 1, h, w)
        for _ in range(4):
            x = torch.nn.functional.conv2d(x, torch.zeros(1, 1, 3, 3), stride=2, padding=1)
        fh, fw = x.shape[2:]
        shapes = {p.name: tuple(p.shape) for p in create_backbone(arch, input_size=(3, h, w), **kwargs)
                  .get_parameters()}
        got = shapes[param]
        if param == "fc.weight":
            assert got[1] == 8 * fh * fw
        else:
            assert got[2:] == (fh, fw)
