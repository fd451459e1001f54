"""The export flow of every model: the inference network (heads dropped) -> MINDIR / ONNX / AIR + parity check."""
import os

from common.core.runtime import prepare
from common.core.config import load_config
from common.core.errors import FaceIdError
from common.core.paths import writable_dir
from common.deploy.export import export_checked
from common.recipes.load import inference_net


def run(recipe, argv=None, prog=None):
    cfg = load_config(recipe.default_config, argv, command="export", prog=prog or f"{recipe.name}/export.py")
    if not cfg.get("ckpt_file"):
        raise FaceIdError(f"--ckpt_file CKPT is required (a checkpoint written by {recipe.name}/train.py)")
    if not os.path.isfile(cfg.ckpt_file):
        raise FaceIdError(f"checkpoint not found: {cfg.ckpt_file}")
    given = bool(cfg.get("file_name"))
    if not given:
        writable_dir(cfg.out_dir, "--out_dir")
        cfg.file_name = os.path.join(os.path.abspath(cfg.out_dir), "export", cfg.get("ckpt_prefix") or recipe.name)
    writable_dir(os.path.dirname(os.path.abspath(cfg.file_name)), "--file_name" if given else "--out_dir")
    device = prepare(cfg)
    return export_checked(cfg, lambda: inference_net(recipe, cfg, cfg.ckpt_file), device,
                          what=f"{cfg.backbone} {'/'.join(recipe.outputs)}", outputs=tuple(recipe.outputs),
                          flip=bool(cfg.get("flip")) and recipe.flip)
