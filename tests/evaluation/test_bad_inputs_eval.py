"""Bad input to evaluation and data preparation (issue 11): one clear line naming the file, a non-zero exit at
the command line, nothing overwritten; or the documented behaviour (unreadable images skipped and named, folds
that keep both classes, VAL@FAR n/a, pickle protocol 2 .bin files). A stub network (pooled pixels) keeps it fast.
"""
import hashlib
import json
import os
import pickle
import subprocess
import sys

import cv2
import numpy as np
import pytest
import scipy.io
import yaml
from sklearn.model_selection import KFold, StratifiedKFold

from common.core.errors import FaceIdError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PY = sys.executable
SMALL_BIN = os.path.join(ROOT, "tests", "fixtures", "small_lfw.bin")


# ----------------------------------------------------------------------------------------------------- fixtures
class StubNet:
    """Embedding = 2x2-pooled pixels: images of one colour cluster; counts its calls."""

    def __init__(self):
        self.calls = 0

    def set_train(self, mode=True):
        pass

    def __call__(self, x):
        import mindspore as ms

        self.calls += 1
        a = x.asnumpy()
        n, c, h, w = a.shape
        return ms.Tensor(a.reshape(n, c, 2, h // 2, 2, w // 2).mean(axis=(3, 5)).reshape(n, -1).astype(np.float32))


def _pre():
    from common.data.transforms import Preprocess

    return Preprocess(channels=3, resize=[8, 8], crop=None, mean=127.5, std=128.0, flip=False)


PEOPLE = [f"Person_{i}" for i in range(6)]


def _face(person, k, rng):
    """A flat colour per person (+ noise), 12x12 BGR."""
    base = np.array([(37 * person) % 255, (91 * person + 40) % 255, (53 * person + 90) % 255], np.float64)
    img = base + rng.normal(0, 6, size=(12, 12, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def make_lfw(root, ext=".jpg", folds=2, per=5, subfolder=None, seed=0, pairs_in_root=True):
    """LFW-format folder: 6 people x 4 images; pairs.txt with ``folds`` folds of ``per`` same + ``per`` different.

    Returns (pairs_path, image folder, list of pair tuples (a, b, same, fold))."""
    rng = np.random.default_rng(seed)
    img_root = os.path.join(root, subfolder) if subfolder else root
    for p, name in enumerate(PEOPLE):
        os.makedirs(os.path.join(img_root, name), exist_ok=True)
        for k in range(1, 5):
            cv2.imwrite(os.path.join(img_root, name, f"{name}_{k:04d}{ext}"), _face(p, k, rng))
    lines, pairs = [f"{folds}\t{per}"], []
    for f in range(folds):
        for i in range(per):
            p = (f * per + i) % 6
            a, b = 1 + i % 4, 1 + (i + 1) % 4
            lines.append(f"{PEOPLE[p]}\t{a}\t{b}")
            pairs.append((f"{PEOPLE[p]}/{PEOPLE[p]}_{a:04d}", f"{PEOPLE[p]}/{PEOPLE[p]}_{b:04d}", True, f))
        for i in range(per):
            p, q = (f + i) % 6, (f + i + 1 + i % 4) % 6
            a, b = 1 + i % 4, 1 + (i + 2) % 4
            lines.append(f"{PEOPLE[p]}\t{a}\t{PEOPLE[q]}\t{b}")
            pairs.append((f"{PEOPLE[p]}/{PEOPLE[p]}_{a:04d}", f"{PEOPLE[q]}/{PEOPLE[q]}_{b:04d}", False, f))
    pairs_path = os.path.join(root if pairs_in_root else img_root, "pairs.txt")
    os.makedirs(os.path.dirname(pairs_path), exist_ok=True)
    with open(pairs_path, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    return pairs_path, img_root, pairs


def _png(bgr):
    return cv2.imencode(".png", bgr)[1].tobytes()


def make_bin(path, issame, seed=0, protocol=4, corrupt=()):
    """A .bin whose genuine pairs share a colour; ``corrupt`` image indices get undecodable bytes."""
    rng = np.random.default_rng(seed)
    blobs = []
    for i, same in enumerate(issame):
        p = int(rng.integers(6))
        q = p if same else (p + 1 + int(rng.integers(5))) % 6
        blobs += [_png(_face(p, 1, rng)), _png(_face(q, 2, rng))]
    for i in corrupt:
        blobs[i] = b"\xff\xd8\xff\xe0 truncated"
    with open(path, "wb") as f:
        pickle.dump((blobs, [bool(s) for s in issame]), f, protocol=protocol)
    return path


def _digest(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def _one_line(exc):
    msg = str(exc)
    assert msg and "\n" not in msg and "Traceback" not in msg
    return msg


def _cli(*args, cwd=None):
    """``python -m common.evaluate`` from another folder: (returncode, stdout, stderr)."""
    p = subprocess.run([PY, "-m", "common.evaluate", *args], cwd=cwd or ROOT, capture_output=True, text=True,
                       timeout=120, env=dict(os.environ, PYTHONPATH=ROOT))
    return p.returncode, p.stdout, p.stderr


# ------------------------------------------------------------------------- 1. unreadable images in eval folders
def test_unreadable_images_are_named_and_their_pairs_dropped(tmp_path):
    from common.evaluation.targets import lfw_folder

    pairs_path, img_root, pairs = make_lfw(str(tmp_path / "lfw"))
    zero = os.path.join(img_root, "Person_1", "Person_1_0002.jpg")
    open(zero, "wb").close()                              # zero-byte JPEG
    trunc = os.path.join(img_root, "Person_3", "Person_3_0001.jpg")
    data = open(trunc, "rb").read()
    open(trunc, "wb").write(data[:100])                   # truncated JPEG (inside its headers)
    bad = {"Person_1/Person_1_0002", "Person_3/Person_3_0001"}
    expect_dropped = sum(1 for a, b, _, _ in pairs if a in bad or b in bad)
    assert expect_dropped > 0
    lines = []
    out = tmp_path / "r" / "lfw.json"
    res = lfw_folder(StubNet(), _pre(), str(tmp_path / "lfw"), out_json=str(out), batch_size=8, log=lines.append)
    saved = json.load(open(out))
    assert sorted(saved["unreadable_images"]) == sorted([zero, trunc])
    assert saved["pairs_dropped"] == expect_dropped and saved["pairs"] == len(pairs) - expect_dropped
    said = [ln for ln in lines if not ln.startswith("wrote ")]
    assert len(said) == 1 and "skipped 2 unreadable image(s)" in said[0] and f"{expect_dropped} of 20 pairs" in said[0]
    assert zero in said[0] and trunc in said[0]
    assert res["accuracy_mean"] > 0.9  # the remaining pairs still score (colours separate people)


def test_unreadable_images_too_many_refused(tmp_path):
    from common.evaluation.targets import lfw_folder

    pairs_path, img_root, pairs = make_lfw(str(tmp_path / "lfw"))
    for a, b, same, fold in pairs:  # every image of a same-person pair of fold 2
        if same and fold == 1:
            for n in (a, b):
                open(os.path.join(img_root, n + ".jpg"), "wb").close()
    with pytest.raises(FaceIdError) as err:
        lfw_folder(StubNet(), _pre(), str(tmp_path / "lfw"), batch_size=8, log=lambda *_: None)
    msg = _one_line(err.value)
    assert msg.startswith(pairs_path) and "fold 2" in msg and "unreadable" in msg


def test_unreadable_image_without_skip_is_one_line(tmp_path):
    from common.evaluation.embed import extract

    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    good = tmp_path / "ok.png"
    cv2.imwrite(str(good), _face(0, 1, np.random.default_rng(0)))
    with pytest.raises(FaceIdError) as err:
        extract(StubNet(), [str(good), str(path)], _pre(), 4, disable=True)
    assert _one_line(err.value).startswith(str(path))


def test_unreadable_image_in_bin_skipped(tmp_path):
    from common.evaluation.targets import bin_set

    issame = np.arange(40) % 2 == 0
    path = make_bin(str(tmp_path / "c.bin"), issame, corrupt=(5,))
    lines = []
    res = bin_set(StubNet(), _pre(), path, str(tmp_path / "c.json"), batch_size=16, log=lines.append)
    assert res["unreadable_images"] == [5] and res["pairs_dropped"] == 1 and res["pairs"] == 39
    assert any("skipped 1 unreadable image(s)" in ln and "image 5" in ln for ln in lines)


# ------------------------------------------------------- 2. pairs / .bin files the protocol cannot score: up front
def test_one_fold_pairs_refused_before_embedding(tmp_path):
    from common.evaluation.targets import lfw_folder

    make_lfw(str(tmp_path / "lfw"))
    one = tmp_path / "one.txt"
    body = open(tmp_path / "lfw" / "pairs.txt").read().splitlines()[1:11]
    one.write_text("1\t5\n" + "\n".join(body) + "\n")
    net = StubNet()
    with pytest.raises(FaceIdError) as err:
        lfw_folder(net, _pre(), str(tmp_path / "lfw"), str(one), batch_size=8)
    assert _one_line(err.value).startswith(str(one)) and "fold" in str(err.value)
    assert net.calls == 0


@pytest.mark.parametrize("issame", [[True] * 30, [False] * 30, [True] * 5 + [False] * 25])
def test_bin_without_both_classes_refused_before_embedding(tmp_path, issame):
    from common.evaluation.targets import bin_set

    path = make_bin(str(tmp_path / "one_class.bin"), issame)
    net = StubNet()
    with pytest.raises(FaceIdError) as err:
        bin_set(net, _pre(), path, batch_size=16)
    assert _one_line(err.value).startswith(path)
    assert net.calls == 0
    np.save(tmp_path / "E.npy", np.random.default_rng(0).normal(size=(2 * len(issame), 4)))
    rc, out, errtext = _cli("--protocol", "bin", "--embeddings", str(tmp_path / "E.npy"), "--pairs", path,
                            "--out", str(tmp_path / "r.json"))
    assert rc == 2 and errtext.strip().startswith(f"error: {path}") and len(errtext.strip().splitlines()) == 1
    assert not (tmp_path / "r.json").exists()


def test_training_verification_refuses_one_class_bin_at_start(tmp_path):
    from common.train.verification import build_targets

    make_bin(str(tmp_path / "lfw.bin"), [True] * 20)
    with pytest.raises(FaceIdError, match=r"lfw\.bin: all 20 pairs"):
        build_targets(str(tmp_path), ["lfw"])


# ----------------------------------------------------------------------- 3. any pair order: folds keep both classes
def _brute_bin(emb, issame, splits):
    """Accuracy per fold by loops: threshold among midpoints of training distances (largest of the best)."""
    e = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    d = np.array([np.sum((e[2 * i] - e[2 * i + 1]) ** 2) for i in range(len(issame))])
    accs = []
    for train, test in splits:
        u = np.unique(d[train])
        best_t, best = None, -1
        for t in list((u[:-1] + u[1:]) / 2) + [u[-1]]:
            acc = np.mean((d[train] <= t) == issame[train])
            if acc >= best:
                best_t, best = t, acc
        accs.append(np.mean((d[test] <= best_t) == issame[test]))
    return np.mean(accs)


def test_protocol_order_bin_is_scored_with_stratified_folds(tmp_path):
    from common.evaluation import scoring as evaluate
    from common.evaluation.targets import bin_set

    issame = np.r_[np.ones(350, bool), np.zeros(350, bool)]  # CFP-FP fold file order: all same, then all different
    path = make_bin(str(tmp_path / "fold10.bin"), issame)
    res = bin_set(StubNet(), _pre(), path, str(tmp_path / "fold10.json"), batch_size=256, log=lambda *_: None)
    assert res["pairs"] == 700 and len(res["accuracy"]["fold_accuracies"]) == 10
    rng = np.random.default_rng(1)
    emb = rng.normal(size=(1400, 8))
    emb[1::2][issame] = emb[0::2][issame] + 0.8 * rng.normal(size=(350, 8))
    got = evaluate.evaluate_bin(emb, None, issame)["accuracy"]["accuracy_mean"]
    ref = _brute_bin(emb, issame, StratifiedKFold(10).split(np.zeros(700), issame))
    assert got == pytest.approx(ref)


def test_insightface_order_gives_todays_kfold_folds():
    from common.protocols import binsets

    # insightface order: each tenth holds 300 same then 300 different pairs (lfw.bin); and an alternating file
    insightface = np.tile(np.r_[np.ones(300, bool), np.zeros(300, bool)], 10)
    alternating = np.arange(700) % 2 == 0
    for issame in (insightface, alternating, binsets.load_issame(SMALL_BIN)):
        kfold = np.empty(issame.size, int)
        for k, (_, test) in enumerate(KFold(10).split(issame)):
            kfold[test] = k
        assert np.array_equal(binsets.stratified_folds(issame, 10), kfold)
    rng = np.random.default_rng(2)
    emb = rng.normal(size=(12000, 8))
    emb[1::2][insightface] = emb[0::2][insightface] + 0.9 * rng.normal(size=(3000, 8))
    res = binsets.verification_metrics(emb, None, insightface)
    assert res["accuracy"]["accuracy_mean"] == pytest.approx(_brute_bin(emb, insightface, KFold(10).split(emb[::2])))


def test_training_verification_scores_protocol_order_bin(tmp_path):
    from common.train.verification import build_targets

    make_bin(str(tmp_path / "cfp_fp.bin"), np.r_[np.ones(50, bool), np.zeros(50, bool)], corrupt=(7,))
    (target,) = build_targets(str(tmp_path), "cfp_fp")
    r = target.score(StubNet(), _pre(), 64)
    assert 0.9 < r["accuracy"] <= 1.0 and r["pairs_dropped"] == 1


# ----------------------------------------------------------------------------------- 4. VAL@FAR only when it can be
def test_val_at_far_na_with_too_few_impostors(tmp_path):
    from common.protocols import binsets

    issame = np.r_[np.ones(350, bool), np.zeros(350, bool)]
    make_bin(str(tmp_path / "v.bin"), issame)
    rng = np.random.default_rng(3)
    emb = rng.normal(size=(1400, 8))
    emb[1::2][issame] = emb[0::2][issame] + 0.5 * rng.normal(size=(350, 8))
    np.save(tmp_path / "E.npy", emb)
    rc, out, err = _cli("--protocol", "bin", "--embeddings", str(tmp_path / "E.npy"), "--pairs",
                        str(tmp_path / "v.bin"), "--out", str(tmp_path / "r.json"))
    assert rc == 0, err
    val = json.load(open(tmp_path / "r.json"))["VAL@FAR=0.001"]
    assert val["val_mean"] is None and "1000 impostor pairs" in val["n/a"] and "315" in val["n/a"]
    assert "VAL@FAR=0.001" in out and "n/a" in out.split("VAL@FAR=0.001")[1].splitlines()[0]
    # enough impostors (1200, 1080 per training split): reported, = loop reference of insightface calculate_val
    issame = np.tile(np.r_[np.ones(120, bool), np.zeros(120, bool)], 10)
    emb = rng.normal(size=(4800, 8))
    emb[1::2][issame] = emb[0::2][issame] + 0.7 * rng.normal(size=(1200, 8))
    res = binsets.verification_metrics(emb, None, issame)["VAL@FAR=0.001"]
    e = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    d = np.sum((e[0::2] - e[1::2]) ** 2, axis=1)
    grid, vals = np.arange(0, 4, 0.001), []
    for train, test in KFold(10).split(d):
        imp = d[train][~issame[train]]
        far = np.array([np.count_nonzero(imp < t) for t in grid]) / imp.size
        uniq, first = np.unique(far, return_index=True)
        thr = np.interp(1e-3, uniq, grid[first]) if far.max() >= 1e-3 else 0.0
        vals.append(np.count_nonzero(d[test][issame[test]] < thr) / issame[test].sum())
    assert "n/a" not in res and res["val_mean"] == pytest.approx(np.mean(vals), abs=1e-3)


# --------------------------------------------------------------------------------------- 5. output equal to input
def test_output_equal_to_input_refused_nothing_overwritten(tmp_path):
    pairs_path, _, _ = make_lfw(str(tmp_path / "lfw"))
    names = [f"{p}/{p}_{k:04d}.jpg" for p in PEOPLE for k in range(1, 5)]
    (tmp_path / "list.txt").write_text("\n".join(names) + "\n")
    np.save(tmp_path / "E.npy", np.random.default_rng(0).normal(size=(24, 8)))
    before = {p: _digest(p) for p in (str(tmp_path / "E.npy"), str(tmp_path / "list.txt"), pairs_path)}
    for out in ("E.npy", "list.txt", pairs_path):  # relative to the current folder, or absolute
        rc, _, err = _cli("--protocol", "lfw", "--embeddings", "E.npy", "--list", "list.txt", "--pairs", pairs_path,
                          "--out", out, cwd=str(tmp_path))
        assert rc == 2 and len(err.strip().splitlines()) == 1 and err.startswith("error: ") and "input" in err, err
    os.symlink(tmp_path / "E.npy", tmp_path / "link.json")  # a link to an input is the input
    rc, _, err = _cli("--protocol", "lfw", "--embeddings", "E.npy", "--list", "list.txt", "--pairs", pairs_path,
                      "--out", "link.json", cwd=str(tmp_path))
    assert rc == 2 and "input" in err
    assert {p: _digest(p) for p in before} == before
    assert sorted(os.listdir(tmp_path)) == ["E.npy", "lfw", "link.json", "list.txt"]  # nothing else written


def test_model_eval_output_equal_to_pairs_refused_before_embedding(tmp_path):
    from common.core.paths import check_output
    from common.evaluation.targets import lfw_folder

    pairs_path, _, _ = make_lfw(str(tmp_path / "lfw"))
    before = _digest(pairs_path)
    net = StubNet()
    with pytest.raises(FaceIdError) as err:
        lfw_folder(net, _pre(), str(tmp_path / "lfw"), out_json=pairs_path, batch_size=8)
    assert _one_line(err.value).startswith(pairs_path) and net.calls == 0 and _digest(pairs_path) == before
    os.link(pairs_path, tmp_path / "hard.json")
    with pytest.raises(FaceIdError):
        check_output(str(tmp_path / "hard.json"), pairs_path)
    assert check_output(str(tmp_path / "new.json"), pairs_path, None, [pairs_path]) == str(tmp_path / "new.json")


def test_write_result_atomic_replace(tmp_path, monkeypatch):
    from common.protocols import plots

    path = str(tmp_path / "m.json")
    roc = {"c": {"far": [0, 1], "tpr": [0, 1]}}
    plots.write_result(path, {"protocol": "x", "v": 1, "roc": roc})
    calls = []
    real = os.replace
    monkeypatch.setattr(plots.os, "replace", lambda a, b: (calls.append((a, b)), real(a, b)))
    plots.write_result(path, {"protocol": "x", "v": 2, "roc": roc})
    assert [os.path.dirname(a) == str(tmp_path) and b for a, b in calls] == [path[:-5] + "_roc.png", path]
    assert json.load(open(path))["v"] == 2 and sorted(os.listdir(tmp_path)) == ["m.json", "m_roc.png"]


# ----------------------------------------------------------------------------------- 6. constant / zero embeddings
@pytest.mark.parametrize("kind", ["zero", "constant", "nan"])
def test_constant_or_zero_embeddings_refused(tmp_path, kind):
    issame = np.arange(40) % 2 == 0
    make_bin(str(tmp_path / "v.bin"), issame)
    emb = {"zero": np.zeros((80, 8)), "constant": np.tile(np.arange(8.0), (80, 1)),
           "nan": np.random.default_rng(0).normal(size=(80, 8))}[kind]
    if kind == "nan":
        emb[3, 2] = np.nan
    np.save(tmp_path / "E.npy", emb)
    rc, _, err = _cli("--protocol", "bin", "--embeddings", str(tmp_path / "E.npy"), "--pairs",
                      str(tmp_path / "v.bin"), "--out", str(tmp_path / "r.json"))
    assert rc == 2 and err.startswith(f"error: {tmp_path / 'E.npy'}: ") and len(err.strip().splitlines()) == 1
    assert {"zero": "are zero", "constant": "identical", "nan": "NaN"}[kind] in err
    assert not (tmp_path / "r.json").exists()


def test_some_zero_embeddings_warned_and_counted(tmp_path):
    issame = np.arange(40) % 2 == 0
    make_bin(str(tmp_path / "v.bin"), issame)
    emb = np.random.default_rng(0).normal(size=(80, 8))
    emb[[4, 9, 30]] = 0
    np.save(tmp_path / "E.npy", emb)
    rc, _, err = _cli("--protocol", "bin", "--embeddings", str(tmp_path / "E.npy"), "--pairs",
                      str(tmp_path / "v.bin"), "--out", str(tmp_path / "r.json"))
    assert rc == 0 and "warning:" in err and "3 of 80 embeddings are all-zero" in err
    assert "3 of 80" in json.load(open(tmp_path / "r.json"))["warnings"][0]


# -------------------------------------------------------------------------------- 7. pickle protocol 2 / hostile
@pytest.mark.parametrize("protocol", [0, 2])
@pytest.mark.parametrize("flags", ["list", "ndarray", "np_bool"])
def test_old_pickle_protocols_load(tmp_path, protocol, flags):
    from common.protocols import binsets

    issame = [True, False, True]
    blobs = [_png(_face(i, 1, np.random.default_rng(i))) for i in range(6)]
    value = {"list": issame, "ndarray": np.array(issame), "np_bool": [np.bool_(s) for s in issame]}[flags]
    path = str(tmp_path / "p.bin")
    with open(path, "wb") as f:
        pickle.dump((blobs, value), f, protocol=protocol)
    images, got = binsets.load_bin(path)
    assert got.tolist() == issame and len(images) == 6
    assert np.array_equal(images[2], cv2.imdecode(np.frombuffer(blobs[2], np.uint8), cv2.IMREAD_COLOR)[:, :, ::-1])


class _Reduce:
    def __init__(self, fn, args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


@pytest.mark.parametrize("protocol", [2, 4])
def test_hostile_pickles_stay_refused(tmp_path, protocol):
    import builtins
    import codecs

    from common.protocols import binsets

    marker = tmp_path / "pwned"
    payloads = {
        "os.system": _Reduce(os.system, (f"touch {marker}",)),
        "eval": _Reduce(builtins.eval, (f"open({str(marker)!r}, 'w')",)),
        "exec": _Reduce(builtins.exec, (f"open({str(marker)!r}, 'w')",)),
        "getattr": _Reduce(builtins.getattr, ("text", "upper")),
        "subprocess": _Reduce(subprocess.call, (["touch", str(marker)],)),
        "codecs other": _Reduce(codecs.encode, ("x", "rot13")),
    }
    for name, obj in payloads.items():
        path = str(tmp_path / "evil.bin")
        with open(path, "wb") as f:
            pickle.dump(([obj, b"x"], [True]), f, protocol=protocol)
        with pytest.raises(FaceIdError) as err:
            binsets.load_bin(path)
        assert _one_line(err.value).startswith(path) and "refusing" in str(err.value), name
        assert not marker.exists(), name
    # the latin-1 bytes stand-in refuses anything but latin-1 text
    with open(str(tmp_path / "evil.bin"), "wb") as f:
        f.write(b"\x80\x02c_codecs\nencode\nq\x00X\x01\x00\x00\x00xX\x05\x00\x00\x00rot13\x86R.")
    with pytest.raises(FaceIdError, match="refusing _codecs.encode"):
        binsets.load_bin(str(tmp_path / "evil.bin"))


# --------------------------------------------------------------------------------- 8. binary / .mat pairs files
def test_jpeg_as_pairs_file_one_line(tmp_path):
    from common.evaluation.targets import lfw_folder

    make_lfw(str(tmp_path / "lfw"))
    jpg = str(tmp_path / "lfw" / "Person_0" / "Person_0_0001.jpg")
    names = [f"{p}/{p}_{k:04d}.jpg" for p in PEOPLE for k in range(1, 5)]
    (tmp_path / "list.txt").write_text("\n".join(names) + "\n")
    np.save(tmp_path / "E.npy", np.random.default_rng(0).normal(size=(24, 8)))
    rc, _, err = _cli("--protocol", "lfw", "--embeddings", str(tmp_path / "E.npy"), "--list",
                      str(tmp_path / "list.txt"), "--pairs", jpg, "--out", str(tmp_path / "r.json"))
    assert rc == 2 and err.strip() == f"error: {jpg}: not a text pairs file (binary content; expected LFW " \
                                      f"pairs.txt, or LightCNN's lfw_pairs.mat)", err
    with pytest.raises(FaceIdError, match="not a text pairs file"):
        lfw_folder(StubNet(), _pre(), str(tmp_path / "lfw"), jpg)
    # LightCNN's lfw_pairs.mat (1-based rows of the list) stays readable, also without the .mat extension
    row = {n[:-4]: i + 1 for i, n in enumerate(names)}
    _, _, pairs = make_lfw(str(tmp_path / "lfw"))
    pos = np.array([[row[a], row[b]] for a, b, s, _ in pairs if s], np.float64)
    neg = np.array([[row[a], row[b]] for a, b, s, _ in pairs if not s], np.float64)
    pos, neg = np.vstack([pos] * 2), np.vstack([neg] * 2)  # 20 + 20 pairs: 10 folds of 2 + 2
    scipy.io.savemat(tmp_path / "lfw_pairs.mat", {"pos_pair": pos.T, "neg_pair": neg.T})
    os.link(tmp_path / "lfw_pairs.mat", tmp_path / "pairs_mat")
    for p in ("lfw_pairs.mat", "pairs_mat"):
        rc, out, err = _cli("--protocol", "lfw", "--embeddings", str(tmp_path / "E.npy"), "--list",
                            str(tmp_path / "list.txt"), "--pairs", str(tmp_path / p), "--out", str(tmp_path / "m.json"))
        assert rc == 0, err
        assert json.load(open(tmp_path / "m.json"))["pairs"] == 40


# ------------------------------------------------------------------------------------------- 9. preprocessing
def test_pfe_preprocess_resizes_exactly_no_cheek_patch(tmp_path):
    from common.data.transforms import Preprocess

    for name in ("base_sphere64_cosface.yaml", "pfe_sphere64_casia.yaml"):
        cfg = yaml.safe_load(open(os.path.join(ROOT, "pfe", "configs", name)))
        pre = Preprocess.from_config(cfg["preprocess"])
        assert pre.output_size == (3, 112, 96)
        rng = np.random.default_rng(0)
        for h, w in ((300, 250), (50, 40), (112, 96)):
            bgr = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
            path = str(tmp_path / f"{h}x{w}.png")
            cv2.imwrite(path, bgr)
            x = pre.eval_array(path)
            # independent reference: the photo's centred 112:96 window (never squashed; the whole photo when it
            # is 112:96 already), resized to 96x112, RGB, (x - 127.5) / 128
            keep = int(round(w * 112 / 96)) if h * 96 > w * 112 else h
            top = (h - keep) // 2
            interp = cv2.INTER_AREA if keep > 112 else cv2.INTER_LINEAR
            ref = cv2.resize(bgr[top:top + keep], (96, 112), interpolation=interp)[:, :, ::-1].astype(np.float32)
            np.testing.assert_allclose(x, ((ref - 127.5) / 128.0).transpose(2, 0, 1), atol=1e-6)


def test_image_smaller_than_crop_names_file(tmp_path):
    from common.data.transforms import Preprocess

    pre = Preprocess.from_config({"channels": 3, "resize": None, "crop": [112, 96], "mean": 127.5, "std": 128.0})
    path = str(tmp_path / "small.jpg")
    cv2.imwrite(path, np.zeros((60, 50, 3), np.uint8))
    with pytest.raises(FaceIdError) as err:
        pre.eval_array(path)
    assert _one_line(err.value).startswith(path) and "60x50" in str(err.value)


@pytest.mark.parametrize("bad,key", [({"crp": 32}, "'crp'"), ({"meen": 0.5}, "'meen'"), ({"channels": 2}, "channels"),
                                     ({"color": "hsv"}, "color"), ({"resize": 20, "crop": 32}, "crop"),
                                     ({"interp": "bogus"}, "interp"), ({"std": 0}, "std")])
def test_preprocess_refuses_unknown_keys_and_bad_values(bad, key):
    from common.data.transforms import Preprocess

    d = {"channels": 3, "resize": 36, "crop": 32, "mean": 127.5, "std": 128.0, "flip": True}
    d.update(bad)
    with pytest.raises(FaceIdError) as err:
        Preprocess.from_config(d, source="demo.yaml preprocess")
    assert _one_line(err.value).startswith("demo.yaml preprocess: ") and key in str(err.value)


def test_preprocess_color_and_interp():
    from common.data.transforms import Preprocess

    bgr = np.random.default_rng(0).integers(0, 256, size=(20, 16, 3), dtype=np.uint8)
    buf = cv2.imencode(".png", bgr)[1].tobytes()
    rgb = Preprocess.from_config({"resize": [10, 8], "interp": "nearest", "mean": 0.0, "std": 1.0}).eval_array(buf)
    bgr_out = Preprocess.from_config({"resize": [10, 8], "interp": "nearest", "color": "bgr", "mean": 0.0,
                                      "std": 1.0}).eval_array(buf)
    ref = cv2.resize(bgr, (8, 10), interpolation=cv2.INTER_NEAREST).astype(np.float32)
    np.testing.assert_array_equal(bgr_out, ref.transpose(2, 0, 1))
    np.testing.assert_array_equal(rgb, ref[:, :, ::-1].transpose(2, 0, 1))


# ------------------------------------------------------------------------- 10. LFW copies in any image format
@pytest.mark.parametrize("ext", [".png", ".bmp", ".jpeg", ".webp"])
def test_lfw_folder_any_image_format(tmp_path, ext):
    from common.evaluation.targets import lfw_folder

    make_lfw(str(tmp_path / "lfw"), ext=ext)
    res = lfw_folder(StubNet(), _pre(), str(tmp_path / "lfw"), batch_size=8, log=lambda *_: None)
    assert res["pairs"] == 20 and res["pairs_dropped"] == 0 and res["accuracy_mean"] > 0.9


def test_lfw_112_layout_single_subfolder(tmp_path):
    from common.evaluation.targets import lfw_folder

    root = tmp_path / "LFW_112"
    make_lfw(str(root), subfolder="lfw_align_112")  # LFW_112/pairs.txt + LFW_112/lfw_align_112/<name>/...
    res = lfw_folder(StubNet(), _pre(), str(root), batch_size=8, log=lambda *_: None)
    assert res["pairs"] == 20 and res["files"]["pairs"] == str(root / "pairs.txt")


def test_folder_without_pairs_uses_shipped_pairs(tmp_path, monkeypatch):
    from common.evaluation.sets import SHIPPED_PAIRS, find_pairs, pair_images

    make_lfw(str(tmp_path / "lfw"))
    os.remove(tmp_path / "lfw" / "pairs.txt")
    monkeypatch.chdir(tmp_path)  # resolved from the repository, not the current folder
    lines = []
    assert find_pairs("lfw", None, lines.append) == SHIPPED_PAIRS == os.path.join(ROOT, "protocols", "lfw_pairs.txt")
    assert len(lines) == 1 and "no pairs.txt" in lines[0] and SHIPPED_PAIRS in lines[0]
    with pytest.raises(FaceIdError) as err:  # our 6 people are not LFW's: missing images, named
        pair_images("lfw", log=lambda *_: None)
    assert _one_line(err.value).startswith(SHIPPED_PAIRS) and "missing under lfw" in str(err.value)


# ------------------------------------------------------------------------------ SystemExit -> FaceIdError (data)
def test_training_list_errors_are_faceid_errors(tmp_path):
    from common.data.folder import load_training_set, read_list

    jpg = tmp_path / "x.jpg"
    cv2.imwrite(str(jpg), np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(FaceIdError, match=r"x\.jpg: not a text list file"):
        read_list(str(jpg))
    with pytest.raises(FaceIdError, match="no training data"):
        load_training_set()


# ------------------------------------------------- saved embeddings score back the same (unreadable rows as NaN)
def test_saved_embeddings_score_back_with_the_same_dropped_pairs(tmp_path):
    from common.evaluation.targets import bin_set, lfw_folder

    _, img_root, _ = make_lfw(str(tmp_path / "lfw"))
    open(os.path.join(img_root, "Person_2", "Person_2_0003.jpg"), "wb").close()
    stem = str(tmp_path / "out" / "lfw.lfw")
    res = lfw_folder(StubNet(), _pre(), str(tmp_path / "lfw"), out_json=stem + "_result.json", batch_size=8,
                     flip=True, log=lambda *_: None, embeddings_out=stem)
    assert res["pairs_dropped"] > 0 and res["files"]["embeddings"] == stem + "_embeddings.npy"
    rc, _, err = _cli("--protocol", "lfw", "--embeddings", stem + "_embeddings.npy", "--list", stem + "_images.txt",
                      "--pairs", str(tmp_path / "lfw" / "pairs.txt"), "--out", str(tmp_path / "back.json"))
    assert rc == 0, err
    back = json.load(open(tmp_path / "back.json"))
    assert back["pairs_dropped"] == res["pairs_dropped"] and back["accuracy_mean"] == pytest.approx(res["accuracy_mean"])
    assert back["unreadable_images"] == ["Person_2/Person_2_0003.jpg"]
    # a .bin: no-flip and flip embeddings saved, scored back identically
    path = make_bin(str(tmp_path / "v.bin"), np.arange(60) % 3 == 0, corrupt=(8,))
    stem = str(tmp_path / "out" / "v.bin")
    res = bin_set(StubNet(), _pre(), path, None, batch_size=32, log=lambda *_: None, embeddings_out=stem)
    rc, _, err = _cli("--protocol", "bin", "--embeddings", stem + "_embeddings.npy", "--flip_embeddings",
                      stem + "_flip_embeddings.npy", "--pairs", path, "--out", str(tmp_path / "bin_back.json"))
    assert rc == 0, err
    back = json.load(open(tmp_path / "bin_back.json"))
    assert back["pairs_dropped"] == res["pairs_dropped"] == 1
    assert back["accuracy_flip"]["accuracy_mean"] == pytest.approx(res["accuracy_flip"]["accuracy_mean"])


def test_lfw_folder_with_image_list_and_mat_pairs(tmp_path):
    from common.evaluation.targets import lfw_folder

    _, img_root, pairs = make_lfw(str(tmp_path / "lfw"), ext=".png")
    names = [f"{p}/{p}_{k:04d}.bmp" for p in PEOPLE for k in range(1, 5)]  # other extension: found as .png
    (tmp_path / "image_list_for_lfw.txt").write_text("".join(f"{n} {i // 4}\n" for i, n in enumerate(names)))
    row = {n[:-4]: i + 1 for i, n in enumerate(names)}
    pos = np.array([[row[a], row[b]] for a, b, s, _ in pairs if s] * 2, np.float64)
    neg = np.array([[row[a], row[b]] for a, b, s, _ in pairs if not s] * 2, np.float64)
    scipy.io.savemat(tmp_path / "lfw_pairs.mat", {"pos_pair": pos.T, "neg_pair": neg.T})
    res = lfw_folder(StubNet(), _pre(), str(tmp_path / "lfw"), str(tmp_path / "lfw_pairs.mat"), batch_size=8,
                     log=lambda *_: None, image_list=str(tmp_path / "image_list_for_lfw.txt"))
    assert res["pairs"] == 40 and res["accuracy_mean"] > 0.9 and len(res["fold_accuracies"]) == 10
