"""One front door: every entry point takes the same option names, answers --help, refuses another command's
options in one line naming the right command, and takes the seed aliases."""
import importlib
import os
import subprocess
import sys

import pytest

from common.core import options
from common.core.config import load_config
from common.core.errors import FaceIdError, HelpRequested
from tests.helpers import ROOT

MODELS = ("lightcnn", "cosface", "lresnet100e_ir", "pfe", "facenet")
ENTRIES = [(m, c) for m in MODELS for c in ("train", "eval", "export")] + [
    ("lightcnn", "eval_lfw"), ("lightcnn", "eval_blufr"), ("pfe", "train_base")]
COMMAND = {"train": "train", "train_base": "train", "eval": "eval", "eval_lfw": "eval", "eval_blufr": "eval",
           "export": "export"}


def _help(model, entry):
    mod = importlib.import_module(f"{model}.{entry}")
    with pytest.raises(HelpRequested) as exc:
        mod.main(["--help"])
    return str(exc.value)


@pytest.mark.parametrize("model,entry", ENTRIES)
def test_help_lists_the_same_option_names_everywhere(model, entry):
    text = _help(model, entry)
    command = COMMAND[entry]
    assert text.startswith("usage: ")
    for key in options.BASIC:  # the common options, on every entry point
        assert f"--{key} " in text, (model, entry, key)
    for key in options.GROUPS.get(command, {}) if command != "train" else ():
        assert f"--{key} " in text, (model, entry, key)  # the command's own options, same names everywhere
    if command == "train":
        for key in ("train_root", "resume", "max_steps", "epochs", "lr"):
            assert f"--{key} " in text, (model, entry, key)
    # defaults are shown: flip is true for every model's eval
    if command == "eval":
        line = next(l for l in text.splitlines() if l.strip().startswith("--flip "))
        assert "True" in line


def test_help_runs_as_a_command_from_another_directory(tmp_path):
    p = subprocess.run([sys.executable, os.path.join(ROOT, "cosface", "eval.py"), "--help"], cwd=tmp_path,
                       capture_output=True, text=True)
    assert p.returncode == 0 and "--save_embeddings" in p.stdout and "Traceback" not in p.stderr


@pytest.mark.parametrize("command,key,owner", [("eval", "resume_from", None), ("eval", "max_steps", "train.py"),
                                               ("eval", "train_root", "train.py"), ("export", "data_root", "eval.py"),
                                               ("train", "ckpt_file", "eval.py or export.py"),
                                               ("train", "save_embeddings", "eval.py")])
def test_options_of_another_command_are_refused_naming_it(command, key, owner):
    yaml = os.path.join(ROOT, "lightcnn", "configs", "lightcnn9.yaml")
    with pytest.raises(FaceIdError) as exc:
        load_config(yaml, [f"--{key}", "1"], command=command, prog=f"lightcnn/{command}.py")
    msg = str(exc.value)
    assert "\n" not in msg
    if owner:
        assert f"--{key} is an option of {owner}, not of lightcnn/{command}.py" in msg
    else:
        assert "unknown option(s) --resume_from" in msg


def test_seed_aliases_map_and_say_so(capsys):
    yaml = os.path.join(ROOT, "lightcnn", "configs", "lightcnn9.yaml")
    cfg = load_config(yaml, ["--resume", "x.ckpt"], command="eval")
    assert cfg.ckpt_file == "x.ckpt" and "resume" not in cfg.get("_given")
    assert "--resume is an alias of --ckpt_file" in capsys.readouterr().out
    cfg = load_config(yaml, ["--ckpt_path", "ck"], command="train")
    assert cfg.ckpt_dir == "ck"
    cfg = load_config(yaml, ["--run_distribute", "1"], command="train")  # accepted: the launcher sets distribution
    assert "run_distribute" not in cfg
    with pytest.raises(FaceIdError, match="both given"):
        load_config(yaml, ["--ckpt", "a", "--ckpt_file", "b"], command="eval")


def test_eval_defaults_are_the_same_for_every_model():
    for model in MODELS:
        from common.recipes import contract as recipe
        r = recipe.get(model)
        cfg = load_config(r.default_config, [], command="eval")
        assert cfg.flip is True and cfg.device_target == "auto" and cfg.save_embeddings is False, model
        assert cfg.model == model


def test_input_size_rule_refuses_a_mismatch_before_building():
    from common.recipes import contract as recipe
    from common.nets import build_backbone

    r = recipe.get("facenet")
    cfg = load_config(r.default_config, ["--config", os.path.join(ROOT, "facenet", "configs", "resnet50_fc128.yaml"),
                                         "--preprocess", "{channels: 3, resize: 182, crop: 160}"], command="eval")
    with pytest.raises(FaceIdError, match=r"backbone resnet50_fc128 takes input \(3, 224, 224\) but preprocess "
                                          r"gives \(3, 160, 160\)"):
        build_backbone(cfg)
    cfg = load_config(recipe.get("cosface").default_config, ["--preprocess", "{channels: 3, resize: [112, 112]}"],
                      command="eval")
    with pytest.raises(FaceIdError, match=r"spherenet64 takes input \(3, 112, 96\) but preprocess gives"):
        build_backbone(cfg)
    cfg = load_config(recipe.get("lightcnn").default_config, ["--backbone_args", "{input_size: [1, 64, 64]}"],
                      command="eval")
    with pytest.raises(FaceIdError, match=r"set backbone_args.input_size to \[1, 128, 128\]|takes input \(1, 64, 64\)"):
        build_backbone(cfg)


@pytest.mark.parametrize("module", ["common.evaluate", "common.data.synthetic", "common.import_weights",
                                    "common.align"])
def test_python_m_tools_work_from_any_directory(module, tmp_path):
    """`pip install -e .` (scripts/setup.sh) makes the package importable without PYTHONPATH or the repo as cwd."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    p = subprocess.run([sys.executable, "-m", module, "--help"], cwd=tmp_path, env=env, capture_output=True,
                       text=True)
    if "No module named" in p.stderr and "common" in p.stderr:
        pytest.fail(f"{module} not importable outside the repository: run bash scripts/setup.sh\n{p.stderr[-500:]}")
    assert p.returncode == 0, p.stderr[-1500:]
    assert "usage" in (p.stdout + p.stderr).lower()
