"""Postprocess of the C++ inference harness, the same for every model: outputs -> embeddings -> protocol.

Reads the harness's ``<stem>.bin`` outputs in ``manifest.tsv`` order (the embedding size is taken from the
files), saves ``embeddings.npy`` + ``images.txt`` (one path a line, relative to the dataset; rescorable with
``python -m common.evaluate``), and where the dataset is an LFW-format folder (``pairs.txt`` inside, or
``--pairs``) scores the images the pairs name exactly as the Python eval does (``common.evaluate.evaluate_lfw``),
writing ``result.json`` and ``result_roc.png``. Nothing here is model-specific and nothing imports MindSpore.

Run by scripts/run_infer_310.sh (a model's run_infer_310.sh sets ``POSTPROCESS`` to this file)::

    python common/infer310_post.py --manifest WORK/input/manifest.tsv --result_dir WORK/result \
        --dataset_path LFW_DIR --config MODEL.yaml [--pairs pairs.txt] [--out WORK/result.json]
"""
import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402

from common import infer310  # noqa: E402
from common.evaluate import evaluate_lfw  # noqa: E402
from common.protocols import lfw  # noqa: E402
from common.protocols.plots import write_result  # noqa: E402

SUMMARY_KEYS = ("accuracy_mean", "100%-EER", "TPR@FAR=1%", "TPR@FAR=0.1%", "TPR@FAR=0%", "auc")


def output_dim(result_dir, stems):
    """Embedding size from the first output file (float32 values); a clear error if unusable."""
    if not stems:
        raise ValueError(f"{result_dir}: the manifest lists no inputs")
    path = os.path.join(result_dir, stems[0] + ".bin")
    if not os.path.isfile(path):
        raise ValueError(f"{path}: output file missing")
    size = os.path.getsize(path)
    if size == 0 or size % 4:
        raise ValueError(f"{path}: {size} bytes is not a whole number of float32 values")
    return size // 4


def load_embeddings(manifest, result_dir):
    """(image paths, (N, D) float32 embeddings) in manifest (= input) order."""
    stems, images = infer310.read_manifest(manifest)
    return images, infer310.read_outputs(result_dir, stems, output_dim(result_dir, stems))


def relative_names(images, dataset_path):
    """Image paths relative to the dataset folder (or to a list file's folder), with '/' separators."""
    base = dataset_path if os.path.isdir(dataset_path) else os.path.dirname(os.path.abspath(dataset_path))
    return [os.path.relpath(p, base).replace(os.sep, "/") for p in images]


def score_lfw(embeddings, names, pairs_path):
    """evaluate_lfw on the rows of the images ``pairs_path`` names, in the Python eval's (sorted) order."""
    pairs = lfw.read_pairs(pairs_path)
    wanted = sorted(set(pairs.first) | set(pairs.second))
    row = {n: i for i, n in enumerate(names)}
    missing = [n for n in wanted if n not in row]
    if missing:
        raise ValueError(f"{pairs_path}: names {len(missing)} image(s) the harness did not embed, e.g. {missing[0]}")
    return evaluate_lfw(embeddings[[row[n] for n in wanted]], wanted, pairs_path)


def find_pairs(dataset_path, pairs=None):
    """The LFW pairs file to score with: ``pairs`` if given, else DATASET/pairs.txt if present, else None."""
    if pairs:
        if not os.path.isfile(pairs):
            raise ValueError(f"{pairs}: pairs file not found")
        return pairs
    candidate = os.path.join(dataset_path, "pairs.txt")
    return candidate if os.path.isdir(dataset_path) and os.path.isfile(candidate) else None


def postprocess(manifest, result_dir, dataset_path, config=None, pairs=None, out=None, latency_file=None, log=print):
    """Embeddings (saved beside ``out``) and, for an LFW folder, the metrics dict written to ``out``."""
    work = os.path.dirname(os.path.abspath(result_dir))
    out = out or os.path.join(work, "result.json")
    latency_file = latency_file or os.path.join(work, "latency.txt")
    images, emb = load_embeddings(manifest, result_dir)
    names = relative_names(images, dataset_path)
    folder = os.path.dirname(os.path.abspath(out))
    os.makedirs(folder, exist_ok=True)
    np.save(os.path.join(folder, "embeddings.npy"), emb)
    with open(os.path.join(folder, "images.txt"), "w", encoding="utf-8") as f:
        f.writelines(n + "\n" for n in names)
    log(f"postprocess: {emb.shape[0]} embeddings of size {emb.shape[1]} -> {folder}/embeddings.npy, images.txt")
    pairs_path = find_pairs(dataset_path, pairs)
    if pairs_path is None:
        log(f"postprocess: {dataset_path} has no pairs.txt: embeddings only, no protocol scored")
        return None
    result = score_lfw(emb, names, pairs_path)
    result["files"] = {"pairs": os.path.abspath(pairs_path), "images": os.path.abspath(dataset_path)}
    result["flip"] = False
    result["source"] = "ascend310_infer (C++)"
    if config:
        from common.config import read_yaml

        cfg = read_yaml(config)
        result["model"] = cfg.get("model")
        result["config"] = os.path.abspath(config)
    if os.path.isfile(latency_file):
        result["latency"] = infer310.read_latency(latency_file)
    json_path, png = write_result(out, result)
    log("LFW (C++ harness): " + ", ".join(f"{k} {result[k] * 100:.2f}" for k in SUMMARY_KEYS if k in result))
    log(f"wrote {json_path} and {png}")
    return result


def main(argv=None):
    p = argparse.ArgumentParser(prog="common/infer310_post.py", description=__doc__.split("\n")[0])
    p.add_argument("--manifest", required=True, help="manifest.tsv written by 'python -m common.infer310 preprocess'")
    p.add_argument("--result_dir", required=True, help="the harness's --output_dir (<stem>.bin per input)")
    p.add_argument("--dataset_path", required=True, help="the image folder (or list file) that was preprocessed")
    p.add_argument("--config", help="model YAML (its 'model' name is recorded)")
    p.add_argument("--pairs", help="LFW pairs.txt (default: DATASET_PATH/pairs.txt when present)")
    p.add_argument("--out", help="result JSON (default: result.json beside RESULT_DIR)")
    p.add_argument("--latency_file", help="harness latency file (default: latency.txt beside RESULT_DIR)")
    a = p.parse_args(argv)
    try:
        return postprocess(a.manifest, a.result_dir, a.dataset_path, a.config, a.pairs, a.out, a.latency_file)
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from None


if __name__ == "__main__":
    main()
