"""FaceNet verification: LFW View 2 (image folder + pairs.txt) and insightface .bin sets -> JSON + ROC PNG each.

    python facenet/eval.py --ckpt_file CKPT --data_root LFW_DIR [--pairs pairs.txt]
    python facenet/eval.py --ckpt_file CKPT --bin_dir BIN_DIR [--targets lfw,cfp_fp,agedb_30]

LFW: every image the pairs name is embedded once (L2-normalised), each pair scored by cosine similarity,
10-fold accuracy on the pairs' own folds, 100%-EER, TPR@FAR, AUC (common/verify.py lfw_folder).
.bin: BIN_DIR/<target>.bin, accuracy with and without flip, VAL@FAR=1e-3 (common/verify.py bin_set).
Results go to --results_dir (default OUT_DIR/eval): lfw_result.json, <target>_result.json, a PNG beside each.
Without --ckpt_file the untrained network (seeded from the config) is scored.
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
import common.env  # noqa: E402,F401

from common.cli import prepare  # noqa: E402
from common.config import load_config  # noqa: E402
from common.data.transforms import Preprocess  # noqa: E402
from common.verify import bin_set, lfw_folder, summary_lines  # noqa: E402
from facenet.src.model import build_embedding_net  # noqa: E402

DEFAULT_CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs", "facenet_vggface2.yaml")
EXTRA = ("graph_mode", "ckpt_file", "data_root", "pairs", "bin_dir", "targets", "results_dir", "eval_batch_size",
         "flip")
DEFAULT_TARGETS = "lfw,cfp_fp,agedb_30"


def targets_of(cfg):
    value = cfg.get("targets") or DEFAULT_TARGETS
    names = value if isinstance(value, (list, tuple)) else str(value).split(",")
    return [str(n).strip() for n in names if str(n).strip()]


def main(argv=None):
    cfg = load_config(DEFAULT_CONFIG, argv, extra_keys=EXTRA)
    if not cfg.get("data_root") and not cfg.get("bin_dir"):
        raise SystemExit("error: give --data_root DIR (LFW images as name/name_0001.jpg, pairs.txt inside) "
                         "and/or --bin_dir DIR (insightface <target>.bin files)")
    bins = []
    if cfg.get("bin_dir"):
        bins = [(t, os.path.join(cfg.bin_dir, f"{t}.bin")) for t in targets_of(cfg)]
        missing = [p for _, p in bins if not os.path.isfile(p)]
        if missing:
            raise SystemExit(f"error: {missing[0]}: .bin set not found (--targets names BIN_DIR/<target>.bin)")
    prepare(cfg, "facenet eval")  # --graph_mode false: no compile, for small sets
    net = build_embedding_net(cfg, cfg.get("ckpt_file"))
    pre = Preprocess.from_config(cfg.preprocess)
    ckpt = cfg.get("ckpt_file")
    out_dir = os.path.abspath(cfg.get("results_dir") or os.path.join(cfg.out_dir, "eval"))
    extra = {"model": cfg.model, "checkpoint": os.path.abspath(ckpt) if ckpt else None}
    batch = int(cfg.get("eval_batch_size", 64))
    label = f"checkpoint {ckpt}" if ckpt else "untrained"
    results = {}
    if cfg.get("data_root"):
        results["lfw_folder"] = r = lfw_folder(net, pre, cfg.data_root, cfg.get("pairs"),
                                               os.path.join(out_dir, "lfw_result.json"), batch,
                                               flip=bool(cfg.get("flip", False)), extra=extra)
        print(f"{cfg.model} LFW folder ({label}): {summary_lines(r)}")
    for target, path in bins:
        results[target] = r = bin_set(net, pre, path, os.path.join(out_dir, f"{target}_result.json"), batch,
                                      extra=extra)
        acc, acc_flip = r["accuracy"], r["accuracy_flip"]
        print(f"{cfg.model} {target}.bin ({label}): accuracy {acc['accuracy_mean'] * 100:.2f} "
              f"+- {acc['accuracy_std'] * 100:.2f}, with flip {acc_flip['accuracy_mean'] * 100:.2f}")
    return results


if __name__ == "__main__":
    main()
