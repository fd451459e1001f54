"""Periodic verification during training (rank 0): .bin sets and/or an LFW-format folder.

Config keys (all optional; nothing runs when neither source is given)::

    verify_bin_dir: DIR          # holds <target>.bin (insightface lfw.bin, cfp_fp.bin, agedb_30.bin)
    verify_targets: [lfw, cfp_fp, agedb_30]
    verify_data_root: DIR        # LFW-format folder name/name_%04d.jpg + pairs.txt
    verify_every_steps: 2000     # also after every epoch; 0: only after epochs
    verify_batch_size: 64

Each run logs one line per target (accuracy without and with flip for .bin, 10-fold accuracy for the
folder) and appends a JSON line to ``OUT_DIR/logs/verification.jsonl``; the best flip accuracy per target
is kept in ``best``. Images are loaded once; embeddings use the training backbone in eval mode.
"""
import json
import os

import numpy as np

from common.evaluation.embed import extract
from common.core.errors import FaceIdError
from common.evaluation.scoring import evaluate_bin, evaluate_lfw
from common.protocols import binsets
from common.evaluation import seedlog


class _BinTarget:
    def __init__(self, name, path):
        images, self.issame = binsets.load_raw(path)
        binsets.check_issame(self.issame, path)  # refused at training start, never mid-run
        self.name, self.path, self.items = name, path, [bytes(b) for b in images]

    def score(self, net, preprocess, batch_size):
        bad = []
        emb, emb_flip = extract(net, self.items, preprocess, batch_size, flip=True, disable=True, unreadable=bad,
                                names=[f"{self.path}: image {i}" for i in range(len(self.items))])
        res = evaluate_bin(emb, emb_flip, self.issame, unreadable=[i for i, _ in bad], source=self.path,
                           bin_path=self.path)
        return {"accuracy": res["accuracy"]["accuracy_mean"], "accuracy_flip": res["accuracy_flip"]["accuracy_mean"],
                "accuracy_std": res["accuracy"]["accuracy_std"],
                "accuracy_flip_std": res["accuracy_flip"]["accuracy_std"],
                "xnorm": res["xnorm"], "pairs_dropped": res["pairs_dropped"]}


class _FolderTarget:
    def __init__(self, name, root, pairs_path=None):
        from common.evaluation.targets import find_pairs, pair_images

        self.pairs_path = find_pairs(root, pairs_path)
        _, self.names, self.items = pair_images(root, self.pairs_path)  # checked: folds, both classes, images
        self.name = name

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
    """Verification targets from a .bin folder (``targets`` names) and/or an LFW-format folder."""
    out = []
    if bin_dir:
        names = [t.strip() for t in (targets.split(",") if isinstance(targets, str) else targets) if t.strip()]
        if not names:
            raise FaceIdError(f"a .bin folder ({bin_dir}) needs target names (e.g. lfw,cfp_fp,agedb_30)")
        for name in names:
            path = os.path.join(bin_dir, name + ".bin")
            if not os.path.isfile(path):
                raise FaceIdError(f"{path}: verification set not found (target '{name}' in {bin_dir})")
            out.append(_BinTarget(name, path))
    if data_root:
        out.append(_FolderTarget(os.path.basename(os.path.normpath(data_root)) or "folder", data_root, pairs))
    return out


class VerificationCallback:
    """Call as ``on_step_end(global_step, epoch, train_net)`` and ``on_epoch_end(epoch, train_net)`` of fit()."""

    def __init__(self, cfg, backbone, preprocess, rank=0, log=print, extra_lines=None):
        self.backbone, self.pre, self.log = backbone, preprocess, log
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
        return bool(self.targets)

    def on_step_end(self, global_step, epoch, train_net):
        self.global_step = global_step
        if self.targets and self.every and global_step % self.every == 0:
            self.run(global_step, epoch, train_net)

    def on_epoch_end(self, epoch, train_net):
        if self.targets and self._last_step != self.global_step:
            self.run(self.global_step, epoch + 1, train_net)

    def run(self, global_step, epoch, train_net=None):
        """Score every target now; returns ``{target: {accuracy, accuracy_flip, ...}}``."""
        self._last_step = global_step
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
                self.log(f"[verification step {global_step}] {t.name}: accuracy {r['accuracy']:.5f}, "
                         f"accuracy-flip {r['accuracy_flip']:.5f} (best {best:.5f})")
                for line in seedlog.accuracy_lines(t.name, (r["accuracy"], r.get("accuracy_std", 0.0)),
                                                   (r["accuracy_flip"], r.get("accuracy_flip_std", 0.0))):
                    self.log(line)  # the old zoos' eval.log form, for scripts that grep it
                for line in (self.extra_lines or (lambda m, s: ()))(r["accuracy_flip"], r.get("accuracy_flip_std", 0.0)):
                    self.log(line)  # the recipe's own old-zoo lines (Recipe.verification_lines)
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
