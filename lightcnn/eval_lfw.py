"""LightCNN on LFW View 2 (the seed's eval_lfw.py): eval.py with --protocols lfw.

    python lightcnn/eval_lfw.py --help        # every option, its default and meaning
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import common.core.env  # noqa: E402,F401  (CPU speed default before mindspore loads)

from common.core.errors import guard  # noqa: E402
from common.flows import evaluate  # noqa: E402
from lightcnn.src.recipe import RECIPE  # noqa: E402


def main(argv=None):
    return evaluate.run(RECIPE, argv, protocols="lfw", prog="lightcnn/eval_lfw.py")


if __name__ == "__main__":
    guard(main)
