"""The training loop every model uses: compiled step, schedule, progress, checkpoints, resume.

A model hands over ``net_with_loss(images, labels) -> loss``, the parameters to train, the plan
resolved once from its config (common/train/plan.py: schedule, optimizer spec, mixed precision, checkpoint
policy; fit reads no config) and a ``dataset_fn(epoch, skip_batches) -> (dataset, steps)``.
The loop runs graph mode, prints progress, checkpoints atomically every ``save_every_steps``
and at each epoch end (rank 0 only), resumes from a checkpoint with the same schedule, and
stops on a NaN/inf loss without touching the last good checkpoint. The losses stay on the device and are
fetched once per ``log_every`` steps and before each checkpoint / verification (common/train/steps.py: NaN/inf is
checked there, before the state is saved); a step the dynamic loss scale skipped (overflow) is counted in the
progress line, not fatal. On GPU / Ascend an epoch runs sunk (``ms.data_sink``, ``log_every`` steps per call)
where its boundaries allow.
"""
import math
import os


from common.train import amp
from common.core import distributed
from common.core.errors import FaceIdError, Interrupted
from common.train.optim import build_optimizer
from common.train.checkpoint import CheckpointManager
from common.train.progress import Progress
from common.train import steps as steps_mod
from common.data.dataset import tuple_iterator
from common.train import interrupt
from common.train import curves as train_curves


class NonFiniteLoss(FaceIdError):
    pass


def fit(plan, net_with_loss, params, dataset_fn, num_classes, amp_cells=(), printer=print, on_epoch_end=None,
        on_step_end=None, manager=None):
    """Train as ``plan`` says (common.train.plan.TrainPlan: ``plan.resolve(cfg, steps_per_epoch, rank, world,
    lr_scale, lr_factors)``); returns a dict with the final loss, last checkpoint and steps run.

    ``manager`` None: a CheckpointManager of ``plan.checkpoint`` (the flow hands a sharded head's own).
    ``on_step_end(global_step, epoch, train_net)`` runs after every step (after its checkpoint), e.g. a
    periodic verification; ``on_epoch_end(epoch, train_net)`` after every epoch's checkpoint.
    """
    device, rank, world, mixed, spec = plan.device, plan.rank, plan.world, plan.amp, plan.optimizer
    for cell in amp_cells:
        amp.apply(cell, mixed.level, mixed.dtype, root=net_with_loss)
    if mixed.head_fp16:
        amp.set_head_fp16(net_with_loss)
    lr, steps_per_epoch = plan.lr, plan.steps_per_epoch
    optimizer = build_optimizer(spec.name, params, lr, spec.weight_decay, spec.momentum, spec.param_groups,
                                spec.nesterov, loss_scale=1.0 if mixed.dynamic else mixed.loss_scale,
                                factors=spec.lr_factors)
    train_net = amp.train_network(net_with_loss, optimizer, mixed.level, mixed.loss_scale, mixed.dynamic,
                                  mixed.window)
    train_net.set_train(True)

    if manager is None:  # the flow hands a sharded head's manager (common.heads.shards.checkpoint_manager)
        manager = CheckpointManager(plan.checkpoint.dir, plan.checkpoint.prefix, plan.checkpoint.keep,
                                    printer if rank == 0 else None)
    start_epoch, start_step, resumed = 0, 0, None
    resume = plan.checkpoint.resume
    if resume:
        if resume is True or str(resume).lower() in ("true", "latest"):  # newest that loads; skipped ones named
            path, params = manager.latest_loadable(printer)
        else:
            path, params = resume, None
        if path is None:
            printer(f"resume: no loadable checkpoint in {plan.checkpoint.dir}, starting from scratch")
        else:
            meta = manager.load(train_net, path, params)
            resumed = path
            start_epoch, start_step = meta.get("meta_epoch", 0), meta.get("meta_step", 0)
            printer(f"resumed from {path}: epoch {start_epoch + 1}, step {start_step} of that epoch")

    epochs, total = plan.epochs, plan.total_steps
    global_step = start_epoch * steps_per_epoch + start_step
    progress = Progress(total, plan.batch_size, plan.log_every, global_step, printer, world,
                        seed_lines=True)
    curves = train_curves.for_run(plan, progress, printer)  # OUT_DIR/logs/curves.png at each epoch end + end
    # periodic work (epoch set-up, checkpoints, verification) runs between progress.pause() and .resume(): it is
    # left out of img/s and added to the ETA; the wait for each batch is timed as the 'data x%' share
    save_every = plan.save_every
    max_steps = plan.max_steps  # stop (with a checkpoint) after this many global steps
    last_ckpt, last_loss = resumed or manager.latest(), float("nan")
    if max_steps and global_step >= max_steps:  # max_steps N: stop AT global step N; a run already there trains none
        printer(f"already at step {global_step} (max_steps {max_steps}): nothing to train; checkpoint {last_ckpt}")
        return {"loss": last_loss, "checkpoint": last_ckpt, "global_step": global_step, "train_net": train_net,
                "steps_run": 0}
    # the step outputs stay on the device; fetched (one transfer) at log / checkpoint / verification boundaries,
    # where NaN/inf is checked before anything is saved (common/train/steps.py)
    pending, due = steps_mod.DeviceSteps(), steps_mod.boundaries(steps_per_epoch, total, **plan.every())
    sink, good = plan.sink, [last_loss]

    def fetch():
        for (g, e, s, rate, count), value, overflow, now_scale in pending.fetch():
            if overflow and now_scale <= 1.0:
                raise NonFiniteLoss(f"the dynamic loss scale is down to 1 and step {g} still overflows; training "
                                    f"stopped. Last good checkpoint (untouched): {last_ckpt or 'none'}. Lower the lr.")
            if not overflow and not math.isfinite(value):
                raise NonFiniteLoss(
                    f"loss is {value} at epoch {e + 1} step {s}; training stopped. "
                    f"Last good checkpoint (untouched): {last_ckpt or 'none'}. Lower the lr or use amp_level O0.")
            if not overflow:
                good[0] = value
            progress.update(g, e, epochs, s, steps_per_epoch, value, rate, overflow=overflow, count=count)
        return good[0]

    for epoch in range(start_epoch, epochs):
        skip = start_step if epoch == start_epoch else 0
        progress.pause()
        data, steps = dataset_fn(epoch, skip)
        size = (steps_mod.sink_size(steps_per_epoch, global_step, steps_per_epoch - skip, **plan.every())
                if sink else None)
        batches = None if size else tuple_iterator(data)  # no copy out of the workers' shared memory
        sunk = steps_mod.sunk_step(train_net, data, size, device) if size else None
        interrupt.rearm()  # MindSpore's iterator installs its own SIGINT handler (Ctrl-C -> SIGTERM)
        progress.resume()
        step_in_epoch = skip
        while True:
            progress.data_start()
            if sunk is not None:  # ``size`` steps on the device per call, the batches from the dataset queue
                if step_in_epoch >= steps_per_epoch:
                    break
                progress.data_end()
                out, count = sunk(), size
            else:
                try:
                    images, labels = next(batches)
                except StopIteration:
                    break
                progress.data_end()
                out, count = train_net(images, labels), 1
            step_in_epoch += count
            global_step += count
            pending.add(out, (global_step, epoch, step_in_epoch, float(lr[min(global_step - 1, len(lr) - 1)]), count))
            if len(pending) == 1 and global_step == start_epoch * steps_per_epoch + start_step + count:
                progress.compiled(global_step)  # the first call's compile stays out of the first img/s window
            stop = bool(max_steps) and global_step >= max_steps
            signum = interrupt.requested()  # SIGINT / SIGTERM: this step is done; checkpoint it and stop
            if signum or due(global_step, step_in_epoch):
                last_loss = fetch()
            progress.pause()
            if manager.writes(rank) and step_in_epoch < steps_per_epoch and (
                    stop or signum or save_every and global_step % save_every == 0):
                last_ckpt = manager.save(train_net, epoch, step_in_epoch, global_step, num_classes)
            if on_step_end is not None:
                on_step_end(global_step, epoch, train_net)
            progress.resume()
            if signum:
                _interrupted(signum, manager, rank, train_net, epoch, step_in_epoch, steps_per_epoch, global_step,
                             num_classes, last_ckpt)
            if stop and step_in_epoch < steps_per_epoch:
                printer(f"stopped at step {global_step} (max_steps); resume with --resume true")
                curves.draw()
                if os.environ.get(distributed.DEBUG_ENV):  # (no host read of the weights otherwise)
                    distributed.debug_dump("weights", rank, {p.name: p.asnumpy() for p in optimizer.parameters})
                return {"loss": last_loss, "checkpoint": last_ckpt, "global_step": global_step,
                        "train_net": train_net, "host_syncs": pending.syncs}
            if step_in_epoch >= steps_per_epoch:
                break
        last_loss = fetch()  # (a no-op unless the data ended before steps_per_epoch)
        progress.pause()
        if manager.writes(rank):
            last_ckpt = manager.save(train_net, epoch + 1, 0, global_step, num_classes)
            printer(f"epoch {epoch + 1} done, checkpoint {last_ckpt}")
        if on_epoch_end is not None:
            on_epoch_end(epoch, train_net)
        curves.draw()
        progress.resume()
        if max_steps and global_step >= max_steps:
            break
    last_loss = fetch()
    if os.environ.get(distributed.DEBUG_ENV):  # (no host read of the weights otherwise)
        distributed.debug_dump("weights", rank, {p.name: p.asnumpy() for p in optimizer.parameters})
    return {"loss": last_loss, "checkpoint": last_ckpt, "global_step": global_step, "train_net": train_net,
            "host_syncs": pending.syncs}


def _interrupted(signum, manager, rank, train_net, epoch, step_in_epoch, steps_per_epoch, global_step, num_classes,
                 last_ckpt):
    """Raise Interrupted after step ``global_step`` (an epoch's last step gets its epoch-end checkpoint here)."""
    if manager.writes(rank) and step_in_epoch >= steps_per_epoch:
        last_ckpt = manager.save(train_net, epoch + 1, 0, global_step, num_classes)
    raise Interrupted(f"interrupted at step {global_step}; checkpoint {last_ckpt}; resume with "
                                f"{interrupt.resume_command()}", interrupt.exit_code(signum))
