"""Offline triplet CSV: valid, deterministic triplets from identity folders; loader errors name the file."""
import os
import re

import pytest

from facenet.src import triplets_csv as tc


@pytest.fixture()
def faces(tmp_path):
    """4 identities: a (3 images), b (2), c (1), d (0 -> ignored); plus a stray file and a non-image."""
    counts = {"a": 3, "b": 2, "c": 1, "d": 0}
    for name, n in counts.items():
        (tmp_path / name).mkdir()
        for i in range(n):
            (tmp_path / name / f"{i}.jpg").write_bytes(b"x")
    (tmp_path / "a" / "notes.txt").write_text("not an image")
    (tmp_path / "stray.jpg").write_bytes(b"x")
    return tmp_path


def test_list_identities(faces):
    assert tc.list_identities(str(faces)) == {"a": ["a/0.jpg", "a/1.jpg", "a/2.jpg"], "b": ["b/0.jpg", "b/1.jpg"],
                                              "c": ["c/0.jpg"]}


def test_triplets_are_valid_deterministic_and_cover_choices(faces):
    ids = tc.list_identities(str(faces))
    trips = tc.make_triplets(ids, 300, seed=4)
    assert trips == tc.make_triplets(ids, 300, seed=4)
    assert trips != tc.make_triplets(ids, 300, seed=5)
    for a, p, n in trips:
        assert a != p and a.split("/")[0] == p.split("/")[0] != n.split("/")[0]
        assert a.split("/")[0] in ("a", "b")  # "c" has one image, cannot anchor
    assert {n.split("/")[0] for _, _, n in trips} == {"a", "b", "c"}
    assert len({t for t in trips}) > 10


def test_cli_round_trip(faces, tmp_path):
    out = tmp_path / "t.csv"
    tc.main(["--root", str(faces), "--out", str(out), "--num", "20", "--seed", "1"])
    assert out.read_text().splitlines()[0] == "anchor,positive,negative"
    rows = tc.read_triplets(str(out), root=str(faces))
    assert rows == tc.make_triplets(tc.list_identities(str(faces)), 20, seed=1)


def test_too_few_identities_is_a_clear_error(tmp_path):
    (tmp_path / "only").mkdir()
    for i in range(2):
        (tmp_path / "only" / f"{i}.png").write_bytes(b"x")
    with pytest.raises(SystemExit, match=re.escape(f"error: {tmp_path}: need at least one identity")):
        tc.main(["--root", str(tmp_path), "--out", str(tmp_path / "t.csv")])
    with pytest.raises(SystemExit, match="not a directory"):
        tc.main(["--root", str(tmp_path / "missing"), "--out", str(tmp_path / "t.csv")])


@pytest.mark.parametrize("text,message", [
    ("a,b,c\nx,y,z\n", "line 1: expected header"),
    ("anchor,positive,negative\na/0.jpg,a/1.jpg\n", "line 2: expected 3 non-empty paths"),
    ("anchor,positive,negative\na/0.jpg,a/1.jpg,b/0.jpg\na/0.jpg,a/9.jpg,b/0.jpg\n", "line 3: image not found"),
])
def test_loader_errors_name_file_and_line(faces, tmp_path, text, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=re.escape(f"error: {path}: {message}")):
        tc.read_triplets(str(path), root=str(faces))


def test_missing_csv(tmp_path):
    with pytest.raises(ValueError, match="triplets CSV not found"):
        tc.read_triplets(os.path.join(str(tmp_path), "none.csv"))
