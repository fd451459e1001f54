"""CosFace's recipe (LMCL): backbone + large margin cosine head + softmax cross-entropy (common/recipes/margin.py)."""
import os

from common.recipes.margin import margin_recipe
from common.recipes.contract import register
from cosface.src import zoo_ckpt

CONFIGS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs")


def eval_lines(mean, std):
    """The old CosFace zoo's eval result line (``Test result, AVE: 99.27``)."""
    return [f"Test result, AVE: {mean * 100:.2f}"]


RECIPE = register(margin_recipe("cosface", os.path.join(CONFIGS, "cosface_sphere64_casia.yaml"),
                                eval_lines=eval_lines,
                                zoo_checkpoints={"cosface_mobilefacenet": ("cosface_mobilefacenet_casia.yaml",
                                                                           zoo_ckpt.rename)}))
