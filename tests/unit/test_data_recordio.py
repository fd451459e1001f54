"""RecordIO reader/writer against a .rec/.idx laid out byte by byte in this test with struct."""
import os
import pickle
import struct

import cv2
import numpy as np
import pytest

from common.data import recordio

MAGIC = 0xCED7230A


def _jpeg(seed):
    img = np.random.default_rng(seed).integers(0, 255, (8, 8, 3), dtype=np.uint8)
    return cv2.imencode(".jpg", img)[1].tobytes()


def _header(flag, label, id_, id2=0):
    return struct.pack("<IfQQ", flag, label, id_, id2)


def _part(cflag, data):
    return struct.pack("<II", MAGIC, (cflag << 29) | len(data)) + data + b"\0" * (-len(data) % 4)


def _build(path):
    """insightface layout: 2 identities (images 1-2, 3-5), identity keys 6-7, record 0; key 4 holds the magic."""
    images = {k: _jpeg(k) for k in (1, 2, 3, 5)}
    images[4] = b"abcd" + struct.pack("<I", MAGIC) + b"xyz"  # aligned magic at payload offset 28 -> two parts
    labels = {1: 0, 2: 0, 3: 1, 4: 1, 5: 1}
    blobs = [(0, _part(0, _header(2, 0.0, 0) + struct.pack("<2f", 6, 8)))]
    for k in range(1, 6):
        if k == 4:
            blobs.append((k, _part(1, _header(0, 1.0, 4) + b"abcd") + _part(3, b"xyz")))
        else:
            blobs.append((k, _part(0, _header(0, float(labels[k]), k) + images[k])))
    blobs.append((6, _part(0, _header(2, 0.0, 0) + struct.pack("<2f", 1, 3))))
    blobs.append((7, _part(0, _header(2, 0.0, 0) + struct.pack("<2f", 3, 6))))
    offsets, pos = {}, 0
    with open(path + ".rec", "wb") as fh:
        for key, blob in blobs:
            offsets[key] = pos
            fh.write(blob)
            pos += len(blob)
    with open(path + ".idx", "w") as fh:
        fh.writelines(f"{k}\t{o}\n" for k, o in offsets.items())
    return images, labels, offsets


def test_reads_hand_built_file(tmp_path):
    base = str(tmp_path / "train")
    images, labels, _ = _build(base)
    reader = recordio.RecordReader(base + ".rec")
    assert reader.keys() == [1, 2, 3, 4, 5] and len(reader) == 5
    assert reader.identity_ranges == [(1, 3), (3, 6)]
    for k in range(1, 6):
        assert reader.read(k) == (labels[k], images[k])
    assert reader.labels().tolist() == [0, 0, 1, 1, 1]
    flag, lab, id_, _, _ = reader.read_header(7)
    assert flag == 2 and lab.tolist() == [3.0, 6.0] and id_ == 0
    assert [row[0] for row in reader] == [1, 2, 3, 4, 5]
    clone = pickle.loads(pickle.dumps(reader))  # what a worker process receives
    assert clone.read(5) == (1, images[5])


def test_writer_is_byte_identical(tmp_path):
    base = str(tmp_path / "ref")
    images, labels, _ = _build(base)
    out = str(tmp_path / "mine")
    with recordio.RecordWriter(out + ".rec") as w:
        w.write(0, (6, 8))
        for k in range(1, 6):
            w.write(k, labels[k], images[k], id=k)
        w.write(6, (1, 3))
        w.write(7, (3, 6))
    for ext in (".rec", ".idx"):
        assert open(out + ext, "rb").read() == open(base + ext, "rb").read()


def test_split_parts_at_aligned_magic_only(tmp_path):
    m = struct.pack("<I", MAGIC)
    payload = m + b"wxyz" + m + b"q" + m + b"rs"  # aligned at 0 and 8, unaligned at 13
    expected = _part(1, b"") + _part(2, b"wxyz") + _part(3, b"q" + m + b"rs")
    assert recordio.encode_record(payload) == expected
    path = tmp_path / "parts.rec"
    path.write_bytes(b"\0" * 4 + expected)
    with open(path, "rb") as fh:
        assert recordio.read_record(fh, 4, str(path)) == payload


def test_plain_file_without_header0(tmp_path):
    rec = str(tmp_path / "plain.rec")
    with recordio.RecordWriter(rec) as w:
        w.write(10, 7, b"x" * 5)
        w.write(11, [3.0, 9.0], b"yy")
    reader = recordio.RecordReader(rec)
    assert reader.keys() == [10, 11] and reader.identity_ranges is None
    assert reader.read(11) == (3, b"yy") and reader.labels().tolist() == [7, 3]


def test_corrupt_magic_names_file_and_offset(tmp_path):
    base = str(tmp_path / "train")
    _, _, offsets = _build(base)
    data = bytearray(open(base + ".rec", "rb").read())
    data[offsets[2]] ^= 0xFF
    open(base + ".rec", "wb").write(bytes(data))
    reader = recordio.RecordReader(base + ".rec")
    with pytest.raises(ValueError, match=rf"train\.rec: bad magic .* at offset {offsets[2]} "):
        reader.read(2)


def test_truncated_record(tmp_path):
    base = str(tmp_path / "train")
    _, _, offsets = _build(base)
    reader = recordio.RecordReader(base + ".rec")  # reads header0 and identity records before the cut
    data = open(base + ".rec", "rb").read()
    open(base + ".rec", "wb").write(data[:offsets[3] + 20])
    with pytest.raises(ValueError, match=rf"train\.rec: truncated record at offset {offsets[3]} "):
        reader.read(3)
    with pytest.raises(ValueError, match=rf"train\.rec: truncated record at offset {offsets[6]} "):
        recordio.RecordReader(base + ".rec")


def test_bad_idx_line(tmp_path):
    base = str(tmp_path / "train")
    _build(base)
    with open(base + ".idx", "a") as fh:
        fh.write("9 oops\n")
    with pytest.raises(ValueError, match=r"train\.idx:9: expected"):
        recordio.RecordReader(base + ".rec")


def test_folder_round_trip_cli(tmp_path, capsys):
    src = tmp_path / "faces"
    for name, n in (("bob", 2), ("alice", 3), ("empty", 0)):
        (src / name).mkdir(parents=True)
        for i in range(n):
            (src / name / f"{i}.jpg").write_bytes(_jpeg(10 * len(name) + i))
    (src / "bob" / "broken.jpg").write_bytes(b"not an image")
    rec = str(tmp_path / "packed.rec")
    counts = recordio.main(["from-folder", str(src), rec])
    assert counts == {"images": 5, "identities": 2, "undecodable": 1}
    reader = recordio.RecordReader(rec)
    assert reader.identity_ranges == [(1, 4), (4, 6)]  # alice (3 images) then bob (2), sorted by name
    assert reader.read(4) == (1, (src / "bob" / "0.jpg").read_bytes())
    out = tmp_path / "unpacked"
    counts = recordio.main(["to-folder", rec, str(out), "--limit", "4"])
    assert counts == {"written": 4, "undecodable": 0}
    assert sorted(os.listdir(out / "0")) == ["1.jpg", "2.jpg", "3.jpg"] and os.listdir(out / "1") == ["4.jpg"]
    assert (out / "0" / "2.jpg").read_bytes() == (src / "alice" / "1.jpg").read_bytes()
    assert "written=4 undecodable=0" in capsys.readouterr().out


def test_cli_missing_file_is_one_line(tmp_path):
    with pytest.raises(SystemExit, match=r"^error: .*nope\.rec: no such record file$"):
        recordio.main(["to-folder", str(tmp_path / "nope.rec"), str(tmp_path / "out")])
