"""ROC metrics from similarity scores (higher = more similar), by sorting; numpy only.

A pair is accepted at threshold ``t`` when ``score >= t``. Labels are booleans (True = same identity).
"""
import numpy as np

from common.protocols import ProtocolError

def checked(scores, labels):
    """float64 scores and bool labels of one length, both classes present, all scores finite; else ProtocolError."""
    scores = np.asarray(scores, dtype=np.float64).ravel()
    labels = np.asarray(labels).ravel().astype(bool)
    if scores.shape != labels.shape:
        raise ProtocolError(f"scores ({scores.size}) and labels ({labels.size}) differ in length")
    if not labels.any() or labels.all():
        raise ProtocolError("ROC needs both genuine (True) and impostor (False) pairs")
    if not np.isfinite(scores).all():
        raise ProtocolError("scores contain NaN or infinity")
    return scores, labels


def roc_curve(scores, labels, drop_intermediate=True):
    """(fpr, tpr, thresholds), thresholds decreasing; the first point is (0, 0) at threshold +inf.

    One point per distinct score (accepting ``score >= threshold``). With ``drop_intermediate`` the points
    inside straight runs are removed exactly as ``sklearn.metrics.roc_curve`` does (only corners are kept).
    """
    scores, labels = checked(scores, labels)
    order = np.argsort(-scores, kind="stable")
    s, y = scores[order], labels[order]
    last = np.r_[np.flatnonzero(np.diff(s)), s.size - 1]  # last index of each distinct score
    tps = np.cumsum(y)[last].astype(np.float64)
    fps = (last + 1) - tps
    thresholds = s[last]
    if drop_intermediate and tps.size > 2:
        keep = np.r_[True, (np.diff(fps, 2) != 0) | (np.diff(tps, 2) != 0), True]
        tps, fps, thresholds = tps[keep], fps[keep], thresholds[keep]
    tps, fps = np.r_[0.0, tps], np.r_[0.0, fps]
    thresholds = np.r_[np.inf, thresholds]
    return fps / fps[-1], tps / tps[-1], thresholds


def auc(fpr, tpr):
    """Area under the curve by the trapezoid rule (fpr increasing)."""
    fpr, tpr = np.asarray(fpr, np.float64), np.asarray(tpr, np.float64)
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2.0))


def eer_accuracy(fpr, tpr):
    """LightCNN's "100%-EER": TPR at the first ROC point (thresholds decreasing) where TPR >= 1 - FPR.

    Use it on the ``drop_intermediate=True`` curve to reproduce LightCNN's eval_lfw.py, which applies this
    rule to sklearn's default (thinned) ROC: inside a vertical run the run's top is reported.
    """
    fpr, tpr = np.asarray(fpr), np.asarray(tpr)
    return float(tpr[np.flatnonzero(tpr >= 1.0 - fpr)[0]])


def tpr_at_far(fpr, tpr, thresholds, fars):
    """For each target FAR: (TPR, threshold) of the ROC point with the largest TPR whose FPR <= FAR.

    FAR = 0 gives the genuine share scoring above the highest impostor score. Same values as LightCNN's
    ``tpr[np.where(fpr <= far)[-1]]`` on either curve (thinning keeps that point's TPR).
    """
    fpr, tpr, thresholds = map(np.asarray, (fpr, tpr, thresholds))
    out = []
    for far in np.atleast_1d(fars):
        i = np.flatnonzero(fpr <= far)[-1]
        out.append((float(tpr[i]), float(thresholds[i])))
    return out


def val_far(scores, labels, threshold):
    """(VAL, FAR) when accepting ``score >= threshold``: genuine and impostor shares accepted."""
    scores, labels = checked(scores, labels)
    accept = scores >= threshold
    return float(accept[labels].mean()), float(accept[~labels].mean())


def threshold_for_far(scores, labels, far_target, thresholds):
    """Threshold reaching ``far_target`` by linear interpolation of FAR(threshold) over a candidate grid.

    The facenet/insightface ``calculate_val`` rule: FAR is computed at every candidate; if no candidate reaches
    the target, nothing is accepted (+inf). Otherwise the (FAR, threshold) points are reduced to one per
    distinct FAR (the largest threshold, i.e. the strictest one, that gives it) and the threshold is
    interpolated linearly at ``far_target``.
    """
    scores, labels = checked(scores, labels)
    thresholds = np.sort(np.asarray(thresholds, np.float64))
    imp = np.sort(scores[~labels])
    far = (imp.size - np.searchsorted(imp, thresholds, side="left")) / imp.size  # share >= t, decreasing
    if far.max() < far_target:
        return np.inf
    far_asc, thr_desc = far[::-1], thresholds[::-1]
    uniq, first = np.unique(far_asc, return_index=True)
    return float(np.interp(far_target, uniq, thr_desc[first]))


def val_at_far(scores, labels, far_target, thresholds):
    """(VAL, FAR, threshold) at the interpolated threshold of :func:`threshold_for_far`."""
    thr = threshold_for_far(scores, labels, far_target, thresholds)
    val, far = val_far(scores, labels, thr)
    return val, far, thr


LFW_FARS = (0.01, 0.001, 0.0)


def roc_metrics(scores, labels, fars=LFW_FARS):
    """AUC, 100%-EER and TPR + threshold at each FAR of ``fars``; and the curve ``{far, tpr}`` for a plot."""
    fpr, tpr, thr = roc_curve(scores, labels)
    out = {"auc": auc(fpr, tpr), "100%-EER": eer_accuracy(fpr, tpr)}
    for far, (t, th) in zip(fars, tpr_at_far(fpr, tpr, thr, fars)):
        out[f"TPR@FAR={far * 100:g}%"] = t
        out[f"threshold@FAR={far * 100:g}%"] = th
    return out, {"far": fpr.tolist(), "tpr": tpr.tolist()}
