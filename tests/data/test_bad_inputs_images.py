"""Hostile images and training sets (issue 24 item 5): one loader for every path with a pixel limit checked on the
header before decoding and a minimum size that is refused and counted (never upscaled); identity folders read
recursively as torchvision's ImageFolder does; sparse list-file labels remapped with a note."""
import os

import cv2
import numpy as np
import pytest

from common.core.errors import FaceIdError
from common.data import images
from common.data.images import ImageError, decode_image
from common.data.transforms import Preprocess


def _big_png(path, side=20000):
    """A 20000 x 20000 gray PNG (400 M pixels) that compresses to a few hundred KB: a decompression bomb."""
    cv2.imwrite(str(path), np.zeros((side, side), np.uint8))
    return str(path)


@pytest.fixture(scope="module")
def bomb(tmp_path_factory):
    return _big_png(tmp_path_factory.mktemp("bomb") / "bomb.png")


def _no_decode(monkeypatch):
    """Make any OpenCV decode in the loader fail the test: the guard must act on the header."""
    def boom(*a, **k):
        raise AssertionError("the image was decoded before the pixel limit was checked")
    monkeypatch.setattr(images.cv2, "imdecode", boom)


def test_pixel_limit_refuses_on_the_header_before_decoding(bomb, tmp_path, monkeypatch):
    _no_decode(monkeypatch)
    with pytest.raises(ImageError) as e:
        decode_image(bomb)
    assert e.value.kind == "too_large" and "bomb.png" in str(e.value) and "pixel limit" in str(e.value)
    with open(bomb, "rb") as f:                                   # encoded bytes (RecordIO, .bin) alike
        with pytest.raises(ImageError, match="pixel limit"):
            decode_image(f.read(), name="rec#7")
    # a 100 M pixel image (under PIL's own hard limit): our limit, from its header, with its size
    mid = tmp_path / "mid.png"
    monkeypatch.undo()
    cv2.imwrite(str(mid), np.zeros((10000, 10000), np.uint8))
    _no_decode(monkeypatch)
    with pytest.raises(ImageError, match=r"10000x10000 image .* over the pixel limit 89,478,485"):
        decode_image(str(mid))


def test_pixel_limit_is_configurable(tmp_path, monkeypatch):
    img = tmp_path / "a.png"
    cv2.imwrite(str(img), np.full((40, 50, 3), 7, np.uint8))
    monkeypatch.setenv("FACEID_MAX_PIXELS", "1999")               # 40 * 50 = 2000 pixels
    with pytest.raises(ImageError, match="2,000 pixels"):
        decode_image(str(img))
    monkeypatch.setenv("FACEID_MAX_PIXELS", "2000")
    assert decode_image(str(img)).shape == (40, 50, 3)
    for ext in (".bmp", ".webp", ".tif"):                         # other formats: PIL's header reader
        other = tmp_path / f"a{ext}"
        cv2.imwrite(str(other), np.full((40, 50, 3), 7, np.uint8))
        monkeypatch.setenv("FACEID_MAX_PIXELS", "1999")
        with monkeypatch.context() as m:
            _no_decode(m)
            with pytest.raises(ImageError, match=f"a\\{ext}: 50x40 image"):
                decode_image(str(other))
        monkeypatch.setenv("FACEID_MAX_PIXELS", "0")              # 0: no limit
        assert decode_image(str(other)).shape == (40, 50, 3)
    monkeypatch.setenv("FACEID_MAX_PIXELS", "lots")
    with pytest.raises(FaceIdError, match="FACEID_MAX_PIXELS='lots'"):
        decode_image(str(img))


def test_align_photo_reader_uses_the_same_limit(tmp_path, monkeypatch):
    from common.align.photo import read_photo

    img = tmp_path / "a.jpg"
    cv2.imwrite(str(img), np.full((40, 50, 3), 7, np.uint8))
    monkeypatch.setenv("FACEID_MAX_PIXELS", "1000")
    with pytest.raises(ImageError) as e:
        read_photo(str(img))
    assert e.value.kind == "too_large" and "a.jpg" in str(e.value)
    monkeypatch.delenv("FACEID_MAX_PIXELS")
    assert read_photo(str(img)).shape == (40, 50, 3)


def test_training_skips_and_counts_the_bomb_and_the_tiny_image(bomb, tmp_path):
    from common.data.dataset import BadImages, ImageSource

    ok = []
    for i in range(3):
        p = tmp_path / f"ok{i}.png"
        cv2.imwrite(str(p), np.full((40, 40), 60 * i, np.uint8))
        ok.append(str(p))
    tiny = tmp_path / "tiny.png"
    cv2.imwrite(str(tiny), np.full((1, 1), 200, np.uint8))
    paths = [ok[0], bomb, str(tiny), ok[1], ok[2]]
    pre = Preprocess(channels=1, resize=36, crop=32, mean=0, std=255, flip=False)
    record = BadImages(quiet=True)
    src = ImageSource(paths, [0, 1, 2, 3, 4], pre, np.arange(5), seed=0, epoch=0, bad=record)
    labels = [int(src[k][1]) for k in range(5)]
    assert sorted(record.files) == sorted([bomb, str(tiny)])
    assert "pixel limit" in record.files[bomb] and "refused, not upscaled" in record.files[str(tiny)]
    assert labels == [0, 3, 3, 3, 4]                              # each bad sample replaced by the next good one


def test_one_pixel_image_in_an_eval_folder_is_counted_not_scored(tmp_path):
    from common.evaluation.targets import lfw_folder
    from tests.evaluation.test_bad_inputs_eval import StubNet, make_lfw

    pairs_path, img_root, pairs = make_lfw(str(tmp_path / "lfw"))
    tiny = os.path.join(img_root, "Person_2", "Person_2_0003.jpg")
    cv2.imwrite(tiny, np.full((1, 1, 3), 128, np.uint8))
    pre = Preprocess(channels=3, resize=[8, 8], crop=None, mean=127.5, std=128.0, flip=False)
    logs = []
    res = lfw_folder(StubNet(), pre, str(tmp_path / "lfw"), batch_size=8, log=logs.append)
    want = sum(1 for a, b, _, _ in pairs if "Person_2/Person_2_0003" in (a, b))   # pairs holding it
    assert want > 0 and res["pairs_dropped"] == want and res["pairs"] == len(pairs) - want
    assert res["unreadable_images"] == [tiny]
    assert any("skipped 1" in m and "refused, not upscaled" in m for m in logs)


def test_minimum_size_follows_the_input_and_the_fraction(monkeypatch):
    pre = Preprocess(channels=1, resize=[112, 112], crop=None, mean=0, std=1, flip=False)
    assert pre.eval_image(np.zeros((28, 28, 1), np.uint8)).shape == (1, 112, 112)   # exactly a quarter: kept
    with pytest.raises(ImageError) as e:
        pre.eval_image(np.zeros((27, 200, 1), np.uint8), name="x.png")
    assert e.value.kind == "too_small" and "x.png: 200x27 image is smaller than the minimum 28x28" in str(e.value)
    monkeypatch.setenv("FACEID_MIN_SIDE_FRACTION", "0")
    assert pre.eval_image(np.zeros((1, 1, 1), np.uint8)).shape == (1, 112, 112)


def test_identity_folders_are_read_recursively_like_imagefolder(tmp_path):
    from common.data.folder import scan_folder

    root = tmp_path / "cfp_aligned"                               # what common.align writes from CFP
    made = {}
    for ident in ("001", "002"):
        for sub, n in (("frontal", 2), ("profile", 1)):
            (root / ident / sub).mkdir(parents=True)
            for k in range(n):
                p = root / ident / sub / f"{k:02d}.jpg"
                cv2.imwrite(str(p), np.full((8, 8, 3), 9, np.uint8))
                made.setdefault(ident, []).append(str(p))
    (root / "002" / "profile" / "notes.txt").write_text("not an image")
    paths, labels, classes = scan_folder(str(root))
    # torchvision.datasets.ImageFolder's rule, written out: classes = sorted subfolders, every image below each
    assert classes == ["001", "002"]
    want = [(p, c) for c, ident in enumerate(classes) for p in sorted(made[ident])]
    assert list(zip(paths, labels)) == want


def test_sparse_list_labels_are_remapped_with_a_note(tmp_path):
    from common.data.folder import read_list

    lst = tmp_path / "list.txt"
    rows = [(f"img/{i}.jpg", lab) for i, lab in enumerate(list(range(10)) + [57, 3])]
    lst.write_text("".join(f"{p} {lab}\n" for p, lab in rows))
    said = []
    paths, labels, classes = read_list(str(lst), log=said.append)
    assert len(classes) == 11 and classes[-1] == "57"             # an 11-class head, not 58
    assert labels == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 3]
    assert [classes[k] for k in labels] == [str(lab) for _, lab in rows]   # each image keeps its identity
    assert len(said) == 1 and "11 distinct labels" in said[0] and "47 unused" in said[0]
    lst.write_text("a.jpg 0\nb.jpg -2\n")
    with pytest.raises(FaceIdError, match="label -2 .* negative"):
        read_list(str(lst))
