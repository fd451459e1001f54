"""Export the FaceNet embedding network (L2-normalised output) to MINDIR, ONNX or AIR, with a parity check.

    python facenet/export.py --ckpt_file CKPT --file_format MINDIR [--file_name facenet] [--batch_size_export 1]

The input is (N, 3, H, W) float32 preprocessed as in the YAML (``(x - 127.5) / 128`` for facenet_vggface2);
the output is the unit-length embedding, so cosine similarity is a dot product. MINDIR and ONNX are reloaded
(mindspore.load / onnxruntime) and must match the Python network within 1e-4; AIR needs the Ascend backend.
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
import common.env  # noqa: E402,F401

from common.cli import prepare, require  # noqa: E402
from common.config import load_config  # noqa: E402
from common.export import EXPORT_KEYS, export_checked  # noqa: E402
from facenet.src.model import build_embedding_net  # noqa: E402

DEFAULT_CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs", "facenet_vggface2.yaml")
EXTRA = ("graph_mode",) + EXPORT_KEYS


def main(argv=None):
    cfg = load_config(DEFAULT_CONFIG, argv, extra_keys=EXTRA)
    require(cfg, "ckpt_file", "a checkpoint written by facenet/train.py, or one converted by "
            "facenet/convert_torch.py", "CKPT")
    device = prepare(cfg)  # --graph_mode false: no compile, for small sets
    return export_checked(cfg, lambda: build_embedding_net(cfg, cfg.ckpt_file), device,
                          what="L2-normalised embedding")


if __name__ == "__main__":
    main()
