"""Per-rank memory and per-step traffic of a margin head, replicated vs sharded (Partial FC, common/heads/partial_fc.py).

    python -m common.plan_head --classes 2000000 --dim 512 --world 64 [--batch 128] [--sample_rate 0.3]
                               [--dtype fp32] [--markdown]

``--classes`` and ``--world`` take comma-separated lists (one row per pair). Per rank:
- head state: class centres + their SGD momentum + their gradient (3 x rows x dim x bytes), with ``rows`` = C
  replicated, C/W sharded (the remainder on the first ranks: the largest shard is shown);
- logits: the (batch x classes) float32 matrix of one step: B x C replicated; W*B x K sharded, K the centres used
  (K = C/W, or with --sample_rate r: max(ceil(r * C/W), W*B), as common.heads.partial_fc samples);
- traffic, bytes each rank sends (= receives) per step with ring collectives (all-gather and reduce-scatter of N
  bytes: (W-1)/W * N each; all-reduce: 2 (W-1)/W * N): replicated, the all-reduce of the head's gradient
  (C x dim); sharded, the all-gather of the embeddings (fp32) and labels (int32), the reduce-scatter of the
  embeddings' gradient, and three all-reduces of W*B float32 (row max, exp-sum, target logit). The backbone's
  gradient all-reduce is the same either way and not counted.
"""
import argparse
import math

import common.core.env  # noqa: F401  (entry point convention; nothing here imports mindspore)
from common.core.errors import FaceIdError

BYTES = {"fp32": 4, "fp16": 2, "bf16": 2}


def plan(classes, dim, world, batch=128, sample_rate=1.0, dtype="fp32"):
    """-> dict of per-rank bytes (replicated and sharded) for one configuration."""
    if classes < 1 or dim < 1 or world < 1 or batch < 1:
        raise FaceIdError("--classes, --dim, --world and --batch must be positive")
    if not 0.0 < sample_rate <= 1.0:
        raise FaceIdError(f"--sample_rate must be in (0, 1], got {sample_rate}")
    if dtype not in BYTES:
        raise FaceIdError(f"--dtype must be one of {', '.join(BYTES)}, got {dtype!r}")
    b = BYTES[dtype]
    rows = -(-classes // world)  # the largest shard
    g = world * batch
    used = rows if sample_rate >= 1.0 else min(rows, max(math.ceil(sample_rate * rows), g))
    ring_gather = (world - 1) / world
    ring_reduce = 2 * (world - 1) / world
    emb = g * dim * 4
    return {
        "classes": classes, "dim": dim, "world": world, "batch": batch, "sample_rate": sample_rate, "dtype": dtype,
        "rows_replicated": classes, "rows_sharded": rows, "centres_used": used,
        "head_replicated": 3 * classes * dim * b, "head_sharded": 3 * rows * dim * b,
        "logits_replicated": batch * classes * 4, "logits_sharded": g * used * 4,
        "comm_replicated": ring_reduce * classes * dim * b if world > 1 else 0.0,
        "comm_sharded": (ring_gather * (emb + g * 4) + ring_gather * emb + 3 * ring_reduce * g * 4)
        if world > 1 else 0.0,
    }


def human(n):
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n:.0f} B"


COLUMNS = ("classes", "W", "head+momentum+grad replicated", "sharded", "logits replicated", "sharded",
           "traffic/step replicated", "sharded")


def rows_of(plans):
    return [(f"{p['classes']:,}", str(p["world"]), human(p["head_replicated"]), human(p["head_sharded"]),
             human(p["logits_replicated"]), human(p["logits_sharded"]), human(p["comm_replicated"]),
             human(p["comm_sharded"])) for p in plans]


def table(plans, markdown=False):
    rows = rows_of(plans)
    if markdown:
        out = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
        return "\n".join(out + ["| " + " | ".join(r) + " |" for r in rows])
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(COLUMNS)]
    return "\n".join("  ".join(v.ljust(w) for v, w in zip(r, widths)) for r in [COLUMNS] + rows)


def _ints(text, what):
    try:
        values = [int(v) for v in str(text).replace("_", "").split(",") if v.strip()]
    except ValueError:
        raise FaceIdError(f"--{what}: expected integers (comma separated), got {text!r}") from None
    if not values:
        raise FaceIdError(f"--{what}: give at least one value")
    return values


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m common.plan_head", description=__doc__.split("\n")[0])
    ap.add_argument("--classes", required=True, help="identities, e.g. 85742 or 85742,360232,2059906")
    ap.add_argument("--dim", type=int, default=512, help="embedding size (default 512)")
    ap.add_argument("--world", default="8", help="ranks, e.g. 64 or 8,16,64 (default 8)")
    ap.add_argument("--batch", type=int, default=128, help="images per rank per step (default 128)")
    ap.add_argument("--sample_rate", type=float, default=1.0, help="Partial FC negative sampling rate (1.0: all)")
    ap.add_argument("--dtype", default="fp32", help="head, momentum and gradient dtype: fp32, fp16, bf16")
    ap.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = ap.parse_args(argv)
    plans = [plan(c, args.dim, w, args.batch, args.sample_rate, args.dtype)
             for c in _ints(args.classes, "classes") for w in _ints(args.world, "world")]
    print(f"per rank: dim {args.dim}, batch {args.batch}/rank, sample_rate {args.sample_rate:g}, {args.dtype}")
    print(table(plans, args.markdown))
    return plans


if __name__ == "__main__":
    from common.core.errors import guard

    guard(main)
