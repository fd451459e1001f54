"""The real published weights end to end (runs only when ``FACEID_REAL_WEIGHTS=DIR`` holds them; skips otherwise).

``DIR/068.ckpt`` = Xiaoccer/MobileFaceNet_Pytorch ``model/best/068.ckpt`` (sha256 e839247c...10d99; no license
file in that repository: research use, never vendored here). Imported with the acceptance command, scored by
``cosface/eval.py --config D/config.yaml --ckpt_file D/model.ckpt`` on the 14 real photos of
tests/fixtures/raw_photos (aligned by ``common.align``), the saved embeddings must equal an independent PyTorch
forward of the same weights (the publisher's layout written in tests/torch_nets.py, loaded by ``torch.load``)
within 1e-4 relative, and every same-person pair must score above every different-person pair.
"""
import hashlib
import itertools
import os
import shutil

import numpy as np
import pytest

from tests.helpers import PY, ROOT, run

WEIGHTS = os.environ.get("FACEID_REAL_WEIGHTS", "")
CKPT = os.path.join(WEIGHTS, "068.ckpt")
pytestmark = pytest.mark.skipif(not WEIGHTS or not os.path.isfile(CKPT),
                                reason="set FACEID_REAL_WEIGHTS=DIR holding Xiaoccer's 068.ckpt to run")
torch = pytest.importorskip("torch", reason="the independent reference forward is PyTorch")

PHOTOS = os.path.join(ROOT, "tests", "fixtures", "raw_photos")
# aligned crop (common.align --all_faces names them <photo>_<face>, faces left to right) -> identity (SOURCES.md)
IDENTITY = {
    "obama_0": "Barack_Obama", "obama2_0": "Barack_Obama", "obama_small_0": "Barack_Obama",
    "two_people_0": "Barack_Obama", "two_people_1": "Joe_Biden", "biden_0": "Joe_Biden",
    "lennon-1_0": "John_Lennon", "lennon-2_0": "John_Lennon", "clapton-1_0": "Eric_Clapton",
    "clapton-2_0": "Eric_Clapton", "adams_0": "Amy_Adams", "carell_0": "Steve_Carell",
    "alex-lacamoire_0": "Alex_Lacamoire", "lin-manuel-miranda_0": "Lin-Manuel_Miranda",
    "longoria-cooper_0": "Longoria_or_Cooper_left", "longoria-cooper_1": "Longoria_or_Cooper_right",
}


def rel(a, b):
    return float(np.abs(a - b).max() / np.abs(b).max())


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    digest = hashlib.sha256(open(CKPT, "rb").read()).hexdigest()
    assert digest.startswith("e839247c") and digest.endswith("10d99"), f"{CKPT}: sha256 {digest}"
    work = tmp_path_factory.mktemp("real")
    d = work / "D"
    shutil.copy(CKPT, work / "068.ckpt")
    p = run([PY, "-m", "common.import_weights", "--from", "torch", "--arch", "mobilefacenet", "--input_size",
             "112x96", "--in", "068.ckpt", "--out_dir", "D"], cwd=str(work))
    assert "mapped 283 parameters" in p.stdout
    return work, d


def lfw_folder(work, template):
    """Align the raw photos, lay them out as an LFW folder with a 2-fold pairs.txt (4 same + 4 different each)."""
    aligned = work / f"aligned_{template}"
    run([PY, "-m", "common.align", PHOTOS, str(aligned), "--template", template, "--all_faces", "--quiet"])
    crops = {os.path.splitext(f)[0]: f for f in os.listdir(aligned) if not f.endswith(".json")}
    assert set(crops) == set(IDENTITY), sorted(crops)
    root = work / f"lfw_{template}"
    count, where = {}, {}
    for stem in sorted(crops):
        name = IDENTITY[stem]
        count[name] = count.get(name, 0) + 1
        (root / name).mkdir(parents=True, exist_ok=True)
        ext = os.path.splitext(crops[stem])[1]
        shutil.copy(aligned / crops[stem], root / name / f"{name}_{count[name]:04d}{ext}")
        where[(name, count[name])] = str(root / name / f"{name}_{count[name]:04d}{ext}")
    same = [("Barack_Obama", 1, 2), ("Barack_Obama", 3, 4), ("John_Lennon", 1, 2), ("Joe_Biden", 1, 2),
            ("Barack_Obama", 1, 3), ("Barack_Obama", 2, 4), ("Eric_Clapton", 1, 2), ("Barack_Obama", 1, 4)]
    diff = [("Barack_Obama", 1, "Joe_Biden", 1), ("John_Lennon", 1, "Eric_Clapton", 1),
            ("Amy_Adams", 1, "Steve_Carell", 1), ("Alex_Lacamoire", 1, "Lin-Manuel_Miranda", 1),
            ("Barack_Obama", 2, "Joe_Biden", 2), ("John_Lennon", 2, "Eric_Clapton", 2),
            ("Longoria_or_Cooper_left", 1, "Longoria_or_Cooper_right", 1), ("Amy_Adams", 1, "Barack_Obama", 3)]
    lines = ["2\t4"]
    for k in range(2):
        lines += ["\t".join(map(str, s)) for s in same[4 * k:4 * k + 4]]
        lines += ["\t".join(map(str, s)) for s in diff[4 * k:4 * k + 4]]
    (root / "pairs.txt").write_text("\n".join(lines) + "\n")
    return root, where


def saved_embeddings(out, where):
    """The eval's ``--save_embeddings`` output under ``out``: (embeddings, image names, aligned crop paths)."""
    emb_file = [f for f in os.listdir(out / "eval") if f.endswith("_embeddings.npy")]
    assert len(emb_file) == 1, os.listdir(out / "eval")
    emb = np.load(out / "eval" / emb_file[0])
    names = (out / "eval" / emb_file[0].replace("_embeddings.npy", "_images.txt")).read_text().split()
    paths = []
    for n in names:
        ident, num = os.path.basename(n).rsplit("_", 1)
        paths.append(where[(ident, int(os.path.splitext(num)[0]))])
    return emb, names, paths


def cosines(ref, names):
    """Cosines of the reference embeddings: (same-person pairs, different-person pairs)."""
    unit = ref / np.linalg.norm(ref, axis=1, keepdims=True)
    ids = [os.path.basename(n).rsplit("_", 1)[0] for n in names]
    pairs = list(itertools.combinations(range(len(ids)), 2))
    same = [float(unit[i] @ unit[j]) for i, j in pairs if ids[i] == ids[j]]
    diff = [float(unit[i] @ unit[j]) for i, j in pairs if ids[i] != ids[j]]
    return same, diff


def reference(paths):
    """Independent forward: torch.load of the publisher's file into the layout of tests/torch_nets.py."""
    import cv2

    from tests.torch_nets import XiaoccerMobileFaceNet

    sd = torch.load(CKPT, map_location="cpu", weights_only=True)["net_state_dict"]
    net = XiaoccerMobileFaceNet()
    own = net.state_dict()
    assert [tuple(v.shape) for v in own.values()] == [tuple(v.shape) for v in sd.values()]
    net.load_state_dict(dict(zip(own, sd.values())))
    net.eval()
    batch = []
    for p in paths:
        img = cv2.cvtColor(cv2.imread(p, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB).astype(np.float64)
        if img.shape[1] == 112:          # an ArcFace 112x112 crop: the SphereFace crop is its columns 8..104
            img = img[:, 8:104]
        assert img.shape == (112, 96, 3)
        batch.append(((img - 127.5) / 128.0).transpose(2, 0, 1))
    with torch.no_grad():
        return net(torch.from_numpy(np.stack(batch).astype(np.float32))).numpy()


@pytest.mark.parametrize("template", ["sphereface112x96", "arcface112"])
def test_real_weights_eval_equals_pytorch(bundle, template, capsys):
    work, d = bundle
    root, where = lfw_folder(work, template)
    out = work / f"eval_{template}"
    p = run([PY, os.path.join(ROOT, "cosface", "eval.py"), "--config", str(d / "config.yaml"), "--ckpt_file",
             str(d / "model.ckpt"), "--data_root", str(root), "--out_dir", str(out), "--save_embeddings", "true",
             "--flip", "false"])
    emb, names, paths = saved_embeddings(out, where)
    ref = reference(paths)
    err = max(rel(emb[i], ref[i]) for i in range(len(paths)))
    same, diff = cosines(ref, names)
    with capsys.disabled():
        print(f"\n[{template}] {len(paths)} faces: max relative |zoo - PyTorch| per embedding {err:.2e}; cosine "
              f"same-person {len(same)} pairs min {min(same):.3f} mean {np.mean(same):.3f}, different-person "
              f"{len(diff)} pairs max {max(diff):.3f} mean {np.mean(diff):.3f}")
        print("  " + [line for line in p.stdout.splitlines() if "accuracy" in line.lower()][-1:][0]
              if any("accuracy" in line.lower() for line in p.stdout.splitlines()) else "")
    assert err < 1e-4
    assert min(same) > max(diff)
