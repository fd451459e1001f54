"""Data-parallel set-up, one place for every launcher.

Launch environments recognised (``launch_info`` reads them, ``init`` acts on them):
- Ascend with a rank table (scripts/train_distribute*.sh): ``RANK_TABLE_FILE``, ``RANK_SIZE``, ``RANK_ID``,
  ``DEVICE_ID``; HCCL;
- ``msrun`` (scripts/run_distribute_train_{gpu,cpu}.sh; NCCL on GPU, mccl on CPU): ``MS_ROLE``,
  ``MS_WORKER_NUM``, ``MS_NODE_ID``, ``MS_SCHED_HOST``/``MS_SCHED_PORT`` (msrun also exports RANK_SIZE/RANK_ID);
- ``mpirun`` (GPU, LAUNCHER=mpirun): ``OMPI_COMM_WORLD_SIZE``, ``OMPI_COMM_WORLD_RANK``.
Without any of them the run is standalone: rank 0 of 1.

In parallel runs: DATA_PARALLEL with gradients averaged over ranks (``gradients_mean``); each rank reads
its own shard of every epoch (``common.data.dataset.epoch_indices``); only rank 0 writes checkpoints and
prints the config; every rank logs to ``OUT/logs/train_rank<r>.log``.

``FACEID_DEBUG_DIR=DIR`` (debugging, tests): each rank writes the sample indices it trained on per epoch
(``rank<r>_epoch<e>_indices.npy``) and its final trainable weights (``rank<r>_weights.npz``) into DIR.
"""
import os
from common.core.errors import FaceIdError

DEBUG_ENV = "FACEID_DEBUG_DIR"


def _int_env(env, key):
    try:
        return int(env[key])
    except ValueError:
        raise FaceIdError(f"environment variable {key}={env[key]!r} must be an integer") from None


def launch_info(env=os.environ):
    """-> dict(kind, world, rank): kind in standalone | rank_table | msrun | mpirun. Checks the values."""
    if env.get("MS_ROLE") or env.get("MS_WORKER_NUM"):
        kind, world_key, rank_key = "msrun", "MS_WORKER_NUM", "MS_NODE_ID"
    elif env.get("OMPI_COMM_WORLD_SIZE"):
        kind, world_key, rank_key = "mpirun", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK"
    elif env.get("RANK_TABLE_FILE") or env.get("RANK_SIZE"):
        kind, world_key, rank_key = "rank_table", "RANK_SIZE", "RANK_ID"
    else:
        return {"kind": "standalone", "world": 1, "rank": 0}
    world = _int_env(env, world_key) if env.get(world_key) else 1
    rank = _int_env(env, rank_key) if env.get(rank_key) else 0
    if world < 1 or not 0 <= rank < world:
        raise FaceIdError(f"{rank_key}={rank} must be in 0..{world_key}-1 ({world_key}={world})")
    if kind == "rank_table" and world == 1 and not env.get("RANK_TABLE_FILE"):
        kind = "standalone"
    return {"kind": kind, "world": world, "rank": rank}


def launched_world_size(env=os.environ):
    return launch_info(env)["world"]


def launcher_device_id(env=os.environ):
    """(device id, where it came from) the launcher gives this process, or (None, None): mpirun ->
    ``OMPI_COMM_WORLD_LOCAL_RANK`` (OpenMPI assigns no device: without this every rank lands on device 0);
    a rank table or a single-device launch -> ``DEVICE_ID``; msrun assigns the local rank's device itself."""
    kind = launch_info(env)["kind"]
    if kind == "mpirun" and env.get("OMPI_COMM_WORLD_LOCAL_RANK"):
        return _int_env(env, "OMPI_COMM_WORLD_LOCAL_RANK"), "OMPI_COMM_WORLD_LOCAL_RANK"
    if kind in ("rank_table", "standalone") and env.get("DEVICE_ID"):
        return _int_env(env, "DEVICE_ID"), "DEVICE_ID"
    return None, None


def check_launch(device, info, env=os.environ):
    """Refuse launches that cannot work on ``device``, with one clear line."""
    if info["kind"] == "rank_table" and info["world"] > 1:
        if device != "Ascend":
            raise FaceIdError(f"RANK_SIZE={info['world']} (a rank-table launch) is for Ascend, but "
                             f"device_target is {device}; use scripts/run_distribute_train_{device.lower()}.sh "
                             f"(msrun) instead")
        table = env.get("RANK_TABLE_FILE")
        if not table:
            raise FaceIdError("RANK_SIZE>1 on Ascend needs RANK_TABLE_FILE (write one with "
                             "scripts/hccl_tools.py write) or the msrun launcher")
        if not os.path.isfile(table):
            raise FaceIdError(f"{table}: RANK_TABLE_FILE not found")


def init(device, env=os.environ):
    """Initialise the collective backend if launched in parallel; returns (rank, world)."""
    info = launch_info(env)
    if info["kind"] == "standalone" or (info["world"] == 1 and info["kind"] != "msrun"):
        return 0, 1
    check_launch(device, info, env)
    import mindspore as ms
    from mindspore.communication import get_group_size, get_rank, init as comm_init

    try:
        comm_init()
    except RuntimeError as exc:
        raise FaceIdError(f"cannot initialise the {info['kind']} collective backend on {device}: "
                         f"{str(exc).strip().splitlines()[0]}") from None
    rank, world = get_rank(), get_group_size()
    ms.set_auto_parallel_context(parallel_mode=ms.ParallelMode.DATA_PARALLEL, gradients_mean=True,
                                 device_num=world)
    return rank, world


_FLAG_REDUCE = []  # the AllReduce primitive of wait_for_all, made once


def wait_for_all(flag=0, world=2):
    """An explicit meeting point of every rank: an all-reduce (sum) of one flag per rank; returns the sum.

    Work one rank does alone (rank 0's periodic verification) is followed by this call on EVERY rank, so the
    others wait here, outside any training step, instead of blocking inside the next step's gradient all-reduce
    (whose graph they would already have launched). A rank that failed passes ``flag=1``: the others see a sum
    above 0 and stop too, instead of waiting for a peer that is gone. With ``world`` 1: ``flag``, no
    communication. The wait has the backend's collective timeout (HCCL_EXEC_TIMEOUT on Ascend, 1836 s by
    default; NCCL and mccl none).
    """
    if world <= 1:
        return int(flag)
    import numpy as np
    import mindspore as ms
    from mindspore import ops

    if not _FLAG_REDUCE:
        _FLAG_REDUCE.append(ops.AllReduce())
    out = _FLAG_REDUCE[0](ms.Tensor(np.array([float(flag)], np.float32)))
    return int(round(float(out.asnumpy()[0])))


def lr_scale(cfg, world):
    """The factor the recipe's lr is multiplied by: ``lr_reference_batch: B`` gives batch_size * world / B
    (insightface: 0.1 at 512); else ``lr_scale_with_world`` gives the world size; else 1."""
    if cfg.get("lr_reference_batch"):
        return float(cfg.batch_size) * world / float(cfg.lr_reference_batch)
    return float(world) if cfg.get("lr_scale_with_world") else 1.0


def debug_dump(name, rank, arrays):
    """Write ``arrays`` (an array or a {name: array} dict) to $FACEID_DEBUG_DIR/rank<r>_<name>; no-op if unset."""
    folder = os.environ.get(DEBUG_ENV)
    if not folder:
        return None
    import numpy as np

    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"rank{rank}_{name}")
    if isinstance(arrays, dict):
        np.savez(path + ".npz", **arrays)
        return path + ".npz"
    np.save(path + ".npy", np.asarray(arrays))
    return path + ".npy"
