"""Ctrl-C / SIGTERM during training: finish the current step, checkpoint, one line, exit 130 / 143.

    with deferred():                 # the flow wraps fit() in it (main thread only; elsewhere a no-op)
        fit(...)                     # fit() asks requested() after every step; when set it checkpoints and
                                     # raises Interrupted("interrupted at step N; checkpoint ...; resume with ...")

A second signal while the first is being honoured stops at once (exit 130 for SIGINT, 143 for SIGTERM).

MindSpore's graph runtime wraps every step in its own C-level SIGINT handler that turns Ctrl-C into a SIGTERM to
the process (GraphScheduler::Run's SignalGuard), so a plain Python handler would see SIGTERM. A training process
therefore blocks SIGINT in every thread before MindSpore starts any (:func:`route_sigint`, called when the train
flow is imported first in a fresh process) and takes it in one watcher thread (``sigwait``), which hands it to
the main thread's Python handler: the deferred one during training, KeyboardInterrupt elsewhere. The previous handlers are restored when the block ends. ``common.core.errors.guard`` prints the line of
:class:`Interrupted` and exits with its code (130 for SIGINT, 143 for SIGTERM: 128 + the signal number).
"""
import contextlib
import os
import shlex
import signal
import sys
import threading


_state = {"signum": None, "active": False, "routed": False}
SIGNALS = (signal.SIGINT, signal.SIGTERM)


def route_sigint():
    """Block SIGINT in this (main) thread and every thread started after, and take it in a watcher thread. Only in
    a fresh process, before MindSpore is imported (its threads would keep SIGINT unblocked), never under pytest;
    returns whether it did."""
    if (_state["routed"] or "mindspore" in sys.modules or "pytest" in sys.modules
            or not hasattr(signal, "pthread_sigmask") or threading.current_thread() is not threading.main_thread()):
        return False
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    threading.Thread(target=_watch_sigint, name="faceid-sigint", daemon=True).start()
    _state["routed"] = True
    return True


def _watch_sigint():
    import _thread

    while True:
        signal.sigwait({signal.SIGINT})
        if _state["active"] and _state["signum"] is not None:  # the second Ctrl-C: now, even inside a step
            print("error: second Ctrl-C: stopped at once (no checkpoint of the current step)", file=sys.stderr,
                  flush=True)
            os._exit(exit_code(signal.SIGINT))
        _thread.interrupt_main(signal.SIGINT)  # the main thread's Python handler (deferred / KeyboardInterrupt)


def requested():
    """The signal number asked to stop (SIGINT / SIGTERM), or None. Re-arms the handlers: MindSpore's data
    pipeline installs its own C-level SIGINT handler (which turns Ctrl-C into SIGTERM) when an iterator starts."""
    rearm()
    return _state["signum"]


def rearm():
    """Put our handlers back (after MindSpore's iterator replaced the SIGINT one)."""
    if _state["active"] and _state["signum"] is None:
        for sig in SIGNALS:
            signal.signal(sig, _handler)


def exit_code(signum):
    return 128 + int(signum)


def _handler(signum, frame):
    if _state["signum"] is None:
        _state["signum"] = signum  # the loop finishes the step, checkpoints and raises Interrupted
        return
    _restore()
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    print("error: second signal: stopped at once (no checkpoint of this step)", file=sys.stderr, flush=True)
    raise SystemExit(exit_code(signum))


_previous = {}


def _restore():
    for sig, old in list(_previous.items()):
        try:
            signal.signal(sig, old)
        except (ValueError, TypeError):
            pass
    _previous.clear()
    _state["active"] = False


@contextlib.contextmanager
def deferred():
    """Within the block SIGINT / SIGTERM only set :func:`requested` (the loop stops cleanly after the step)."""
    if threading.current_thread() is not threading.main_thread() or _state["active"]:
        yield
        return
    _state["signum"], _state["active"] = None, True
    for sig in SIGNALS:
        _previous[sig] = signal.signal(sig, _handler)
    try:
        yield
    finally:
        _restore()
        _state["signum"] = None


def resume_command(argv=None):
    """The command line that continues this run: the same arguments with ``--resume true``."""
    argv = list(sys.argv if argv is None else argv)
    out, i = [], 1
    while i < len(argv):
        tok = argv[i]
        if tok == "--resume":
            i += 2 if i + 1 < len(argv) and not argv[i + 1].startswith("--") else 1
            continue
        if tok.startswith("--resume="):
            i += 1
            continue
        out.append(tok)
        i += 1
    prog = os.path.relpath(argv[0]) if argv and argv[0] else "train.py"
    return " ".join(shlex.quote(t) for t in ["python", prog] + out + ["--resume", "true"])
