"""One progress line per ``every`` steps: epoch, step, loss, lr, images/s and ETA."""
import time


def fmt_time(seconds):
    seconds = int(max(0, seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class Progress:
    def __init__(self, total_steps, batch_size, every=10, start_step=0, printer=print, world=1):
        self.total, self.batch, self.every = total_steps, batch_size * world, max(1, every)
        self.printer, self.start_step = printer, start_step
        self.t0 = self.t_last = time.time()
        self.step_last = start_step
        self.loss_sum, self.loss_n = 0.0, 0

    def update(self, global_step, epoch, epochs, step_in_epoch, steps_in_epoch, loss, lr):
        """Call after each step with the 1-based ``global_step`` just finished."""
        self.loss_sum += loss
        self.loss_n += 1
        if global_step % self.every and global_step != self.total:
            return None
        now = time.time()
        rate = (global_step - self.step_last) * self.batch / max(now - self.t_last, 1e-9)
        done = global_step - self.start_step
        eta = (now - self.t0) / max(done, 1) * (self.total - global_step)
        line = (f"epoch {epoch + 1}/{epochs} step {step_in_epoch}/{steps_in_epoch} "
                f"[{global_step}/{self.total}] loss {self.loss_sum / self.loss_n:.4f} lr {lr:.3g} "
                f"{rate:.1f} img/s eta {fmt_time(eta)}")
        self.printer(line)
        self.t_last, self.step_last = now, global_step
        self.loss_sum, self.loss_n = 0.0, 0
        return line
