"""Optimizers with parameter groups chosen by name rules.

Rules are tried in order; the first whose ``match`` (a substring, or a list of them) is
found in the parameter name sets that parameter's ``lr_mult`` and ``weight_decay``.
LightCNN's recipe, for example::

    param_groups:
      - {match: fc2.bias, lr_mult: 20, weight_decay: 0}
      - {match: fc2.weight, lr_mult: 10}
      - {match: bias, lr_mult: 2, weight_decay: 0}

Parameters no rule matches get lr x1 and the optimizer's weight decay.
"""
from mindspore import nn

OPTIMIZERS = ("sgd", "adam", "adamw")  # the optimizer names build_optimizer knows (--help lists them)


def _matches(rule, name):
    m = rule["match"]
    return any(s in name for s in ([m] if isinstance(m, str) else m))


def param_groups(params, lr, weight_decay, rules=(), factors=None):
    """Group ``params`` by rule; ``lr`` is a per-step array (or float). Returns MindSpore group dicts.

    ``factors``: {parameter name: per-step lr factor array} on top of the rules (fine-tuning's backbone lr
    multiplier and head-only warm-up, common/train/finetune.py)."""
    factors = factors or {}
    buckets = {}
    for p in params:
        rule = next((r for r in rules if _matches(r, p.name)), {})
        f = factors.get(p.name)
        key = (float(rule.get("lr_mult", 1.0)), float(rule.get("weight_decay", weight_decay)),
               None if f is None else id(f))
        buckets.setdefault(key, (f, []))[1].append(p)
    groups = []
    for (mult, wd, _), (f, ps) in buckets.items():
        if f is None:
            group_lr = [float(v) * mult for v in lr] if hasattr(lr, "__len__") else float(lr) * mult
        else:
            base = list(lr) if hasattr(lr, "__len__") else [lr] * len(f)
            if len(base) != len(f):
                raise ValueError(f"lr factors for {len(f)} steps, the schedule has {len(base)}")
            group_lr = [float(v) * mult * float(k) for v, k in zip(base, f)]
        groups.append({"params": ps, "lr": group_lr, "weight_decay": wd})
    return groups


def build_optimizer(kind, params, lr, weight_decay=0.0, momentum=0.9, rules=(), nesterov=False, loss_scale=1.0,
                    factors=None):
    """``kind`` in sgd | adam | adamw; ``lr`` a per-step array; grouped by ``rules`` (and ``factors``, see
    :func:`param_groups`)."""
    groups = param_groups(params, lr, weight_decay, rules, factors)
    base_lr = [float(v) for v in lr] if hasattr(lr, "__len__") else float(lr)
    if kind == "sgd":
        return nn.Momentum(groups, learning_rate=base_lr, momentum=momentum, use_nesterov=nesterov,
                           loss_scale=loss_scale)
    if kind == "adam":
        return nn.Adam(groups, learning_rate=base_lr, loss_scale=loss_scale)
    if kind == "adamw":
        return nn.AdamWeightDecay(groups, learning_rate=base_lr)
    raise ValueError(f"unknown optimizer '{kind}' ({', '.join(OPTIMIZERS)})")
