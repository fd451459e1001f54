"""MS-Celeb TSV converter on a small hostile TSV written by the test."""
import base64
import os

import cv2
import numpy as np
import pytest

from common.data import msceleb_tsv


def _b64_jpeg(seed):
    img = np.random.default_rng(seed).integers(0, 255, (6, 6, 3), dtype=np.uint8)
    return base64.b64encode(cv2.imencode(".jpg", img)[1].tobytes()).decode()


def _row(mid, rank, face_id, data):
    return "\t".join([mid, str(rank), "http://img", "http://page", face_id, base64.b64encode(b"rect").decode(), data])


def _files(folder):
    return sorted(os.path.relpath(os.path.join(d, f), folder) for d, _, fs in os.walk(folder) for f in fs)


@pytest.fixture
def tsv(tmp_path):
    rows = [
        _row("m.01", 0, "FaceId-0", _b64_jpeg(0)),
        _row("m.01", 3, "FaceId-1", _b64_jpeg(1)),
        _row("m.02", 1, "FaceId-0", _b64_jpeg(2)),
        _row("../../evil", 0, "FaceId-0", _b64_jpeg(3)),
        _row("/abs", 0, "FaceId-0", _b64_jpeg(4)),
        _row("a/b", 0, "FaceId-0", _b64_jpeg(5)),
        _row("m.03", "..", "FaceId-0", _b64_jpeg(6)),
        _row("m.03", 0, "", _b64_jpeg(7)),
        _row("m.04", 0, "FaceId-0", "!!not base64!!"),
        _row("m.04", 1, "FaceId-0", base64.b64encode(b"valid base64, not a JPEG").decode()),
        "m.05\t0\tonly-three-fields",
    ]
    path = tmp_path / "faces.tsv"
    path.write_text("\n".join(rows) + "\n")
    return path


def test_converts_and_counts_without_escaping(tmp_path, tsv):
    out = tmp_path / "work" / "out"
    counts = msceleb_tsv.convert(str(tsv), str(out))
    assert counts == {"rows": 11, "written": 3, "filtered": 0, "bad_fields": 1, "bad_name": 5, "bad_image": 2}
    assert _files(out) == ["m.01/0-FaceId-0.jpg", "m.01/3-FaceId-1.jpg", "m.02/1-FaceId-0.jpg"]
    assert _files(tmp_path / "work") == [os.path.join("out", f) for f in _files(out)]
    assert not os.path.exists("/abs") and not os.path.exists(tmp_path.parent / "evil")
    assert (out / "m.02" / "1-FaceId-0.jpg").read_bytes() == base64.b64decode(_b64_jpeg(2))


def test_clean_list_and_limit_cli(tmp_path, tsv, capsys):
    clean = tmp_path / "clean.txt"
    clean.write_text("m.01/3-FaceId-1.jpg 0\nm.02\\1-FaceId-0.jpg 1\nm.09/0-FaceId-0.jpg 2\n")
    out = tmp_path / "out"
    counts = msceleb_tsv.main([str(tsv), str(out), "--clean_list", str(clean), "--limit", "3"])
    assert counts == {"rows": 3, "written": 2, "filtered": 1, "bad_fields": 0, "bad_name": 0, "bad_image": 0}
    assert _files(out) == ["m.01/3-FaceId-1.jpg", "m.02/1-FaceId-0.jpg"]
    assert "written=2 filtered=1" in capsys.readouterr().out


def test_symlinked_identity_folder_is_refused(tmp_path, tsv):
    out, outside = tmp_path / "out", tmp_path / "outside"
    out.mkdir()
    outside.mkdir()
    os.symlink(outside, out / "m.01")
    counts = msceleb_tsv.convert(str(tsv), str(out))
    assert counts["written"] == 1 and counts["bad_name"] == 7 and os.listdir(outside) == []


def test_missing_tsv_is_one_line(tmp_path):
    with pytest.raises(SystemExit, match=r"^error: .*missing\.tsv: no such TSV file$"):
        msceleb_tsv.main([str(tmp_path / "missing.tsv"), str(tmp_path / "out")])
