"""Recipes: what a model folder declares (``contract``: the ``Recipe`` dataclass, found by folder), the margin-softmax
recipe shared by CosFace, ArcFace and PFE's base (``margin``), and a trained/exported embedder for tools (``load``)."""
