"""The console printer of every eval result: the eval flow's table of targets, ``python -m common.evaluate``'s
lines of one result (IJB and the rest), the old zoos' result lines and the training-time verification lines.

    result_table({key: result})              # one row per target (the eval flow)
    metrics_table(result) / ijb_table(result)  # one result, one number a line (python -m common.evaluate)
    seed_lines({key: result}, eval_lines)    # the old zoos' lines (common.evaluation.seedlog), for scripts that grep
    verification_lines(step, name, r, best, extra_lines)  # one training-time verification of one target

The old zoos' line formats themselves are :mod:`common.evaluation.seedlog`'s (kept byte-identical).
"""
from common.evaluation import seedlog


def result_table(results):
    """One row per target: the protocol's headline numbers."""
    rows = [("target", "pairs", "accuracy", "accuracy-flip", "VAL@FAR=1e-3 / 100%-EER", "AUC / xnorm")]
    for key, r in results.items():
        rows.append(_row(key, r))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in rows)


def _pct(x):
    return "n/a" if x is None else f"{x * 100:.2f}"


def _row(key, r):
    if "accuracy" in r and isinstance(r["accuracy"], dict):  # .bin protocol
        acc, accf = r["accuracy"], r["accuracy_flip"]
        val = (r.get("VAL@FAR=0.001_flip") or {}).get("val_mean")
        return (key, str(r.get("pairs", "")), f"{_pct(acc['accuracy_mean'])} +- {_pct(acc['accuracy_std'])}",
                f"{_pct(accf['accuracy_mean'])} +- {_pct(accf['accuracy_std'])}", _pct(val),
                f"{r.get('xnorm', float('nan')):.3f}")
    if "VR@FAR=0.1%" in r:  # BLUFR
        vr, dr = r["VR@FAR=0.1%"], r.get("DIR@FAR=1%,rank=1", {})
        return (key, "-", f"VR@0.1% {_pct(vr['mean'])}", f"DIR@1% {_pct(dr.get('mean'))}", "-", "-")
    if "accuracy_mean" in r:  # LFW-format folder
        acc = f"{_pct(r['accuracy_mean'])} +- {_pct(r['accuracy_std'])}"
        return (key, str(r.get("pairs", "")), "-" if r.get("flip") else acc, acc if r.get("flip") else "-",
                _pct(r.get("100%-EER")), _pct(r.get("auc")))
    if r.get("protocol") == "ijb":  # IJB-B / IJB-C
        tar = r["tar_at_far"]
        return (key, str(r["counts"]["pairs_scored"]), f"TAR@1e-4 {_pct(tar['0.0001'])}",
                f"TAR@1e-5 {_pct(tar['1e-05'])}", f"rank-1 {_pct(r.get('rank1'))}", f"{r['auc']:.4f}")
    parts = [f"{k} {_pct(v['accuracy_mean'])}" for k, v in r.items() if isinstance(v, dict) and "accuracy_mean" in v]
    return (key, str(r.get("pairs", "")), ", ".join(parts) or "-", "-", "-", "-")


def metrics_table(out):
    """Console lines of one scored result (``python -m common.evaluate``): every headline number, one a line."""
    rows = []
    for key, val in out.items():
        if isinstance(val, float):
            rows.append((key, f"{val:.5f}"))
        elif isinstance(val, dict) and "accuracy_mean" in val:
            rows.append((key, f"{val['accuracy_mean']:.5f} +- {val['accuracy_std']:.5f}"))
        elif isinstance(val, dict) and "n/a" in val:
            rows.append((key, val["n/a"]))
        elif isinstance(val, dict) and "val_mean" in val:
            rows.append((key, f"{val['val_mean']:.5f} +- {val['val_std']:.5f} (FAR {val['far_mean']:.5f})"))
        elif isinstance(val, dict) and "mean_minus_std" in val:
            rows.append((key, f"{val['mean_minus_std']:.5f} (mean {val['mean']:.5f}, std {val['std']:.5f})"))
        elif isinstance(val, dict) and key.startswith("roc_"):
            rows += [(f"{key}/{k}", f"{v:.5f}") for k, v in val.items()]
    if out.get("pairs_dropped"):
        rows.insert(0, ("pairs dropped", f"{out['pairs_dropped']} (unreadable images: {len(out['unreadable_images'])})"))
    if "accuracy_mean" in out:
        rows.insert(0, ("10-fold accuracy", f"{out['accuracy_mean']:.5f} +- {out['accuracy_std']:.5f}"))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows if k not in ("accuracy_mean", "accuracy_std"))


def ijb_table(out):
    """Console lines of an IJB result: TAR@FAR, AUC, rank-k and TPIR@FPIR."""
    rows = [(f"TAR@FAR={k}", f"{v:.5f}") for k, v in out["tar_at_far"].items()]
    rows.append(("AUC", f"{out['auc']:.5f}"))
    for k in ("rank1", "rank5", "rank10"):
        if out.get(k) is not None:
            rows.append((k, f"{out[k]:.5f}"))
    for k, v in (out.get("tpir_at_fpir") or {}).items():
        if isinstance(v, dict):
            rows.append((f"TPIR@FPIR={k}", ", ".join(f"{g} {x:.5f}" if x is not None else f"{g} n/a"
                                                    for g, x in v.items())))
    if out.get("1N") and isinstance(out["1N"], str):
        rows.append(("1:N", out["1N"]))
    c = out["counts"]
    rows.insert(0, ("templates / pairs", f"{c['templates_scored']} / {c['pairs_scored']} ({c['genuine_pairs']} "
                                         f"genuine, {c['pairs_dropped']} dropped)"))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def seed_lines(results, eval_lines=None):
    """The old zoos' result lines: ``[target]Accuracy[-Flip]: m+-s`` (LResNet100E-IR eval.log), and the recipe's
    own (``eval_lines``, a recipe's ``Recipe.eval_lines``: FaceNet's ``Accuracy on LFW: m+-s``, CosFace's ``Test result, AVE: 99.27``)."""
    lines = []
    for key, r in results.items():
        name = key.rsplit(".", 1)[0]
        if isinstance(r.get("accuracy"), dict):  # .bin
            a, f = r["accuracy"], r["accuracy_flip"]
            lines += seedlog.accuracy_lines(name, (a["accuracy_mean"], a["accuracy_std"]),
                                            (f["accuracy_mean"], f["accuracy_std"]))
            mean, std = f["accuracy_mean"], f["accuracy_std"]
        elif "accuracy_mean" in r:  # LFW-format folder
            mean, std = r["accuracy_mean"], r["accuracy_std"]
            pair = (mean, std)
            lines += seedlog.accuracy_lines(name, None if r.get("flip") else pair, pair if r.get("flip") else None)
        else:
            continue
        if eval_lines:
            lines += list(eval_lines(mean, std))
    return lines


def verification_lines(step, name, r, best, extra_lines=None):
    """The training-time verification of one target: this zoo's line, the old zoos' eval.log lines and the
    recipe's own (``Recipe.verification_lines``)."""
    lines = [f"[verification step {step}] {name}: accuracy {r['accuracy']:.5f}, "
             f"accuracy-flip {r['accuracy_flip']:.5f} (best {best:.5f})"]
    lines += seedlog.accuracy_lines(name, (r["accuracy"], r.get("accuracy_std", 0.0)),
                                    (r["accuracy_flip"], r.get("accuracy_flip_std", 0.0)))
    lines += list((extra_lines or (lambda m, s: ()))(r["accuracy_flip"], r.get("accuracy_flip_std", 0.0)))
    return lines
