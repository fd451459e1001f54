"""Export FaceNet (Inception-ResNet-v1, triplet loss): the shared export flow (common/flows/export.py) with this folder's recipe (src/recipe.py).

    python facenet/export.py --help        # every option, its default and meaning
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import common.core.env  # noqa: E402,F401  (CPU speed default before mindspore loads)

from common.core.errors import guard  # noqa: E402
from common.flows import export  # noqa: E402
from facenet.src.recipe import RECIPE  # noqa: E402


def main(argv=None):
    return export.run(RECIPE, argv)


if __name__ == "__main__":
    guard(main)
