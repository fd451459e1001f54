"""python -m common.align on a folder with an unreadable file, a photo without a face and a photo with two faces:
the report counts each, the layout is kept, a second run resumes; list files; --all_faces; 2 workers."""
import json
import os
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from common.align import read_photo  # noqa: E402
from common.align.tool import parse_args, run  # noqa: E402
from common.core.errors import FaceIdError  # noqa: E402

PHOTOS = os.path.join(ROOT, "tests", "fixtures", "raw_photos")


@pytest.fixture()
def src(tmp_path):
    s = tmp_path / "src"
    for ident, files in {"obama": ["obama_small.jpg", "two_people.jpg"], "clapton": ["clapton-2.jpg"]}.items():
        (s / ident).mkdir(parents=True)
        for f in files:
            shutil.copyfile(os.path.join(PHOTOS, f), s / ident / f)
    (s / "clapton" / "broken.jpg").write_bytes(b"\xff\xd8 this is no jpeg")
    cv2.imwrite(str(s / "clapton" / "wall.png"), np.full((120, 160, 3), 90, np.uint8))
    (s / "pairs.txt").write_text("1\nobama 1 2\n")
    return s


def main(argv):
    return run(parse_args(argv))


def _report(dst):
    with open(dst / "align_report.json") as f:
        return json.load(f)


def test_folder_counts_layout_and_resume(src, tmp_path):
    dst = tmp_path / "dst"
    r = main([str(src), str(dst), "--template", "arcface112", "--quiet"])
    c = r["counts"]
    assert c == {"images": 5, "skipped_existing": 0, "images_read": 4, "faces_found": 3, "faces_written": 3,
                 "no_face": 1, "several_faces": 1, "unreadable": 1}
    assert _report(dst)["counts"] == c                                  # the JSON on disk says the same
    assert r["no_face"] == [os.path.join("clapton", "wall.png")]
    assert r["unreadable"][0]["file"] == os.path.join("clapton", "broken.jpg")
    assert "broken.jpg" in r["unreadable"][0]["error"]
    several = r["several_faces"][0]
    assert several["file"] == os.path.join("obama", "two_people.jpg") and several["faces"] == 2
    assert "largest" in r["policy"]
    written = sorted(os.path.relpath(os.path.join(d, f), dst) for d, _, fs in os.walk(dst) for f in fs)
    assert written == ["align_report.json", os.path.join("clapton", "clapton-2.jpg"),
                       os.path.join("obama", "obama_small.jpg"), os.path.join("obama", "two_people.jpg"), "pairs.txt"]
    crop = read_photo(str(dst / "obama" / "two_people.jpg"))
    assert crop.shape == (112, 112, 3)
    assert not [f for _, _, fs in os.walk(dst) for f in fs if f.endswith(".tmp")]
    # second run: the three aligned photos are skipped, the two bad ones tried again and reported again
    mtime = os.path.getmtime(dst / "obama" / "obama_small.jpg")
    r2 = main([str(src), str(dst), "--template", "arcface112", "--quiet"])
    assert r2["counts"]["skipped_existing"] == 3 and r2["counts"]["images_read"] == 1
    assert r2["counts"]["unreadable"] == 1 and r2["counts"]["no_face"] == 1
    assert os.path.getmtime(dst / "obama" / "obama_small.jpg") == mtime


def test_all_faces_list_file_and_two_workers(src, tmp_path):
    lst = tmp_path / "train_list.txt"
    lst.write_text("obama/obama_small.jpg 0\nobama/two_people.jpg 0\nclapton/wall.png 1\nclapton/clapton-2.jpg 1\n")
    dst = tmp_path / "out"
    r = main([str(lst), str(dst), "--root", str(src), "--template", "lightcnn144", "--all_faces", "--workers", "2",
              "--quiet"])
    assert r["layout"] == "list" and r["counts"]["faces_written"] == 4 and r["counts"]["no_face"] == 1
    lines = (dst / "train_list.txt").read_text().split("\n")
    assert lines[:4] == ["obama/obama_small_0.jpg 0", "obama/two_people_0.jpg 0", "obama/two_people_1.jpg 0",
                         "clapton/clapton-2_0.jpg 1"]
    left = cv2.imread(str(dst / "obama" / "two_people_0.jpg"), cv2.IMREAD_UNCHANGED)
    assert left.shape == (144, 144)                                    # gray template, one channel
    r2 = main([str(lst), str(dst), "--root", str(src), "--template", "lightcnn144", "--all_faces", "--quiet"])
    assert r2["counts"]["skipped_existing"] == 3
    assert (dst / "train_list.txt").read_text().split("\n")[:4] == lines[:4]


def test_refusals(src, tmp_path):
    with pytest.raises(FaceIdError, match="is the input folder or inside it"):
        main([str(src), str(src / "aligned"), "--template", "arcface112", "--quiet"])
    with pytest.raises(FaceIdError, match="no such folder or list file"):
        main([str(tmp_path / "nothing"), str(tmp_path / "o"), "--template", "arcface112"])
    out = subprocess.run([sys.executable, "-m", "common.align", str(tmp_path / "nothing"), str(tmp_path / "o"),
                          "--template", "arcface112"], cwd=str(tmp_path), capture_output=True, text=True,
                         env=dict(os.environ, PYTHONPATH=ROOT))
    assert out.returncode == 2 and out.stderr.startswith("error: ") and "Traceback" not in out.stderr
