"""What every train.py does before and around the loop: device, mode, seed, ranks, logs, data."""
import os
import sys

from common import distributed
from common.config import print_config
from common.data.dataset import BadImages, RecordItems, build_epoch_dataset
from common.data.folder import load_training_set
from common.errors import FaceIdError


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
    from common.runtime import prepare

    cfg.device_target = prepare(cfg)
    rank, world = distributed.init(cfg.device_target)
    cfg.out_dir = os.path.abspath(cfg.out_dir)
    cfg.ckpt_dir = os.path.abspath(cfg.get("ckpt_dir") or os.path.join(cfg.out_dir, "ckpt"))
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


def training_items(cfg):
    """The training samples a config names -> (items, labels, classes, read, name).

    ``train_rec`` (insightface ``train.rec`` + ``train.idx``, or ``train_idx``) wins over ``train_list`` /
    ``train_root``; items are then record keys read through ``read`` (see common.data.dataset.ImageSource).
    """
    if cfg.get("train_rec"):
        rec = RecordItems(cfg.train_rec, cfg.get("train_idx"))
        return rec.keys, rec.labels, rec.classes, rec.read, rec.name
    paths, labels, classes = load_training_set(cfg.get("train_root"), cfg.get("train_list"))
    return paths, labels, classes, None, None


def report(log, result, bad):
    """The closing line of a training run."""
    log(f"training done: final loss {result['loss']:.4f}, checkpoint {result['checkpoint']}, "
        f"{len(bad)} undecodable image(s) skipped")


def image_classification_data(cfg, preprocess, rank=0, world=1):
    """Identity folders / list file / .rec -> (labels, classes, dataset_fn, steps_per_epoch, bad-image record)."""
    paths, labels, classes, read, name = training_items(cfg)
    if cfg.get("num_classes") and int(cfg.num_classes) != len(classes):
        raise FaceIdError(f"config num_classes={cfg.num_classes} but the training data "
                         f"({cfg.get('train_rec') or cfg.get('train_list') or cfg.get('train_root')}) "
                         f"has {len(classes)} identities")
    per_rank = -(-len(paths) // world)
    steps = per_rank // cfg.batch_size
    if steps == 0:
        raise FaceIdError(f"{len(paths)} images cannot fill one batch of {cfg.batch_size} on {world} rank(s)")
    bad = BadImages()

    def dataset_fn(epoch, skip):
        data, _ = build_epoch_dataset(paths, labels, preprocess, cfg.batch_size, epoch, cfg.get("seed", 0),
                                      rank, world, skip, cfg.get("workers", 2), bad, read=read, name=name)
        return data, steps

    return labels, classes, dataset_fn, steps, bad
