"""The training plan: everything ``fit`` needs from the config, resolved ONCE into small frozen dataclasses.

``resolve(cfg, steps_per_epoch, rank, world, lr_scale, lr_factors)`` reads the config bag (the flow calls it once,
after the data and the network exist) and checks what it can before any step runs (amp level / dtype / loss
scale, a schedule with steps); :func:`common.train.loop.fit`, :mod:`common.train.steps` and
:mod:`common.train.curves` then read typed fields, never ``cfg``::

    TrainPlan    device, out_dir, rank / world, batch_size, steps_per_epoch, epochs, total_steps, max_steps,
                 save_every, log_every, verify_every, lr (the per-step array, read-only), lr_scale, sink,
                 uint8_input
      .optimizer OptimizerSpec    name, weight_decay, momentum, nesterov, param_groups (rules), lr_factors
      .amp       AmpSpec          level, dtype, loss_scale, dynamic, window, head_fp16 (common/train/amp.py)
      .checkpoint CheckpointPolicy dir, prefix, keep, resume (None / True / 'latest' / a path)
"""
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping, Optional, Tuple

import numpy as np

from common.core import distributed
from common.train import amp
from common.train import steps as steps_mod
from common.train.lr import lr_from_config


@dataclass(frozen=True)
class OptimizerSpec:
    name: str  # sgd | adam | adamw (common/train/optim.py)
    weight_decay: float
    momentum: float = 0.9
    nesterov: bool = False
    param_groups: Tuple[Mapping, ...] = ()  # name rules (common/train/optim.py)
    lr_factors: Optional[Mapping[str, Any]] = None  # {parameter name: per-step lr factor} (common/train/finetune.py)


@dataclass(frozen=True)
class AmpSpec:
    level: str  # O0..O3 (resolved per device when the config says null)
    dtype: str  # float16 | bfloat16 (auto resolved)
    loss_scale: float  # the fixed scale, or the dynamic scale's start
    dynamic: bool
    window: int = 1000  # dynamic scale: doubled after this many steps without overflow
    head_fp16: bool = False


@dataclass(frozen=True)
class CheckpointPolicy:
    dir: Optional[str]  # None only where fit is handed a manager
    prefix: str = "model"
    keep: int = 5
    resume: Any = None  # None / False: from scratch; True / 'latest': newest loadable in dir; or a checkpoint path


@dataclass(frozen=True)
class TrainPlan:
    device: str
    out_dir: Optional[str]  # None: no curves (tests)
    rank: int
    world: int
    batch_size: int  # images per step per device
    steps_per_epoch: int
    epochs: int
    total_steps: int
    max_steps: int  # 0: the whole schedule
    save_every: int  # 0: checkpoints at epoch ends only
    log_every: int
    verify_every: int
    lr: np.ndarray = field(compare=False, repr=False)  # one value per step (already x lr_scale)
    lr_scale: float
    optimizer: OptimizerSpec
    amp: AmpSpec
    checkpoint: CheckpointPolicy
    sink: bool = False  # GPU / Ascend graph mode: epochs may run sunk (common/train/steps.py)
    uint8_input: bool = False  # batches cross to the device as uint8 (common/data/device_input.py)

    def every(self):
        """The boundary steps as keywords of :func:`common.train.steps.boundaries` / ``sink_size``."""
        return {"log_every": self.log_every, "save_every": self.save_every, "verify_every": self.verify_every,
                "max_steps": self.max_steps}


def _count(value, default=0):
    return int(value or default)


def resolve(cfg, steps_per_epoch, rank=0, world=1, lr_scale=None, lr_factors=None):
    """The plan of a training run of ``cfg`` with ``steps_per_epoch`` steps per epoch on rank ``rank`` of
    ``world``. ``lr_scale`` None: the recipe's rule (``common.core.distributed.lr_scale``); ``lr_factors``:
    {parameter name: per-step lr factor} (fine-tuning). Raises FaceIdError for a bad amp setting."""
    device = cfg.get("device_target", "CPU")
    level, scale, dynamic = amp.resolve(device, cfg.get("amp_level"), cfg.get("amp_dtype", "float16"),
                                        cfg.get("loss_scale"))
    mixed = AmpSpec(level=level, dtype=amp.resolve_dtype(device, cfg.get("amp_dtype", "float16")),
                    loss_scale=scale, dynamic=dynamic, window=_count(cfg.get("loss_scale_window", 1000), 1000),
                    head_fp16=bool(cfg.get("head_fp16")))
    if lr_scale is None:
        lr_scale = distributed.lr_scale(cfg, world)
    lr = lr_from_config(cfg, steps_per_epoch, lr_scale)
    lr.setflags(write=False)
    optimizer = OptimizerSpec(
        name=cfg.optimizer, weight_decay=cfg.weight_decay, momentum=cfg.get("momentum", 0.9),
        nesterov=cfg.get("nesterov", False),
        param_groups=tuple(MappingProxyType(dict(r)) for r in (cfg.get("param_groups") or ())),
        lr_factors=MappingProxyType(dict(lr_factors)) if lr_factors else None)
    policy = CheckpointPolicy(dir=cfg.get("ckpt_dir"), prefix=cfg.get("ckpt_prefix", "model"),
                              keep=cfg.get("keep_ckpt", 5), resume=cfg.get("resume"))
    epochs = int(cfg.epochs)
    return TrainPlan(
        device=device, out_dir=cfg.get("out_dir"), rank=int(rank), world=int(world), batch_size=cfg.batch_size,
        steps_per_epoch=int(steps_per_epoch), epochs=epochs, total_steps=epochs * int(steps_per_epoch),
        max_steps=_count(cfg.get("max_steps", 0)), save_every=_count(cfg.get("save_every_steps", 0)),
        log_every=max(1, _count(cfg.get("log_every", 10), 10)), verify_every=_count(cfg.get("verify_every_steps", 0)),
        lr=lr, lr_scale=lr_scale, optimizer=optimizer, amp=mixed, checkpoint=policy,
        sink=steps_mod.sink_wanted(device, cfg.get("sink"), cfg.get("graph_mode", True)),
        uint8_input=bool(cfg.get("uint8_input")))
