"""Every command of the five seed READMEs, typed as their users type it, on placeholder data on the CPU.

Each one works, or stops with ONE line saying what it needs: never "unknown option", never "checkpoint not found: 0",
never a traceback; and a launch told a device id on a device build (faked with FACEID_FAKE_DEVICE) never trains on
the CPU. Launchers are run with FOREGROUND=1 (trains) or CHECK_ONLY=1 (the foreground check + the command).
"""
import glob
import json
import os
import shutil

import numpy as np
import pytest

from tests.helpers import PY, ROOT, TINY_BB, TINY_PRE, make_data, run

LIGHTCNN_TINY = ["--config", os.path.join(ROOT, "lightcnn", "configs", "demo.yaml"), "--preprocess", TINY_PRE,
                 "--backbone_args", TINY_BB]
BAD = ("unknown option", "checkpoint not found: 0", "Traceback")


def sh(script, *args, cwd, env=None, ok=None):
    """Run a seed command; returns (rc, stdout + stderr). ``ok``: True must succeed, False must fail in one line."""
    e = {"START_WAIT": "20"}
    e.update(env or {})
    p = run(["bash", os.path.join(ROOT, script)] + [str(a) for a in args], cwd=str(cwd), env=e, check=False)
    return _judge(p, ok)


def py(entry, *args, cwd, env=None, ok=None):
    p = run([PY, os.path.join(ROOT, entry)] + [str(a) for a in args], cwd=str(cwd), env=env, check=False)
    return _judge(p, ok)


def _judge(p, ok):
    out = p.stdout + p.stderr
    for bad in BAD:
        assert bad not in out, out[-3000:]
    if ok is True:
        assert p.returncode == 0, out[-3000:]
    if ok is False:
        assert p.returncode != 0, out[-3000:]
        errors = [line for line in p.stderr.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1, p.stderr[-3000:]
    return p.returncode, out


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("seed")
    train, test = make_data(root / "data", train_ids=6, train_images=4, test_ids=20, test_images=4, size=40,
                            pairs_per_fold=4)
    # CosFace's LFW_112: pairs.txt beside the image folder lfw_align_112/
    lfw112 = root / "LFW_112"
    shutil.copytree(test, lfw112 / "lfw_align_112")
    os.replace(lfw112 / "lfw_align_112" / "pairs.txt", lfw112 / "pairs.txt")
    tables = {}
    for n in (2, 8):
        tables[n] = root / f"hccl_{n}p.json"
        ips = ",".join(f"192.168.100.{101 + i}" for i in range(n))
        run([PY, os.path.join(ROOT, "scripts", "hccl_tools.py"), "write", "--devices", f"0-{n - 1}",
             "--device_ips", ips, "--server_ip", "10.0.0.1", "--out", str(tables[n])])
    work = root / "work"
    work.mkdir()
    # the one tiny trained checkpoint: LightCNN's seed train command, in the foreground
    rc, out = sh("lightcnn/scripts/train_standalone.sh", 0, *LIGHTCNN_TINY, "--train_root", train,
                 "--out_dir", work / "lc", "--max_steps", 2, "--batch_size", 8, "--log_every", 1, "--workers", 1,
                 cwd=work, env={"FOREGROUND": "1"}, ok=True)
    ckpt = sorted(glob.glob(str(work / "lc" / "ckpt" / "*.ckpt")))[-1]
    return {"root": root, "train": train, "test": test, "lfw112": lfw112, "tables": tables, "work": work,
            "ckpt": ckpt, "train_out": out}


def test_lightcnn_seed_commands(world):
    w, work, ckpt = world, world["work"], world["ckpt"]
    out = w["train_out"]
    # the seed's log lines beside ours, and the CPU note for a DEVICE_ID on a CPU-only build
    assert "note: DEVICE_ID 0: the installed MindSpore build runs on the CPU only" in out
    assert "epoch: 1 step: 1, loss is " in out and "per step time: " in out
    # bash scripts/train_standalone.sh DEVICE_ID (no data): one line, in the foreground, nothing in the background
    rc, out = sh("lightcnn/scripts/train_standalone.sh", 0, cwd=work, ok=False)
    assert "no training data" in out and "in the background" not in out
    # positional paths are refused in the foreground
    rc, out = sh("lightcnn/scripts/train_standalone.sh", 0, w["train"], cwd=work, ok=False)
    assert "unexpected argument" in out
    # train.py with the seed's flags
    rc, out = sh("scripts/train_standalone.sh", "lightcnn", 0, "--device_target", "Ascend", "--ckpt_path", "./ckpt_files",
                 "--run_distribute", 1, "--train_root", w["train"], cwd=work, env={"CHECK_ONLY": "1"}, ok=False)
    assert "installed MindSpore build runs on CPU" in out
    rc, out = py("lightcnn/train.py", "--device_target", "CPU", "--device_id", 0, "--ckpt_path", "./ckpt_files",
                 "--run_distribute", 1, cwd=work, ok=False)
    assert "alias of --ckpt_dir" in out and out.count("alias of --ckpt_dir") == 1 and "no training data" in out
    # 2/4 and 8 Ascend devices: on this CPU build, one line before anything starts
    rc, out = sh("lightcnn/scripts/train_distribute.sh", w["tables"][2], 2, "--train_root", w["train"], cwd=work,
                 env={"SERVER_ID": "10.0.0.1"}, ok=False)
    assert "Ascend" in out and not glob.glob(str(work / "train_lightcnn_ascend_*" / "rank_*.log"))
    rc, out = sh("lightcnn/scripts/train_distribute_8p.sh", w["tables"][8], "--train_root", w["train"], cwd=work,
                 env={"SERVER_ID": "10.0.0.1"}, ok=False)
    # on an Ascend build the same command passes its checks (CHECK_ONLY: the processes it would start)
    rc, out = sh("lightcnn/scripts/train_distribute.sh", w["tables"][2], 2, "--train_root", w["train"], cwd=work,
                 env={"SERVER_ID": "10.0.0.1", "FACEID_FAKE_DEVICE": "Ascend", "CHECK_ONLY": "1"}, ok=True)
    assert out.count("RANK_ID=") == 2
    # eval_lfw.sh DEVICE_ID CKPT_FILE (the seed form) and the CKPT-first form both score the checkpoint
    rc, out = sh("lightcnn/scripts/eval_lfw.sh", 0, ckpt, *LIGHTCNN_TINY, "--data_root", w["test"],
                 "--out_dir", work / "ev", cwd=work, ok=True)
    assert "[test]Accuracy-Flip: " in out
    result = json.loads((work / "ev" / "eval" / "test.lfw_result.json").read_text())
    assert result["checkpoint"] == os.path.abspath(ckpt)
    # eval_lfw.py --resume CKPT (the seed's flag) loads it too
    rc, out = py("lightcnn/eval_lfw.py", "--device_target", "CPU", "--device_id", 0, "--resume", ckpt, *LIGHTCNN_TINY,
                 "--data_root", w["test"], "--out_dir", work / "ev2", cwd=work, ok=True)
    assert "alias of --ckpt_file" in out
    assert json.loads((work / "ev2" / "eval" / "test.lfw_result.json").read_text())["checkpoint"] == ckpt
    # eval_blufr.sh DEVICE_ID CKPT_FILE: the placeholder folder lacks BLUFR's 13,233 images: one line saying so
    rc, out = sh("lightcnn/scripts/eval_blufr.sh", 0, ckpt, *LIGHTCNN_TINY, "--data_root", w["test"],
                 "--out_dir", work / "ev3", cwd=work, ok=False)
    assert "missing" in out
    # the seed's other scripts: a missing input is one line
    sh("lightcnn/scripts/run_infer_310.sh", work / "none.mindir", w["test"], 0, cwd=work, ok=False)
    sh("lightcnn/scripts/convert.sh", work / "none.tsv", work / "out", cwd=work, ok=False)


def test_lightcnn_lfw_pairs_mat(world, tmp_path):
    """LightCNN's lfw_pairs.mat + image_list_for_lfw.txt beside the image folder (the seed's data/lfw layout)."""
    import scipy.io

    from common.protocols.lfw import read_pairs

    w = world
    lfw = tmp_path / "lfw"
    shutil.copytree(w["test"], lfw / "image")
    pairs = read_pairs(str(lfw / "image" / "pairs.txt"))
    os.remove(lfw / "image" / "pairs.txt")
    names = sorted(set(pairs.first) | set(pairs.second))[::-1]  # list order differs from the sorted order
    (lfw / "image_list_for_lfw.txt").write_text("".join(n + "\n" for n in names))
    row = {n: i + 1 for i, n in enumerate(names)}
    cols = [(row[a], row[b]) for a, b in zip(pairs.first, pairs.second)]
    same = np.array([c for c, s in zip(cols, pairs.issame) if s]).T
    diff = np.array([c for c, s in zip(cols, pairs.issame) if not s]).T
    scipy.io.savemat(str(tmp_path / "lfw_pairs.mat"), {"pos_pair": same, "neg_pair": diff})
    out_mat = tmp_path / "mat"
    rc, out = py("lightcnn/eval_lfw.py", "--ckpt_file", w["ckpt"], *LIGHTCNN_TINY, "--data_root", lfw / "image",
                 "--pairs", tmp_path / "lfw_pairs.mat", "--out_dir", out_mat, cwd=tmp_path, ok=True)
    by_txt = json.loads((w["work"] / "ev" / "eval" / "test.lfw_result.json").read_text())
    by_mat = json.loads((out_mat / "eval" / "image.lfw_result.json").read_text())
    assert by_mat["pairs"] == by_txt["pairs"]
    assert abs(by_mat["auc"] - by_txt["auc"]) < 1e-9 and abs(by_mat["100%-EER"] - by_txt["100%-EER"]) < 1e-9


def test_cosface_seed_commands(world, tmp_path):
    import mindspore as ms

    from common.core.config import load_config
    from common.nets import build_backbone
    from common.recipes.contract import get

    w, work = world, world["work"]
    cfg_path = os.path.join(ROOT, "cosface", "configs", "cosface_mobilefacenet_casia.yaml")
    ckpt = str(tmp_path / "CosFace_Epoch_98.ckpt")
    ms.save_checkpoint(build_backbone(load_config(get("cosface").default_config, ["--config", cfg_path],
                                                  command="eval")), ckpt)
    images, lfw112 = w["train"], w["lfw112"]
    rc, out = sh("cosface/scripts/run_standalone_train_ascend.sh", 0, images, lfw112, "./ckpt_standalone",
                 cwd=work, env={"CHECK_ONLY": "1"}, ok=True)
    assert "cosface_mobilefacenet_casia.yaml" in out and "--verify_data_root" in out
    # a device id on a GPU build: checked for the GPU, never the CPU
    rc, out = sh("cosface/scripts/run_standalone_train_ascend.sh", 0, images, lfw112, "./ckpt_standalone",
                 cwd=work, env={"CHECK_ONLY": "1", "FACEID_FAKE_DEVICE": "GPU"}, ok=True)
    assert "device: GPU" in out and "CPU" not in out.split("device: GPU")[1].splitlines()[0]
    rc, out = sh("cosface/scripts/run_distribute_train_ascend.sh", 8, w["tables"][8], images, lfw112,
                 "./ckpt_distribute", cwd=work, env={"SERVER_ID": "10.0.0.1"}, ok=False)
    # eval on the seed's LFW_112 layout
    rc, out = sh("cosface/scripts/run_eval_ascend.sh", 0, lfw112, ckpt, "--out_dir", tmp_path / "ev", cwd=tmp_path,
                 ok=True)
    assert "Test result, AVE: " in out and (tmp_path / "eval.log").is_file()
    rc, out = sh("cosface/scripts/run_infer_310.sh", tmp_path / "none.mindir", "LFW", lfw112, 0, cwd=work, ok=False)
    assert "model file not found" in out
    rc, out = sh("cosface/scripts/run_infer_310.sh", tmp_path / "none.mindir", "CFP", lfw112, 0, cwd=work, ok=False)
    assert "only LFW" in out


def test_lresnet_seed_commands(world, tmp_path):
    import cv2
    import mindspore as ms

    from common.core.config import load_config
    from common.nets import build_backbone
    from common.protocols.binsets import write_bin
    from common.protocols.lfw import read_pairs
    from common.recipes.contract import get

    w, work = world, world["work"]
    rc, out = sh("lresnet100e_ir/scripts/run_standalone_train.sh", w["train"], cwd=work, env={"CHECK_ONLY": "1"},
                 ok=True)
    assert "--train_root" in out
    rc, out = sh("lresnet100e_ir/scripts/run_distribute_train.sh", w["train"], 8, cwd=work, ok=False)
    assert "GPU" in out
    # run_eval.sh EVAL_PATH CKPT_PATH on an lfw.bin (a narrow demo network's checkpoint)
    demo = os.path.join(ROOT, "lresnet100e_ir", "configs", "demo.yaml")
    ckpt = str(tmp_path / "LResNet100EIR_5-25_5686.ckpt")
    ms.save_checkpoint(build_backbone(load_config(get("lresnet100e_ir").default_config, ["--config", demo],
                                                  command="eval")), ckpt)
    pairs = read_pairs(os.path.join(w["test"], "pairs.txt"))
    blobs = []
    for a, b in zip(pairs.first, pairs.second):
        for n in (a, b):
            blobs.append(cv2.imencode(".png", cv2.imread(os.path.join(w["test"], n)))[1].tobytes())
    (tmp_path / "bins").mkdir()
    write_bin(str(tmp_path / "bins" / "lfw.bin"), blobs, pairs.issame)
    rc, out = sh("lresnet100e_ir/scripts/run_eval.sh", tmp_path / "bins", ckpt, "--config", demo,
                 "--out_dir", tmp_path / "ev", cwd=tmp_path, ok=True)
    assert "[lfw]Accuracy: " in out and "[lfw]Accuracy-Flip: " in out
    rc, out = sh("lresnet100e_ir/scripts/run_eval.sh", tmp_path, ckpt, cwd=tmp_path, ok=False)


def test_facenet_and_pfe_seed_commands(world):
    w, work = world, world["work"]
    rc, out = sh("facenet/scripts/run_standalone_train_gpu.sh", cwd=work, ok=False)
    assert "no training data" in out
    sh("facenet/scripts/run_distribute_train_gpu.sh", 8, cwd=work, ok=False)
    rc, out = py("facenet/eval.py", "--ckpt", w["ckpt"], cwd=work, ok=False)
    assert "alias of --ckpt_file" in out and "--data_root" in out
    # the seed's --batch_size (= P x K) and its image CSV as the training list
    csv = w["root"] / "VGGFACE2.csv"
    rows = ["id,name,class"]
    for k, name in enumerate(sorted(os.listdir(w["train"]))):
        rows += [f"{os.path.splitext(f)[0]},{name},{k}" for f in sorted(os.listdir(os.path.join(w["train"], name)))]
    csv.write_text("\n".join(rows) + "\n")
    rc, out = sh("facenet/scripts/run_standalone_train_gpu.sh", 0, "--train_csv", csv, "--train_root", w["train"],
                 "--batch_size", 8, cwd=work, env={"CHECK_ONLY": "1"}, ok=True)
    assert "resnet50_fc128.yaml" in out
    rc, out = sh("pfe/scripts/run_1p.sh", cwd=work, ok=False)
    assert "--base_ckpt" in out


def test_seed_csv_feeds_pk_training(world):
    """The old FaceNet CSV (id,name,class; no extension) names the same images and identities as the folders."""
    from common.core.config import Config
    from common.data.folder import scan_folder
    from common.data.transforms import Preprocess
    from common.data.assembly import pk_data

    w = world
    csv = w["root"] / "VGGFACE2.csv"
    if not csv.exists():
        pytest.skip("written by test_facenet_and_pfe_seed_commands")
    cfg = Config(train_csv=str(csv), train_root=w["train"], classes_per_batch=2, images_per_class=2, seed=0,
                 workers=1, num_classes=None, config="x.yaml")
    pre = Preprocess.from_config({"channels": 3, "resize": 32, "crop": None, "mean": 127.5, "std": 128.0})
    labels, classes, _, steps, _ = pk_data(cfg, pre, 0, 1)
    paths, want_labels, want_classes = scan_folder(w["train"])
    assert sorted(labels) == sorted(want_labels) and len(classes) == len(want_classes) and steps > 0


def test_background_launch_that_dies_is_reported(world):
    """A background run that stops in its first seconds: the launcher says why and exits non-zero."""
    w, work = world, world["work"]
    missing = str(work / "no_such_folder")
    rc, out = sh("lightcnn/scripts/train_standalone.sh", 0, "--train_root", missing, cwd=work,
                 env={"SKIP_CHECK": "1", "LOG_DIR": str(work / "bg")}, ok=False)
    assert "stopped after" in out and "no_such_folder" in out and "in the background" not in out


def test_device_auto_follows_the_build(monkeypatch):
    from common.core.env import installed_device, resolve_device
    from common.tools.launch_check import check_device
    from common.core.errors import FaceIdError

    for build in ("Ascend", "GPU", "CPU"):
        monkeypatch.setenv("FACEID_FAKE_DEVICE", build)
        assert installed_device() == build and resolve_device("auto") == build and resolve_device(None) == build
        assert resolve_device("cpu") == "CPU"
        lines = check_device({"device_target": "auto"}, device_id="0")
        assert lines[0].startswith(f"device: {build}")
        assert any("runs on the CPU only" in line for line in lines) == (build == "CPU")
    monkeypatch.setenv("FACEID_FAKE_DEVICE", "Ascend")
    with pytest.raises(FaceIdError, match="runs on Ascend, not GPU"):
        check_device({"device_target": "GPU"})


def test_every_recipe_yaml_defaults_to_auto():
    from common.core.config import read_yaml

    for path in glob.glob(os.path.join(ROOT, "*", "configs", "*.yaml")):
        assert read_yaml(path).get("device_target", "auto") == "auto", path


def test_linear_head_is_plain_fc():
    import mindspore as ms

    from common.heads.margin import create_head

    head = create_head("linear", 8, 5)
    rng = np.random.default_rng(0)
    w, b, x = rng.normal(size=(5, 8)), rng.normal(size=5), rng.normal(size=(3, 8))
    head.weight.set_data(ms.Tensor(w.astype(np.float32)))
    head.bias.set_data(ms.Tensor(b.astype(np.float32)))
    got = head(ms.Tensor(x.astype(np.float32)), ms.Tensor(np.zeros(3, np.int32))).asnumpy()
    np.testing.assert_allclose(got, x @ w.T + b, atol=1e-5)
