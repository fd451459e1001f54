"""What a launcher checks in the foreground before it starts anything in the background.

    python -m common.launch_check train|eval|eval_lfw|eval_blufr|export MODEL_DIR [--key value ...]

The options are read exactly as the entry will read them (same recipe, aliases, foreign-option refusal), then the
paths they name are checked, the training data is required, and the device is resolved: a ``--device_target``
the installed MindSpore build cannot run is refused here, and a DEVICE_ID given to a CPU-only build is said to
run on the CPU. Prints ``device: X`` (and notes) on success; ``error: ...`` and exit status 2 otherwise.
Environment: ``LAUNCH_DEVICE_ID`` (the launcher's positional DEVICE_ID, if any).
"""
import contextlib
import io
import os
import sys

import common.core.env  # noqa: E402,F401  (CPU speed default before mindspore loads)

from common.core.errors import FaceIdError, guard  # noqa: E402

COMMANDS = ("train", "eval", "eval_lfw", "eval_blufr", "export")
TRAIN_DATA = ("train_root", "train_list", "train_rec", "train_csv")
FOLDERS = ("train_root", "verify_data_root", "verify_bin_dir")
FILES = ("train_list", "train_rec", "train_idx", "train_csv", "base_ckpt", "verify_pairs")


def load(command, model, argv):
    """The entry's config, loaded the way the entry loads it (its notes are not repeated here)."""
    from common.recipes import contract as recipes

    rec = recipes.get(model)
    with contextlib.redirect_stdout(io.StringIO()):
        if command == "train":
            from common.flows import train

            return rec, train.load(rec, argv)
        if command == "export":
            from common.core.config import load_config

            return rec, load_config(rec.default_config, argv, command="export", prog=f"{model}/export.py")
        from common.flows import evaluate

        return rec, evaluate.load(rec, argv, prog=f"{model}/{command}.py")


def check_train(cfg):
    if not any(cfg.get(k) for k in TRAIN_DATA):
        raise FaceIdError("no training data: pass --train_root DIR (identity folders), --train_list FILE, "
                          "--train_rec train.rec or --train_csv FILE")
    for key in FOLDERS:
        if cfg.get(key) and not os.path.isdir(str(cfg[key])):
            raise FaceIdError(f"--{key} {cfg[key]}: folder not found")
    for key in FILES:
        if cfg.get(key) and not os.path.isfile(str(cfg[key])):
            raise FaceIdError(f"--{key} {cfg[key]}: file not found")
    resume = cfg.get("resume")
    if isinstance(resume, str) and not os.path.isfile(resume):
        raise FaceIdError(f"--resume {resume}: checkpoint not found (or --resume true for the newest in ckpt_dir)")


def check_eval(rec, cfg, command):
    from common.flows import evaluate

    ckpt = cfg.get("ckpt_file")
    if ckpt and not os.path.isfile(str(ckpt)):
        raise FaceIdError(f"checkpoint not found: {ckpt}")
    protocols = {"eval_lfw": "lfw", "eval_blufr": "blufr"}.get(command)
    evaluate.plan_targets(rec, cfg, protocols)


def check_export(cfg, model):
    if not cfg.get("ckpt_file"):
        raise FaceIdError(f"--ckpt_file CKPT is required (a checkpoint written by {model}/train.py)")
    if not os.path.isfile(str(cfg.ckpt_file)):
        raise FaceIdError(f"checkpoint not found: {cfg.ckpt_file}")


def check_device(cfg, device_id=None):
    """The device this run will use; refuses one the installed build cannot run. Returns the printed lines."""
    from common.core.env import device_problem, installed_device, resolve_device

    have = installed_device()
    asked = cfg.get("device_target", "auto")
    target = resolve_device(asked)
    if target in ("Ascend", "GPU") and target != have:
        why = device_problem(target)
        why = why if why.startswith("the installed MindSpore build") else \
            f"the installed MindSpore build runs on {have} here, not {target}: {why}"
        raise FaceIdError(f"--device_target {target}: {why} (or use the {have} launcher)")
    lines = [f"device: {target}" + (" (device_target auto: what the installed MindSpore runs on here)"
                                    if target == have and str(asked).lower() in ("auto", "none") else "")]
    if device_id not in (None, "") and target == "CPU":
        lines.append(f"note: DEVICE_ID {device_id}: the installed MindSpore build runs on the CPU only; this run "
                     f"uses the CPU (the device id is not used)")
    return lines


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) < 2 or argv[0] not in COMMANDS:
        raise FaceIdError(f"usage: python -m common.launch_check {'|'.join(COMMANDS)} MODEL_DIR [--key value ...]")
    command, model = argv[0], os.path.basename(os.path.normpath(argv[1]))
    rec, cfg = load(command, model, argv[2:])
    if command == "train":
        check_train(cfg)
    elif command == "export":
        check_export(cfg, model)
    else:
        check_eval(rec, cfg, command)
    for line in check_device(cfg, os.environ.get("LAUNCH_DEVICE_ID")):
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    guard(main)
