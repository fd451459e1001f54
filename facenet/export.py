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

from common.config import load_config  # noqa: E402
from common.env import set_device  # noqa: E402
from common.export import export, parity  # noqa: E402
from common.train.loop import set_graph_mode  # noqa: E402
from facenet.src.model import build_embedding_net  # noqa: E402

DEFAULT_CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs", "facenet_vggface2.yaml")
EXTRA = ("graph_mode", "ckpt_file", "file_name", "file_format", "batch_size_export")


def main(argv=None):
    cfg = load_config(DEFAULT_CONFIG, argv, extra_keys=EXTRA)
    if not cfg.get("ckpt_file"):
        raise SystemExit("error: --ckpt_file CKPT is required (a checkpoint written by facenet/train.py, "
                         "or one converted by facenet/convert_torch.py)")
    device = set_device(cfg.get("device_target", "CPU"), cfg.get("device_id"))
    set_graph_mode(bool(cfg.get("graph_mode", True)))  # --graph_mode false: no compile, for small sets
    net = build_embedding_net(cfg, cfg.ckpt_file)
    fmt = str(cfg.get("file_format", "MINDIR")).upper()
    batch = int(cfg.get("batch_size_export", 1))
    path = export(net, net.input_size, cfg.get("file_name") or cfg.model, fmt, batch, device)
    shape = f"{batch}x{'x'.join(map(str, net.input_size))}"
    if fmt == "AIR":
        print(f"exported {path} (AIR, input {shape})")
        return path, None
    # a fresh net for the reference: exporting one net object twice can fail in MindSpore
    diff = parity(build_embedding_net(cfg, cfg.ckpt_file), path, net.input_size, batch)
    print(f"exported {path} ({fmt}, input {shape}, L2-normalised {net.embedding_size}-d output); "
          f"max |exported - Python| = {diff:.2e}")
    return path, diff


if __name__ == "__main__":
    main()
