"""Photo to verdict: common.tools.compare / common.tools.identify with a stand-in embedder (scores recomputed here in numpy
from the crops they wrote), thresholds read from eval result JSONs, and the real path through a zoo model
(untrained LightCNN demo net: the whole path runs and writes its JSON; no accuracy is claimed)."""
import argparse
import json
import os
import shutil
import sys

import cv2
import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from common.tools import compare
from common.tools import identify  # noqa: E402
from common.data.transforms import Preprocess  # noqa: E402
from common.core.errors import FaceIdError  # noqa: E402

PHOTOS = os.path.join(ROOT, "tests", "fixtures", "raw_photos")


class PixelEmbedder:
    """Stand-in with load_embedder's interface: the embedding is the preprocessed pixels themselves."""

    align = "arcface112"

    def __init__(self):
        self.preprocess = Preprocess(channels=3, resize=[16, 16], crop=None, mean=127.5, std=128.0)
        self.cfg = {}
        self.calls = 0

    def embed(self, x):
        self.calls += 1
        assert x.dtype == np.float32 and x.ndim == 4 and x.shape[1:] == (3, 16, 16)
        return x.reshape(len(x), -1) + 0.5


def _independent_embedding(crop_path):
    img = cv2.cvtColor(cv2.imread(crop_path), cv2.COLOR_BGR2RGB)
    x = (cv2.resize(img, (16, 16), interpolation=cv2.INTER_AREA).astype(np.float64) - 127.5) / 128.0
    v = x.transpose(2, 0, 1).reshape(-1) + 0.5
    return v / np.linalg.norm(v)


def _args(**kw):
    base = dict(model="standin", ckpt_file=None, config=None, threshold=None, result=None, align=None, face_a=None,
                face_b=None, min_face=20, out_dir=None)
    base.update(kw)
    return argparse.Namespace(**base)


def test_compare_scores_writes_crops_and_says_which_face(tmp_path, capsys):
    a, b = os.path.join(PHOTOS, "two_people.jpg"), os.path.join(PHOTOS, "obama2.jpg")
    out = compare.run(_args(photos=[a, b], threshold=0.5, out_dir=str(tmp_path / "c")), embedder=PixelEmbedder())
    printed = capsys.readouterr().out
    assert "2 faces, used face" in printed and "cosine similarity" in printed
    with open(tmp_path / "c" / "compare.json") as f:
        saved = json.load(f)
    assert saved["cosine_similarity"] == pytest.approx(out["cosine_similarity"])
    ea, eb = (_independent_embedding(p["aligned_crop"]) for p in saved["photos"])   # PNG crops: lossless
    assert saved["cosine_similarity"] == pytest.approx(float(ea @ eb), abs=1e-5)
    assert saved["decision"] == ("same person" if saved["cosine_similarity"] >= 0.5 else "different people")
    assert saved["photos"][0]["faces"] == 2 and saved["photos"][1]["faces"] == 1
    # the other face of two_people.jpg on request
    out1 = compare.run(_args(photos=[a, b], face_a=1, out_dir=str(tmp_path / "d")), embedder=PixelEmbedder())
    assert out1["photos"][0]["used"] == 1 and out1["decision"] is None
    assert out1["photos"][0]["boxes"][1][0] > out1["photos"][0]["boxes"][0][0]
    with pytest.raises(FaceIdError, match="two_people.jpg: --face 5"):
        compare.run(_args(photos=[a, b], face_a=5, out_dir=str(tmp_path / "e")), embedder=PixelEmbedder())


def test_compare_no_face_and_rgba_photo(tmp_path):
    blank = tmp_path / "blank.jpg"
    cv2.imwrite(str(blank), np.full((100, 100, 3), 50, np.uint8))
    png = os.path.join(PHOTOS, "lin-manuel-miranda.png")                     # RGBA
    with pytest.raises(FaceIdError, match="blank.jpg: no face found"):
        compare.run(_args(photos=[png, str(blank)], out_dir=str(tmp_path / "o")), embedder=PixelEmbedder())


def test_threshold_from_eval_results(tmp_path):
    lfw = {"protocol": "lfw", "accuracy_mean": 0.9, "fold_thresholds": [0.2, 0.4]}
    (tmp_path / "lfw.json").write_text(json.dumps(lfw))
    t, how = compare.threshold_from_result(str(tmp_path / "lfw.json"))
    assert t == pytest.approx(0.3) and "LFW" in how
    binr = {"protocol": "bin", "accuracy": {"fold_thresholds": [1.0, 1.2]},
            "accuracy_flip": {"fold_thresholds": [0.2]}}
    (tmp_path / "bin.json").write_text(json.dumps(binr))
    t, how = compare.threshold_from_result(str(tmp_path / "bin.json"))
    assert t == pytest.approx(1 - 1.1 / 2)                                   # |a-b|^2 = 2 - 2 cos on unit vectors
    (tmp_path / "none.json").write_text("{}")
    with pytest.raises(FaceIdError, match="none.json: no fold thresholds"):
        compare.threshold_from_result(str(tmp_path / "none.json"))


def test_lfw_result_threshold_is_a_cosine_threshold(tmp_path):
    """The JSON an LFW eval writes (common.evaluation.scoring.evaluate_lfw): the mean fold threshold separates its scores."""
    from common.evaluation.scoring import evaluate_lfw
    from common.protocols.plots import write_result

    rng = np.random.default_rng(0)
    names = [f"p{i}/p{i}_{k:04d}.jpg" for i in range(40) for k in (1, 2)]
    base = rng.normal(size=(40, 32))
    emb = np.repeat(base, 2, axis=0) + 0.6 * rng.normal(size=(80, 32))
    lines = ["10 3"]
    for fold in range(10):
        for j in range(3):
            i = (fold * 3 + j) % 40
            lines.append(f"p{i} 1 2")
        for j in range(3):
            i, k = (fold * 3 + j) % 40, (fold * 3 + j + 7) % 40
            lines.append(f"p{i} 1 p{k} 2")
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("\n".join(lines) + "\n")
    res = evaluate_lfw(emb, names, str(pairs))
    path, _ = write_result(str(tmp_path / "result.json"), res)
    t, _ = compare.threshold_from_result(path)
    assert t == pytest.approx(np.mean(res["fold_thresholds"])) and -1 <= t <= 1


def test_identify_ranks_mean_unit_embeddings(tmp_path, capsys):
    g = tmp_path / "gallery"
    for ident, files in {"obama": ["obama.jpg", "obama_small.jpg"], "lennon": ["lennon-1.jpg", "lennon-2.jpg"],
                         "clapton": ["clapton-1.jpg"]}.items():
        (g / ident).mkdir(parents=True)
        for f in files:
            shutil.copyfile(os.path.join(PHOTOS, f), g / ident / f)
    (g / "clapton" / "broken.jpg").write_bytes(b"junk")
    args = argparse.Namespace(model="standin", ckpt_file=None, config=None, gallery=str(g),
                              probe=os.path.join(PHOTOS, "obama2.jpg"), probe_face=None, top=2, threshold=None,
                              result=None, align=None, min_face=20, out_dir=str(tmp_path / "i"))
    out = identify.run(args, embedder=PixelEmbedder())
    assert [r["rank"] for r in out["ranking"]] == [1, 2] and out["identities"] == 3
    assert len(out["skipped_gallery_photos"]) == 1 and "broken.jpg" in out["skipped_gallery_photos"][0]["photo"]
    # independent: align the gallery photos, embed them here, mean of unit vectors per identity
    from common.align import Aligner, read_photo

    al = Aligner("arcface112")
    emb = PixelEmbedder()

    def unit(crop):
        v = emb.embed(emb.preprocess.eval_image(crop)[None].astype(np.float32))[0].astype(np.float64)
        return v / np.linalg.norm(v)

    probe = unit(al(read_photo(args.probe)))
    want = {}
    for ident in ("obama", "lennon", "clapton"):
        vs = [unit(al(read_photo(str(p)))) for p in sorted((g / ident).iterdir()) if p.name != "broken.jpg"]
        m = np.mean(vs, axis=0)
        want[ident] = float(probe @ (m / np.linalg.norm(m)))
    best = sorted(want, key=lambda k: -want[k])[:2]
    assert [r["identity"] for r in out["ranking"]] == best
    for r in out["ranking"]:
        assert r["cosine_similarity"] == pytest.approx(want[r["identity"]], abs=1e-6)
    assert os.path.isfile(tmp_path / "i" / "identify.json")
    assert "gallery: 3 identities, 5 faces" in capsys.readouterr().out


def test_zoo_model_embeds_aligned_crops(tmp_path):
    """Real path: an untrained LightCNN demo net from the zoo, raw photos -> detection -> lightcnn144 -> the
    recipe's preprocessing -> embeddings; compare writes its JSON."""
    pytest.importorskip("mindspore", reason="MindSpore not installed")
    from common.align import aligned_preprocess
    from common.evaluation.embed import extract
    from common.recipes.load import load_embedder

    emb = load_embedder("lightcnn", config=os.path.join(ROOT, "lightcnn", "configs", "demo.yaml"))
    assert emb.align == "lightcnn144"
    pre = aligned_preprocess(emb.preprocess, emb.align)
    paths = [os.path.join(PHOTOS, f) for f in ("obama.jpg", "obama_small.jpg", "alex-lacamoire.png",
                                               "two_people.jpg")]
    vectors = extract(emb.net, paths, pre, batch_size=4, disable=True)
    assert vectors.shape[0] == 4 and np.isfinite(vectors).all()
    assert pre.stats == {"images": 4, "faces_found": 4, "no_face": 0, "several_faces": 1}
    assert pre.load(paths[0]).shape == (144, 144, 1)
    x = pre.eval_array(paths[0])
    assert x.shape == emb.preprocess.output_size
    out = compare.run(_args(model="lightcnn", photos=paths[:2], threshold=0.3, out_dir=str(tmp_path / "z")),
                      embedder=emb)
    with open(tmp_path / "z" / "compare.json") as f:
        saved = json.load(f)
    assert saved["template"] == "lightcnn144" and -1 <= saved["cosine_similarity"] <= 1
    assert out["decision"] in ("same person", "different people")
