"""Data-parallel set-up, one place for every launcher.

Launch environments recognised:
- Ascend with a rank table: ``RANK_TABLE_FILE``, ``RANK_SIZE``, ``RANK_ID``, ``DEVICE_ID`` (HCCL);
- ``msrun`` (GPU NCCL or CPU mccl): ``MS_WORKER_NUM`` / ``MS_ROLE`` set by the launcher;
- ``mpirun`` (GPU): ``OMPI_COMM_WORLD_SIZE``.
Without any of them the run is standalone: rank 0 of 1.
"""
import os


def launched_world_size(env=os.environ):
    for key in ("RANK_SIZE", "MS_WORKER_NUM", "OMPI_COMM_WORLD_SIZE"):
        if env.get(key):
            return int(env[key])
    return 1


def init(device, env=os.environ):
    """Initialise the collective backend if launched in parallel; returns (rank, world)."""
    world = launched_world_size(env)
    if world <= 1 and not env.get("MS_ROLE"):
        return 0, 1
    import mindspore as ms
    from mindspore.communication import get_group_size, get_rank, init as comm_init

    if device == "Ascend" and env.get("RANK_TABLE_FILE") is None and env.get("MS_ROLE") is None:
        raise SystemExit("error: RANK_SIZE>1 on Ascend needs RANK_TABLE_FILE (write one with scripts/hccl_tools.py) "
                         "or the msrun launcher")
    comm_init()
    rank, world = get_rank(), get_group_size()
    ms.set_auto_parallel_context(parallel_mode=ms.ParallelMode.DATA_PARALLEL, gradients_mean=True,
                                 device_num=world)
    return rank, world
