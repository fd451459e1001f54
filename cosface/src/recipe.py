"""CosFace's recipe (LMCL): backbone + large margin cosine head + softmax cross-entropy (common/margin_model)."""
import os

from common.margin_model import margin_recipe
from common.recipe import register

CONFIGS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs")
RECIPE = register(margin_recipe("cosface", os.path.join(CONFIGS, "cosface_sphere64_casia.yaml")))
