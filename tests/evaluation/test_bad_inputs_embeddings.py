"""NaN / inf embeddings, one rule on every path (issue 24 item 5): a scored row holding NaN or infinity is refused,
naming the rows (and images) — in the eval flow, ``python -m common.evaluate``, the C++ post-step, PFE's MLS scoring
and compare / identify. A NaN row is never taken for an unreadable image by itself: the eval names those in
``STEM_unreadable.txt``, and exactly their pairs are dropped."""
import os

import numpy as np
import pytest

from common.core.errors import FaceIdError
from tests.evaluation.test_bad_inputs_eval import PEOPLE, StubNet, _cli, _pre, make_bin, make_lfw


def _names_and_pairs(tmp_path):
    pairs_path, _, pairs = make_lfw(str(tmp_path / "lfw"))
    names = [f"{p}/{p}_{k:04d}.jpg" for p in PEOPLE for k in range(1, 5)]
    return pairs_path, names, pairs


def _embeddings(n, seed=0):
    return np.random.default_rng(seed).normal(size=(n, 8)).astype(np.float32)


def test_cli_refuses_an_unmarked_nan_row_naming_it(tmp_path):
    pairs_path, names, _ = _names_and_pairs(tmp_path)
    emb = _embeddings(len(names))
    emb[5] = np.nan                                              # Person_1/Person_1_0002.jpg, used by the pairs
    np.save(tmp_path / "E.npy", emb)
    (tmp_path / "list.txt").write_text("".join(n + "\n" for n in names))
    rc, out, err = _cli("--protocol", "lfw", "--embeddings", str(tmp_path / "E.npy"), "--list",
                        str(tmp_path / "list.txt"), "--pairs", pairs_path, "--out", str(tmp_path / "r.json"))
    assert rc == 2 and "Traceback" not in err
    line = err.strip().splitlines()[-1]
    assert line.startswith("error: ") and "NaN or infinity" in line and "row 5 (Person_1/Person_1_0002.jpg)" in line
    assert not (tmp_path / "r.json").exists()


def test_saved_unreadable_rows_are_dropped_only_when_named(tmp_path):
    from common.evaluation.targets import lfw_folder

    _, img_root, pairs = make_lfw(str(tmp_path / "lfw"))
    open(os.path.join(img_root, "Person_2", "Person_2_0003.jpg"), "wb").close()
    stem = str(tmp_path / "out" / "lfw")
    res = lfw_folder(StubNet(), _pre(), str(tmp_path / "lfw"), batch_size=8, log=lambda *_: None,
                     embeddings_out=stem)
    marker = stem + "_unreadable.txt"
    assert res["files"]["unreadable"] == os.path.abspath(marker)
    assert open(marker).read().split() == ["Person_2/Person_2_0003.jpg"]
    args = ("--protocol", "lfw", "--embeddings", stem + "_embeddings.npy", "--list", stem + "_images.txt",
            "--pairs", str(tmp_path / "lfw" / "pairs.txt"), "--out", str(tmp_path / "back.json"))
    rc, out, err = _cli(*args)
    assert rc == 0, err
    assert "1 image(s) the eval could not read" in out
    # without the eval's record, the NaN row is a NaN embedding like any other: refused, named
    os.remove(marker)
    rc, _, err = _cli(*args)
    row = open(stem + "_images.txt").read().split().index("Person_2/Person_2_0003.jpg")
    assert rc == 2 and f"row {row} (Person_2/Person_2_0003.jpg)" in err.strip().splitlines()[-1]
    # a later eval without unreadable images removes a stale record
    open(marker, "w").write("Person_0/Person_0_0001.jpg\n")
    os.remove(os.path.join(img_root, "Person_2", "Person_2_0003.jpg"))
    import shutil

    shutil.copyfile(os.path.join(img_root, "Person_2", "Person_2_0001.jpg"),
                    os.path.join(img_root, "Person_2", "Person_2_0003.jpg"))
    lfw_folder(StubNet(), _pre(), str(tmp_path / "lfw"), batch_size=8, log=lambda *_: None, embeddings_out=stem)
    assert not os.path.exists(marker)


def test_evaluate_lfw_and_bin_name_the_bad_rows(tmp_path):
    from common.evaluation.scoring import evaluate_bin, evaluate_lfw

    pairs_path, names, pairs = _names_and_pairs(tmp_path)
    used = sorted({names.index(n + ".jpg") for a, b, _, _ in pairs for n in (a, b)})
    unused = sorted(set(range(len(names))) - set(used))
    emb = _embeddings(len(names))
    emb[[used[1], used[-1]], 1] = np.inf                          # partly inf rows, scored
    emb[unused[0]] = np.nan                                       # a row no pair uses: not scored, not refused
    with pytest.raises(FaceIdError) as e:
        evaluate_lfw(emb, names, pairs_path)
    msg = str(e.value)
    assert f"2 of {len(used)} embeddings" in msg and f"row {used[1]} ({names[used[1]]})" in msg \
        and f"row {used[-1]} ({names[used[-1]]})" in msg and f"row {unused[0]} " not in msg
    issame = np.arange(40) % 2 == 0
    emb = _embeddings(80)
    emb[9, 0] = np.nan
    with pytest.raises(FaceIdError, match=r"row 9\b"):
        evaluate_bin(emb, None, issame)
    flip = _embeddings(80, 1)
    flip[12] = np.inf
    with pytest.raises(FaceIdError, match=r"\(flipped\).*row 12\b"):
        evaluate_bin(_embeddings(80), flip, issame)


def test_bin_cli_refuses_nan_rows_not_recorded_as_unreadable(tmp_path):
    from common.evaluation.targets import bin_set

    path = make_bin(str(tmp_path / "v.bin"), np.arange(60) % 3 == 0, corrupt=(8,))
    stem = str(tmp_path / "out" / "v.bin")
    bin_set(StubNet(), _pre(), path, None, batch_size=32, log=lambda *_: None, embeddings_out=stem)
    flip = np.load(stem + "_flip_embeddings.npy")
    flip[20] = np.nan                                             # a NaN the eval did not write
    np.save(stem + "_flip_embeddings.npy", flip)
    rc, _, err = _cli("--protocol", "bin", "--embeddings", stem + "_embeddings.npy", "--flip_embeddings",
                      stem + "_flip_embeddings.npy", "--pairs", path, "--out", str(tmp_path / "b.json"))
    assert rc == 2 and "row 20" in err and "row 8" not in err     # image 8: the eval's unreadable one, dropped


def test_cpp_post_step_refuses_nan_rows_naming_the_images(tmp_path):
    from common.deploy import infer310_post
    from tests.deploy.test_infer310_models import _fake_harness_run

    names = [f"{p}/{p}_{k:04d}.jpg" for p in PEOPLE for k in range(1, 5)]
    emb = _embeddings(len(names))
    emb[6] = np.nan
    data, work = _fake_harness_run(tmp_path, emb, names)
    make_lfw(str(tmp_path / "tmp_lfw"))
    os.replace(tmp_path / "tmp_lfw" / "pairs.txt", data / "pairs.txt")
    with pytest.raises(FaceIdError, match=r"row 6 \(Person_1/Person_1_0003\.jpg\)"):
        infer310_post.postprocess(str(work / "input" / "manifest.tsv"), str(work / "result"), str(data),
                                  log=lambda *_: None)


def test_mls_scoring_refuses_nan(tmp_path):
    from common.protocols.mls import score_lfw_pairs

    pairs_path, names, _ = _names_and_pairs(tmp_path)
    mu, sigma = _embeddings(len(names)), np.ones((len(names), 8), np.float32)
    sigma[2, 3] = np.nan
    with pytest.raises(FaceIdError, match=r"sigma_sq: 1 of .*\(row 2 \(Person_0/Person_0_0003\.jpg\)"):
        score_lfw_pairs(mu, sigma, names, pairs_path)


def test_compare_refuses_a_nan_embedding_naming_the_photo():
    from common.data.transforms import Preprocess
    from common.tools.compare import embed_crops

    class NanEmbedder:
        preprocess = Preprocess(channels=3, resize=[16, 16], crop=None, mean=127.5, std=128.0)

        def embed(self, x):
            out = x.reshape(len(x), -1).astype(np.float32)
            out[1] = np.nan
            return out

    crops = [np.full((112, 112, 3), v, np.uint8) for v in (10, 200)]
    with pytest.raises(FaceIdError, match=r"row 1 \(b\.jpg\)"):
        embed_crops(NanEmbedder(), crops, names=["a.jpg", "b.jpg"])
