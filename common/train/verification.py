"""Periodic verification during training (rank 0): .bin sets and/or an LFW-format folder.

Config keys (all optional; nothing runs when neither source is given)::

    verify_bin_dir: DIR          # holds <target>.bin (insightface lfw.bin, cfp_fp.bin, agedb_30.bin)
    verify_targets: [lfw, cfp_fp, agedb_30]
    verify_data_root: DIR        # LFW-format folder name/name_%04d.jpg + pairs.txt
    verify_every_steps: 2000     # also after every epoch; 0: only after epochs
    verify_batch_size: 64

Each run logs one line per target (accuracy without and with flip for .bin, 10-fold accuracy for the
folder) and appends a JSON line to ``OUT_DIR/logs/verification.jsonl``; the best flip accuracy per target
is kept in ``best``. Sets are loaded once by common.evaluation.sets (a .bin image decoded exactly as the eval flow
decodes it); embeddings use the training backbone in eval mode.

Data parallel (world > 1): rank 0 verifies while every other rank waits at an explicit meeting point
(common.core.distributed.wait_for_all, an all-reduce of a flag) called on every rank right after it, inside the
loop's paused window, so the wait is left out of img/s on every rank and no rank blocks in the next step's
gradient all-reduce; each waiting rank logs how long it waited. A verification that fails on rank 0 stops the
other ranks too (one line) instead of leaving them waiting.
"""
import json
import os
import time

import numpy as np

from common.core import distributed
from common.core.errors import FaceIdError
from common.evaluation.embed import extract
from common.evaluation.scoring import evaluate_bin, evaluate_lfw
from common.evaluation.printer import verification_lines
from common.evaluation.sets import BinSet, FolderSet, bin_file, folder_name, target_names


class _BinTarget:
    """A .bin set (common.evaluation.sets: loaded and decoded as the eval flow does) scored with and without flip."""

    def __init__(self, name, path):
        self.set = BinSet(path, name)  # issame refused at training start, never mid-run
        self.name, self.path, self.issame, self.items = name, path, self.set.issame, self.set.images

    def score(self, net, preprocess, batch_size):
        bad = []
        emb, emb_flip = extract(net, self.items, preprocess, batch_size, flip=True, disable=True, unreadable=bad,
                                names=self.set.names)
        res = evaluate_bin(emb, emb_flip, self.issame, unreadable=[i for i, _ in bad], source=self.path,
                           bin_path=self.path)
        return {"accuracy": res["accuracy"]["accuracy_mean"], "accuracy_flip": res["accuracy_flip"]["accuracy_mean"],
                "accuracy_std": res["accuracy"]["accuracy_std"],
                "accuracy_flip_std": res["accuracy_flip"]["accuracy_std"],
                "xnorm": res["xnorm"], "pairs_dropped": res["pairs_dropped"]}


class _FolderTarget:
    """An LFW-format folder (common.evaluation.sets: pairs checked, every image found) scored with and without flip."""

    def __init__(self, name, root, pairs_path=None):
        self.set = FolderSet(root, pairs_path, name)
        self.name, self.pairs_path, self.names, self.items = name, self.set.pairs_path, self.set.names, self.set.paths

    def score(self, net, preprocess, batch_size):
        bad = []
        emb, emb_flip = extract(net, self.items, preprocess, batch_size, flip=True, disable=True, unreadable=bad)
        skip = [self.names[i] for i, _ in bad]
        plain = evaluate_lfw(emb, self.names, self.pairs_path, unreadable=skip)
        flip = evaluate_lfw(emb + emb_flip, self.names, self.pairs_path, unreadable=skip)
        return {"accuracy": plain["accuracy_mean"], "accuracy_flip": flip["accuracy_mean"],
                "accuracy_std": plain["accuracy_std"], "accuracy_flip_std": flip["accuracy_std"],
                "pairs_dropped": plain["pairs_dropped"]}


def build_targets(bin_dir=None, targets=(), data_root=None, pairs=None):
    """Verification targets from a .bin folder (``targets`` names) and/or an LFW-format folder, loaded by
    common.evaluation.sets (the eval flow's loader)."""
    out = []
    if bin_dir:
        names = target_names(targets)
        if not names:
            raise FaceIdError(f"a .bin folder ({bin_dir}) needs target names (e.g. lfw,cfp_fp,agedb_30)")
        for name in names:
            out.append(_BinTarget(name, bin_file(bin_dir, name, "verify_bin_dir")))
    if data_root:
        out.append(_FolderTarget(folder_name(data_root), data_root, pairs))
    return out


class VerificationCallback:
    """Call as ``on_step_end(global_step, epoch, train_net)`` and ``on_epoch_end(epoch, train_net)`` of fit()."""

    def __init__(self, cfg, backbone, preprocess, rank=0, log=print, extra_lines=None, world=None):
        self.backbone, self.pre, self.log = backbone, preprocess, log
        self.rank = rank
        self.world = int(world if world is not None else distributed.launch_info()["world"])
        # every rank of a parallel run takes part (rank 0 scores, the others wait for it at one meeting point)
        self.configured = bool(cfg.get("verify_bin_dir") or cfg.get("verify_data_root"))
        self.model = cfg.get("model")
        self.extra_lines = extra_lines
        self.every = int(cfg.get("verify_every_steps") or 0)
        self.batch_size = int(cfg.get("verify_batch_size") or 64)
        self.targets = []
        if rank == 0:
            self.targets = build_targets(cfg.get("verify_bin_dir"), cfg.get("verify_targets") or (),
                                         cfg.get("verify_data_root"), cfg.get("verify_pairs"))
        self.jsonl = os.path.join(cfg.out_dir, "logs", "verification.jsonl")
        self.best, self.history, self._last_step = {}, [], None
        self.global_step = 0

    def __bool__(self):
        return bool(self.targets) or self._waits()

    def _waits(self):
        """This rank takes part in verifications it does not score (a non-zero rank of a parallel run)."""
        return self.world > 1 and self.configured

    def on_step_end(self, global_step, epoch, train_net):
        self.global_step = global_step
        if (self.targets or self._waits()) and self.every and global_step % self.every == 0:
            self.run(global_step, epoch, train_net)

    def on_epoch_end(self, epoch, train_net):
        if (self.targets or self._waits()) and self._last_step != self.global_step:
            self.run(self.global_step, epoch + 1, train_net)

    def run(self, global_step, epoch, train_net=None):
        """Score every target now (rank 0), then meet the other ranks; returns ``{target: {accuracy, ...}}``
        (``{}`` on a rank that only waited)."""
        self._last_step = global_step
        if self.world > 1 and self.rank != 0:
            t0 = time.perf_counter()
            failed = distributed.wait_for_all(0, self.world)
            if failed:
                raise FaceIdError(f"rank 0 failed during the verification at step {global_step} (see its log, "
                                  f"train_rank0.log); rank {self.rank} stops too")
            self.log(f"[verification step {global_step}] rank {self.rank}: waited "
                     f"{time.perf_counter() - t0:.2f} s for rank 0's verification")
            return {}
        ok = False
        try:
            results = self._score(global_step, epoch, train_net)
            ok = True
        finally:
            if self.world > 1:
                distributed.wait_for_all(0 if ok else 1, self.world)  # the others wait here, not in a step
        return results

    def _score(self, global_step, epoch, train_net):
        results = {}
        try:
            for t in self.targets:
                try:
                    r = t.score(self.backbone, self.pre, self.batch_size)
                except FaceIdError as exc:  # e.g. constant embeddings of a diverged net: say so, keep training
                    self.log(f"[verification step {global_step}] {t.name}: not scored ({exc})")
                    results[t.name] = {"error": str(exc)}
                    continue
                best = max(self.best.get(t.name, 0.0), r["accuracy_flip"])
                self.best[t.name] = best
                results[t.name] = r
                # this zoo's line, the old zoos' eval.log form and the recipe's own (for scripts that grep them)
                for line in verification_lines(global_step, t.name, r, best, self.extra_lines):
                    self.log(line)
        finally:
            if train_net is not None:
                train_net.set_train(True)
        record = {"global_step": int(global_step), "epoch": int(epoch), "results": results}
        self.history.append(record)
        os.makedirs(os.path.dirname(self.jsonl), exist_ok=True)
        with open(self.jsonl, "a", encoding="utf-8") as f:
            f.write(json.dumps(record, default=_plain) + "\n")
        return results


def _plain(value):
    return value.item() if isinstance(value, np.generic) else str(value)
