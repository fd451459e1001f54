"""Fine-tuning from published (or earlier) weights: ``train.py --pretrained CKPT`` and its three controls.

    python cosface/train.py --config D/config.yaml --pretrained D/model.ckpt --train_root MY_IDS \\
        --head_warmup_epochs 1 --backbone_lr_mult 0.1 --freeze_bn true --epochs 4

* ``--pretrained CKPT``: the backbone starts from the checkpoint's backbone weights (an import bundle's
  ``model.ckpt``, a training checkpoint's ``backbone.*``: every backbone parameter must be in the file, shapes
  checked); the margin head is new, sized for the training data's classes (a checkpoint's own head is ignored).
  ``--resume`` still restores a whole interrupted run over it.
* ``--backbone_lr_mult M``: the backbone's parameters train at M x the lr of the schedule (the head at 1 x);
  it multiplies any ``param_groups`` rule of the recipe.
* ``--head_warmup_epochs N``: for the first N epochs (fractions allowed) the backbone's lr is 0, so its weights
  stay exactly as loaded while the new head learns; then the schedule's lr x M. (With momentum SGD the
  backbone's momentum buffer fills during the warm-up, as its gradients are still computed.)
* ``--freeze_bn true``: every BatchNorm of the backbone runs in inference mode (normalises with its loaded
  running statistics, which are never updated) and its scale and shift are not trained.
"""
import numpy as np

from common.core.errors import FaceIdError


def batchnorms(net):
    """The BatchNorm cells of ``net`` (MindSpore's nn.BatchNorm1d / 2d and anything built on their base)."""
    from mindspore.nn.layer.normalization import _BatchNorm

    return [cell for _, cell in net.cells_and_names() if isinstance(cell, _BatchNorm)]


def freeze_bn(net):
    """BatchNorm of ``net`` in inference mode for good (running statistics used, never updated) and its gamma and
    beta out of training; returns how many BatchNorm cells were frozen."""
    cells = batchnorms(net)
    for cell in cells:
        cell.use_batch_statistics = False
        for p in (cell.gamma, cell.beta):
            p.requires_grad = False
    return len(cells)


def load_pretrained(cfg, backbone, log=print):
    """``--pretrained``: the backbone's weights from that file (every parameter; FaceIdError naming the file and
    what does not fit)."""
    from common.train.checkpoint import load_weights

    path = cfg.get("pretrained")
    if not path:
        return None
    if cfg.get("base_ckpt"):
        raise FaceIdError(f"--pretrained {path} and --base_ckpt {cfg.base_ckpt}: give one (--base_ckpt is the "
                          f"frozen base of an uncertainty model, --pretrained the start of a fine-tune)")
    load_weights(backbone, path)
    n = len(list(backbone.get_parameters()))
    log(f"pretrained: backbone {cfg.backbone} from {path} ({n} parameters); the margin head is new")
    return path


def lr_factors(cfg, backbone_names, steps_per_epoch):
    """{parameter name: per-step lr factor} for the backbone's parameters (None when nothing is asked):
    0 during the head warm-up, ``backbone_lr_mult`` after."""
    mult = float(cfg.get("backbone_lr_mult", 1.0) if cfg.get("backbone_lr_mult") is not None else 1.0)
    warm = float(cfg.get("head_warmup_epochs") or 0)
    if mult < 0:
        raise FaceIdError(f"--backbone_lr_mult {mult}: must be >= 0")
    if warm < 0:
        raise FaceIdError(f"--head_warmup_epochs {warm}: must be >= 0")
    if mult == 1.0 and warm == 0:
        return None
    total = int(cfg.epochs) * int(steps_per_epoch)
    if warm >= float(cfg.epochs):
        raise FaceIdError(f"--head_warmup_epochs {warm:g} covers all --epochs {cfg.epochs}: the backbone would never "
                          f"train (give fewer warm-up epochs, or --backbone_lr_mult 0 to train only the head)")
    factor = np.full(total, mult, np.float64)
    factor[:int(round(warm * steps_per_epoch))] = 0.0
    return {name: factor for name in backbone_names}


def setup(cfg, backbone, log=print):
    """Before the recipe builds its training network: load ``--pretrained``, freeze BatchNorm if asked."""
    load_pretrained(cfg, backbone, log)
    if cfg.get("freeze_bn"):
        n = freeze_bn(backbone)
        log(f"freeze_bn: {n} BatchNorm layer(s) of the backbone in inference mode, their scale and shift frozen")
