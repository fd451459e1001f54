"""The old MindSpore zoo's CosFace ``MY_MobileFaceNet`` checkpoint names -> this zoo's ``mobilefacenet``.

Used by ``python -m common.convert_zoo_ckpt --model cosface_mobilefacenet`` (``Recipe.zoo_checkpoints``): ``rename(name, ctx)``
gets a parameter name of the old checkpoint (wrapper prefixes removed) and returns this zoo's name, or None for
what is left out (optimizer state, classifier). ``ctx["names"]`` holds every old name."""
import re

_MFN_SINGLE = {"conv1": 0, "dw_conv1": 1, "conv2": 17, "linear7": 18, "linear1": 19}
_MFN_PART = {"conv": 0, "bn": 1, "prelu": 2}
# bottleneck cells by attribute name, and by their index in the old 'conv' SequentialCell
_MFN_BOTTLENECK = {"conv1": (0, 0), "bn1": (0, 1), "prelu1": (0, 2), "conv2": (1, 0), "bn2": (1, 1),
                   "prelu2": (1, 2), "conv3": (2, 0), "bn3": (2, 1)}
_MFN_SEQ = list(_MFN_BOTTLENECK.values())


def rename(name, _ctx):
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
