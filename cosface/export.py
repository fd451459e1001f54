"""Export the CosFace (LMCL) embedding network (margin head dropped) to MINDIR, ONNX or AIR, with a parity check.

    python cosface/export.py --ckpt_file CKPT --file_format MINDIR [--file_name NAME] [--batch_size_export 1]
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
import common.env  # noqa: E402,F401

from cosface.src.model import DEFAULT_CONFIG, export_model  # noqa: E402


def main(argv=None):
    return export_model(DEFAULT_CONFIG, argv)


if __name__ == "__main__":
    main()
