"""A training run draws its own curves: ``OUT_DIR/logs/curves.png`` (rank 0), rewritten atomically at every epoch
end and at the end of the run, so a person sees a run at a glance.

Four panels against the global step: the loss, the lr and the img/s of every progress line
(:class:`common.train.progress.Progress` ``history``: the numbers it printed, unrounded), and the periodic
verification accuracy per target (with flip, and without as a dashed line) from ``OUT_DIR/logs/verification.jsonl``
(:mod:`common.train.verification`). The data drawn is written beside it as ``curves.json``.

A resumed run (``--resume``) keeps the curve of the steps before its start (from ``curves.json`` and the
verification lines); a run starting from step 0 in a used ``OUT_DIR`` draws only itself.
"""
import json
import math
import os

import numpy as np

from common.core.fileio import atomic_write, write_json_atomic


class TrainingCurves:
    def __init__(self, out_dir, progress, log=print):
        logs = os.path.join(out_dir, "logs")
        self.png, self.data = os.path.join(logs, "curves.png"), os.path.join(logs, "curves.json")
        self.jsonl = os.path.join(logs, "verification.jsonl")
        self.progress, self.log = progress, log
        self.start = int(progress.start_step)
        self.earlier = []
        # verification lines already in the file: kept up to the resume point when resumed, else not this run's
        self.split = os.path.getsize(self.jsonl) if os.path.isfile(self.jsonl) else 0
        if self.start > 0:  # resumed: keep what was drawn up to the resume point
            try:
                with open(self.data, encoding="utf-8") as f:
                    self.earlier = [r for r in json.load(f).get("progress", []) if r["global_step"] <= self.start]
            except (OSError, ValueError, KeyError, TypeError, AttributeError):
                self.earlier = []

    def verification(self):
        """{target: [{global_step, accuracy, accuracy_flip}]} of this run's verification lines."""
        out = {}
        try:
            with open(self.jsonl, "rb") as f:
                raw = f.read()
        except OSError:
            return out
        before = raw[:self.split].decode("utf-8", "replace").splitlines()
        lines = [(True, ln) for ln in before] + [(False, ln) for ln in raw[self.split:].decode("utf-8", "replace")
                                                                         .splitlines()]
        for old, line in lines:
            try:
                rec = json.loads(line)
                step = int(rec["global_step"])
                results = rec["results"]
            except (ValueError, KeyError, TypeError):
                continue  # a line being written, or not a verification record
            if old and not (self.start and step <= self.start):
                continue  # an earlier run's line: kept only up to the resume point of a resumed run
            for name, r in results.items():
                if isinstance(r, dict) and "accuracy_flip" in r:
                    out.setdefault(name, []).append({"global_step": step, "accuracy": r.get("accuracy"),
                                                     "accuracy_flip": r["accuracy_flip"]})
        return out

    def series(self):
        rows = [{k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in r.items()}
                for r in self.earlier + list(self.progress.history)]  # a window of skipped steps: loss None
        return {"progress": rows, "verification": self.verification()}

    def draw(self):
        """Rewrite ``curves.png`` and ``curves.json``; a failure is one warning line, never the end of training."""
        try:
            data = self.series()
            write_json_atomic(self.data, data, allow_nan=False)
            plot(self.png, data)
        except (OSError, ValueError, RuntimeError) as exc:
            self.log(f"warning: {self.png} not drawn ({exc})")


class _Off:
    def draw(self):
        pass


def for_run(plan, progress, log=print):
    """The curves of a run (``plan``: common.train.plan.TrainPlan; rank 0, with an ``out_dir``), or an object whose
    ``draw()`` does nothing."""
    return TrainingCurves(plan.out_dir, progress, log) if plan.rank == 0 and plan.out_dir else _Off()


def plot(png_path, data):
    """Draw ``data`` (:meth:`TrainingCurves.series`) into ``png_path`` atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = data["progress"]
    step = np.array([r["global_step"] for r in rows], np.float64)
    fig, axes = plt.subplots(2, 2, figsize=(10, 6.5), dpi=80)
    for ax, key, title in ((axes[0, 0], "loss", "loss (mean over the log window)"), (axes[0, 1], "lr", "lr"),
                           (axes[1, 0], "img_s", "img/s")):
        if rows:
            ax.plot(step, [np.nan if r.get(key) is None else r[key] for r in rows],
                    marker="." if len(rows) < 50 else None)
        else:
            ax.text(0.5, 0.5, "no progress line yet", ha="center", transform=ax.transAxes)
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.grid(True, alpha=0.3)
    ax = axes[1, 1]
    for i, (name, pts) in enumerate(sorted(data["verification"].items())):
        s = [p["global_step"] for p in pts]
        line, = ax.plot(s, [p["accuracy_flip"] for p in pts], marker="o", label=f"{name} (flip)")
        if any(p.get("accuracy") is not None for p in pts):
            ax.plot(s, [np.nan if p.get("accuracy") is None else p["accuracy"] for p in pts], "--",
                    color=line.get_color(), label=name)
    if data["verification"]:
        ax.legend(fontsize=7)
    else:
        ax.text(0.5, 0.5, "no verification (verify_bin_dir / verify_data_root)", ha="center",
                transform=ax.transAxes)
    ax.set_title("verification accuracy")
    ax.set_xlabel("step")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    try:
        atomic_write(png_path, lambda f: fig.savefig(f, format="png"))
    finally:
        plt.close(fig)
