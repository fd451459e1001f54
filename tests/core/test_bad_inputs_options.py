"""Every option typed and range-checked at the front door, on the command line and in a YAML, in one line naming
the option (or YAML file and key), the value and what is allowed; --help lists the choices of the code's own
registries."""
import os
import subprocess

import pytest

from common.core import options
from common.core.config import load_config
from common.core.errors import FaceIdError, HelpRequested
from tests.helpers import PY, ROOT

LIGHTCNN = os.path.join(ROOT, "lightcnn", "configs", "demo.yaml")
COSFACE = os.path.join(ROOT, "cosface", "configs", "demo.yaml")


def _train(argv, yaml=LIGHTCNN):
    import lightcnn.src.recipe  # noqa: F401  (registers the LightCNN backbones, as the entry point does)

    return load_config(yaml, argv, command="train", prog="lightcnn/train.py")


@pytest.mark.parametrize("argv, message", [
    (["--lr", "fast"], "--lr fast: expected number > 0"),
    (["--lr", "0"], "--lr 0: expected number > 0"),
    (["--epochs", "two"], "--epochs two: expected integer >= 1"),
    (["--epochs", "1.5"], "--epochs 1.5: expected integer >= 1"),
    (["--max_steps", "0"], "--max_steps 0: expected integer >= 1, or null"),
    (["--max_steps", "-1"], "--max_steps -1: expected integer >= 1, or null"),
    (["--batch_size", "0"], "--batch_size 0: expected integer >= 1"),
    (["--batch_size", "-8"], "--batch_size -8: expected integer >= 1"),
    (["--batch_size", "[1, 2]"], "--batch_size '[1, 2]': expected integer >= 1"),
    (["--workers", "0"], "--workers 0: expected integer >= 1"),
    (["--workers", "-2"], "--workers -2: expected integer >= 1"),
    (["--graph_mode", "maybe"], "--graph_mode maybe: expected boolean (true/false/yes/no/1/0)"),
    (["--graph_mode", "on"], "--graph_mode on: expected boolean (true/false/yes/no/1/0)"),
    (["--keep_ckpt", "-1"], "--keep_ckpt -1: expected integer >= 0"),
    (["--dropout", "1.5"], "--dropout 1.5: expected number >= 0 and < 1"),
    (["--lr", "nan"], "--lr nan: expected number > 0"),
    (["--seed", "x"], "--seed x: expected integer >= 0"),
    (["--resume", "no_such.ckpt"], "--resume no_such.ckpt: expected true/false, latest, or the path of an existing"),
    (["--device_target", "TPU"], "--device_target TPU: expected one of auto, Ascend, GPU, CPU"),
])
def test_bad_command_line_values_are_one_line(argv, message):
    with pytest.raises(FaceIdError) as exc:
        _train(argv)
    assert str(exc.value).startswith(message), str(exc.value)
    assert "\n" not in str(exc.value)


def test_choices_come_from_the_registries():
    from common.heads.margin import HEADS
    from common.nets import BACKBONES
    from common.train.lr import SCHEDULES
    from common.train.optim import OPTIMIZERS

    with pytest.raises(FaceIdError, match=r"^--optimizer rmsprop: expected one of " + ", ".join(OPTIMIZERS) + "$"):
        _train(["--optimizer", "rmsprop"])
    with pytest.raises(FaceIdError, match=r"^--lr_schedule poly: expected one of " + ", ".join(SCHEDULES) + "$"):
        _train(["--lr_schedule", "poly"])
    with pytest.raises(FaceIdError, match=r"^--backbone resnet9000: expected one of .*lightcnn9"):
        _train(["--backbone", "resnet9000"])
    import cosface.src.recipe  # noqa: F401
    cfg_err = None
    try:
        load_config(COSFACE, ["--head", "sphere"], command="train")
    except FaceIdError as exc:
        cfg_err = str(exc)
    assert cfg_err == "--head sphere: expected one of " + ", ".join(HEADS.names()) + ", or null"
    # a backbone registered now is listed by --help at once: the list is the registry's, not a copy
    BACKBONES.register("zz_test_net")(lambda **kw: None)
    try:
        with pytest.raises(HelpRequested) as exc:
            _train(["--help"])
        text = str(exc.value)
    finally:
        BACKBONES._items.pop("zz_test_net")
        BACKBONES._meta.pop("zz_test_net")
    lines = {l.split()[0]: l for l in text.splitlines() if l.strip().startswith("--")}
    assert "zz_test_net" in lines["--backbone"] and "lightcnn9" in lines["--backbone"]
    assert all(name in lines["--optimizer"] for name in OPTIMIZERS)
    assert all(name in lines["--lr_schedule"] for name in SCHEDULES)
    assert "[integer >= 1, or null]" in lines["--max_steps"] and "[number > 0]" in lines["--lr"]
    assert "[boolean (true/false/yes/no/1/0)]" in lines["--graph_mode"]


def test_yaml_values_are_checked_naming_the_file_and_key(tmp_path):
    for body, message in (("lr: fast", "lr: 'fast': expected number > 0"),
                          ("batch_size: [1, 2]", "batch_size: [1, 2]: expected integer >= 1"),
                          ("epochs: 0", "epochs: 0: expected integer >= 1"),
                          ("optimizer: rmsprop", "optimizer: 'rmsprop': expected one of")):
        y = tmp_path / "exp.yaml"
        y.write_text(f"base: {LIGHTCNN}\n{body}\n")
        with pytest.raises(FaceIdError) as exc:
            _train([], yaml=str(y))
        assert str(exc.value).startswith(f"{y}: {message}"), str(exc.value)
    # a bad value in the base YAML names the base file
    base = tmp_path / "base.yaml"
    base.write_text(f"base: {LIGHTCNN}\nworkers: -1\n")
    child = tmp_path / "child.yaml"
    child.write_text("base: base.yaml\nlr: 0.1\n")
    with pytest.raises(FaceIdError, match=r"^" + str(base) + r": workers: -1: expected integer >= 1$"):
        _train([], yaml=str(child))


def test_good_values_are_normalised():
    cfg = _train(["--epochs", "2.0", "--lr", "1e-3", "--graph_mode", "no", "--max_steps", "null", "--resume", "1"])
    assert cfg.epochs == 2 and isinstance(cfg.epochs, int) and cfg.lr == 1e-3
    assert cfg.graph_mode is False and cfg.max_steps is None and cfg.resume is True
    for text, value in (("yes", True), ("0", False), ("TRUE", True), ("false", False)):
        assert _train(["--graph_mode", text]).graph_mode is value


def test_eval_flip_maybe_and_keys_without_a_spec(tmp_path):
    with pytest.raises(FaceIdError, match=r"^--flip maybe: expected boolean \(true/false/yes/no/1/0\)$"):
        load_config(LIGHTCNN, ["--flip", "maybe"], command="eval")
    assert load_config(LIGHTCNN, ["--flip", "yes"], command="eval").flip is True
    # a key no spec declares yet takes the type of its recipe default
    y = tmp_path / "own.yaml"
    y.write_text("rate: 0.5\nuse_it: true\nname: a\n")
    assert "rate" not in options.SPECS and "use_it" not in options.SPECS
    with pytest.raises(FaceIdError, match=r"^--rate fast: expected number$"):
        load_config(str(y), ["--rate", "fast"])
    with pytest.raises(FaceIdError, match=r"^--use_it maybe: expected boolean"):
        load_config(str(y), ["--use_it", "maybe"])
    cfg = load_config(str(y), ["--rate", "2", "--name", "7"])
    assert cfg.rate == 2 and cfg.name == 7  # untyped keys are left as given


def test_the_command_line_prints_one_error_line_before_anything_is_built(tmp_path):
    y = tmp_path / "bad.yaml"
    y.write_text(f"base: {LIGHTCNN}\nlr: fast\n")
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    for args, line in ((["--config", str(y)], f"error: {y}: lr: 'fast': expected number > 0"),
                       (["--config", LIGHTCNN, "--max_steps", "0", "--out_dir", str(tmp_path / "o")],
                        "error: --max_steps 0: expected integer >= 1, or null")):
        p = subprocess.run([PY, os.path.join(ROOT, "lightcnn", "train.py")] + args, capture_output=True, text=True,
                           env=env, cwd=str(tmp_path), timeout=120)
        assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr[-2000:]
        assert [l for l in p.stderr.splitlines() if l.strip()] == [line]
    assert not (tmp_path / "o").exists()  # refused before any output was made
