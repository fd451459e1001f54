"""LResNet100E-IR (ArcFace) glue: the default recipe; every part comes from common/ (common.margin_model)."""
import os

from common.margin_model import build_backbone, build_train_network, evaluate, export_model, train  # noqa: F401

DEFAULT_CONFIG = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs", "arcface_r100_ms1mv2.yaml")
