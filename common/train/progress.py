"""One progress line per ``every`` steps: epoch, step, loss, lr, images/s, data wait share and ETA.

The loop tells :class:`Progress` where time goes besides the train step:

- ``data_start()`` / ``data_end()`` around asking the data iterator for the next batch: the share of the window
  spent waiting is printed as ``data x%`` (high: the input pipeline, not the network, sets the pace);
- ``pause()`` / ``resume()`` around periodic work (checkpoint writes, verification, building an epoch's
  dataset): that time is left out of the ``img/s`` window, so the rate after a verification is the training
  throughput, not a slump, and it is added to the ETA as its measured mean cost per step so far.
- ``compiled(step)`` right after the run's first step: the first window starts there, so its graph compile is
  not averaged into the first ``img/s``;
- ``update(..., overflow=True)`` for a step the dynamic loss scale skipped: counted (``overflow N`` on the line),
  its loss left out of the mean.

Numbers of a printed line (W = the window's wall time minus the paused time in it, n = steps in the window)::

    img/s = n * batch * world / W          data % = 100 * (time in data_start..data_end) / W
    eta   = (total - step) * (W / n + paused time since start / steps since start)
"""
import time

from common.evaluation import seedlog


def fmt_time(seconds):
    seconds = int(max(0, seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class Progress:
    def __init__(self, total_steps, batch_size, every=10, start_step=0, printer=print, world=1, clock=None,
                 seed_lines=False):
        self.seed_lines = seed_lines  # also the old zoos' 'epoch: E step: S, loss is L' / 'per step time: X ms'
        self.total, self.batch, self.every = total_steps, batch_size * world, max(1, every)
        self.printer, self.start_step = printer, start_step
        self.clock = clock or time.perf_counter
        self.t0 = self.t_last = self.clock()
        self.step_last = start_step
        self.loss_sum, self.loss_n = 0.0, 0
        self.paused_window = self.paused_total = 0.0
        self.wait_window = 0.0
        self._pause_at = self._data_at = None
        self.overflows = self.overflows_total = 0  # steps the dynamic loss scale skipped, in the window / in all
        self._compiled = None
        self.history = []  # one record per printed line, the numbers it shows unrounded (common/train/curves.py)

    # ---- where the time goes
    def data_start(self):
        self._data_at = self.clock()

    def data_end(self):
        if self._data_at is not None:
            self.wait_window += self.clock() - self._data_at
            self._data_at = None

    def pause(self):
        """Start of periodic work (checkpoint, verification, epoch set-up): not training time."""
        if self._pause_at is None:
            self._pause_at = self.clock()

    def resume(self):
        if self._pause_at is not None:
            spent = self.clock() - self._pause_at
            self.paused_window += spent
            self.paused_total += spent
            self._pause_at = None

    def compiled(self, global_step):
        """Call right after the run's first step (``global_step``) returns: its graph compile (and its data wait)
        stay out of the first img/s window, which then starts here."""
        self._compiled = (self.clock(), global_step)
        self.paused_window = self.wait_window = 0.0

    # ---- the line
    def update(self, global_step, epoch, epochs, step_in_epoch, steps_in_epoch, loss, lr, overflow=False, count=1):
        """Call for each step (or each sunk call of ``count`` steps, ``loss`` its last) with the 1-based
        ``global_step`` just finished. ``overflow``: the dynamic loss scale skipped it (counted, loss left out)."""
        if overflow:
            self.overflows += count
            self.overflows_total += count
        else:
            self.loss_sum += loss * count
            self.loss_n += count
        if global_step % self.every and global_step != self.total:
            return None
        now = self.clock()
        if self._compiled is not None and self.step_last < self._compiled[1] < global_step:
            self.t_last, self.step_last = self._compiled  # the window from the end of the first (compiling) step
        self._compiled = None
        steps = max(global_step - self.step_last, 1)
        window = max(now - self.t_last - self.paused_window, 1e-9)
        rate = steps * self.batch / window
        data = 100.0 * min(self.wait_window / window, 1.0)
        done = max(global_step - self.start_step, 1)
        eta = (self.total - global_step) * (window / steps + self.paused_total / done)
        mean = self.loss_sum / self.loss_n if self.loss_n else float("nan")
        line = (f"epoch {epoch + 1}/{epochs} step {step_in_epoch}/{steps_in_epoch} "
                f"[{global_step}/{self.total}] loss {mean:.4f} lr {lr:.3g} "
                f"{rate:.1f} img/s data {data:.0f}% eta {fmt_time(eta)}")
        if self.overflows:
            line += f" overflow {self.overflows} (skipped; {self.overflows_total} in all)"
        self.printer(line)
        self.history.append({"global_step": int(global_step), "epoch": epoch + 1, "loss": mean,
                             "lr": float(lr), "img_s": rate, "data_pct": data})
        if self.seed_lines:
            for extra in seedlog.progress_lines(epoch + 1, step_in_epoch, loss, 1000.0 * window / steps):
                self.printer(extra)
        self.t_last, self.step_last = now, global_step
        self.loss_sum, self.loss_n = 0.0, 0
        self.paused_window = self.wait_window = 0.0
        self.overflows = 0
        return line
