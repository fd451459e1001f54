"""Evaluate CosFace (LMCL): the shared eval flow (common/flows/evaluate.py) with this folder's recipe (src/recipe.py).

    python cosface/eval.py --help        # every option, its default and meaning
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import common.core.env  # noqa: E402,F401  (CPU speed default before mindspore loads)

from common.core.errors import guard  # noqa: E402
from common.flows import evaluate  # noqa: E402
from cosface.src.recipe import RECIPE  # noqa: E402


def main(argv=None):
    return evaluate.run(RECIPE, argv)


if __name__ == "__main__":
    guard(main)
