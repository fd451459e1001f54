"""Output-path safety: an output never replaces one of the run's inputs.

    check_output(out, *inputs)   # FaceIdError naming both when ``out`` is (or links to) one of ``inputs``

Call it for every file a command will write, before anything is computed or written. Inputs may be files or
folders (a folder input refuses every output path equal to it); ``None`` entries are ignored.
"""
import os

from common.core.errors import FaceIdError

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repository
PROTOCOLS_DIR = os.path.join(REPO_ROOT, "protocols")  # the shipped protocol files (LFW pairs, BLUFR config)


def _same(a, b):
    """True when paths ``a`` and ``b`` name the same file: same resolved path, or (both existing) samefile."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)  # hard links, bind mounts
    except OSError:
        return False


def check_output(out, *inputs, what="output"):
    """Refuse ``out`` when it is one of ``inputs`` (or an existing folder); returns ``out`` unchanged.

    ``inputs`` may hold paths or iterables of paths (e.g. the list of evaluated images).
    """
    if out is None:
        return out
    out = os.fspath(out)
    if os.path.isdir(out):
        raise FaceIdError(f"{out}: {what} path is an existing folder; give a file name")
    for item in inputs:
        group = [item] if item is None or isinstance(item, (str, bytes, os.PathLike)) else item
        for src in group:
            if src is not None and _same(out, os.fspath(src)):
                raise FaceIdError(f"{out}: {what} path is also an input ({os.fspath(src)}); refusing to overwrite it, "
                                  f"give another output name")
    return out


def _why(exc):
    return exc.strerror or str(exc) if isinstance(exc, OSError) else str(exc)


def writable_dir(path, what="--out_dir", min_free=1 << 20):
    """Create folder ``path`` and probe it for writing (a small file written, synced and removed) before any work;
    one FaceIdError naming ``what`` and the path when it is a file, read-only, or has under ``min_free`` bytes free.
    Returns the absolute path."""
    import tempfile

    path = os.path.abspath(os.fspath(path))
    if os.path.exists(path) and not os.path.isdir(path):
        raise FaceIdError(f"{what} {path}: exists and is not a folder")
    try:
        os.makedirs(path, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise FaceIdError(f"{what} {path}: a part of the path is a file, not a folder") from None
    except OSError as exc:
        raise FaceIdError(f"{what} {path}: cannot create the folder ({_why(exc)})") from None
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=path, prefix=".probe-")
        with os.fdopen(fd, "wb") as f:
            f.write(b"\0" * 4096)
            f.flush()
            os.fsync(f.fileno())
    except OSError as exc:
        raise FaceIdError(f"{what} {path}: cannot write there ({_why(exc)})") from None
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
    try:
        st = os.statvfs(path)
        free = st.f_bavail * st.f_frsize
    except (OSError, AttributeError):  # pragma: no cover - not POSIX
        free = None
    if free is not None and free < min_free:
        raise FaceIdError(f"{what} {path}: no space left ({free} bytes free)")
    return path


def writable_file(path, what="--out", min_free=1 << 20):
    """An output file ``path``: not a folder, its folder created and probed (:func:`writable_dir`), an existing
    file writable. Returns ``path`` unchanged."""
    if path is None:
        return path
    full = os.path.abspath(os.fspath(path))
    if os.path.isdir(full):
        raise FaceIdError(f"{what} {full}: is an existing folder; give a file name")
    writable_dir(os.path.dirname(full), what=f"{what} {full}: folder", min_free=min_free)
    if os.path.exists(full) and not os.access(full, os.W_OK):
        raise FaceIdError(f"{what} {full}: exists and is not writable")
    return path


LOCK_NAME = ".train.lock"


class RunLock:
    """One training run per output folder: ``<folder>/.train.lock`` holds the owner's pid, host and start time.

    :meth:`acquire` refuses a folder whose lock belongs to a live process (one line naming it); a lock of a
    process that is gone on this host (killed) is taken over and said so. Released by :meth:`release` (and at
    interpreter exit); a lock of this very process (an earlier run in the same Python process) is re-taken.
    """

    def __init__(self, folder, what="--out_dir"):
        self.folder, self.what = os.path.abspath(folder), what
        self.path = os.path.join(self.folder, LOCK_NAME)
        self.held = False

    def _text(self):
        import socket
        import sys
        import time

        return (f"pid {os.getpid()}\nhost {socket.gethostname()}\nstarted {time.strftime('%Y-%m-%d %H:%M:%S')}\n"
                f"command {' '.join(sys.argv)}\n")

    def read(self):
        """The lock's fields (pid, host, started, command), {} when absent or unreadable."""
        try:
            with open(self.path, encoding="utf-8") as f:
                lines = f.read().splitlines()
        except (OSError, UnicodeDecodeError):
            return {}
        out = {}
        for line in lines:
            k, _, v = line.partition(" ")
            out[k] = v
        return out

    def acquire(self, printer=print):
        import atexit
        import socket

        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                info = self.read()
                try:
                    pid = int(info.get("pid", ""))
                except ValueError:
                    pid = None
                host = info.get("host", "?")
                mine = host == socket.gethostname()
                if pid == os.getpid() and mine:
                    pass  # an earlier run of this process (it raised before releasing): ours again
                elif pid is not None and (not mine or process_alive(pid)):
                    raise FaceIdError(
                        f"{self.what} {self.folder} is in use by another training run (pid {pid} on host {host}, "
                        f"started {info.get('started', '?')}; lock {self.path}): wait for it, stop it, or use "
                        f"another {self.what}")
                elif printer is not None:
                    printer(f"note: {self.path}: took over the stale lock of process {pid if pid is not None else '?'} "
                            f"(host {host}, started {info.get('started', '?')}), which is no longer running")
                try:
                    os.unlink(self.path)
                except FileNotFoundError:
                    pass
                continue
            except OSError as exc:
                raise FaceIdError(f"{self.what} {self.folder}: cannot write the lock file ({_why(exc)})") from None
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(self._text())
            self.held = True
            atexit.register(self.release)
            return self
        raise FaceIdError(f"{self.what} {self.folder}: another run keeps taking the lock {self.path}")

    def release(self):
        if self.held and self.read().get("pid") == str(os.getpid()):
            try:
                os.unlink(self.path)
            except OSError:
                pass
        self.held = False


def process_alive(pid):
    """True if process ``pid`` runs on this machine (any owner; a zombie does not count)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (dead, not yet reaped) is not running
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except (OSError, IndexError):
        return True
