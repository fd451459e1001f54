"""Checkpoints of the old MindSpore model zoo folders -> this zoo's backbone checkpoints.

    python -m common.convert_zoo_ckpt --model lightcnn9|cosface_mobilefacenet|lresnet100e_ir|facenet_resnet50 \
        --in OLD.ckpt --out NEW.ckpt [--config YAML]

The old folders (research/cv/LightCNN, research/cv/cosface, research/cv/lresnet100e_ir, research/cv/FaceNet)
named their layers differently; the networks are the same layer for layer. Each model folder's
``src/zoo_ckpt.py`` (``Recipe.zoo_checkpoints``: kind -> (YAML, rename)) holds the mapping that renames the
backbone's parameters (optimizer state, step counters and the classifier are left out), then checks the result
against this zoo's backbone built from the model's recipe (``--config`` picks another YAML of the same model):
every parameter present with its shape, else one line naming what is missing. The output holds the backbone
only; eval.py / export.py take it as ``--ckpt_file``, train.py as a starting point is not offered (no head).

Old names (prefixes ``network.`` / ``backbone.`` of the old training wrappers are removed first):

* LightCNN-9 ``Network9Layers``: ``features.*`` (same here), ``fc1.filter.*`` -> ``fc.filter.*``; ``fc2.*`` is the
  classifier.
* CosFace ``MY_MobileFaceNet``: ``conv1`` / ``dw_conv1`` / ``conv2`` / ``linear7`` / ``linear1`` ConvBlocks
  (``conv``, ``bn``, ``prelu``) -> ``body.0`` / ``body.1`` / ``body.17`` / ``body.18`` / ``body.19``
  (``block.0``, ``block.1``, ``block.2``); ``blocks.<i>`` bottlenecks (``conv1 bn1 prelu1 conv2 bn2 prelu2 conv3
  bn3``, or the same cells as ``conv.0`` .. ``conv.7``) -> ``body.<i+2>.body.<j>.block.<k>``; ``product.weight`` is
  the CosFace head.
* LResNet100E-IR ``IResNet``: ``conv1 bn1 prelu`` -> ``stem.0 .1 .2``; ``layer<s>.<i>`` blocks (``bn1 conv1 bn2
  prelu conv2 bn3 downsample.0 .1``) -> ``stages.<flat index>.body.0 .. 5`` / ``downsample``; ``bn2``, ``fc``,
  ``features`` keep their names.
* FaceNet ``FaceNetModel``: ``resnet50_backbone.*`` -> the same ResNet-50 names here with ``down_sample_layer`` ->
  ``downsample``; ``resnet50_backbone_fc.1`` -> ``fc``; ``resnet50_backbone.end_point`` and
  ``resnet50_backbone_classifier`` are unused classifiers. The old net scaled the L2-normalised embedding by 10:
  the same direction, so every cosine score is the same.
"""
import argparse
import os

import common.core.env  # noqa: E402,F401  (CPU speed default before mindspore loads)

from common.core.errors import FaceIdError, guard  # noqa: E402


def kinds():
    """--model choices: {old checkpoint kind: (recipe, YAML name, rename)} from every recipe's ``zoo_checkpoints``."""
    from common.recipes import contract

    out = {}
    for name in contract.models():
        rec = contract.get(name)
        for kind, (yaml_name, rename) in rec.zoo_checkpoints.items():
            out[kind] = (rec, yaml_name, rename)
    return out
WRAPPERS = ("network.", "backbone.", "_backbone.", "model.")


def _strip(name):
    changed = True
    while changed:
        changed = False
        for pre in WRAPPERS:
            if name.startswith(pre):
                name, changed = name[len(pre):], True
    return name


def convert(model, old):
    """{old name: array} -> ({new name: array}, [old names left out])."""
    known = kinds()
    if model not in known:
        raise FaceIdError(f"--model {model}: unknown (one of {', '.join(sorted(known))})")
    rename = known[model][2]
    stripped = {_strip(k): (k, v) for k, v in old.items()}
    ctx = {"names": list(stripped)}
    out, skipped = {}, []
    for name, (orig, value) in stripped.items():
        new = rename(name, ctx)
        if new is None:
            skipped.append(orig)
            continue
        if new in out:
            raise FaceIdError(f"{orig}: maps to {new}, which another old parameter already took")
        out[new] = value
    return out, skipped


def backbone_for(model, config=None):
    from common.core.config import load_config
    from common.nets import build_backbone

    rec, yaml_name, _ = kinds()[model]
    cfg = load_config(rec.default_config, ["--config", config or rec.config_path(yaml_name)], command="eval")
    return build_backbone(cfg), cfg


def check_against(net, params, src):
    """Every parameter of ``net`` present with its shape; nothing extra."""
    own = {p.name: tuple(p.shape) for p in net.get_parameters()}
    missing = [n for n in own if n not in params]
    if missing:
        raise FaceIdError(f"{src}: lacks {len(missing)} parameter(s) of this zoo's network after renaming, e.g. "
                          f"{missing[0]} (is it a checkpoint of the --model given?)")
    extra = [n for n in params if n not in own]
    if extra:
        raise FaceIdError(f"{src}: {len(extra)} renamed parameter(s) have no place in this zoo's network, e.g. "
                          f"{extra[0]} (a different network depth or --config?)")
    for n, shape in own.items():
        got = tuple(params[n].shape)
        if got != shape:
            raise FaceIdError(f"{src}: {n} has shape {got}, this zoo's network needs {shape} "
                              f"(a different input size or width: pass the matching --config)")


def read_old(path):
    """{name: array} of an old-zoo checkpoint (common.train.checkpoint.read: one-line errors naming the file)."""
    from common.train.checkpoint import read

    return {k: v.asnumpy() for k, v in read(path).items() if hasattr(v, "asnumpy")}


def write(path, params):
    import mindspore as ms

    tmp = path + ".tmp.ckpt"  # save_checkpoint adds .ckpt to any other suffix
    ms.save_checkpoint([{"name": k, "data": ms.Tensor(v)} for k, v in params.items()], tmp)
    os.replace(tmp, path)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m common.convert_zoo_ckpt",
                                description="Old MindSpore model zoo checkpoint -> this zoo's backbone checkpoint")
    p.add_argument("--model", required=True, choices=sorted(kinds()))
    p.add_argument("--in", dest="src", required=True, help="checkpoint written by the old zoo folder")
    p.add_argument("--out", required=True, help="backbone checkpoint to write (eval.py / export.py --ckpt_file)")
    p.add_argument("--config", default=None, help="YAML of the model's folder describing the network "
                   "(default: the old zoo's recipe here)")
    args = p.parse_args(argv)
    if os.path.abspath(args.out) == os.path.abspath(args.src):
        raise FaceIdError(f"--out {args.out}: would overwrite the input checkpoint")
    from common.core.paths import writable_file

    writable_file(args.out, "--out")  # before the checkpoint is read
    old = read_old(args.src)
    new, skipped = convert(args.model, old)
    net, cfg = backbone_for(args.model, args.config)
    check_against(net, new, args.src)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    write(args.out, new)
    print(f"{args.src}: {len(new)} parameters renamed for {cfg.backbone} ({args.model}); {len(skipped)} left out "
          f"(optimizer state, classifier); wrote {args.out}")
    return 0


if __name__ == "__main__":
    guard(main)
