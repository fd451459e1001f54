"""LResNet100E-IR's recipe (ArcFace): IResNet-100 + additive angular margin head (common/recipes/margin.py)."""
import os

from common.recipes.margin import margin_recipe
from common.recipes.contract import register
from lresnet100e_ir.src import zoo_ckpt

CONFIGS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs")
RECIPE = register(margin_recipe("lresnet100e_ir", os.path.join(CONFIGS, "arcface_r100_ms1mv2.yaml"),
                                zoo_checkpoints={"lresnet100e_ir": ("arcface_r100_ms1mv2.yaml", zoo_ckpt.rename)}))
