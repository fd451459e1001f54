"""PFE's eval targets: LFW-format folders scored with cosine of mu and MLS of (mu, sigma^2) side by side, and
templates (sets of images) fused by precision-weighted mean and scored set to set.

Templates (``--templates``): a text file of ``template_id subject_id relative/path`` lines (paths relative to the
file's folder), or a folder of identity sub-folders, each split into two templates (first and second half of
its sorted images; identities with fewer than 2 images are skipped). Every pair of templates is scored:
genuine when the subjects match. Fusion (src/fusion.py): mu = sum(mu_i / s_i) / sum(1 / s_i),
s = 1 / sum(1 / s_i); cosine compares the fused mu, MLS the fused (mu, s).
"""
import os

import numpy as np

from common.evaluation.embed import extract
from common.core.errors import FaceIdError
from common.protocols.roc import roc_metrics
from common.protocols.mls import mls_score, score_lfw_pairs
from common.protocols.plots import write_result
from common.evaluation.sets import find_pairs, pair_images
from pfe.src.fusion import fuse_templates
from pfe.src.model import PFEConcat, split_concat

from common.data.images import IMAGE_EXTS as IMAGE_EXT  # the one extension list of every path


def embed(net, paths, preprocess, batch_size, desc="PFE embeddings"):
    """(mu, sigma^2) of ``paths`` through the PFE inference network (PFEExportNet)."""
    return split_concat(extract(PFEConcat(net), paths, preprocess, batch_size, desc=desc))


def run_lfw(t, cfg, net, emb, pre, batch, flip, extra, save_embeddings):
    pairs_path = find_pairs(t.path, cfg.get("pairs"))
    _, names, paths = pair_images(t.path, pairs_path)
    mu, sigma_sq = embed(net, paths, pre, batch)
    result = score_lfw_pairs(mu, sigma_sq, names, pairs_path)
    result.update(extra, files={"pairs": os.path.abspath(pairs_path), "images": os.path.abspath(t.path)}, flip=False)
    if save_embeddings:
        result["files"].update(_save(t, names, mu, sigma_sq))
    json_path, png = write_result(t.out_json, result)
    _print(result, "LFW")
    print(f"mean sigma^2 {result['mean_sigma_sq']:.3g}; wrote {json_path} and {png}")
    return result


def read_templates(path):
    """-> (template ids, subject ids, image paths) from a template file or an identity folder."""
    if os.path.isdir(path):
        tids, subjects, paths = [], [], []
        for ident in sorted(os.listdir(path)):
            folder = os.path.join(path, ident)
            if not os.path.isdir(folder):
                continue
            files = sorted(f for f in os.listdir(folder) if f.lower().endswith(IMAGE_EXT))
            if len(files) < 2:
                continue
            half = len(files) // 2
            for part, chunk in enumerate((files[:half], files[half:])):
                tids += [f"{ident}#{part}"] * len(chunk)
                subjects += [ident] * len(chunk)
                paths += [os.path.join(folder, f) for f in chunk]
        if not paths:
            raise FaceIdError(f"{path}: no identity folder with at least 2 images")
        return tids, subjects, paths
    if not os.path.isfile(path):
        raise FaceIdError(f"{path}: templates file or folder not found")
    root = os.path.dirname(os.path.abspath(path))
    tids, subjects, paths = [], [], []
    try:
        lines = open(path, encoding="utf-8").read().splitlines()
    except UnicodeDecodeError:
        raise FaceIdError(f"{path}: not a text templates file") from None
    for no, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 3:
            raise FaceIdError(f"{path}:{no}: expected 'template_id subject_id relative/path', got {line.strip()!r}")
        full = os.path.join(root, parts[2])
        if not os.path.isfile(full):
            raise FaceIdError(f"{path}:{no}: image not found: {full}")
        tids.append(parts[0])
        subjects.append(parts[1])
        paths.append(full)
    if not paths:
        raise FaceIdError(f"{path}: no templates")
    return tids, subjects, paths


def template_pairs(ids, subject_of):
    """Every unordered pair of templates -> (rows (P, 2), issame (P,))."""
    i, j = np.triu_indices(len(ids), k=1)
    same = np.array([subject_of[ids[a]] == subject_of[ids[b]] for a, b in zip(i, j)], bool)
    return np.stack([i, j], axis=1), same


def run_templates(t, cfg, net, emb, pre, batch, flip, extra, save_embeddings):
    tids, subjects, paths = read_templates(t.path)
    subject_of = {}
    for tid, subj in zip(tids, subjects):
        if subject_of.setdefault(tid, subj) != subj:
            raise FaceIdError(f"{t.path}: template {tid} lists two subjects ({subject_of[tid]}, {subj})")
    mu, sigma_sq = embed(net, paths, pre, batch, desc="PFE template images")
    ids, fmu, fsig = fuse_templates(mu, sigma_sq, np.asarray(tids))
    rows, same = template_pairs(list(ids), subject_of)
    if same.all() or not same.any():
        raise FaceIdError(f"{t.path}: template pairs need both same-subject and different-subject pairs "
                          f"({int(same.sum())} same, {int((~same).sum())} different)")
    result = {"protocol": "templates", "templates": int(len(ids)), "images": len(paths), "pairs": int(len(rows)),
              "genuine_pairs": int(same.sum()), "fusion": "precision-weighted mean of mu, 1/sum(1/sigma^2)",
              "roc": {}}
    unit = fmu / np.maximum(np.linalg.norm(fmu, axis=1, keepdims=True), 1e-12)
    scores = {"cosine": np.sum(unit[rows[:, 0]] * unit[rows[:, 1]], axis=1),
              "mls": mls_score(fmu[rows[:, 0]], fsig[rows[:, 0]], fmu[rows[:, 1]], fsig[rows[:, 1]])}
    for name, s in scores.items():
        metrics, curve = roc_metrics(s, same)
        result[name] = metrics
        result["roc"][f"{name} (AUC {metrics['auc'] * 100:.2f})"] = curve
    result.update(extra, files={"templates": os.path.abspath(t.path)})
    if save_embeddings:
        result["files"].update(_save(t, paths, mu, sigma_sq))
    json_path, png = write_result(t.out_json, result)
    for name in ("cosine", "mls"):
        r = result[name]
        print(f"PFE templates {name:>6}: AUC {r['auc'] * 100:.2f}, 100%-EER {r['100%-EER'] * 100:.2f}, "
              f"TPR@FAR=1% {r['TPR@FAR=1%'] * 100:.2f} ({len(ids)} templates, {len(rows)} pairs)")
    print(f"wrote {json_path} and {png}")
    return result


def _save(t, names, mu, sigma_sq):
    """``<target>_embeddings.npy`` rows [mu | sigma^2] and ``<target>_images.txt``, written atomically."""
    from common.evaluation.targets import save_embeddings

    stem = t.out_json[: -len("_result.json")]
    return save_embeddings(stem, np.concatenate([mu, sigma_sq], axis=1), names, t.inputs)


def _print(result, what):
    for name in ("cosine", "mls"):
        r = result[name]
        print(f"PFE {what} {name:>6}: accuracy {r['accuracy_mean'] * 100:.2f} +- {r['accuracy_std'] * 100:.2f}, "
              f"100%-EER {r['100%-EER'] * 100:.2f}, TPR@FAR=0.1% {r['TPR@FAR=0.1%'] * 100:.2f}, "
              f"AUC {r['auc'] * 100:.2f}")
