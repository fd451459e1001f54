"""--onnx FILE: a third-party ONNX face model (exported here from an independent PyTorch network in the layout of
foamliu/MobileFaceNet, which no zoo net has) scored by the eval entries, compared and searched by common.compare
and common.identify through ONNX Runtime; every embedding is checked against the same network run in PyTorch on
an independently written preprocessing (OpenCV decode, RGB, resize, ImageNet mean/std per channel)."""
import argparse
import json
import os
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests"))

import cv2  # noqa: E402

from helpers import make_data  # noqa: E402
from torch_nets import FoamliuLikeMBF, randomize  # noqa: E402

from common.core.errors import FaceIdError  # noqa: E402

MEAN = [123.675, 116.28, 103.53]
STD = [58.395, 57.12, 57.375]
PRE = f"{{channels: 3, resize: [112, 112], mean: {MEAN}, std: {STD}}}"
PHOTOS = os.path.join(ROOT, "tests", "fixtures", "raw_photos")


class NHWC(torch.nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net(x.permute(0, 3, 1, 2))


def _export(net, path, batch=None, nhwc=False):
    shape = (batch or 1, 112, 112, 3) if nhwc else (batch or 1, 3, 112, 112)
    dyn = None if batch else {"data": {0: "n"}, "fc1": {0: "n"}}
    torch.onnx.export(NHWC(net).eval() if nhwc else net, torch.zeros(shape), path, dynamo=False,
                      input_names=["data"], output_names=["fc1"], dynamic_axes=dyn)
    net.eval()  # the exporter restores each module's mode: the reference stays in inference mode
    return path


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    import warnings

    tmp = tmp_path_factory.mktemp("onnx_route")
    net = randomize(FoamliuLikeMBF(), seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        files = {"dynamic": _export(net, str(tmp / "dyn.onnx")), "b1": _export(net, str(tmp / "b1.onnx"), batch=1),
                 "nhwc3": _export(net, str(tmp / "nhwc3.onnx"), batch=3, nhwc=True)}
    _, test = make_data(tmp / "data", train_ids=1, train_images=1, test_ids=20, test_images=3, size=64,
                        pairs_per_fold=2)
    return {"net": net, "files": files, "test": test, "tmp": tmp}


def torch_embed(net, bgr_images):
    """The reference: OpenCV BGR -> RGB -> linear resize to 112x112 (enlarging) -> (x - mean) / std per channel."""
    xs = []
    for bgr in bgr_images:
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        if rgb.shape[:2] != (112, 112):
            rgb = cv2.resize(rgb, (112, 112), interpolation=cv2.INTER_LINEAR if rgb.shape[0] < 112 else cv2.INTER_AREA)
        xs.append(((rgb.astype(np.float64) - MEAN) / STD).transpose(2, 0, 1))
    x = torch.tensor(np.stack(xs), dtype=torch.float32)
    with torch.no_grad():
        return net(x).numpy().astype(np.float64), net(torch.flip(x, [3])).numpy().astype(np.float64)


def _close(a, b, rel=1e-4):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert a.shape == b.shape
    assert np.abs(a - b).max() <= rel * np.abs(b).max(), np.abs(a - b).max() / np.abs(b).max()


def _pairs(test):
    """pairs.txt read here: (relative path a, relative path b, same) per line."""
    with open(os.path.join(test, "pairs.txt")) as f:
        lines = [ln.split() for ln in f.read().splitlines()[1:] if ln.strip()]
    out = []
    for p in lines:
        if len(p) == 3:
            out.append((f"{p[0]}/{p[0]}_{int(p[1]):04d}.jpg", f"{p[0]}/{p[0]}_{int(p[2]):04d}.jpg", True))
        else:
            out.append((f"{p[0]}/{p[0]}_{int(p[1]):04d}.jpg", f"{p[2]}/{p[2]}_{int(p[3]):04d}.jpg", False))
    return out


def _accuracy_10fold(scores, same):
    """LFW protocol written here: 10 consecutive folds, threshold = best accuracy on the other 9 (brute force over
    the midpoints of the sorted training scores), mean test accuracy."""
    scores, same = np.asarray(scores), np.asarray(same, bool)
    folds = np.array_split(np.arange(len(scores)), 10)
    accs = []
    for k in range(10):
        train = np.setdiff1d(np.arange(len(scores)), folds[k])
        s = np.sort(scores[train])
        cands = np.concatenate([[s[0] - 1], (s[1:] + s[:-1]) / 2, [s[-1] + 1]])
        best = max(cands, key=lambda t: ((scores[train] >= t) == same[train]).mean())
        accs.append(((scores[folds[k]] >= best) == same[folds[k]]).mean())
    return float(np.mean(accs))


def _eval(model, argv):
    from common.flows import evaluate
    from common.recipes import contract

    return evaluate.run(contract.get(model), argv + ["--graph_mode", "false"])


@pytest.mark.parametrize("model,kind", [("cosface", "dynamic"), ("pfe", "b1")])
def test_eval_lfw_folder_onnx_equals_pytorch(setup, model, kind):
    """Two eval entries (PFE's own LFW runner is bypassed: an ONNX model has no uncertainty output), a dynamic and
    a fixed batch-1 file: saved flip-sum embeddings equal PyTorch's, the accuracy equals a 10-fold protocol
    written here on PyTorch's embeddings."""
    out = setup["tmp"] / f"eval_{model}"
    res = _eval(model, ["--onnx", setup["files"][kind], "--preprocess", PRE, "--data_root", setup["test"],
                        "--out_dir", str(out), "--save_embeddings", "true", "--eval_batch_size", "16"])
    r = res["test.lfw"]
    assert r["onnx"] == os.path.abspath(setup["files"][kind]) and r["checkpoint"] is None and r["flip"] is True
    emb = np.load(out / "eval" / "test.lfw_embeddings.npy")
    with open(out / "eval" / "test.lfw_images.txt") as f:
        names = f.read().split()
    imgs = [cv2.imread(os.path.join(setup["test"], n)) for n in names]
    e, ef = torch_embed(setup["net"], imgs)
    _close(emb, e + ef)
    row = {n: i for i, n in enumerate(names)}
    unit = (e + ef) / np.linalg.norm(e + ef, axis=1, keepdims=True)
    pairs = _pairs(setup["test"])
    scores = [float(unit[row[a]] @ unit[row[b]]) for a, b, _ in pairs]
    assert r["pairs"] == len(pairs)
    assert r["accuracy_mean"] == pytest.approx(_accuracy_10fold(scores, [s for _, _, s in pairs]), abs=1e-9)


def test_eval_bin_onnx_fixed_batch_nhwc_equals_pytorch(setup, tmp_path):
    """A .bin of 64x64 photos through a fixed batch-3 NHWC model (last chunk padded): plain and flipped embeddings
    equal PyTorch's."""
    from common.protocols.binsets import write_bin

    pairs = _pairs(setup["test"])
    pairs = [p for p in pairs if p[2]][:10] + [p for p in pairs if not p[2]][:10]   # the fewest a .bin may have
    blobs, same = [], []
    for a, b, s in pairs:
        for rel in (a, b):
            with open(os.path.join(setup["test"], rel), "rb") as f:
                blobs.append(f.read())
        same.append(s)
    bins = tmp_path / "bins"
    bins.mkdir()
    write_bin(str(bins / "syn.bin"), blobs, same)
    out = tmp_path / "o"
    res = _eval("lightcnn", ["--onnx", setup["files"]["nhwc3"], "--preprocess", PRE, "--bin_dir", str(bins),
                             "--targets", "syn", "--out_dir", str(out), "--save_embeddings", "true"])
    assert "syn.bin" in res
    imgs = [cv2.imdecode(np.frombuffer(b, np.uint8), cv2.IMREAD_COLOR) for b in blobs]
    e, ef = torch_embed(setup["net"], imgs)
    _close(np.load(out / "eval" / "syn.bin_embeddings.npy"), e)
    _close(np.load(out / "eval" / "syn.bin_flip_embeddings.npy"), ef)


def test_onnx_input_checked_against_preprocessing(setup, tmp_path):
    """A 112x96 preprocessing for a 112x112 model: one line naming the file, its input and the preprocessing,
    before any image is embedded (no result written)."""
    out = tmp_path / "o"
    with pytest.raises(FaceIdError) as err:
        _eval("cosface", ["--onnx", setup["files"]["b1"], "--preprocess", "{resize: [112, 96]}",
                          "--data_root", setup["test"], "--out_dir", str(out)])
    msg = str(err.value)
    assert "\n" not in msg and "b1.onnx" in msg and "[1, 3, 112, 112]" in msg and "3x112x96" in msg
    assert not (out / "eval").exists() or not os.listdir(out / "eval")
    with pytest.raises(FaceIdError, match="give one"):
        _eval("cosface", ["--onnx", setup["files"]["b1"], "--ckpt_file", setup["files"]["b1"],
                          "--data_root", setup["test"], "--out_dir", str(out)])


def _args(**kw):
    base = dict(model=None, ckpt_file=None, config=None, onnx=None, preprocess=PRE, threshold=None, result=None,
                align="arcface112", face_a=None, face_b=None, min_face=20, out_dir=None)
    base.update(kw)
    return argparse.Namespace(**base)


def _unit(v):
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def test_compare_and_identify_onnx_equal_pytorch(setup, tmp_path):
    """common.compare / common.identify --onnx: the cosine of the two aligned crops they wrote (lossless PNG), and
    the identity ranking over gallery crops aligned here, equal PyTorch's."""
    from common.align import Aligner, pick_face, read_photo
    from common.tools import compare, identify

    net, model = setup["net"], setup["files"]["dynamic"]
    a, b = os.path.join(PHOTOS, "obama.jpg"), os.path.join(PHOTOS, "obama2.jpg")
    out = compare.run(_args(photos=[a, b], onnx=model, out_dir=str(tmp_path / "c")))
    with open(tmp_path / "c" / "compare.json") as f:
        saved = json.load(f)
    assert saved["onnx"] == os.path.abspath(model) and "warning" not in saved
    crops = [cv2.imread(p["aligned_crop"]) for p in saved["photos"]]
    e, _ = torch_embed(net, crops)
    u = _unit(e)
    assert out["cosine_similarity"] == pytest.approx(float(u[0] @ u[1]), abs=1e-5)

    gallery = tmp_path / "gallery"
    for ident, photo in (("obama", "obama.jpg"), ("clapton", "clapton-1.jpg")):
        (gallery / ident).mkdir(parents=True)
        cv2.imwrite(str(gallery / ident / photo.replace(".jpg", ".png")), cv2.imread(os.path.join(PHOTOS, photo)))
    res = identify.run(argparse.Namespace(**vars(_args(onnx=model, out_dir=str(tmp_path / "i"))), gallery=str(gallery),
                                          probe=b, probe_face=None, top=2))
    aligner = Aligner("arcface112", min_face=20)

    def crop(path):
        img = read_photo(path)
        faces = aligner.faces(img)
        return cv2.cvtColor(aligner.crop(img, faces[pick_face(faces, img.shape)]), cv2.COLOR_RGB2BGR)

    names = ["clapton", "obama"]
    g, _ = torch_embed(net, [crop(next(iter(sorted((gallery / n).iterdir())))) for n in names])
    p, _ = torch_embed(net, [crop(b)])
    ref = _unit(g) @ _unit(p)[0]
    got = {r["identity"]: r["cosine_similarity"] for r in res["ranking"]}
    assert [r["identity"] for r in res["ranking"]] == [names[i] for i in np.argsort(-ref, kind="stable")]
    for n, v in zip(names, ref):
        assert got[n] == pytest.approx(float(v), abs=1e-5)


def test_compare_onnx_needs_a_preprocessing(setup, tmp_path):
    from common.tools import compare

    a = os.path.join(PHOTOS, "obama.jpg")
    with pytest.raises(FaceIdError, match="preprocessing is not in an ONNX file"):
        compare.run(_args(photos=[a, a], onnx=setup["files"]["dynamic"], preprocess=None, out_dir=str(tmp_path)))
    with pytest.raises(FaceIdError, match="--model MODEL"):
        compare.run(_args(photos=[a, a], preprocess=None, out_dir=str(tmp_path)))
