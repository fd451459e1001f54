"""The training plan (common/train/plan.py): what fit reads, resolved once from the config and frozen."""
import dataclasses

import numpy as np
import pytest

from common.core.config import Config
from common.core.errors import FaceIdError
from common.train import plan


def _cfg(**over):
    cfg = Config(device_target="CPU", optimizer="sgd", weight_decay=5e-4, momentum=0.8, nesterov=True, lr=0.2,
                 lr_schedule="step", lr_gamma=0.5, lr_step_epochs=1, epochs=3, batch_size=4, ckpt_dir="/tmp/c",
                 ckpt_prefix="p", keep_ckpt=2, resume="latest", log_every=5, save_every_steps=10, max_steps=None,
                 param_groups=[{"match": "bias", "lr_mult": 2, "weight_decay": 0}])
    cfg.update(over)
    return cfg


def test_resolve_reads_the_config_once_into_frozen_fields():
    p = plan.resolve(_cfg(lr_reference_batch=16), 6, rank=1, world=2)
    # lr x (batch 4 * world 2 / 16) = 0.1, halved every epoch of 6 steps (written out by hand)
    np.testing.assert_allclose(p.lr, [0.1] * 6 + [0.05] * 6 + [0.025] * 6, rtol=1e-6)
    assert p.lr_scale == 0.5 and p.total_steps == 18 and p.max_steps == 0 and (p.rank, p.world) == (1, 2)
    assert p.every() == {"log_every": 5, "save_every": 10, "verify_every": 0, "max_steps": 0}
    assert (p.optimizer.name, p.optimizer.weight_decay, p.optimizer.momentum, p.optimizer.nesterov) == \
        ("sgd", 5e-4, 0.8, True)
    assert dict(p.optimizer.param_groups[0]) == {"match": "bias", "lr_mult": 2, "weight_decay": 0}
    assert p.checkpoint == plan.CheckpointPolicy("/tmp/c", "p", 2, "latest")
    assert (p.amp.level, p.amp.dynamic, p.amp.loss_scale) == ("O0", False, 1.0) and p.sink is False
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.max_steps = 3
    with pytest.raises(ValueError):
        p.lr[0] = 1.0  # the schedule is read-only too
    cfg = _cfg()
    resolved = plan.resolve(cfg, 6)
    cfg.update(lr=9.0, log_every=1)  # a later change to the config bag does not reach a resolved plan
    assert resolved.lr[0] == np.float32(0.2) and resolved.log_every == 5


def test_bad_amp_is_refused_when_the_plan_is_resolved():
    with pytest.raises(FaceIdError, match="bfloat16"):
        plan.resolve(_cfg(amp_level="O2", amp_dtype="bfloat16"), 6)
    p = plan.resolve(_cfg(amp_level="O2", loss_scale="dynamic", loss_scale_window=50, device_target="GPU",
                          sink=None), 6, lr_scale=1.0, lr_factors={"w": np.ones(18)})
    assert (p.amp.level, p.amp.dynamic, p.amp.window, p.sink) == ("O2", True, 50, True)
    assert list(p.optimizer.lr_factors) == ["w"]
