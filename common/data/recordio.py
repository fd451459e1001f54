"""MXNet RecordIO ``train.rec`` + ``train.idx`` (insightface training sets) read and written without MXNet.

Byte layout of one record: uint32 magic ``0xced7230a``, uint32 ``lrecord`` (upper 3 bits ``cflag``, lower 29
bits the part length), the part bytes, zero padding to a multiple of 4. MXNet splits a payload at every 4-byte
aligned occurrence of the magic (cflag 1 = first part, 2 = middle, 3 = last; 0 = whole record) and drops the
magic there; a reader joins the parts with the magic put back. A payload is an IRHeader ``<IfQQ`` (flag, label,
id, id2), then ``flag`` float32 labels when flag > 0, then the image bytes. ``.idx`` lines are ``key<TAB>offset``.

insightface sets: record 0 has flag > 0 and labels ``(first_identity_key, end_identity_key)``; images are keys
``1 .. first_identity_key - 1``; identity record ``k`` has labels ``(a, b)``, the key range of its images.

CLI::

    python -m common.data.recordio to-folder train.rec OUT [--idx train.idx] [--limit N]
    python -m common.data.recordio from-folder DIR out.rec
"""
import os
import struct

import numpy as np

from common.data.images import IMAGE_EXTS

MAGIC = 0xCED7230A
_MAGIC_BYTES = struct.pack("<I", MAGIC)
_LEN_MASK = (1 << 29) - 1
IR_FORMAT = "<IfQQ"
IR_SIZE = struct.calcsize(IR_FORMAT)


def pack(label, image, id=0, id2=0):
    """Payload bytes: IRHeader + optional float32 label vector + image bytes (``label`` a number or a sequence)."""
    if np.ndim(label) == 0:
        return struct.pack(IR_FORMAT, 0, float(label), id, id2) + bytes(image)
    labels = np.asarray(label, dtype="<f4").ravel()
    return struct.pack(IR_FORMAT, labels.size, 0.0, id, id2) + labels.tobytes() + bytes(image)


def unpack(payload, name="record"):
    """Split a payload into ``(flag, labels, id, id2, image_bytes)``; ``labels`` is a float32 array (1 value if flag 0)."""
    if len(payload) < IR_SIZE:
        raise ValueError(f"error: {name}: payload of {len(payload)} bytes is shorter than the {IR_SIZE}-byte IRHeader")
    flag, label, id_, id2 = struct.unpack_from(IR_FORMAT, payload)
    if flag == 0:
        return flag, np.array([label], np.float32), id_, id2, bytes(payload[IR_SIZE:])
    end = IR_SIZE + 4 * flag
    if len(payload) < end:
        raise ValueError(f"error: {name}: IRHeader flag {flag} needs {end} bytes, payload has {len(payload)}")
    labels = np.frombuffer(payload, "<f4", flag, IR_SIZE).astype(np.float32)
    return flag, labels, id_, id2, bytes(payload[end:])


def encode_record(payload):
    """Bytes MXNet writes for one payload (split at aligned magic occurrences, padded to 4 bytes)."""
    payload = bytes(payload)
    if len(payload) > _LEN_MASK:
        raise ValueError(f"a RecordIO record holds at most {_LEN_MASK} bytes, got {len(payload)}")
    out, start, i = [], 0, payload.find(_MAGIC_BYTES)
    while i >= 0:
        if i % 4 == 0:
            out.append(struct.pack("<II", MAGIC, ((1 if start == 0 else 2) << 29) | (i - start)) + payload[start:i])
            start = i + 4
        i = payload.find(_MAGIC_BYTES, i + (4 if i % 4 == 0 else 1))
    tail = payload[start:]
    out.append(struct.pack("<II", MAGIC, ((3 if start else 0) << 29) | len(tail)) + tail)
    out.append(b"\0" * (-len(tail) % 4))
    return b"".join(out)


def read_record(fh, offset, name):
    """Read the (possibly multi-part) record starting at ``offset`` of an open binary file; returns the payload."""
    fh.seek(offset)
    parts, pos = [], offset
    while True:
        head = fh.read(8)
        if len(head) < 8:
            raise ValueError(f"error: {name}: truncated record at offset {pos} (header has {len(head)} of 8 bytes)")
        magic, lrec = struct.unpack("<II", head)
        if magic != MAGIC:
            raise ValueError(f"error: {name}: bad magic 0x{magic:08x} at offset {pos} (expected 0x{MAGIC:08x}; "
                             f"not a RecordIO file, or an .idx from another .rec)")
        cflag, length = lrec >> 29, lrec & _LEN_MASK
        body = fh.read(length + (-length % 4))
        if len(body) < length:
            raise ValueError(f"error: {name}: truncated record at offset {pos} "
                             f"(needs {length} bytes, file has {len(body)} left)")
        parts.append(body[:length])
        pos += 8 + len(body)
        if cflag in (0, 3):
            return _MAGIC_BYTES.join(parts)


def read_idx(idx_path):
    """``{key: offset}`` from an ``.idx`` file (insertion order = file order)."""
    if not os.path.isfile(idx_path):
        raise ValueError(f"error: {idx_path}: no such index file")
    offsets = {}
    with open(idx_path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            fields = line.split()
            if not fields:
                continue
            try:
                key, offset = int(fields[0]), int(fields[1])
                if len(fields) != 2 or offset < 0:
                    raise ValueError
            except (ValueError, IndexError):
                raise ValueError(f"error: {idx_path}:{lineno}: expected 'key<TAB>offset', got {line.strip()!r}")
            offsets[key] = offset
    return offsets


class RecordReader:
    """Random access to an indexed RecordIO file; the file is opened lazily once per process (worker-safe).

    ``keys()`` are the image keys (``1 .. header0`` for insightface sets, else every key of the ``.idx``);
    ``identity_ranges`` is ``[(a, b), ...]`` per identity (image keys ``a .. b-1``) or ``None``.
    """

    def __init__(self, rec_path, idx_path=None):
        self.rec_path = rec_path
        self.idx_path = idx_path or os.path.splitext(rec_path)[0] + ".idx"
        if not os.path.isfile(rec_path):
            raise ValueError(f"error: {rec_path}: no such record file")
        self._offsets = read_idx(self.idx_path)
        self._fh, self._pid = None, None
        self.identity_ranges = None
        self._keys = list(self._offsets)
        if 0 in self._offsets:
            flag, labels, _, _, _ = self.read_header(0)
            if flag >= 2:
                first, end = int(labels[0]), int(labels[1])
                self._keys = [k for k in range(1, first) if k in self._offsets]
                self.identity_ranges = [tuple(int(v) for v in self.read_header(k)[1][:2]) for k in range(first, end)]

    def __len__(self):
        return len(self._keys)

    def keys(self):
        return list(self._keys)

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_fh"], state["_pid"] = None, None
        return state

    def _file(self):
        if self._fh is None or self._pid != os.getpid():
            self._fh, self._pid = open(self.rec_path, "rb"), os.getpid()
        return self._fh

    def read_payload(self, key):
        """The raw payload of record ``key``."""
        if key not in self._offsets:
            raise KeyError(f"error: {self.idx_path}: no record with key {key}")
        return read_record(self._file(), self._offsets[key], self.rec_path)

    def read_header(self, key):
        """``(flag, labels, id, id2, image_bytes)`` of record ``key``."""
        return unpack(self.read_payload(key), f"{self.rec_path} key {key}")

    def read(self, key):
        """``(label, image_bytes)``: the class label (first label value) as int and the encoded image."""
        _, labels, _, _, image = self.read_header(key)
        return int(labels[0]), image

    def labels(self):
        """Class label of every image key, as an int64 array in ``keys()`` order.

        With identity ranges the label is the identity's position (no image is read; -1 for a key in no range);
        otherwise each header is read.
        """
        if self.identity_ranges is not None:
            label_of = np.full(max(max(b for _, b in self.identity_ranges), max(self._keys, default=0) + 1), -1, np.int64)
            for cls, (a, b) in enumerate(self.identity_ranges):
                label_of[a:b] = cls
            return label_of[self._keys]
        return np.array([self.read(k)[0] for k in self._keys], np.int64)

    def __iter__(self):
        """Yields ``(key, label, image_bytes)`` for every image key."""
        for key in self._keys:
            yield (key,) + self.read(key)

    def close(self):
        if self._fh is not None:
            self._fh.close()
            self._fh = None


class RecordWriter:
    """Writes ``.rec`` + ``.idx`` in MXNet's byte layout; use as a context manager."""

    def __init__(self, rec_path, idx_path=None):
        self.rec_path = rec_path
        self.idx_path = idx_path or os.path.splitext(rec_path)[0] + ".idx"
        self._rec = open(rec_path, "wb")
        self._idx = open(self.idx_path, "w", encoding="utf-8")

    def write_payload(self, key, payload):
        """Append one record with key ``key``; returns its offset."""
        offset = self._rec.tell()
        self._rec.write(encode_record(payload))
        self._idx.write(f"{int(key)}\t{offset}\n")
        return offset

    def write(self, key, label, image=b"", id=0, id2=0):
        """Append ``pack(label, image, id, id2)`` under ``key``."""
        return self.write_payload(key, pack(label, image, id, id2))

    def close(self):
        self._rec.close()
        self._idx.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _decodable(data):
    from common.data.images import ImageError, decode_image

    try:
        decode_image(data)   # the one loader: pixel limit on the header first
    except ImageError:
        return False
    return True


def to_folder(rec_path, out_dir, idx_path=None, limit=None):
    """Unpack image records to ``out_dir/<label>/<key>.jpg`` (bytes as stored); returns the counts."""
    from tqdm import tqdm

    reader = RecordReader(rec_path, idx_path)
    keys = reader.keys()[:limit] if limit is not None else reader.keys()
    counts = {"written": 0, "undecodable": 0}
    for key in tqdm(keys, desc="to-folder", unit="img"):
        label, image = reader.read(key)
        if not _decodable(image):
            counts["undecodable"] += 1
            continue
        folder = os.path.join(out_dir, str(label))
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, f"{key}.jpg"), "wb") as fh:
            fh.write(image)
        counts["written"] += 1
    reader.close()
    return counts


def from_folder(src_dir, rec_path, idx_path=None):
    """Pack ``src_dir/<identity>/<image>`` into an insightface-style .rec/.idx; returns the counts.

    Identities in sorted name order get labels 0, 1, ...; images keep their encoded bytes and get keys 1..N;
    identity records follow (keys N+1 .. N+C, labels = image key range) and record 0 (the ranges) comes last.
    Undecodable images are skipped and counted; an identity left without images gets no label.
    """
    from tqdm import tqdm

    if not os.path.isdir(src_dir):
        raise ValueError(f"error: {src_dir}: no such folder")
    identities = sorted(d for d in os.listdir(src_dir) if os.path.isdir(os.path.join(src_dir, d)))
    if not identities:
        raise ValueError(f"error: {src_dir}: no identity sub-folders")
    counts = {"images": 0, "identities": 0, "undecodable": 0}
    ranges, key = [], 1
    with RecordWriter(rec_path, idx_path) as writer:
        for name in tqdm(identities, desc="from-folder", unit="id"):
            folder = os.path.join(src_dir, name)
            first = key
            for fname in sorted(os.listdir(folder)):
                if not fname.lower().endswith(IMAGE_EXTS):
                    continue
                with open(os.path.join(folder, fname), "rb") as fh:
                    image = fh.read()
                if not _decodable(image):
                    counts["undecodable"] += 1
                    continue
                writer.write(key, len(ranges), image, id=key)
                key += 1
            if key > first:
                ranges.append((first, key))
        if not ranges:
            raise ValueError(f"error: {src_dir}: no decodable images with extensions {', '.join(IMAGE_EXTS)}")
        for i, (a, b) in enumerate(ranges):
            writer.write(key + i, (a, b))
        writer.write(0, (key, key + len(ranges)))
    counts["images"], counts["identities"] = key - 1, len(ranges)
    return counts


def main(argv=None):
    import argparse

    parser = argparse.ArgumentParser(prog="python -m common.data.recordio", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("to-folder", help="unpack train.rec to OUT/<label>/<key>.jpg")
    p.add_argument("rec")
    p.add_argument("out")
    p.add_argument("--idx", default=None, help="index file (default: the .rec path with .idx)")
    p.add_argument("--limit", type=int, default=None, help="unpack only the first N images")
    p = sub.add_parser("from-folder", help="pack DIR/<identity>/<image> into out.rec + out.idx")
    p.add_argument("dir")
    p.add_argument("rec")
    p.add_argument("--idx", default=None, help="index file (default: the .rec path with .idx)")
    args = parser.parse_args(argv)
    try:
        if args.command == "to-folder":
            counts = to_folder(args.rec, args.out, args.idx, args.limit)
        else:
            counts = from_folder(args.dir, args.rec, args.idx)
    except (ValueError, KeyError) as exc:
        raise SystemExit(str(exc).strip("'\""))
    print(" ".join(f"{k}={v}" for k, v in counts.items()))
    return counts


if __name__ == "__main__":
    main()
