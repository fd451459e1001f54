"""The recipe contract: what a model folder declares, so the flows in common/flows serve every model.

A model folder is its recipe (``<model>/src/recipe.py`` defines ``RECIPE = Recipe(...)``): the default YAML,
how its training network and loss are built on the configured backbone, its data form (image classes or
P x K batches), what its inference network outputs, and any scoring of its own. ``<model>/train.py``,
``eval.py`` and ``export.py`` are thin entries calling ``common.flows`` with that recipe.

Recipes are found by folder: a model is any top-level folder of the repository with ``src/recipe.py``
(``get("cosface")`` imports ``cosface.src.recipe`` on first use). common/ never imports a model folder
statically and keeps no list of them: a new model folder needs no edit here, and tools such as
``python -m common.compare --model cosface`` can still build any model.
"""
import importlib
import os
from dataclasses import dataclass, field

from common.core.errors import FaceIdError
from common.core.paths import REPO_ROOT as ROOT


def _identity(cfg, backbone):
    return backbone


@dataclass
class Recipe:
    name: str                      # the model folder (lightcnn, cosface, ...)
    default_config: str            # absolute path of the default YAML
    build_train: object            # (cfg, backbone, num_classes) -> (net_with_loss(images, labels) -> loss, params)
    data: str = "classes"          # "classes": shuffled image batches; "pk": P identities x K images per batch
    build_inference: object = _identity   # (cfg, backbone) -> the cell eval/export run (e.g. L2-normalised)
    outputs: tuple = ("embedding",)       # names of the inference cell's outputs
    load_inference: object = None  # (cfg, ckpt) -> inference cell with weights (None: backbone weights + build_inference)
    prepare_train: object = None   # (cfg) -> None: recipe checks before training (e.g. PFE's --base_ckpt)
    train_extras: object = None    # (cfg, net, result) -> None: after training (e.g. print the next command)
    eval_extras: dict = field(default_factory=dict)  # target kind -> runner (see common.flows.evaluate.RUNNERS)
    embedding_of: object = None   # (inference cell) -> single-output embedding cell for the one-vector protocols
    flip: bool = True              # whether eval's --flip (sum of the flipped image's embedding) applies
    flip_note: str = ""            # why not, when it does not
    eval_lines: object = None      # (mean, std) -> extra result lines of the old zoo's eval log (e.g. CosFace's AVE)
    verification_lines: object = None  # (mean, std) -> the same for the training-time verification log
    zoo_checkpoints: dict = field(default_factory=dict)  # old MindSpore zoo checkpoint kind -> (YAML name,
    #                                  rename(old name, ctx) -> new name | None): python -m common.convert_zoo_ckpt

    @property
    def folder(self):
        return os.path.join(ROOT, self.name)

    def config_path(self, name):
        return os.path.join(self.folder, "configs", name)


_RECIPES = {}


def register(recipe):
    _RECIPES[recipe.name] = recipe
    return recipe


def get(name):
    """The recipe of model ``name`` (a model folder of this repository)."""
    if name not in _RECIPES:
        if name not in models():
            raise FaceIdError(f"unknown model '{name}' (known: {', '.join(models())})")
        importlib.import_module(f"{name}.src.recipe")
    return _RECIPES[name]


def models():
    """The model folders of this repository: every top-level folder with ``src/recipe.py``, sorted."""
    return tuple(sorted(d for d in os.listdir(ROOT)
                        if os.path.isfile(os.path.join(ROOT, d, "src", "recipe.py")) and d.isidentifier()))
