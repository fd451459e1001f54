"""Read a TensorFlow (V2 bundle) checkpoint without TensorFlow: ``PREFIX.index`` + ``PREFIX.data-SSSSS-of-NNNNN``.

The ``.index`` is a LevelDB-style table (SSTable): data blocks of prefix-compressed key/value entries with restart
points, an index block of block handles, and a 48-byte footer (two block handles, padding, magic
0xdb4775248b80fb57). TensorFlow writes it uncompressed. The entry under the empty key is a ``BundleHeaderProto``
(number of shards, endianness); every other key is a variable name whose value is a ``BundleEntryProto``
(dtype, shape, shard, offset and size of its bytes in the data shard). Both protos are decoded here from the
protobuf wire format. Sliced (partitioned) variables and string tensors are not supported and are reported.
"""
import os
import re
import struct

import numpy as np

from common.core.errors import FaceIdError

TABLE_MAGIC = 0xDB4775248B80FB57
FOOTER_SIZE = 48
# tensorflow/core/framework/types.proto
DTYPES = {1: np.float32, 2: np.float64, 3: np.int32, 4: np.uint8, 5: np.int16, 6: np.int8, 9: np.int64,
          10: np.bool_, 14: "bfloat16", 17: np.uint16, 19: np.float16, 22: np.uint32, 23: np.uint64}


def _varint(buf, pos):
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise ValueError("truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def proto_fields(buf):
    """Protobuf wire format -> list of (field number, value): ints for varint/fixed, bytes for length-delimited."""
    out, pos = [], 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = struct.unpack_from("<Q", buf, pos)[0], pos + 8
        elif wire == 2:
            n, pos = _varint(buf, pos)
            value, pos = bytes(buf[pos:pos + n]), pos + n
        elif wire == 5:
            value, pos = struct.unpack_from("<I", buf, pos)[0], pos + 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        out.append((field, value))
    return out


def _block_handle(buf, pos):
    offset, pos = _varint(buf, pos)
    size, pos = _varint(buf, pos)
    return (offset, size), pos


def _read_block(data, handle, path):
    offset, size = handle
    if offset + size + 5 > len(data):
        raise FaceIdError(f"{path}: a table block lies outside the file")
    if data[offset + size] != 0:
        raise FaceIdError(f"{path}: compressed table blocks (type {data[offset + size]}) are not supported; "
                          f"TensorFlow writes checkpoint indexes uncompressed")
    return data[offset:offset + size]


def _block_entries(block):
    """(key bytes, value bytes) of one block, undoing the shared-prefix compression."""
    if len(block) < 4:
        raise ValueError("block too short")
    num_restarts = struct.unpack_from("<I", block, len(block) - 4)[0]
    end = len(block) - 4 - 4 * num_restarts
    if end < 0:
        raise ValueError("bad restart array")
    pos, key, out = 0, b"", []
    while pos < end:
        shared, pos = _varint(block, pos)
        non_shared, pos = _varint(block, pos)
        value_len, pos = _varint(block, pos)
        key = key[:shared] + bytes(block[pos:pos + non_shared])
        pos += non_shared
        out.append((key, bytes(block[pos:pos + value_len])))
        pos += value_len
    return out


def read_table(path):
    """All (key, value) pairs of an SSTable file, in key order."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < FOOTER_SIZE:
        raise FaceIdError(f"{path}: too short to be a TensorFlow checkpoint index")
    footer = data[-FOOTER_SIZE:]
    if struct.unpack_from("<Q", footer, 40)[0] != TABLE_MAGIC:
        raise FaceIdError(f"{path}: not a TensorFlow checkpoint index (bad table magic)")
    try:
        _, pos = _block_handle(footer, 0)          # metaindex (unused)
        index_handle, _ = _block_handle(footer, pos)
        entries = []
        for _, handle_bytes in _block_entries(_read_block(data, index_handle, path)):
            handle, _ = _block_handle(handle_bytes, 0)
            entries += _block_entries(_read_block(data, handle, path))
    except (ValueError, struct.error, IndexError) as exc:
        raise FaceIdError(f"{path}: corrupt checkpoint index ({exc})") from None
    return entries


def _shape(buf):
    dims = []
    for field, value in proto_fields(buf):
        if field == 2:  # Dim {int64 size = 1; string name = 2}
            size = dict(proto_fields(value)).get(1, 0)
            dims.append(size - (1 << 64) if size >= 1 << 63 else size)
        elif field == 3 and value:
            raise ValueError("unknown rank")
    return tuple(dims)


def resolve_prefix(path):
    """A checkpoint prefix from PREFIX, PREFIX.index, PREFIX.data-*, or a folder with a ``checkpoint`` file."""
    if os.path.isdir(path):
        state = os.path.join(path, "checkpoint")
        if os.path.isfile(state):
            with open(state) as f:
                m = re.search(r'^model_checkpoint_path:\s*"([^"]+)"', f.read(), re.M)
            if m:
                name = m.group(1)
                return name if os.path.isabs(name) else os.path.join(path, name)
        indexes = sorted(n for n in os.listdir(path) if n.endswith(".index"))
        if len(indexes) == 1:
            return os.path.join(path, indexes[0][:-len(".index")])
        raise FaceIdError(f"{path}: a folder without a 'checkpoint' file or a single *.index")
    m = re.match(r"(.*)\.(index|data-\d{5}-of-\d{5})$", path)
    return m.group(1) if m else path


def read_checkpoint(path):
    """{variable name: numpy array} of a TF V2 checkpoint (see :func:`resolve_prefix` for ``path``)."""
    prefix = resolve_prefix(path)
    index = prefix + ".index"
    if not os.path.isfile(index):
        raise FaceIdError(f"{path}: no TensorFlow checkpoint index {index}")
    entries = read_table(index)
    num_shards, variables = 1, []
    for key, value in entries:
        try:
            fields = proto_fields(value)
        except (ValueError, struct.error) as exc:
            raise FaceIdError(f"{index}: entry {key[:60]!r} is corrupt ({exc})") from None
        if key == b"":
            header = dict(fields)
            num_shards = header.get(1, 1)
            if header.get(2, 0) != 0:
                raise FaceIdError(f"{index}: big-endian checkpoints are not supported")
            continue
        variables.append((key.decode("utf-8", "replace"), fields))
    out, files = {}, {}
    try:
        for name, fields in variables:
            entry = {}
            for field, value in fields:
                entry.setdefault(field, value)
                if field == 7:
                    raise FaceIdError(f"{index}: variable {name} is partitioned (sliced); not supported")
            dtype = DTYPES.get(entry.get(1, 0))
            shape = _shape(entry.get(2, b""))
            if dtype is None:
                raise FaceIdError(f"{index}: variable {name} has dtype enum {entry.get(1, 0)} (not a number type)")
            shard, offset, size = entry.get(3, 0), entry.get(4, 0), entry.get(5, 0)
            data_file = f"{prefix}.data-{shard:05d}-of-{num_shards:05d}"
            if data_file not in files:
                if not os.path.isfile(data_file):
                    raise FaceIdError(f"{index}: data file {data_file} not found")
                with open(data_file, "rb") as f:
                    files[data_file] = f.read()
            raw = files[data_file][offset:offset + size]
            if len(raw) != size:
                raise FaceIdError(f"{data_file}: variable {name} lies outside the file")
            count = int(np.prod(shape)) if shape else 1
            if dtype == "bfloat16":
                arr = (np.frombuffer(raw, "<u2").astype(np.uint32) << 16).view(np.float32)
            else:
                arr = np.frombuffer(raw, np.dtype(dtype).newbyteorder("<"))
            if arr.size != count:
                raise FaceIdError(f"{data_file}: variable {name} has {arr.size} values for shape {shape}")
            out[name] = arr.reshape(shape).copy() if shape else arr.reshape(()).copy()
    except (ValueError, struct.error) as exc:
        raise FaceIdError(f"{index}: corrupt entry ({exc})") from None
    return out
