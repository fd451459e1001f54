"""The train flow of every model: config -> device, ranks, logs -> data -> backbone + recipe loss -> fit."""
import os
import sys

from common.train import interrupt  # first, before anything imports MindSpore: Ctrl-C routing (see interrupt.py)

interrupt.route_sigint()
from common.core import distributed  # noqa: E402  (this and below: after the SIGINT routing)
from common.core.config import load_config, print_config
from common.core.errors import FaceIdError
from common.core.paths import RunLock, writable_dir
from common.core.runtime import prepare
from common.data import device_input
from common.data.transforms import Preprocess
from common.data.assembly import source_name, training_data
from common.heads.shards import checkpoint_manager
from common.nets import build_backbone
from common.train import finetune
from common.train import plan as train_plan
from common.train.loop import fit
from common.train.verification import VerificationCallback


def load(recipe, argv=None):
    """The training config of ``recipe`` from ``argv`` (recipe-specific option handling included)."""
    pk = recipe.data == "pk"
    cfg = load_config(recipe.default_config, argv, command="train", prog=f"{recipe.name}/train.py",
                      extra_keys=("batch_size",) if pk else ())
    if cfg.get("train_csv") and not pk:
        raise FaceIdError(f"--train_csv: {recipe.name} trains on image batches; give --train_root DIR or "
                          f"--train_list FILE (the CSV of the old FaceNet zoo feeds P x K training)")
    if recipe.prepare_train:
        recipe.prepare_train(cfg)
    if pk:  # images per step, for the progress line
        cfg.batch_size = int(cfg.classes_per_batch) * int(cfg.images_per_class)
    return cfg


def run(recipe, argv=None, cfg=None):
    """Train ``recipe`` as ``argv`` says; returns fit()'s result (loss, checkpoint, steps, verification)."""
    cfg = cfg or load(recipe, argv)
    rank, world, log = start(cfg)
    pre = Preprocess.from_config(cfg.preprocess)
    cfg.uint8_input = device_input.wanted(cfg, cfg.device_target, recipe.data)  # uint8 HWC to the device
    labels, classes, dataset_fn, steps, bad = training_data(recipe, cfg, pre, rank, world)
    backbone = build_backbone(cfg)
    finetune.setup(cfg, backbone, log)  # --pretrained weights, --freeze_bn (common/train/finetune.py)
    net_with_loss, params = recipe.build_train(cfg, backbone, len(classes))
    lr_factors = finetune.lr_factors(cfg, {p.name for p in backbone.get_parameters()}, steps)
    verify = VerificationCallback(cfg, recipe.build_inference(cfg, backbone), pre, rank, log,
                                  extra_lines=recipe.verification_lines)
    plan = train_plan.resolve(cfg, steps, rank, world, distributed.lr_scale(cfg, world), lr_factors)  # fit's input
    batch = (f"{cfg.classes_per_batch} x {cfg.images_per_class}" if recipe.data == "pk" else str(cfg.batch_size))
    log(f"{recipe.name} ({cfg.backbone}{' + ' + cfg.head if cfg.get('head') else ''}): {len(labels)} images, "
        f"{len(classes)} identities, {steps} steps/epoch of {batch} on rank {rank}/{world} from {source_name(cfg)}, "
        f"lr {cfg.lr} x {plan.lr_scale:g}")
    manager = checkpoint_manager(plan.checkpoint.dir, plan.checkpoint.prefix, plan.checkpoint.keep,
                                 net_with_loss, printer=log if rank == 0 else None)  # sharded head: per rank
    with interrupt.deferred():  # Ctrl-C / SIGTERM: finish the step, checkpoint, one line, exit 130 / 143
        stepped = device_input.Uint8Input(net_with_loss, pre) if plan.uint8_input else net_with_loss
        result = fit(plan, stepped, params, dataset_fn, len(classes), amp_cells=[backbone], printer=log,
                     manager=manager, on_epoch_end=verify.on_epoch_end if verify else None,
                     on_step_end=verify.on_step_end if verify else None)
    result["verification"] = verify.history
    result["backbone"] = backbone
    report(log, result, bad)
    if recipe.train_extras:
        recipe.train_extras(cfg, net_with_loss, result, log)
    for lock in cfg.get("_locks", ()):
        lock.release()
    return result


class Tee:
    """Write to the console and to a per-rank log file."""

    def __init__(self, path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        self.file = open(path, "a", buffering=1, encoding="utf-8")

    def __call__(self, line):
        print(line, flush=True)
        self.file.write(line + "\n")


def start(cfg):
    """Set device and graph mode, seed, initialise ranks; fill out_dir/ckpt_dir; returns (rank, world, log)."""
    cfg.device_target = prepare(cfg)
    rank, world = distributed.init(cfg.device_target)
    cfg.out_dir = os.path.abspath(cfg.out_dir)
    cfg.ckpt_dir = os.path.abspath(cfg.get("ckpt_dir") or os.path.join(cfg.out_dir, "ckpt"))
    # outputs checked before any work: both folders created and probed; one run per folder (rank 0 holds the lock)
    writable_dir(cfg.out_dir, "--out_dir")
    writable_dir(cfg.ckpt_dir, "--ckpt_dir")
    if rank == 0:
        folders = [cfg.out_dir] + ([] if cfg.ckpt_dir.startswith(cfg.out_dir + os.sep) else [cfg.ckpt_dir])
        cfg["_locks"] = [RunLock(d, "--out_dir" if d == cfg.out_dir else "--ckpt_dir").acquire() for d in folders]
    log = Tee(os.path.join(cfg.out_dir, "logs", f"train_rank{rank}.log"))
    if rank == 0:
        print_config(cfg, f"{os.path.basename(sys.argv[0])} (world size {world})")
        save_config(cfg, os.path.join(cfg.out_dir, "config.yaml"))
    return rank, world, log


def _plain(v):
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    return v.item() if hasattr(v, "item") else str(v)


def save_config(cfg, path):
    """The run's resolved config (YAML defaults + every override) as YAML at ``path``, written atomically;
    ``--config PATH`` reads it back."""
    import time

    import yaml

    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".tmp-{os.getpid()}-{os.path.basename(path)}")
    data = {k: _plain(v) for k, v in cfg.items() if not str(k).startswith("_")}
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(f"# resolved config of the training run started {time.strftime('%Y-%m-%d %H:%M:%S')}: "
                f"{' '.join([os.path.basename(sys.argv[0])] + sys.argv[1:])}\n")
        yaml.safe_dump(data, f, sort_keys=True, default_flow_style=None)
    os.replace(tmp, path)
    return path


def report(log, result, bad):
    """The closing line of a training run."""
    if result.get("steps_run") == 0:
        return
    log(f"training done: final loss {result['loss']:.4f}, checkpoint {result['checkpoint']}, "
        f"{len(bad)} undecodable image(s) skipped")
