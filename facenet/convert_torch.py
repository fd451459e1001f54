"""Convert a facenet-pytorch InceptionResnetV1 state_dict (.pt) into a MindSpore checkpoint.

Names are kept; BatchNorm fields are renamed (weight->gamma, bias->beta, running_mean->moving_mean,
running_var->moving_variance), ``num_batches_tracked`` and the classifier ``logits.*`` are dropped.
Every MindSpore parameter must be supplied with the same shape, and no torch key may be left unused.
CLI: ``python facenet/convert_torch.py --pt state_dict.pt --out facenet.ckpt``
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import common.core.env  # noqa: E402,F401  (before mindspore)

import numpy as np  # noqa: E402
from common.core.errors import FaceIdError

BN_RENAME = {"weight": "gamma", "bias": "beta", "running_mean": "moving_mean", "running_var": "moving_variance"}
DROPPED_PREFIXES = ("logits.",)


def rename_torch_keys(state_dict):
    """{torch name: array} -> {MindSpore name: float32 array}; BN detected by its ``running_mean`` key."""
    bn_prefixes = {k[:-len(".running_mean")] for k in state_dict if k.endswith(".running_mean")}
    out = {}
    for key, value in state_dict.items():
        if key.endswith(".num_batches_tracked") or key.startswith(DROPPED_PREFIXES):
            continue
        prefix, _, field = key.rpartition(".")
        if prefix in bn_prefixes and field in BN_RENAME:
            key = f"{prefix}.{BN_RENAME[field]}"
        out[key] = np.asarray(value, dtype=np.float32)
    return out


def convert(state_dict, net, source="state_dict"):
    """Checked list of {"name", "data"} for ``mindspore.save_checkpoint``; ValueError naming ``source`` if not."""
    import mindspore as ms

    arrays = rename_torch_keys(state_dict)
    params = net.parameters_dict()
    unknown = sorted(set(arrays) - set(params))
    missing = sorted(set(params) - set(arrays))
    shapes = sorted(f"{k} {tuple(arrays[k].shape)} vs {tuple(params[k].shape)}"
                    for k in set(arrays) & set(params) if tuple(arrays[k].shape) != tuple(params[k].shape))
    problems = [f"{label} ({len(items)}): {', '.join(items)}"
                for label, items in (("unknown keys", unknown), ("missing keys", missing),
                                     ("shape mismatches", shapes)) if items]
    if problems:
        raise ValueError(f"error: {source}: does not match InceptionResnetV1: {'; '.join(problems)}")
    return [{"name": name, "data": ms.Tensor(arrays[name])} for name in params]


def load_torch_state_dict(path):
    """Read a .pt state_dict into {name: numpy array} with the zoo's restricted reader (no torch, no pickled code
    runs: common.tools.import_weights.torch_zip)."""
    from common.tools.import_weights.torch_zip import load

    obj = load(path)
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, np.ndarray) for v in obj.values()):
        raise FaceIdError(f"{path}: not a state_dict (expected a dict of tensors)")
    return dict(obj)


def main(argv=None):
    parser = argparse.ArgumentParser(description="facenet-pytorch InceptionResnetV1 state_dict -> MindSpore .ckpt")
    parser.add_argument("--pt", required=True, help="torch state_dict file")
    parser.add_argument("--out", required=True, help="MindSpore checkpoint to write")
    args = parser.parse_args(argv)

    import mindspore as ms
    from facenet.src.inception_resnet_v1 import InceptionResnetV1

    state_dict = load_torch_state_dict(args.pt)
    try:
        params = convert(state_dict, InceptionResnetV1(), source=args.pt)
    except ValueError as exc:
        raise FaceIdError(str(exc).removeprefix("error: ")) from None
    ms.save_checkpoint(params, args.out)
    print(f"wrote {len(params)} parameters to {args.out}")


if __name__ == "__main__":
    from common.core.errors import guard

    guard(main)
