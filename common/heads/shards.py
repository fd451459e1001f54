"""Checkpoints of a sharded margin head (``head_parallel``, common/heads/partial_fc.py): save, resume, merge, split.

A sharded run writes, at every checkpoint of ``common.train.loop``:
- ``<prefix>-e<E>-s<S>.ckpt`` (rank 0): everything except the head: backbone, its optimizer state, the schedule
  position. eval / export read only this file (the backbone), never the head;
- ``<prefix>-e<E>-s<S>.head-<r>-of-<W>.ckpt`` (every rank r of W): its rows of ``head.weight`` and of each
  optimizer slot of it (``moments.head.weight``, ...), with ``meta_class_start`` / ``meta_class_count`` /
  ``meta_num_classes`` / ``meta_world`` / ``meta_rank``.
Resume (``--resume``) reads this rank's shard when the world size is the same; on another world size it
assembles its class range from the old shards (or from a merged checkpoint), so a run can move to more or fewer
devices directly. The tool does the same offline::

    python -m common.head_shards merge RUN/ckpt/model-e1-s300.ckpt [--out FULL.ckpt]
    python -m common.head_shards split FULL_OR_SHARDED.ckpt --world 4 --out_dir DIR

``merge`` writes one ordinary checkpoint with the full head (and full optimizer state): a run with
``head_parallel: false`` resumes from it. ``split`` writes ``DIR/<name>.ckpt`` + W shard files for
``--resume DIR/<name>.ckpt`` on W ranks. Inputs are never overwritten; outputs are written atomically.
"""
import argparse
import glob
import os
import re

import common.core.env  # noqa: F401  (CPU speed default before mindspore loads)
import numpy as np

from common.core.errors import FaceIdError
from common.train.checkpoint import META, CheckpointManager, _remove, load_into, read, save_atomic

HEAD = "head.weight"
SHARD_META = ("meta_class_start", "meta_class_count", "meta_num_classes", "meta_world", "meta_rank")
_SHARD_RE = re.compile(r"\.head-(\d+)-of-(\d+)\.ckpt$")


def is_head_entry(name, head=HEAD):
    """The head weight or one of its optimizer slots (``moments.head.weight``, ``moment1.head.weight``, ...)."""
    return name == head or name.endswith("." + head)


def shard_path(main, rank, world):
    stem = main[:-len(".ckpt")] if main.endswith(".ckpt") else main
    return f"{stem}.head-{rank}-of-{world}.ckpt"


def find_shards(main):
    """{world: {rank: path}} of the shard files written beside ``main``."""
    stem = main[:-len(".ckpt")] if main.endswith(".ckpt") else main
    found = {}
    for path in glob.glob(glob.escape(stem) + ".head-*-of-*.ckpt"):
        m = _SHARD_RE.search(path)
        if m and path == shard_path(main, int(m.group(1)), int(m.group(2))):
            found.setdefault(int(m.group(2)), {})[int(m.group(1))] = path
    return found


def _numpy(params):
    return {k: (v.asnumpy() if hasattr(v, "asnumpy") else np.asarray(v)) for k, v in params.items()}


def _meta_int(params, key, path):
    if key not in params:
        raise FaceIdError(f"{path}: lacks {key} (not a head shard written by common.heads.shards)")
    return int(np.asarray(params[key]).reshape(-1)[0])


def _class_range(num_classes, world, rank):
    from common.heads.partial_fc import class_range

    return class_range(num_classes, world, rank)


def _shard_set(main, num_classes):
    """The one complete shard set beside ``main`` -> (world, [(start, count, path)])."""
    found = find_shards(main)
    if not found:
        raise FaceIdError(f"{main}: holds no head and no head shard files lie beside it "
                          f"({os.path.basename(shard_path(main, 0, 'W'))} ...)")
    if len(found) > 1:
        raise FaceIdError(f"{main}: shard files for several world sizes ({', '.join(map(str, sorted(found)))}) "
                          f"lie beside it; move the stale ones away")
    world, ranks = next(iter(found.items()))
    missing = sorted(set(range(world)) - set(ranks))
    if missing:
        raise FaceIdError(f"{main}: shard(s) {missing} of {world} missing "
                          f"(e.g. {os.path.basename(shard_path(main, missing[0], world))})")
    return world, [(*_class_range(num_classes, world, r), ranks[r]) for r in range(world)]


def _read_shard(path, start, count, num_classes):
    params = _numpy(read(path))
    got = tuple(_meta_int(params, k, path) for k in ("meta_class_start", "meta_class_count", "meta_num_classes"))
    if got != (start, count, num_classes):
        raise FaceIdError(f"{path}: holds classes [{got[0]}, {got[0] + got[1]}) of {got[2]}, expected "
                          f"[{start}, {start + count}) of {num_classes}")
    return {k: v for k, v in params.items() if is_head_entry(k)}


def head_rows(main, start, count, num_classes, main_params=None):
    """Rows [start, start + count) of every head entry of checkpoint ``main`` (full, or sharded on any world
    size): {name: array (count, D)}. Reads only the shard files that overlap the range."""
    params = _numpy(main_params if main_params is not None else read(main))
    full = {k: v for k, v in params.items() if is_head_entry(k)}
    if full:
        bad = [k for k, v in full.items() if v.shape[0] != num_classes]
        if bad:
            raise FaceIdError(f"{main}: {bad[0]} has {full[bad[0]].shape[0]} rows, expected {num_classes} classes")
        return {k: v[start:start + count] for k, v in full.items()}
    _, shards = _shard_set(main, num_classes)
    parts = {}
    for s, c, path in shards:
        lo, hi = max(s, start), min(s + c, start + count)
        if lo >= hi:
            continue
        for k, v in _read_shard(path, s, c, num_classes).items():
            parts.setdefault(k, []).append(v[lo - s:hi - s])
    if not parts:
        raise FaceIdError(f"{main}: its head shards hold no head entries")
    return {k: np.concatenate(v, axis=0) for k, v in parts.items()}


def _num_classes(params, path, given=None):
    if given:
        return int(given)
    if "meta_num_classes" not in params:
        raise FaceIdError(f"{path}: lacks meta_num_classes; give --num_classes")
    return int(np.asarray(params["meta_num_classes"]).reshape(-1)[0])


def _entries(arrays):
    from mindspore import Tensor

    return [{"name": k, "data": Tensor(v)} for k, v in arrays.items()]


def _meta(params):
    return {k: int(np.asarray(params[k]).reshape(-1)[0]) for k in META if k in params}


def _check_out(out, inputs):
    if os.path.abspath(out) in {os.path.abspath(p) for p in inputs}:
        raise FaceIdError(f"{out}: is an input; choose another output")


def merge(main, out=None, num_classes=None):
    """Write the full checkpoint (shards merged) to ``out``; returns its path."""
    params = _numpy(read(main))
    c = _num_classes(params, main, num_classes)
    out = out or (main[:-len(".ckpt")] if main.endswith(".ckpt") else main) + ".merged.ckpt"
    _check_out(out, [main] + [p for w in find_shards(main).values() for p in w.values()])
    rest = {k: v for k, v in params.items() if not is_head_entry(k) and k not in META}
    rest.update(head_rows(main, 0, c, c, params))
    return save_atomic(_entries(rest), out, dict(_meta(params), meta_num_classes=c))


def split(path, world, out_dir, num_classes=None):
    """Write ``out_dir/<name>.ckpt`` (no head) + ``world`` shards of the head of ``path`` (full or sharded)."""
    if int(world) < 1:
        raise FaceIdError(f"--world: must be >= 1, got {world}")
    params = _numpy(read(path))
    c = _num_classes(params, path, num_classes)
    if c < int(world):
        raise FaceIdError(f"--world {world}: more ranks than the head's {c} classes")
    main = os.path.join(out_dir, os.path.basename(path))
    _check_out(main, [path])
    full = head_rows(path, 0, c, c, params)
    meta = dict(_meta(params), meta_num_classes=c)
    written = []
    for r in range(int(world)):
        s, n = _class_range(c, int(world), r)
        target = shard_path(main, r, int(world))
        _check_out(target, [path])
        written.append(save_atomic(_entries({k: v[s:s + n] for k, v in full.items()}), target,
                                   dict(meta, meta_class_start=s, meta_class_count=n, meta_world=int(world),
                                        meta_rank=r)))
    rest = {k: v for k, v in params.items() if not is_head_entry(k) and k not in META}
    save_atomic(_entries(rest), main, meta)
    return main, written


class ShardedCheckpointManager(CheckpointManager):
    """CheckpointManager of a head_parallel run: rank 0 writes the main file, every rank its head shard."""

    def __init__(self, directory, prefix, keep, shard, printer=None):
        super().__init__(directory, prefix, keep, printer)
        self.shard = dict(shard)  # PartialFCClassifier.meta()
        self.rank, self.world = self.shard["rank"], self.shard["world"]

    def writes(self, rank):
        return True

    def save(self, train_net, epoch, step_in_epoch, global_step, num_classes):
        path = os.path.join(self.dir, f"{self.prefix}-e{epoch}-s{global_step}.ckpt")
        meta = {"meta_epoch": int(epoch), "meta_step": int(step_in_epoch), "meta_num_classes": int(num_classes)}
        params = list(train_net.get_parameters())
        shard_meta = dict(meta, meta_class_start=self.shard["class_start"], meta_class_count=self.shard["class_count"],
                          meta_world=self.world, meta_rank=self.rank)
        save_atomic([{"name": p.name, "data": p} for p in params if is_head_entry(p.name)],
                    shard_path(path, self.rank, self.world), shard_meta)
        mine = sorted((f for f in glob.glob(os.path.join(glob.escape(self.dir), f"{self.prefix}-e*-s*.head-"
                                                         f"{self.rank}-of-{self.world}.ckpt"))),
                      key=lambda f: int(re.search(r"-s(\d+)\.head-", f).group(1)))
        if self.rank == 0:
            save_atomic([{"name": p.name, "data": p} for p in params if not is_head_entry(p.name)], path, meta)
            self.prune(path)  # never the file just written (the last good one), as CheckpointManager.prune
        own = os.path.abspath(shard_path(path, self.rank, self.world))
        mine = [f for f in mine if os.path.abspath(f) != own]  # the same rule for this rank's head shards
        for old in mine[:max(0, len(mine) - (self.keep - 1))] if self.keep > 0 else []:
            _remove(old)
        return path

    def load(self, train_net, path, params=None):
        params = dict(params) if params is not None else read(path)
        c = _num_classes(_numpy({k: v for k, v in params.items() if k in META}), path, self.shard["num_classes"])
        own = shard_path(path, self.rank, self.world)
        s, n = self.shard["class_start"], self.shard["class_count"]
        if os.path.isfile(own) and not any(is_head_entry(k) for k in params):
            rows = _read_shard(own, s, n, c)
        else:
            rows = head_rows(path, s, n, c, params)
        from mindspore import Parameter, Tensor

        params.update({k: Parameter(Tensor(v), name=k) for k, v in rows.items()})
        return load_into(train_net, path, params)


def checkpoint_manager(directory, prefix, keep, net_with_loss, printer=None):
    """The checkpoint manager ``net_with_loss`` needs: sharded when it holds a PartialFCClassifier."""
    from common.heads.partial_fc import PartialFCClassifier

    for _, cell in net_with_loss.cells_and_names():
        if isinstance(cell, PartialFCClassifier) and cell.world > 1:
            return ShardedCheckpointManager(directory, prefix, keep, cell.meta(), printer)
    return CheckpointManager(directory, prefix, keep, printer)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m common.head_shards", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("merge", help="shards -> one checkpoint with the full head")
    m.add_argument("ckpt", help="the main checkpoint (rank 0's <prefix>-e<E>-s<S>.ckpt)")
    m.add_argument("--out", default=None, help="output (default <ckpt stem>.merged.ckpt)")
    m.add_argument("--num_classes", type=int, default=None)
    s = sub.add_parser("split", help="full (or sharded) checkpoint -> main file + W shards")
    s.add_argument("ckpt")
    s.add_argument("--world", type=int, required=True)
    s.add_argument("--out_dir", required=True)
    s.add_argument("--num_classes", type=int, default=None)
    args = ap.parse_args(argv)
    if args.cmd == "merge":
        out = merge(args.ckpt, args.out, args.num_classes)
        print(f"merged head: {out}")
        return out
    os.makedirs(args.out_dir, exist_ok=True)
    main_path, shards = split(args.ckpt, args.world, args.out_dir, args.num_classes)
    print(f"split for {args.world} ranks: {main_path} + {len(shards)} shard(s) (resume with --resume {main_path})")
    return main_path


if __name__ == "__main__":
    from common.core.errors import guard

    guard(main)
