"""Postprocess of the C++ inference harness, the same for every model: outputs -> embeddings -> protocol.

Reads the harness's outputs in ``manifest.tsv`` order (sizes taken from the files): ``<stem>.bin`` of a one-output
model, ``<stem>_<k>.bin`` of a model with several (matched to the exported outputs by the names in the harness's
``outputs.txt`` and the model's sidecar ``<model file>.json``). Saves ``embeddings.npy`` + ``images.txt`` (one
path a line, relative to the dataset; rescorable with ``python -m common.evaluate``) and, where the dataset is an
LFW-format folder (``pairs.txt`` inside, or ``--pairs``), scores the images the pairs name exactly as the Python
eval does, writing ``result.json`` and ``result_roc.png``:

- one embedding output: ``common.evaluation.scoring.evaluate_lfw`` (cosine, 10 folds, ROC metrics);
- outputs ``mu`` and ``sigma_sq`` (PFE): cosine of mu and MLS of (mu, sigma^2) side by side
  (``common.protocols.mls.score_lfw_pairs``, as pfe's eval); ``sigma_sq.npy`` is saved beside ``embeddings.npy``
  (= mu).

Nothing here is model-specific and nothing imports MindSpore. Run by scripts/run_infer_310.sh (a model's
run_infer_310.sh sets ``POSTPROCESS`` to this file)::

    python common/deploy/infer310_post.py --manifest WORK/input/manifest.tsv --result_dir WORK/result \
        --dataset_path LFW_DIR --model MODEL.onnx [--pairs pairs.txt] [--out WORK/result.json]
"""
import argparse
import os


import numpy as np  # noqa: E402

from common.deploy import infer310  # noqa: E402
from common.deploy.infer310 import HarnessError  # noqa: E402
from common.protocols.mls import score_lfw_pairs  # noqa: E402
from common.deploy.sidecar import output_meanings, read_sidecar, sidecar_path  # noqa: E402
from common.evaluation.scoring import evaluate_lfw  # noqa: E402
from common.protocols import lfw  # noqa: E402
from common.protocols.plots import write_result  # noqa: E402

OUTPUT_NAMES = "outputs.txt"  # written by faceid_infer for a model with several outputs: "k name" a line
MLS_OUTPUTS = ("mu", "sigma_sq")
SUMMARY_KEYS = ("accuracy_mean", "100%-EER", "TPR@FAR=1%", "TPR@FAR=0.1%", "TPR@FAR=0%", "auc")


def output_dim(result_dir, stems, index=None):
    """Values per input of one output, from its first file (float32 values); a clear error if unusable."""
    if not stems:
        raise HarnessError(f"{result_dir}: the manifest lists no inputs")
    path = infer310.output_file(result_dir, stems[0], index)
    if not os.path.isfile(path):
        hint = ""
        if index is None and os.path.isfile(infer310.output_file(result_dir, stems[0], 0)):
            hint = " (the model has several outputs: give --model so its sidecar names them)"
        raise HarnessError(f"{path}: output file missing{hint}")
    size = os.path.getsize(path)
    if size == 0 or size % 4:
        raise HarnessError(f"{path}: {size} bytes is not a whole number of float32 values")
    return size // 4


def read_output(result_dir, stems, index=None):
    return infer310.read_outputs(result_dir, stems, output_dim(result_dir, stems, index), index)


def load_embeddings(manifest, result_dir):
    """(image paths, (N, D) float32 embeddings) of a one-output model, in manifest (= input) order."""
    stems, images = infer310.read_manifest(manifest)
    return images, read_output(result_dir, stems)


def output_order(result_dir, meta, log=print):
    """Harness output index of each sidecar output, matched by name via ``outputs.txt`` (else the same order)."""
    n = len(meta["outputs"])
    names_file = os.path.join(result_dir, OUTPUT_NAMES)
    if os.path.isfile(names_file):
        with open(names_file, encoding="utf-8") as f:
            harness = {}
            for line in f:
                parts = line.split(None, 1)
                if len(parts) == 2:
                    harness[parts[1].strip()] = int(parts[0])
        if len(harness) != n:
            raise HarnessError(f"{names_file}: the harness wrote {len(harness)} output(s), the sidecar lists {n}")
        wanted = [o.get("name") for o in meta["outputs"]]
        if all(w in harness for w in wanted):
            return [harness[w] for w in wanted]
        log(f"postprocess: output names in {names_file} differ from the sidecar's; taking them in order")
    return list(range(n))


def load_outputs(manifest, result_dir, meta=None, log=print):
    """(image paths, {meaning: (N, D) array}) in manifest order; one ``embedding`` without a sidecar."""
    stems, images = infer310.read_manifest(manifest)
    meanings = output_meanings(meta) if meta else ["embedding"]
    if len(meanings) == 1:
        return images, {meanings[0]: read_output(result_dir, stems)}
    order = output_order(result_dir, meta, log)
    return images, {m: read_output(result_dir, stems, k) for m, k in zip(meanings, order)}


def relative_names(images, dataset_path):
    """Image paths relative to the dataset folder (or to a list file's folder), with '/' separators."""
    base = dataset_path if os.path.isdir(dataset_path) else os.path.dirname(os.path.abspath(dataset_path))
    return [os.path.relpath(p, base).replace(os.sep, "/") for p in images]


def pair_rows(names, pairs_path, images=None, dataset_path=None, skipped=None):
    """The images ``pairs_path`` names, in the Python eval's (sorted) order, and their rows in ``names``.

    With ``images`` (the manifest's paths) and a ``dataset_path`` folder, each name is found as the Python eval
    finds it (single subfolder such as ``LFW_112/lfw_align_112/``, any image extension) and matched by file; an
    image the pre-step skipped (``skipped``: its paths) has row None."""
    if images is not None and dataset_path and os.path.isdir(dataset_path):
        wanted, paths = infer310.pair_image_paths(dataset_path, pairs_path)
        row = {os.path.realpath(p): i for i, p in enumerate(images)}
        skipped = {os.path.realpath(p) for p in (skipped or ())}
        found = [row.get(os.path.realpath(p)) if p else None for p in paths]
        missing = [n for n, r, p in zip(wanted, found, paths)
                   if r is None and not (p and os.path.realpath(p) in skipped)]
        if missing:
            raise HarnessError(f"{pairs_path}: names {len(missing)} image(s) the harness did not embed, "
                               f"e.g. {missing[0]}")
        return wanted, found
    pairs = lfw.read_pairs(pairs_path)
    wanted = sorted(set(pairs.first) | set(pairs.second))
    row = {n: i for i, n in enumerate(names)}
    missing = [n for n in wanted if n not in row]
    if missing:
        raise HarnessError(f"{pairs_path}: names {len(missing)} image(s) the harness did not embed, "
                           f"e.g. {missing[0]}")
    return wanted, [row[n] for n in wanted]


def score_lfw(embeddings, names, pairs_path, images=None, dataset_path=None, skipped=None):
    """evaluate_lfw on the rows of the images ``pairs_path`` names, in the Python eval's (sorted) order; NaN / inf
    rows are refused naming the images, as the Python eval does; images the pre-step skipped are unreadable there
    (their pairs dropped, named in ``unreadable_images``)."""
    from common.protocols.sanity import check_finite

    wanted, rows = pair_rows(names, pairs_path, images, dataset_path, skipped)
    have = [r for r in rows if r is not None]
    check_finite(embeddings, "C++ harness embeddings", have, names)   # rows of embeddings.npy / images.txt
    emb = np.full((len(wanted), embeddings.shape[1]), np.nan, np.float32)
    ok = [k for k, r in enumerate(rows) if r is not None]
    emb[ok] = embeddings[have]
    return evaluate_lfw(emb, wanted, pairs_path, unreadable=[wanted[k] for k, r in enumerate(rows) if r is None],
                        source="C++ harness embeddings")


def score_lfw_mls(mu, sigma_sq, names, pairs_path, images=None, dataset_path=None, skipped=None):
    """PFE's LFW scoring (cosine of mu and MLS side by side) on the rows of the images ``pairs_path`` names."""
    from common.protocols.sanity import check_finite

    wanted, rows = pair_rows(names, pairs_path, images, dataset_path, skipped)
    lost = [n for n, r in zip(wanted, rows) if r is None]
    if lost:
        raise HarnessError(f"{pairs_path}: {len(lost)} image(s) its pairs name were skipped by the pre-step (e.g. "
                           f"{lost[0]}); PFE's MLS scoring, as its Python eval, needs every image")
    check_finite(mu, "C++ harness mu", rows, names)
    check_finite(sigma_sq, "C++ harness sigma_sq", rows, names)
    return score_lfw_pairs(mu[rows], sigma_sq[rows], wanted, pairs_path)


def find_pairs(dataset_path, pairs=None):
    """The LFW pairs file to score with: ``pairs`` if given, else ``pairs.txt`` in DATASET or in its single
    subfolder (as the Python eval finds it, :func:`common.deploy.infer310.find_dataset_pairs`), else None."""
    return infer310.find_dataset_pairs(dataset_path, pairs)


def postprocess(manifest, result_dir, dataset_path, config=None, pairs=None, out=None, latency_file=None, log=print,
                model=None, sidecar=None):
    """Embeddings (saved beside ``out``) and, for an LFW folder, the metrics dict written to ``out``.

    ``model`` (the exported file the harness ran) or ``sidecar``: its sidecar says what the outputs are and
    names the model; without either, one embedding output is assumed (``config``: a YAML naming the model)."""
    work = os.path.dirname(os.path.abspath(result_dir))
    out = out or os.path.join(work, "result.json")
    latency_file = latency_file or os.path.join(work, "latency.txt")
    meta = read_sidecar(model, sidecar) if (model or sidecar) else None
    images, outputs = load_outputs(manifest, result_dir, meta, log)
    skipped = infer310.read_skipped(manifest)
    if skipped:
        log(f"postprocess: {len(skipped)} image(s) skipped by the pre-step ({infer310.SKIPPED} beside {manifest})")
    names = relative_names(images, dataset_path)
    folder = os.path.dirname(os.path.abspath(out))
    os.makedirs(folder, exist_ok=True)
    probabilistic = list(outputs) == list(MLS_OUTPUTS)
    emb = outputs["mu"] if probabilistic else next(iter(outputs.values()))
    np.save(os.path.join(folder, "embeddings.npy"), emb)
    for meaning, arr in list(outputs.items())[1:]:
        np.save(os.path.join(folder, f"{meaning}.npy"), arr)
    with open(os.path.join(folder, "images.txt"), "w", encoding="utf-8") as f:
        f.writelines(n + "\n" for n in names)
    extra = "".join(f", {m}.npy" for m in list(outputs)[1:])
    log(f"postprocess: {emb.shape[0]} embeddings of size {emb.shape[1]} -> {folder}/embeddings.npy{extra}, images.txt")
    pairs_path = find_pairs(dataset_path, pairs)
    if pairs_path is None:
        log(f"postprocess: {dataset_path} has no pairs.txt: embeddings only, no protocol scored")
        return None
    if probabilistic:
        result = score_lfw_mls(outputs["mu"], outputs["sigma_sq"], names, pairs_path, images, dataset_path, skipped)
    else:
        result = score_lfw(emb, names, pairs_path, images, dataset_path, skipped)
    result["files"] = {"pairs": os.path.abspath(pairs_path), "images": os.path.abspath(dataset_path)}
    result["flip"] = False
    result["source"] = "ascend310_infer (C++)"
    if meta is not None:
        result["model"] = meta.get("model")
        result["export"] = {"file": os.path.abspath(model) if model else meta.get("file"),
                            "sidecar": os.path.abspath(sidecar or sidecar_path(model)),
                            "checkpoint": meta.get("checkpoint"), "preprocess": meta.get("preprocess")}
    elif config:
        from common.core.config import read_yaml

        cfg = read_yaml(config)
        result["model"] = cfg.get("model")
        result["config"] = os.path.abspath(config)
    if os.path.isfile(latency_file):
        result["latency"] = infer310.read_latency(latency_file)
    json_path, png = write_result(out, result)
    if probabilistic:
        for kind in ("cosine", "mls"):
            log(f"LFW (C++ harness) {kind}: " + ", ".join(f"{k} {result[kind][k] * 100:.2f}" for k in SUMMARY_KEYS
                                                          if k in result[kind]))
    else:
        log("LFW (C++ harness): " + ", ".join(f"{k} {result[k] * 100:.2f}" for k in SUMMARY_KEYS if k in result))
    log(f"wrote {json_path} and {png}")
    if not probabilistic:  # the seed's acc.log (LFW + BLUFR when the images cover it)
        from common.deploy.acc_log import write_acc_log

        write_acc_log(folder, result, emb, names, log=log)
    return result


def main(argv=None):
    p = argparse.ArgumentParser(prog="common/deploy/infer310_post.py", description=__doc__.split("\n")[0])
    p.add_argument("--manifest", required=True, help="manifest.tsv written by 'python -m common.infer310 preprocess'")
    p.add_argument("--result_dir", required=True, help="the harness's --output_dir (<stem>.bin per input)")
    p.add_argument("--dataset_path", required=True, help="the image folder (or list file) that was preprocessed")
    p.add_argument("--model", help="the exported model file the harness ran: its sidecar MODEL.json names the "
                                   "model and its outputs (PFE: mu and sigma_sq, scored with cosine and MLS)")
    p.add_argument("--sidecar", help="the sidecar to use instead of MODEL.json")
    p.add_argument("--config", help="without --model: a model YAML (its 'model' name is recorded)")
    p.add_argument("--pairs", help="LFW pairs.txt (default: DATASET_PATH/pairs.txt when present)")
    p.add_argument("--out", help="result JSON (default: result.json beside RESULT_DIR)")
    p.add_argument("--latency_file", help="harness latency file (default: latency.txt beside RESULT_DIR)")
    a = p.parse_args(argv)
    from common.core.paths import writable_file

    writable_file(a.out, "--out")  # None: the default beside RESULT_DIR, checked where it is made
    return postprocess(a.manifest, a.result_dir, a.dataset_path, a.config, a.pairs, a.out, a.latency_file,
                       model=a.model, sidecar=a.sidecar)


if __name__ == "__main__":
    from common.core.errors import guard

    guard(main)
