"""Read PyTorch ``torch.save`` files without PyTorch and without running pickled code.

Two containers are understood: the zip format of PyTorch >= 1.6 (``<name>/data.pkl`` + ``<name>/data/<key>``
raw storages) and the legacy stream of older releases and ``_use_new_zipfile_serialization=False`` (magic number,
protocol, system info, the pickle, the list of storage keys, then each storage as int64 count + raw bytes),
which is what LightCNN's 2017 ``*.pth.tar`` files are.

The pickle is read by an unpickler that resolves only a fixed list of globals to functions written here:
tensors (``torch._utils._rebuild_tensor[_v2]``, parameters), typed storages, ``OrderedDict``, numpy scalars and
Python 2 string encoding. Any other global (``os.system``, ``builtins.eval``, a user class ...) stops the
read with one line naming the file: nothing from the file is ever executed or imported.
Tensors come back as numpy arrays in their stored dtype (bfloat16 as float32).
"""
import collections
import io
import os
import pickle
import struct
import zipfile

import numpy as np

from common.core.errors import FaceIdError

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
STORAGE_DTYPES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
    "BFloat16Storage": "bfloat16", "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
    "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_, "UntypedStorage": np.uint8,
}
NUMERIC_KINDS = "biufc?"


class _StorageType:
    def __init__(self, name):
        self.name = name
        self.dtype = STORAGE_DTYPES[name]

    @property
    def itemsize(self):
        return 2 if self.dtype == "bfloat16" else np.dtype(self.dtype).itemsize


class _Storage:
    """A storage named in the pickle; its bytes are attached once the container has been read."""

    def __init__(self, stype, key, numel):
        self.stype, self.key, self.numel = stype, str(key), int(numel)
        self.array = None


class _LazyTensor:
    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset = storage, int(offset)
        self.size, self.stride = tuple(int(s) for s in size), tuple(int(s) for s in stride)


def _rebuild_tensor(storage, storage_offset, size, stride, *unused):
    if not isinstance(storage, _Storage):
        raise pickle.UnpicklingError("a tensor whose storage is not a storage record")
    return _LazyTensor(storage, storage_offset, size, stride)


def _rebuild_parameter(data, *unused):
    return data


def _rebuild_from_type(func, new_type, args, state):
    return func(*args)


def _numpy_dtype(name, *unused):
    dtype = np.dtype(name)
    if dtype.kind not in NUMERIC_KINDS:
        raise pickle.UnpicklingError(f"numpy dtype {name!r} is not numeric")
    return dtype


def _numpy_scalar(dtype, data=None):
    if isinstance(data, str):  # Python 2 pickles carry the bytes as a latin-1 string
        data = data.encode("latin1")
    if not isinstance(dtype, np.dtype) or dtype.kind not in NUMERIC_KINDS or not isinstance(data, bytes):
        raise pickle.UnpicklingError("a numpy scalar that is not a plain number")
    return np.frombuffer(data, dtype=dtype, count=1)[0]


def _codecs_encode(text, encoding="latin1"):
    return str(text).encode("latin1" if encoding in ("latin1", "latin-1") else "utf-8")


SAFE_GLOBALS = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch._tensor", "_rebuild_from_type_v2"): _rebuild_from_type,
    ("torch", "Size"): tuple,
    ("numpy", "dtype"): _numpy_dtype,
    ("numpy.core.multiarray", "scalar"): _numpy_scalar,
    ("numpy._core.multiarray", "scalar"): _numpy_scalar,
    ("_codecs", "encode"): _codecs_encode,
    ("builtins", "set"): set, ("builtins", "frozenset"): frozenset,
    ("__builtin__", "set"): set, ("__builtin__", "frozenset"): frozenset,
}


class _Unpickler(pickle.Unpickler):
    def __init__(self, fileobj, path, storages):
        super().__init__(fileobj, encoding="latin1")
        self.path, self.storages = path, storages

    def find_class(self, module, name):
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(name)
        try:
            return SAFE_GLOBALS[(module, name)]
        except KeyError:
            hint = " (a TorchScript archive: save its state_dict() instead)" if module.startswith("__torch__") else ""
            raise FaceIdError(f"{self.path}: refused: the pickle asks for {module}.{name}, which is not a tensor, "
                              f"storage or container and could run code; nothing was executed{hint}") from None

    def persistent_load(self, pid):
        if not isinstance(pid, tuple) or not pid or pid[0] not in ("storage", b"storage"):
            raise pickle.UnpicklingError(f"unknown persistent id {str(pid)[:60]}")
        stype, key, numel = pid[1], pid[2], pid[4]
        view = pid[5] if len(pid) > 5 else None
        if not isinstance(stype, _StorageType):
            raise pickle.UnpicklingError("a storage without a storage type")
        key = str(key)
        storage = self.storages.get(key)
        if storage is None:
            storage = self.storages[key] = _Storage(stype, key, numel)
        if view:  # legacy storage views: (view key, offset, size) into the root storage
            _, offset, size = view
            return _StorageView(storage, offset, size)
        return storage


class _StorageView(_Storage):
    def __init__(self, root, offset, size):
        super().__init__(root.stype, root.key, size)
        self.root, self.view_offset = root, int(offset)


def _storage_array(storage, path):
    root = storage.root if isinstance(storage, _StorageView) else storage
    if root.array is None:
        raise FaceIdError(f"{path}: storage {root.key} is named in the pickle but missing from the file")
    if isinstance(storage, _StorageView):
        return root.array[storage.view_offset:storage.view_offset + storage.numel]
    return root.array


def _bytes_to_array(raw, stype, numel, path, key):
    need = numel * stype.itemsize
    if len(raw) < need:
        raise FaceIdError(f"{path}: storage {key} is truncated ({len(raw)} of {need} bytes)")
    raw = raw[:need]
    if stype.dtype == "bfloat16":
        return (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
    return np.frombuffer(raw, dtype=np.dtype(stype.dtype).newbyteorder("<"))


def _materialize(obj, path):
    if isinstance(obj, _LazyTensor):
        flat = _storage_array(obj.storage, path)
        if not obj.size:
            return np.array(flat[obj.offset]) if flat.size > obj.offset else np.zeros((), flat.dtype)
        last = obj.offset + sum((n - 1) * s for n, s in zip(obj.size, obj.stride) if n > 0)
        if any(n == 0 for n in obj.size):
            return np.zeros(obj.size, flat.dtype)
        if obj.offset < 0 or min(obj.stride) < 0 or last >= flat.size:
            raise FaceIdError(f"{path}: a tensor reaches outside its storage {obj.storage.key}")
        item = flat.dtype.itemsize
        view = np.lib.stride_tricks.as_strided(flat[obj.offset:], shape=obj.size,
                                               strides=tuple(s * item for s in obj.stride), writeable=False)
        return np.ascontiguousarray(view)
    if isinstance(obj, collections.OrderedDict):
        return collections.OrderedDict((k, _materialize(v, path)) for k, v in obj.items())
    if isinstance(obj, dict):
        return {k: _materialize(v, path) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_materialize(v, path) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_materialize(v, path) for v in obj)
    return obj


def _unpickle(data, path, storages):
    try:
        return _Unpickler(io.BytesIO(data) if isinstance(data, bytes) else data, path, storages).load()
    except FaceIdError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError, IndexError, AttributeError,
            struct.error, UnicodeDecodeError) as exc:
        raise FaceIdError(f"{path}: not a readable PyTorch file ({type(exc).__name__}: "
                          f"{str(exc).splitlines()[0] if str(exc) else ''})") from None


def _load_zip(path):
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        pkls = [n for n in names if n.endswith("data.pkl") and n.count("/") == 1]
        if len(pkls) != 1:
            raise FaceIdError(f"{path}: a zip file but not a torch.save archive (no <name>/data.pkl)")
        prefix = pkls[0][:-len("data.pkl")]
        if prefix + "code/" in {n[:len(prefix) + 5] for n in names} or prefix + "constants.pkl" in names:
            raise FaceIdError(f"{path}: a TorchScript archive, not a torch.save file; save its state_dict() instead")
        order = zf.read(prefix + "byteorder").decode().strip() if prefix + "byteorder" in names else "little"
        if order != "little":
            raise FaceIdError(f"{path}: big-endian tensors are not supported")
        storages = {}
        obj = _unpickle(zf.read(pkls[0]), path, storages)
        for key, storage in storages.items():
            member = f"{prefix}data/{key}"
            if member not in names:
                raise FaceIdError(f"{path}: storage {key} is missing from the archive")
            storage.array = _bytes_to_array(zf.read(member), storage.stype, storage.numel, path, key)
    return _materialize(obj, path)


def _load_legacy(path):
    with open(path, "rb") as f:
        storages = {}
        magic = _unpickle(f, path, storages)
        if magic != LEGACY_MAGIC:
            raise FaceIdError(f"{path}: not a PyTorch file (neither a torch.save zip nor the legacy format)")
        protocol = _unpickle(f, path, storages)
        if protocol != 1001:
            raise FaceIdError(f"{path}: legacy PyTorch protocol {protocol} is not supported")
        sys_info = _unpickle(f, path, storages)
        if isinstance(sys_info, dict) and not sys_info.get("little_endian", True):
            raise FaceIdError(f"{path}: big-endian tensors are not supported")
        obj = _unpickle(f, path, storages)
        keys = _unpickle(f, path, storages)
        for key in keys:
            key = str(key)
            head = f.read(8)
            if len(head) < 8:
                raise FaceIdError(f"{path}: truncated before storage {key}")
            numel = struct.unpack("<q", head)[0]
            storage = storages.get(key)
            if storage is None:
                raise FaceIdError(f"{path}: storage {key} is listed but never used")
            raw = f.read(numel * storage.stype.itemsize)
            storage.array = _bytes_to_array(raw, storage.stype, numel, path, key)
    return _materialize(obj, path)


def load(path):
    """The object saved in ``path`` (dicts, lists, numbers, strings, numpy arrays for tensors)."""
    if not os.path.isfile(path):
        raise FaceIdError(f"{path}: file not found")
    if zipfile.is_zipfile(path):
        return _load_zip(path)
    import tarfile
    if tarfile.is_tarfile(path):
        raise FaceIdError(f"{path}: the pre-2017 PyTorch tar format is not supported; re-save the state_dict")
    return _load_legacy(path)


STATE_KEYS = ("state_dict", "net_state_dict", "model_state_dict", "state_dict_backbone", "model", "net", "backbone",
              "module", "model_state", "weights", "params", "ema", "model_ema")
MAX_DEPTH = 4


def _is_state_dict(obj):
    return isinstance(obj, dict) and bool(obj) and all(
        isinstance(v, np.ndarray) for k, v in obj.items() if not str(k).endswith("num_batches_tracked"))


def _candidates(obj, path=(), depth=0):
    """Every ``{name: array}`` mapping inside ``obj`` (dicts and lists, ``MAX_DEPTH`` levels) as (path, dict)."""
    if _is_state_dict(obj):
        yield path, obj
        return
    if depth >= MAX_DEPTH:
        return
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, (list, tuple)) else ()
    for k, v in items:
        if isinstance(v, (dict, list, tuple)):
            yield from _candidates(v, path + (k,), depth + 1)


def _rank(path, sd):
    """Known key names first (``state_dict``, ``net_state_dict``, ``model`` ...; optimizer state last), then size."""
    names = [str(p).lower() for p in path]
    optimizer = any("optim" in n or n in ("state", "param_groups") for n in names)
    known = any(n in STATE_KEYS or "state_dict" in n for n in names)
    values = sum(int(np.asarray(v).size) for v in sd.values())
    return (not optimizer, known, len(sd), values)


def _summary(obj):
    if isinstance(obj, dict):
        return "{" + ", ".join(f"{k!r}: {type(v).__name__}" for k, v in list(obj.items())[:8]) + \
            (", ..." if len(obj) > 8 else "") + "}"
    return type(obj).__name__


def state_dict(obj, path):
    """The ``{name: array}`` inside a loaded object: the object itself or the best mapping of tensors found under
    any key (``state_dict``, ``net_state_dict``, ``model``, ``backbone``, nested), optimizer state never.

    A common ``module.`` prefix (DataParallel) is removed. Returns (state dict, notes)."""
    notes = []
    if not _is_state_dict(obj):
        found = sorted(_candidates(obj), key=lambda c: _rank(*c), reverse=True)
        found = [c for c in found if _rank(*c)[0]] or []
        if not found:
            raise FaceIdError(f"{path}: no mapping of tensor names to tensors (a state_dict) anywhere in the file, "
                              f"{MAX_DEPTH} levels deep (top level: {_summary(obj)})")
        where, sd = found[0]
        label = "/".join(str(p) for p in where)
        others = [str(k) for k in obj if k != where[0]] if isinstance(obj, dict) else []
        notes.append(f"weights from entry '{label}'" + (f"; ignored entries: {', '.join(others)}" if others else ""))
        if len(found) > 1:
            notes.append("other tensor mappings in the file (not used): " +
                         ", ".join("/".join(str(p) for p in w) + f" ({len(d)} tensors)" for w, d in found[1:4]))
        obj = sd
    sd = collections.OrderedDict((str(k), v) for k, v in obj.items())
    for prefix in ("module.", "_orig_mod."):
        if sd and all(k.startswith(prefix) for k in sd):
            sd = collections.OrderedDict((k[len(prefix):], v) for k, v in sd.items())
            notes.append(f"removed the common prefix '{prefix}'")
    return sd, notes


def read_state_dict(path):
    """``load`` + ``state_dict``: (OrderedDict name -> array, notes)."""
    return state_dict(load(path), path)
