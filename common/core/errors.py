"""The one error type of the library, and the guard that turns it into ``error: ...`` at an entry point.

Library code raises :class:`FaceIdError` with a one-line message that names the file (or option) and what is
wrong, e.g. ``FaceIdError(f"{path}: not a decodable image")``. Only entry points (``main``) exit: they run
through :func:`guard`, which prints ``error: <message>`` to stderr and exits with status 2 — never a traceback
for a user's mistake.
"""
import sys


class FaceIdError(Exception):
    """A user-facing problem: bad input file, bad option, missing dependency. One line, names the file."""


class Interrupted(Exception):
    """Training stopped by SIGINT / SIGTERM after writing a checkpoint: ``str()`` is the one line to print
    (``interrupted at step N; checkpoint ...; resume with ...``), ``code`` the exit status (130 / 143)."""

    def __init__(self, message, code):
        super().__init__(message)
        self.code = code


class HelpRequested(Exception):
    """``--help`` was given: the text to print; :func:`guard` prints it and exits 0."""


def guard(main, argv=None):
    """Run ``main(argv)``; a FaceIdError (or KeyboardInterrupt) becomes one line on stderr and a non-zero exit."""
    try:
        return main(argv)
    except Interrupted as exc:
        print(str(exc), file=sys.stderr, flush=True)
        raise SystemExit(exc.code) from None
    except HelpRequested as exc:
        print(str(exc), end="", flush=True)
        raise SystemExit(0) from None
    except FaceIdError as exc:
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if msg.startswith("error: "):
            msg = msg[len("error: "):]
        print(f"error: {msg}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr, flush=True)
        raise SystemExit(130) from None
