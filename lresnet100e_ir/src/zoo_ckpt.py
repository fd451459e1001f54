"""The old MindSpore zoo's LResNet100E-IR ``IResNet`` checkpoint names -> this zoo's ``iresnet100``.

Used by ``python -m common.convert_zoo_ckpt --model lresnet100e_ir`` (``Recipe.zoo_checkpoints``): ``rename(name, ctx)``
gets a parameter name of the old checkpoint (wrapper prefixes removed) and returns this zoo's name, or None for
what is left out (optimizer state, classifier). ``ctx["names"]`` holds every old name."""
import re

_IR_BLOCK = {"bn1": 0, "conv1": 1, "bn2": 2, "prelu": 3, "conv2": 4, "bn3": 5}


def rename(name, ctx):
    m = re.match(r"^(conv1|bn1|prelu)\.(.+)$", name)
    if m:
        return f"stem.{ {'conv1': 0, 'bn1': 1, 'prelu': 2}[m.group(1)] }.{m.group(2)}"
    m = re.match(r"^layer([1-4])\.(\d+)\.(.+)$", name)
    if m:
        flat = sum(_blocks(ctx)[s] for s in range(1, int(m.group(1)))) + int(m.group(2))
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


def _blocks(ctx):
    """Blocks per IResNet stage, counted from the old names (layer<s>.<i>.*); cached in ``ctx``."""
    if "blocks" not in ctx:
        blocks = {s: 0 for s in range(1, 5)}
        for n in ctx["names"]:
            m = re.match(r"^layer([1-4])\.(\d+)\.", n)
            if m:
                blocks[int(m.group(1))] = max(blocks[int(m.group(1))], int(m.group(2)) + 1)
        ctx["blocks"] = blocks
    return ctx["blocks"]
