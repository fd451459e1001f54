"""One evaluation report a person can read: ``OUT_DIR/eval/report.html``, self-contained (every image inline).

Every eval (``common/flows/evaluate.py``) writes it after all targets are scored; ``python -m common.evaluate
--report A.json B.json ... --out cmp.html`` puts several result JSONs side by side. The page holds:

* a summary table: one column per result, one row per numeric metric of any result JSON (mean ± std where the
  JSON holds both: ``accuracy_mean``/``accuracy_std``, ``val_mean``/``val_std``, ``mean``/``std``); nested
  metrics are named by their path (``tar_at_far/1e-06``, ``roc_flip/auc``), so any protocol renders;
* ROC and DET curves (log FAR; DET = false reject rate vs FAR, both log) of every ``roc`` curve, overlaid;
* the per-fold (BLUFR: per-trial) values of each result; and for a result with pair scores (``<stem>_pairs.npz``
  beside the JSON, named in its ``files.pair_scores``, written by the eval): the thresholds at FAR 1e-3 / 1e-4 a
  deployment would use, and the 8 worst false accepts (impostor pairs scoring highest) and 8 worst false rejects
  (genuine pairs scoring lowest) as thumbnail pairs with score and file names (``.bin`` sets: the image index,
  decoded from the ``.bin``).

Pair-score side file (``<stem>_pairs.npz``, :func:`write_pairs`): ``score`` (higher = more similar), ``label``
(True = same identity), ``fold``, ``first`` / ``second`` (image paths, or image indices in ``bin``), ``bin``
(the .bin path or ""), ``score_name``. A protocol with too many pairs to keep (BLUFR's all-pairs trials) names
only the worst pairs there and adds the distributions the thresholds need (:func:`hardest_pairs`:
``genuine_scores``, ``impostor_top``, ``impostors``). IJB's 1:1 (15.6 M template pairs on IJB-C) does the same
(:func:`top_pairs`, common/evaluation/ijb.py ``write_pair_file``): its named pairs are template pairs, each side
shown by one image of its template, with ``first_template`` / ``second_template`` (ids), ``pair_line`` (0-based
line of the pair file) and ``set_name``.

Threshold at FAR f (N impostor pairs): at most k = floor(f * N) false accepts are allowed; the threshold is the
smallest value rejecting the (k+1)-th highest impostor score (accept ``score >= threshold``), which gives the
highest TAR whose FAR is <= f. With f * N < 1 no false accept is allowed and the row says the FAR is not resolved
by that many impostors.
"""
import base64
import html
import io
import json
import math
import os

import numpy as np

from common.core.errors import FaceIdError
from common.core.fileio import atomic_write, write_text_atomic

FARS = (1e-3, 1e-4)
WORST = 8
THUMB = 72  # thumbnail height in pixels
SKIP_KEYS = {"files", "roc", "warnings", "unreadable_images", "n/a", "preprocess"}


# ---------------------------------------------------------------- pair scores beside a result JSON
def pairs_path(out_json):
    """The pair-score side file of a result JSON: ``<stem>_pairs.npz``."""
    return os.path.splitext(out_json)[0] + "_pairs.npz"


def write_pairs(path, score, label, fold, first, second, bin_path="", score_name="cosine", extra=None):
    """Write the pair-score side file atomically (module doc); returns its absolute path. ``extra``: more arrays
    (:func:`hardest_pairs`' ``genuine_scores``, ``impostor_top``, ``impostors`` when only some pairs are named)."""
    score = np.asarray(score, np.float64).ravel()
    n = score.size
    data = {"score": score, "label": np.asarray(label, bool).ravel(), "fold": np.asarray(fold, np.int64).ravel(),
            "first": np.asarray([str(x) for x in first]), "second": np.asarray([str(x) for x in second]),
            "bin": np.asarray(str(bin_path or "")), "score_name": np.asarray(str(score_name))}
    data.update({k: np.asarray(v) for k, v in (extra or {}).items()})
    for k in ("label", "fold", "first", "second"):
        if data[k].size != n:
            raise FaceIdError(f"{path}: {k} has {data[k].size} entries for {n} pair scores")
    atomic_write(path, lambda f: np.savez_compressed(f, **data))
    return os.path.abspath(path)


def load_pairs(result, json_path=None):
    """The pair-score side file a result names (``files.pair_scores``; when that path is gone, the file of that
    name beside the result JSON: a moved folder), or None. One whose pair count differs from the result's is
    not this result's (None)."""
    path = (result.get("files") or {}).get("pair_scores")
    if not path:
        return None
    if not os.path.isfile(path) and json_path:
        path = os.path.join(os.path.dirname(os.path.abspath(json_path)), os.path.basename(path))
    if not os.path.isfile(path):
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except (OSError, ValueError) as exc:
        raise FaceIdError(f"{path}: cannot read pair scores ({exc})") from None
    if "impostors" not in data and _num(result.get("pairs")) and int(result["pairs"]) != data["score"].size:
        return None
    return dict(data, path=path)


# ---------------------------------------------------------------- numbers
def _num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def flatten_metrics(result):
    """{metric name: (value, std or None)} for every numeric metric of a result dict (module doc), in order.

    A value of None (NaN written as null) is kept (shown as n/a); lists (curves, per-fold values) are left to the
    curves and the per-fold table."""
    out = {}

    def walk(d, prefix):
        keys = list(d)
        done = set()
        for k in keys:
            if k in done or k in SKIP_KEYS:
                continue
            v = d[k]
            name = f"{prefix}/{k}" if prefix else str(k)
            scalar = v is None or _num(v)
            if k == "mean" and "std" in d and scalar:
                out[prefix or "mean"] = (v, d["std"])
                done.update({"mean", "std"})
            elif scalar and str(k).endswith("_mean") and str(k)[:-5] + "_std" in d:
                base = str(k)[:-5]
                last = prefix.rsplit("/", 1)[-1]
                label = prefix if prefix and last.startswith(base) else (f"{prefix}/{base}" if prefix else base)
                out[label] = (v, d[base + "_std"])
                done.update({k, base + "_std"})
            elif isinstance(v, dict):
                walk(v, name)
            elif v is None or _num(v):
                out[name] = (v, None)

    walk(result, "")
    return out


def fmt(v):
    """A metric as shown: ints whole, floats with 5 decimals (6 significant digits when large), None as n/a."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "n/a"
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        return str(int(v))
    v = float(v)
    return f"{v:.5f}" if abs(v) < 1000 else f"{v:.6g}"


def fmt_cell(value, std):
    return fmt(value) if std is None or fmt(value) == "n/a" else f"{fmt(value)} ± {fmt(std)}"


def threshold_at_far(score, label, far):
    """dict(far_target, threshold, tar, far, false_accepts, impostors, resolved) per the module doc."""
    score, label = np.asarray(score, np.float64), np.asarray(label, bool)
    return threshold_from(score[label], np.sort(score[~label])[::-1], int(np.count_nonzero(~label)), far)


def threshold_from(gen, imp_desc, n, far):
    """:func:`threshold_at_far` from the genuine scores, the highest impostor scores (descending; all of them, or
    at least the floor(far * n) + 1 highest) and the number ``n`` of impostor pairs; None when too few are given."""
    gen, imp = np.asarray(gen, np.float64), np.asarray(imp_desc, np.float64)
    if n == 0 or gen.size == 0:
        return None
    k = int(math.floor(far * n + 1e-9))
    if k >= imp.size and imp.size < n:
        return None
    thr = float(np.nextafter(imp[k], np.inf)) if k < imp.size else float(imp[-1])
    fa = int(np.count_nonzero(imp >= thr))
    return {"far_target": far, "threshold": thr, "tar": float(np.mean(gen >= thr)), "far": fa / n,
            "false_accepts": fa, "impostors": int(n), "genuine": int(gen.size), "resolved": far * n >= 1}


def hardest_pairs(x, labels, fars=FARS, worst=WORST, block=256):
    """Every pair of the rows of ``x`` (L2-normalised; a BLUFR verification trial) scored by dot product, kept
    small: all genuine scores and the highest impostor scores, enough for the thresholds at ``fars`` and the
    ``worst`` false accepts. Returns {genuine_scores, genuine_pairs, impostor_top (descending), impostor_pairs,
    impostors (their total)}; pairs are (i, j) row indices with j < i."""
    x, labels = np.asarray(x), np.asarray(labels)
    n = labels.size
    gs, gp = [], []
    for lab in np.unique(labels):
        g = np.flatnonzero(labels == lab)
        if g.size > 1:
            i, j = np.tril_indices(g.size, -1)
            gs.append(np.einsum("ij,ij->i", x[g[i]], x[g[j]]))
            gp.append(np.stack([g[i], g[j]], 1))
    gen = np.concatenate(gs) if gs else np.empty(0)
    gpairs = np.concatenate(gp) if gp else np.empty((0, 2), np.int64)
    n_imp = n * (n - 1) // 2 - gen.size
    keep = min(n_imp, int(math.floor(max(fars) * n_imp + 1e-9)) + 1 + worst)
    top_s, top_p = np.empty(0, x.dtype), np.empty((0, 2), np.int64)
    cols = np.arange(n)
    for a in range(0, n if keep else 0, block):
        s = x[a:a + block] @ x.T
        rows = np.arange(a, min(a + block, n))
        s[(cols[None, :] >= rows[:, None]) | (labels[None, :] == labels[rows][:, None])] = -np.inf
        flat = s.ravel()
        pick = np.argpartition(-flat, keep - 1)[:keep] if flat.size > keep else np.arange(flat.size)
        pick = pick[np.isfinite(flat[pick])]
        r, c = np.divmod(pick, n)
        v = flat[pick]
        top_s = np.concatenate([top_s, v])
        top_p = np.concatenate([top_p, np.stack([rows[r], c], 1)])
        if top_s.size > keep:
            pick = np.argpartition(-top_s, keep - 1)[:keep]
            top_s, top_p = top_s[pick], top_p[pick]
    order = np.lexsort((top_p[:, 1], top_p[:, 0], -top_s.astype(np.float64)))
    return {"genuine_scores": gen, "genuine_pairs": gpairs, "impostor_top": top_s[order],
            "impostor_pairs": top_p[order], "impostors": int(n_imp)}


def top_pairs(score, label, fars=FARS, worst=WORST, chunk=1 << 20):
    """Millions of scored pairs (IJB-C 1:1: 15.6 M) kept small, in chunks of ``chunk`` (memory bounded by the
    chunk and what is kept): every genuine score, the highest impostor scores (descending; enough for the
    thresholds at ``fars`` and the ``worst`` false accepts) and the indices of the ``worst`` highest impostor and
    lowest genuine pairs (ties: the lower index). Returns {genuine_scores, impostor_top, impostors, fa, fr}."""
    score, label = np.asarray(score), np.asarray(label, bool)
    n_imp = int(np.count_nonzero(~label))
    keep = min(n_imp, max(int(math.floor(max(fars) * n_imp + 1e-9)) + 1, worst))
    gen_s, gen_i = [], []
    top_s, top_i = np.empty(0, np.float64), np.empty(0, np.int64)
    for a in range(0, score.size, chunk):
        s, lab = np.asarray(score[a:a + chunk], np.float64), label[a:a + chunk]
        g = np.flatnonzero(lab)
        gen_s.append(s[g])
        gen_i.append(g + a)
        i = np.flatnonzero(~lab)
        if keep and i.size:
            cand_s, cand_i = np.concatenate([top_s, s[i]]), np.concatenate([top_i, i + a])
            if cand_s.size > keep:  # the keep highest; the boundary's ties: the lower indices
                cut = -np.partition(-cand_s, keep - 1)[keep - 1]
                sure = np.flatnonzero(cand_s > cut)
                tie = np.flatnonzero(cand_s == cut)
                pick = np.concatenate([sure, tie[np.argsort(cand_i[tie], kind="stable")[:keep - sure.size]]])
                cand_s, cand_i = cand_s[pick], cand_i[pick]
            top_s, top_i = cand_s, cand_i
    order = np.lexsort((top_i, -top_s))
    top_s, top_i = top_s[order], top_i[order]
    gen_s = np.concatenate(gen_s) if gen_s else np.empty(0)
    gen_i = np.concatenate(gen_i) if gen_i else np.empty(0, np.int64)
    fr = gen_i[np.lexsort((gen_i, gen_s))[:worst]]
    return {"genuine_scores": gen_s, "impostor_top": top_s, "impostors": n_imp, "fa": top_i[:worst], "fr": fr}


def worst_pairs(score, label, k=WORST):
    """(false-accept candidates, false-reject candidates): indices of the k impostor pairs scoring highest and the
    k genuine pairs scoring lowest (ties: file order)."""
    score, label = np.asarray(score, np.float64), np.asarray(label, bool)
    imp, gen = np.flatnonzero(~label), np.flatnonzero(label)
    fa = imp[np.argsort(-score[imp], kind="stable")[:k]]
    fr = gen[np.argsort(score[gen], kind="stable")[:k]]
    return fa, fr


# ---------------------------------------------------------------- images
def _png_b64(data):
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def _fig_png(fig):
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def curves_of(result):
    """{label: (far, tpr)} of a result's ``roc``: ``{label: {far, tpr}}`` or one ``{far, tpr}``."""
    roc = result.get("roc") or {}
    if isinstance(roc, dict) and "far" in roc and "tpr" in roc:
        roc = {"ROC": roc}
    out = {}
    for name, c in (roc.items() if isinstance(roc, dict) else ()):
        if isinstance(c, dict) and "far" in c and "tpr" in c:
            far = np.asarray([np.nan if v is None else v for v in c["far"]], np.float64)
            tpr = np.asarray([np.nan if v is None else v for v in c["tpr"]], np.float64)
            if far.size and far.size == tpr.size:
                out[str(name)] = (far, tpr)
    return out


def plot_curves(curves, det=False):
    """PNG bytes: ROC (TPR vs log FAR) or DET (log FRR vs log FAR) of ``{label: (far, tpr)}``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.0, 4.4), dpi=90)
    lo, drawn = 1.0, 0
    for i, (label, (far, tpr)) in enumerate(curves.items()):  # a curve has the same colour in ROC and DET
        y = 1.0 - tpr if det else tpr
        keep = np.isfinite(far) & np.isfinite(y) & (far > 0) & ((y > 0) if det else True)
        if keep.any():
            lo = min(lo, float(far[keep].min()))
            ax.plot(far[keep], y[keep], label=label, color=f"C{i % 10}")
            drawn += 1
    ax.set_xscale("log")
    ax.set_xlim(max(min(lo, 1e-3), 1e-7), 1.0)
    if det:
        ax.set_yscale("log")
        ax.set_ylabel("false reject rate")
    else:
        ax.set_ylim(0.0, 1.01)
        ax.set_ylabel("true accept rate")
    ax.set_xlabel("false accept rate")
    ax.set_title("DET" if det else "ROC")
    ax.grid(True, which="both", alpha=0.3)
    if not drawn:
        ax.text(0.5, 0.5, "no false rejects at any FAR > 0" if det else "no point with FAR > 0", ha="center",
                transform=ax.transAxes)
    else:
        ax.legend(loc="upper right" if det else "lower right", fontsize=7)
    fig.tight_layout()
    try:
        return _fig_png(fig)
    finally:
        plt.close(fig)


class _Thumbs:
    """Thumbnails as PNG data URLs, from image files or images of a .bin (each .bin read once)."""

    def __init__(self):
        self.bins = {}

    def get(self, name, bin_path=""):
        import cv2

        from common.data.images import decode_image

        try:
            if bin_path:
                if bin_path not in self.bins:
                    from common.protocols import binsets

                    self.bins[bin_path] = binsets.load_raw(bin_path)[0]
                src = bytes(self.bins[bin_path][int(name)])
            else:
                src = name
            img = decode_image(src, 3, name=str(name), color="bgr")
        except (FaceIdError, OSError, ValueError, IndexError, KeyError):
            return None
        h, w = img.shape[:2]
        size = (max(1, round(w * THUMB / h)), THUMB)
        img = cv2.resize(img, size, interpolation=cv2.INTER_AREA if h > THUMB else cv2.INTER_LINEAR)
        ok, buf = cv2.imencode(".png", img)
        return _png_b64(buf.tobytes()) if ok else None


# ---------------------------------------------------------------- page
CSS = """body{font-family:sans-serif;margin:20px;color:#222;background:#fff}
table{border-collapse:collapse;margin:8px 0 16px}td,th{border:1px solid #bbb;padding:3px 8px;font-size:13px}
th{background:#eee;text-align:left}td{text-align:right;font-family:monospace}
.curves img{margin-right:12px;border:1px solid #ddd}.pairs{display:flex;flex-wrap:wrap;gap:10px}
figure.pair{margin:0;border:1px solid #ccc;padding:4px;width:230px;font-size:11px}
figure.pair img{height:72px;margin-right:2px}.missing{display:inline-block;width:72px;height:72px;
background:#eee;color:#900;font-size:10px}.note{color:#555;font-size:13px}figcaption{word-break:break-all}"""


def _e(x):
    return html.escape(str(x), quote=True)


def _attr_num(v):
    return "" if v is None or not math.isfinite(float(v)) else repr(float(v))


def _entry_label(result, json_path, key=None):
    if key:
        return key
    model = " ".join(str(result[k]) for k in ("model", "backbone") if result.get(k))
    base = os.path.basename(json_path or "") or "result"
    return f"{model} {base}".strip()


def summary_table(entries):
    """HTML summary table: rows = metrics (union, first-seen order), columns = entries."""
    flat = [flatten_metrics(r) for _, r, _ in entries]
    names = list(dict.fromkeys(n for f in flat for n in f))
    head = "".join(f"<th>{_e(label)}</th>" for label, _, _ in entries)
    rows = []
    for n in names:
        cells = []
        for (label, _, _), f in zip(entries, flat):
            if n not in f:
                cells.append("<td></td>")
                continue
            v, s = f[n]
            cells.append(f'<td data-entry="{_e(label)}" data-value="{_attr_num(v)}" data-std="{_attr_num(s)}">'
                         f"{_e(fmt_cell(v, s))}</td>")
        rows.append(f'<tr data-metric="{_e(n)}"><th>{_e(n)}</th>{"".join(cells)}</tr>')
    return f'<table id="summary"><tr><th>metric</th>{head}</tr>{"".join(rows)}</table>'


def _info_table(entries):
    keys = ("protocol", "model", "backbone", "checkpoint", "align", "config")
    rows = []
    for k in keys:
        if any(r.get(k) is not None for _, r, _ in entries):
            rows.append(f"<tr><th>{k}</th>" + "".join(f"<td style='text-align:left'>{_e(r.get(k, ''))}</td>"
                                                      for _, r, _ in entries) + "</tr>")
    rows.append("<tr><th>result file</th>" + "".join(f"<td style='text-align:left'>{_e(p or '')}</td>"
                                                     for _, _, p in entries) + "</tr>")
    head = "".join(f"<th>{_e(label)}</th>" for label, _, _ in entries)
    return f'<table id="info"><tr><th></th>{head}</tr>{"".join(rows)}</table>'


def fold_columns(result):
    """{column name: list} of the per-fold / per-trial lists of a result (``fold_accuracies``,
    ``fold_thresholds``, ``trials``), named by their path."""
    cols = {}

    def walk(d, prefix):
        for k, v in d.items():
            if k in SKIP_KEYS:
                continue
            name = f"{prefix}/{k}" if prefix else str(k)
            if isinstance(v, dict):
                walk(v, name)
            elif k in ("fold_accuracies", "fold_thresholds", "trials") and isinstance(v, list) and v and \
                    all(x is None or _num(x) for x in v):
                cols[name] = v

    walk(result, "")
    return cols


def _fold_table(result, pairs):
    cols = fold_columns(result)
    counts = {}
    if pairs is not None and "impostors" not in pairs:
        folds, label = pairs["fold"], pairs["label"]
        ids = np.unique(folds)
        counts = {"genuine pairs": [int(np.sum(label & (folds == k))) for k in ids],
                  "impostor pairs": [int(np.sum(~label & (folds == k))) for k in ids]}
    allc = {**counts, **cols}
    if not allc:
        return '<p class="note">no per-fold values in this result</p>'
    n = max(len(v) for v in allc.values())
    head = "".join(f"<th>{_e(k)}</th>" for k in allc)
    rows = []
    for i in range(n):
        cells = "".join(f'<td data-col="{_e(k)}" data-value="{_attr_num(v[i]) if i < len(v) else ""}">'
                        f"{_e(fmt(v[i])) if i < len(v) else ''}</td>" for k, v in allc.items())
        rows.append(f"<tr><th>{i + 1}</th>{cells}</tr>")
    return f'<table class="folds"><tr><th>fold / trial</th>{head}</tr>{"".join(rows)}</table>'


def _distributions(pairs):
    """(genuine scores, impostor scores descending, number of impostor pairs) of a side file."""
    if "impostors" in pairs:  # only some pairs named (hardest_pairs): the distributions are stored
        return pairs["genuine_scores"], pairs["impostor_top"], int(pairs["impostors"])
    score, label = pairs["score"], pairs["label"]
    return score[label], np.sort(score[~label])[::-1], int(np.count_nonzero(~label))


def _threshold_table(pairs):
    rows = []
    gen, imp, n_imp = _distributions(pairs)
    for far in FARS:
        t = threshold_from(gen, imp, n_imp, far)
        if t is None:
            continue
        note = "" if t["resolved"] else (f"not resolved: {t['impostors']} impostor pairs allow no false accept "
                                         f"at this FAR; the threshold rejects every impostor seen")
        rows.append(f'<tr data-far="{far:g}"><th>{far:g}</th><td data-value="{t["threshold"]!r}">'
                    f'{t["threshold"]:.6f}</td><td data-value="{t["tar"]!r}">{fmt(t["tar"])}</td>'
                    f'<td data-value="{t["far"]!r}">{t["far"]:.6f}</td><td>{t["false_accepts"]} / '
                    f'{t["impostors"]}</td><td style="text-align:left">{_e(note)}</td></tr>')
    name = str(pairs.get("score_name", "score"))
    return (f'<p class="note">accept a pair when its {_e(name)} &gt;= threshold; set on all '
            f'{int(gen.size + n_imp)} pairs of {_e(_set_name(pairs))}</p><table class="thresholds"><tr><th>FAR target</th>'
            f'<th>threshold</th><th>TAR</th><th>FAR reached</th><th>false accepts</th><th></th></tr>'
            f'{"".join(rows)}</table>')


def _set_name(pairs):
    if "set_name" in pairs:
        return str(pairs["set_name"])
    return "trial 1 (every pair of its test set)" if "impostors" in pairs else "this set"


def _pair_figures(pairs, idx, kind, thumbs):
    bin_path = str(pairs.get("bin", ""))
    figs = []
    for i in idx:
        a, b = str(pairs["first"][i]), str(pairs["second"][i])
        imgs, names = [], []
        for name in (a, b):
            src = thumbs.get(name, bin_path)
            shown = f"{os.path.basename(bin_path)} #{name}" if bin_path else \
                os.path.join(os.path.basename(os.path.dirname(name)), os.path.basename(name))
            names.append(shown)
            imgs.append(f'<img class="thumb" alt="{_e(shown)}" src="{src}">' if src else
                        f'<span class="missing">{_e(shown)} not readable</span>')
        s = float(pairs["score"][i])
        if "first_template" in pairs:  # template pairs (IJB): each shown by one of its images
            where = f"pair line {int(pairs['pair_line'][i]) + 1}" if "pair_line" in pairs else "template pair"
            names = [f"template {int(pairs[k][i])}: {n}" for k, n in zip(("first_template", "second_template"),
                                                                        names)]
        else:
            where = f'{"trial" if "impostors" in pairs else "fold"} {int(pairs["fold"][i]) + 1}'
        figs.append(f'<figure class="pair {kind}" data-index="{int(i)}" data-score="{s!r}" data-first="{_e(a)}" '
                    f'data-second="{_e(b)}">{"".join(imgs)}<figcaption>score {s:.5f} ('
                    f'{_e(where)})<br>{_e(names[0])}<br>{_e(names[1])}</figcaption></figure>')
    return f'<div class="pairs {kind}">{"".join(figs)}</div>'


def _entry_section(label, result, json_path, thumbs):
    pairs = load_pairs(result, json_path)
    parts = [f'<section class="target" data-entry="{_e(label)}"><h2>{_e(label)}</h2>',
             "<h3>Per fold</h3>", _fold_table(result, pairs)]
    if pairs is None:
        parts.append('<p class="note">no pair scores saved beside this result (thresholds and worst pairs need '
                     'the <code>_pairs.npz</code> side file the eval writes)</p>')
    else:
        fa, fr = worst_pairs(pairs["score"], pairs["label"])
        parts += ["<h3>Thresholds a deployment would use</h3>", _threshold_table(pairs),
                  f"<h3>{len(fa)} worst false accepts (different people, highest scores)</h3>",
                  _pair_figures(pairs, fa, "fa", thumbs),
                  f"<h3>{len(fr)} worst false rejects (same person, lowest scores)</h3>",
                  _pair_figures(pairs, fr, "fr", thumbs)]
    warn = result.get("warnings") or []
    if warn:
        parts.append("<h3>Warnings</h3><ul>" + "".join(f"<li>{_e(w)}</li>" for w in warn) + "</ul>")
    return "".join(parts) + "</section>"


def render(entries, title="Evaluation report"):
    """The page for ``entries`` = [(label, result dict, result JSON path or None)]."""
    curves = {}
    for label, r, _ in entries:
        for name, c in curves_of(r).items():
            curves[f"{label}: {name}"] = c
    thumbs = _Thumbs()
    body = [f"<h1>{_e(title)}</h1>", _info_table(entries), "<h2>Summary</h2>", summary_table(entries)]
    if curves:
        body += ['<h2>Curves</h2><div class="curves">',
                 f'<img id="roc" class="curve" alt="ROC" src="{_png_b64(plot_curves(curves))}">',
                 f'<img id="det" class="curve" alt="DET" src="{_png_b64(plot_curves(curves, det=True))}">', "</div>"]
    else:
        body.append('<p class="note">no ROC curve in these results</p>')
    body += [_entry_section(label, r, p, thumbs) for label, r, p in entries]
    return (f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{_e(title)}</title><style>{CSS}</style>'
            f'</head><body>{"".join(body)}</body></html>')


def write_report(path, entries, title="Evaluation report"):
    """Write the page for ``entries`` (see :func:`render`) atomically; returns ``path``."""
    write_text_atomic(path, render(entries, title))
    return path


def read_result(path):
    try:
        with open(path, encoding="utf-8") as f:
            r = json.load(f)
    except OSError as exc:
        raise FaceIdError(f"--report {path}: cannot read ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise FaceIdError(f"--report {path}: not a result JSON ({exc})") from None
    if not isinstance(r, dict):
        raise FaceIdError(f"--report {path}: not a result JSON (a {type(r).__name__}, expected an object)")
    return r


def compare(json_paths, out):
    """``--report A.json B.json ... --out cmp.html``: several results side by side; returns ``out``."""
    from common.core.paths import check_output

    if not json_paths:
        raise FaceIdError("--report needs at least one result JSON")
    if not out:
        raise FaceIdError("--report needs --out FILE.html")
    check_output(out, *json_paths, [pairs_path(p) for p in json_paths], what="--out")
    results = [read_result(p) for p in json_paths]
    labels = [_entry_label(r, p) for r, p in zip(results, json_paths)]
    if len(set(labels)) < len(labels):
        labels = [os.path.abspath(p) for p in json_paths]
    return write_report(out, list(zip(labels, results, json_paths)), title="Evaluation comparison")


def main(argv):
    """``python -m common.evaluate --report A.json [B.json ...] --out cmp.html``."""
    import argparse

    p = argparse.ArgumentParser(prog="python -m common.evaluate --report",
                                description="several result JSONs side by side on one HTML page")
    p.add_argument("--report", nargs="+", required=True, metavar="RESULT.json", help="result JSONs of any protocol")
    p.add_argument("--out", required=True, help="the HTML page to write")
    args = p.parse_args(argv)
    out = compare(args.report, args.out)
    print(f"wrote {out} ({len(args.report)} result(s))")
    return out
