"""Learning-rate schedules as per-step numpy arrays (one value per training step).

``step``: lr * gamma ** (epoch // step_epochs)            (LightCNN: x0.457 every 10 epochs)
``multistep``: lr * gamma ** (number of milestones <= epoch) (CosFace, ArcFace)
``cosine``: linear warm-up over ``warmup_epochs`` then cosine to ``min_lr``
``constant``: lr (after the optional warm-up)
Epochs are fractional inside an epoch (step / steps_per_epoch), except that step and
multistep change at epoch boundaries as in the recipes. A linear warm-up from
``warmup_lr`` applies to every kind when ``warmup_epochs`` > 0.
"""
import math

import numpy as np

SCHEDULES = ("step", "multistep", "cosine", "constant")  # the lr_schedule names build_lr knows (--help lists them)


def build_lr(kind, lr, epochs, steps_per_epoch, gamma=0.1, step_epochs=10, milestones=(),
             warmup_epochs=0.0, warmup_lr=0.0, min_lr=0.0):
    total = int(epochs * steps_per_epoch)
    if total <= 0:
        raise ValueError(f"schedule has no steps (epochs={epochs}, steps_per_epoch={steps_per_epoch})")
    steps = np.arange(total)
    epoch = steps // steps_per_epoch
    if kind == "step":
        out = lr * gamma ** (epoch // step_epochs)
    elif kind == "multistep":
        out = lr * gamma ** np.searchsorted(sorted(milestones), epoch, side="right")
    elif kind == "cosine":
        warm = int(warmup_epochs * steps_per_epoch)
        t = np.clip((steps - warm) / max(1, total - warm), 0, 1)
        out = min_lr + 0.5 * (lr - min_lr) * (1 + np.cos(math.pi * t))
    elif kind == "constant":
        out = np.full(total, lr, dtype=np.float64)
    else:
        raise ValueError(f"unknown lr schedule '{kind}' ({', '.join(SCHEDULES)})")
    warm = int(warmup_epochs * steps_per_epoch)
    if warm > 0:
        out = out.astype(np.float64)
        out[:warm] = warmup_lr + (lr - warmup_lr) * (steps[:warm] + 1) / warm
    return out.astype(np.float32)


def lr_from_config(cfg, steps_per_epoch, scale=1.0):
    """The schedule a config asks for; ``scale`` multiplies lr (e.g. linear scaling by world size)."""
    return build_lr(cfg.lr_schedule, cfg.lr * scale, cfg.epochs, steps_per_epoch, gamma=cfg.get("lr_gamma", 0.1),
                    step_epochs=cfg.get("lr_step_epochs", 10), milestones=cfg.get("lr_milestones") or (),
                    warmup_epochs=cfg.get("warmup_epochs", 0.0), warmup_lr=cfg.get("warmup_lr", 0.0),
                    min_lr=cfg.get("min_lr", 0.0))
