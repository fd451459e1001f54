"""Checkpoints of the old MindSpore model zoo folders -> this zoo's backbone checkpoints.

    python -m common.convert_zoo_ckpt --model lightcnn9|cosface_mobilefacenet|lresnet100e_ir|facenet_resnet50 \
        --in OLD.ckpt --out NEW.ckpt [--config YAML]

The old folders (research/cv/LightCNN, research/cv/cosface, research/cv/lresnet100e_ir, research/cv/FaceNet)
named their layers differently; the networks are the same layer for layer. The mapping below renames the
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
import re

import common.core.env  # noqa: E402,F401  (CPU speed default before mindspore loads)

from common.core.errors import FaceIdError, guard  # noqa: E402

# --model -> (model folder, default YAML of that folder)
MODELS = {
    "lightcnn9": ("lightcnn", "lightcnn9.yaml"),
    "cosface_mobilefacenet": ("cosface", "cosface_mobilefacenet_casia.yaml"),
    "lresnet100e_ir": ("lresnet100e_ir", "arcface_r100_ms1mv2.yaml"),
    "facenet_resnet50": ("facenet", "resnet50_fc128.yaml"),
}
WRAPPERS = ("network.", "backbone.", "_backbone.", "model.")
BN = r"(gamma|beta|moving_mean|moving_variance)"


def _strip(name):
    changed = True
    while changed:
        changed = False
        for pre in WRAPPERS:
            if name.startswith(pre):
                name, changed = name[len(pre):], True
    return name


def map_lightcnn9(name, _ctx):
    if name.startswith("features."):
        return name
    if name.startswith("fc1."):
        return "fc." + name[len("fc1."):]
    return None


_MFN_SINGLE = {"conv1": 0, "dw_conv1": 1, "conv2": 17, "linear7": 18, "linear1": 19}
_MFN_PART = {"conv": 0, "bn": 1, "prelu": 2}
# bottleneck cells by attribute name, and by their index in the old 'conv' SequentialCell
_MFN_BOTTLENECK = {"conv1": (0, 0), "bn1": (0, 1), "prelu1": (0, 2), "conv2": (1, 0), "bn2": (1, 1),
                   "prelu2": (1, 2), "conv3": (2, 0), "bn3": (2, 1)}
_MFN_SEQ = list(_MFN_BOTTLENECK.values())


def map_cosface_mobilefacenet(name, _ctx):
    m = re.match(r"^(conv1|dw_conv1|conv2|linear7|linear1)\.(conv|bn|prelu)\.(.+)$", name)
    if m:
        return f"body.{_MFN_SINGLE[m.group(1)]}.block.{_MFN_PART[m.group(2)]}.{m.group(3)}"
    m = re.match(r"^blocks\.(\d+)\.(conv1|bn1|prelu1|conv2|bn2|prelu2|conv3|bn3)\.(.+)$", name)
    if m:
        j, k = _MFN_BOTTLENECK[m.group(2)]
        return f"body.{int(m.group(1)) + 2}.body.{j}.block.{k}.{m.group(3)}"
    m = re.match(r"^blocks\.(\d+)\.conv\.([0-7])\.(.+)$", name)
    if m:
        j, k = _MFN_SEQ[int(m.group(2))]
        return f"body.{int(m.group(1)) + 2}.body.{j}.block.{k}.{m.group(3)}"
    return None


_IR_BLOCK = {"bn1": 0, "conv1": 1, "bn2": 2, "prelu": 3, "conv2": 4, "bn3": 5}


def map_lresnet100e_ir(name, ctx):
    m = re.match(r"^(conv1|bn1|prelu)\.(.+)$", name)
    if m:
        return f"stem.{ {'conv1': 0, 'bn1': 1, 'prelu': 2}[m.group(1)] }.{m.group(2)}"
    m = re.match(r"^layer([1-4])\.(\d+)\.(.+)$", name)
    if m:
        flat = sum(ctx["blocks"][s] for s in range(1, int(m.group(1)))) + int(m.group(2))
        rest = m.group(3)
        part = re.match(r"^(bn1|conv1|bn2|prelu|conv2|bn3)\.(.+)$", rest)
        if part:
            return f"stages.{flat}.body.{_IR_BLOCK[part.group(1)]}.{part.group(2)}"
        if rest.startswith("downsample."):
            return f"stages.{flat}.{rest}"
        return None
    if re.match(r"^(bn2|fc|features)\.", name):
        return name
    return None


def map_facenet_resnet50(name, _ctx):
    if name.startswith("resnet50_backbone_fc.1."):
        return "fc." + name[len("resnet50_backbone_fc.1."):]
    if name.startswith("resnet50_backbone."):
        rest = name[len("resnet50_backbone."):]
        if rest.startswith("end_point."):
            return None
        return rest.replace("down_sample_layer.", "downsample.")
    return None


MAPPERS = {"lightcnn9": map_lightcnn9, "cosface_mobilefacenet": map_cosface_mobilefacenet,
           "lresnet100e_ir": map_lresnet100e_ir, "facenet_resnet50": map_facenet_resnet50}


def _context(names):
    """Blocks per IResNet stage, counted from the old names (layer<s>.<i>.*)."""
    blocks = {s: 0 for s in range(1, 5)}
    for n in names:
        m = re.match(r"^layer([1-4])\.(\d+)\.", n)
        if m:
            blocks[int(m.group(1))] = max(blocks[int(m.group(1))], int(m.group(2)) + 1)
    return {"blocks": blocks}


def convert(model, old):
    """{old name: array} -> ({new name: array}, [old names left out])."""
    if model not in MAPPERS:
        raise FaceIdError(f"--model {model}: unknown (one of {', '.join(MODELS)})")
    stripped = {_strip(k): (k, v) for k, v in old.items()}
    ctx = _context(stripped)
    out, skipped = {}, []
    for name, (orig, value) in stripped.items():
        new = MAPPERS[model](name, ctx)
        if new is None:
            skipped.append(orig)
            continue
        if new in out:
            raise FaceIdError(f"{orig}: maps to {new}, which another old parameter already took")
        out[new] = value
    return out, skipped


def backbone_for(model, config=None):
    from common.recipes import contract as recipes
    from common.core.config import load_config
    from common.nets import build_backbone

    folder, yaml_name = MODELS[model]
    rec = recipes.get(folder)
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
    p.add_argument("--model", required=True, choices=sorted(MODELS))
    p.add_argument("--in", dest="src", required=True, help="checkpoint written by the old zoo folder")
    p.add_argument("--out", required=True, help="backbone checkpoint to write (eval.py / export.py --ckpt_file)")
    p.add_argument("--config", default=None, help="YAML of the model's folder describing the network "
                   "(default: the old zoo's recipe here)")
    args = p.parse_args(argv)
    if os.path.abspath(args.out) == os.path.abspath(args.src):
        raise FaceIdError(f"--out {args.out}: would overwrite the input checkpoint")
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
