"""The old MindSpore zoo's FaceNet ``FaceNetModel`` (ResNet-50/FC128) checkpoint names -> this zoo's.

Used by ``python -m common.convert_zoo_ckpt --model facenet_resnet50`` (``Recipe.zoo_checkpoints``): ``rename(name, ctx)``
gets a parameter name of the old checkpoint (wrapper prefixes removed) and returns this zoo's name, or None for
what is left out (optimizer state, classifier). ``ctx["names"]`` holds every old name."""


def rename(name, _ctx):
    if name.startswith("resnet50_backbone_fc.1."):
        return "fc." + name[len("resnet50_backbone_fc.1."):]
    if name.startswith("resnet50_backbone."):
        rest = name[len("resnet50_backbone."):]
        if rest.startswith("end_point."):
            return None
        return rest.replace("down_sample_layer.", "downsample.")
    return None
