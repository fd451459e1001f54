"""Margin-softmax face models (CosFace, ArcFace / LResNet100E-IR): backbone + MarginHead + cross-entropy.

A model folder's YAML names the parts, so one module serves every such model::

    backbone: iresnet100              # a name in common.nets.BACKBONES
    backbone_args: {embedding_size: 512}
    head: arcface                     # a name in common.heads.HEADS (arcface, cosface, softmax, margin)
    head_args: {s: 64.0, m: 0.5}

The train / eval / export flows below are what ``<model>/train.py``, ``eval.py`` and ``export.py`` run.
"""
import os

from mindspore import dtype as mstype
from mindspore import nn, ops

from common import distributed
from common.data.transforms import Preprocess
from common.heads import create_head
from common.nets import create_backbone


class MarginClassifier(nn.Cell):
    """``construct(images, labels)`` -> mean softmax cross-entropy of the margin logits.

    The cross-entropy is computed as max + log(sum(exp(logits - max))) - target logit: MindSpore 2.10's
    CPU ``SoftmaxCrossEntropyWithLogits`` returns inf once logits of a row differ by more than ~88
    (float32 exp underflow), which s=64 margin logits reach (up to 128 apart).
    """

    def __init__(self, backbone, head):
        super().__init__()
        self.backbone, self.head = backbone, head

    def construct(self, images, labels):
        return stable_cross_entropy(self.head(self.backbone(images), labels), labels)


def stable_cross_entropy(logits, labels):
    """Mean over rows of logsumexp(logits) - logits[label], overflow/underflow free in float32."""
    top = ops.stop_gradient(logits.max(axis=1, keepdims=True))
    lse = ops.log(ops.exp(logits - top).sum(axis=1)) + top.squeeze(1)
    target = ops.gather_elements(logits, 1, labels.astype(mstype.int32).expand_dims(1)).squeeze(1)
    return (lse - target).mean()


def build_backbone(cfg):
    """The config's backbone; its input must match the preprocessing output (C, H, W)."""
    try:
        net = create_backbone(cfg.backbone, **dict(cfg.get("backbone_args") or {}))
    except (KeyError, TypeError) as exc:
        raise SystemExit(f"error: {cfg.config}: backbone '{cfg.backbone}' with backbone_args "
                         f"{dict(cfg.get('backbone_args') or {})}: {str(exc).strip(chr(34) + chr(39))}") from None
    size = tuple(Preprocess.from_config(cfg.preprocess).output_size)
    if tuple(net.input_size) != size:
        raise SystemExit(f"error: {cfg.config}: backbone {cfg.backbone} takes input {net.input_size} but preprocess "
                         f"gives {size}; fix preprocess (crop / resize) or pick a matching backbone")
    return net


def build_train_network(cfg, num_classes):
    """(MarginClassifier, backbone) for ``num_classes`` identities."""
    backbone = build_backbone(cfg)
    try:
        head = create_head(cfg.head, backbone.embedding_size, num_classes, **dict(cfg.get("head_args") or {}))
    except (KeyError, TypeError, ValueError) as exc:
        raise SystemExit(f"error: {cfg.config}: head '{cfg.head}' with head_args {dict(cfg.get('head_args') or {})}: "
                         f"{str(exc).strip(chr(34) + chr(39))}") from None
    return MarginClassifier(backbone, head), backbone


def train(default_config, argv=None):
    """The train.py flow: config, data (folders / list / .rec), network, periodic verification, fit."""
    from common.config import load_config
    from common.train import session
    from common.train.loop import fit
    from common.train.verification import VerificationCallback

    cfg = load_config(default_config, argv)
    rank, world, log = session.start(cfg)
    pre = Preprocess.from_config(cfg.preprocess)
    labels, classes, dataset_fn, steps, bad = session.image_classification_data(cfg, pre, rank, world)
    net, backbone = build_train_network(cfg, len(classes))
    verify = VerificationCallback(cfg, backbone, pre, rank, log)
    scale = distributed.lr_scale(cfg, world)
    log(f"{cfg.model} ({cfg.backbone} + {cfg.head} {dict(cfg.get('head_args') or {})}): {len(labels)} images, "
        f"{len(classes)} identities, {steps} steps/epoch on rank {rank}/{world}, lr {cfg.lr} x {scale:g}")
    result = fit(cfg, net, net.trainable_params(), dataset_fn, steps, len(classes), amp_cells=[backbone],
                 rank=rank, world=world, lr_scale=scale, printer=log,
                 on_epoch_end=verify.on_epoch_end if verify else None,
                 on_step_end=verify.on_step_end if verify else None)
    result["verification"] = verify.history
    session.report(log, result, bad)
    return result


EVAL_KEYS = ("ckpt_file", "bin_dir", "targets", "data_root", "pairs", "eval_batch_size", "flip")


def evaluate(default_config, argv=None):
    """The eval.py flow: .bin targets (with and without flip) and/or an LFW-format folder -> JSON + PNG each,
    then a table; files go to OUT_DIR/eval/<target>_result.json (+ _roc.png). Without --ckpt_file the
    untrained (seeded) network is scored."""
    from common.cli import prepare
    from common.config import load_config
    from common.train.checkpoint import load_weights
    from common.verify import bin_set, lfw_folder

    cfg = load_config(default_config, argv, extra_keys=EVAL_KEYS)
    if not cfg.get("bin_dir") and not cfg.get("data_root"):
        raise SystemExit("error: give --bin_dir DIR (with --targets lfw,cfp_fp,agedb_30) and/or --data_root DIR "
                         "(LFW-format folder name/name_0001.jpg with pairs.txt)")
    targets = _bin_targets(cfg)
    prepare(cfg, "eval")
    net = build_backbone(cfg)
    ckpt = cfg.get("ckpt_file")
    if ckpt:
        load_weights(net, ckpt)
    pre = Preprocess.from_config(cfg.preprocess)
    out_dir = os.path.join(os.path.abspath(cfg.out_dir), "eval")
    batch = int(cfg.get("eval_batch_size", 64))
    extra = {"model": cfg.model, "backbone": cfg.backbone, "checkpoint": os.path.abspath(ckpt) if ckpt else None}
    results = {}
    for name, path in targets:
        results[name] = bin_set(net, pre, path, os.path.join(out_dir, f"{name}_result.json"), batch, extra=extra)
    if cfg.get("data_root"):
        name = os.path.basename(os.path.normpath(cfg.data_root)) or "folder"
        flip = bool(cfg.get("flip", True))
        results[name] = lfw_folder(net, pre, cfg.data_root, cfg.get("pairs"),
                                   os.path.join(out_dir, f"{name}_pairs_result.json"), batch, flip=flip, extra=extra)
    print(f"{cfg.model} ({cfg.backbone}, {'checkpoint ' + ckpt if ckpt else 'untrained'}):")
    print(format_table(results))
    return results


def _bin_targets(cfg):
    if not cfg.get("bin_dir"):
        return []
    names = cfg.get("targets") or "lfw,cfp_fp,agedb_30"
    names = [t.strip() for t in (names.split(",") if isinstance(names, str) else names) if str(t).strip()]
    out = []
    for name in names:
        path = os.path.join(cfg.bin_dir, f"{name}.bin")
        if not os.path.isfile(path):
            raise SystemExit(f"error: {path}: verification set '{name}' not found in --bin_dir {cfg.bin_dir}")
        out.append((name, path))
    return out


def format_table(results):
    """One row per target: accuracy (no flip, flip) +- std, VAL@FAR=1e-3, 100%-EER or XNorm."""
    rows = [("target", "pairs", "accuracy", "accuracy-flip", "VAL@FAR=1e-3 (flip)", "xnorm")]
    for name, r in results.items():
        if "accuracy" in r:  # .bin protocol
            acc, accf = r["accuracy"], r["accuracy_flip"]
            val = r.get("VAL@FAR=0.001_flip", {}).get("val_mean", float("nan"))
            rows.append((name, str(r["pairs"]), f"{acc['accuracy_mean'] * 100:.2f} +- {acc['accuracy_std'] * 100:.2f}",
                         f"{accf['accuracy_mean'] * 100:.2f} +- {accf['accuracy_std'] * 100:.2f}",
                         f"{val * 100:.2f}", f"{r['xnorm']:.3f}"))
        else:  # LFW-format folder (one setting of flip)
            acc = f"{r['accuracy_mean'] * 100:.2f} +- {r['accuracy_std'] * 100:.2f}"
            rows.append((name + " (pairs.txt)", str(r["pairs"]), "-" if r.get("flip") else acc,
                         acc if r.get("flip") else "-", "-", "-"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in rows)


def export_model(default_config, argv=None):
    """The export.py flow: the embedding backbone (head dropped) to MINDIR / ONNX / AIR, with a parity check."""
    from common.cli import prepare, require
    from common.config import load_config
    from common.export import EXPORT_KEYS, export_checked
    from common.train.checkpoint import load_weights

    cfg = load_config(default_config, argv, extra_keys=EXPORT_KEYS)
    device = prepare(cfg)
    require(cfg, "ckpt_file", f"a checkpoint written by {cfg.model}/train.py", "CKPT")

    def build():
        net = build_backbone(cfg)
        load_weights(net, cfg.ckpt_file)
        return net

    return export_checked(cfg, build, device, what=f"{cfg.backbone} embedding")
