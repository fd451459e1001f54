"""The old MindSpore zoo's LightCNN-9 (``Network9Layers``) checkpoint names -> this zoo's.

Used by ``python -m common.convert_zoo_ckpt --model lightcnn9`` (``Recipe.zoo_checkpoints``): ``rename(name, ctx)``
gets a parameter name of the old checkpoint (wrapper prefixes removed) and returns this zoo's name, or None for
what is left out (optimizer state, classifier). ``ctx["names"]`` holds every old name."""


def rename(name, _ctx):
    if name.startswith("features."):
        return name
    if name.startswith("fc1."):
        return "fc." + name[len("fc1."):]
    return None
