"""LightCNN on BLUFR (the seed's eval_blufr.py): eval.py with --protocols blufr.

    python lightcnn/eval_blufr.py --help        # every option, its default and meaning
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import common.core.env  # noqa: E402,F401  (CPU speed default before mindspore loads)

from common.core.errors import guard  # noqa: E402
from common.flows import evaluate  # noqa: E402
from lightcnn.src.recipe import RECIPE  # noqa: E402


def main(argv=None):
    return evaluate.run(RECIPE, argv, protocols="blufr", prog="lightcnn/eval_blufr.py")


if __name__ == "__main__":
    guard(main)
