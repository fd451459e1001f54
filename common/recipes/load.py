"""A zoo model by name, for tools that embed photos without training anything (compare, identify, align checks).

    emb = load_embedder("lresnet100e_ir", ckpt_file="model.ckpt")
    vectors = emb.embed(emb.preprocess.eval_image(crop)[None])      # (1, 512)

The network is the one ``<model>/eval.py`` and ``export.py`` run (``inference_net``): same recipe, same YAML,
same preprocessing; ``.align`` is the recipe's alignment template (YAML ``align``).
"""
import os

from common.core.config import load_config, read_yaml
from common.data.transforms import Preprocess
from common.core.errors import FaceIdError
from common.nets import build_backbone
from common.train.checkpoint import load_weights


def inference_net(recipe, cfg, ckpt=None):
    """The recipe's inference network with ``ckpt``'s weights (None: untrained, seeded)."""
    if recipe.load_inference and ckpt:
        return recipe.load_inference(cfg, ckpt)
    backbone = build_backbone(cfg)
    if ckpt:
        load_weights(backbone, ckpt)
    return recipe.build_inference(cfg, backbone)


class Embedder:
    def __init__(self, cfg, net, preprocess, align=None, name=""):
        self.cfg, self.net, self.preprocess, self.align, self.name = cfg, net, preprocess, align, name

    def embed(self, arrays, batch_size=64):
        """float32 NCHW (already preprocessed) -> (N, D) float32 embeddings."""
        from common.evaluation.embed import extract_arrays

        return extract_arrays(self.net, arrays, getattr(self.net, "batch_size", None) or batch_size)


def load_embedder(model, ckpt_file=None, config=None, overrides=None):
    """The embedding network of zoo model ``model`` with ``ckpt_file``'s weights (None: untrained, said so)."""
    from common.recipes import contract as recipe
    from common.core.runtime import prepare

    r = recipe.get(model)
    argv = (["--config", config] if config else []) + list(overrides or [])
    cfg = load_config(r.default_config, argv, command="eval", prog=f"{model} embedder")
    if ckpt_file and not os.path.isfile(ckpt_file):
        raise FaceIdError(f"checkpoint not found: {ckpt_file}")
    prepare(cfg)
    if not ckpt_file:
        print(f"WARNING: no checkpoint: {model} is UNTRAINED (random weights); its similarities mean nothing",
              flush=True)
    net = inference_net(r, cfg, ckpt_file)
    if r.embedding_of:
        net = r.embedding_of(net)
    return Embedder(cfg, net, Preprocess.from_config(cfg.preprocess), read_yaml(cfg.config).get("align"), model)
