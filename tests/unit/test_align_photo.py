"""read_photo: the formats users bring (RGBA PNG, WebP named .jpg, EXIF-rotated JPEG, gray, 16-bit), checked
against pixels computed here, and detection on a rotated photo through its EXIF tag."""
import io
import os
import sys

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from common.align import MTCNN, read_photo  # noqa: E402
from common.core.errors import FaceIdError  # noqa: E402

PHOTOS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures", "raw_photos")


def test_rgba_png_is_composited_over_white(tmp_path):
    rgba = np.zeros((4, 5, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[..., 3] = 0
    rgba[0, 0] = [10, 20, 30, 255]
    rgba[1, 1] = [100, 100, 100, 128]
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    out = read_photo(str(tmp_path / "a.png"))
    assert out.shape == (4, 5, 3) and out.dtype == np.uint8
    assert (out[0, 0] == [10, 20, 30]).all() and (out[2, 2] == 255).all()
    assert np.abs(out[1, 1].astype(int) - round(100 * 128 / 255 + 255 * 127 / 255)).max() <= 1
    real = read_photo(os.path.join(PHOTOS, "alex-lacamoire.png"))            # a real RGBA PNG
    assert real.shape == (394, 424, 3)


def test_webp_named_jpg_and_gray_and_16bit(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (20, 30, 3)).astype(np.uint8)
    Image.fromarray(rgb).save(tmp_path / "photo.jpg", format="WEBP", lossless=True)
    np.testing.assert_array_equal(read_photo(str(tmp_path / "photo.jpg")), rgb)
    gray = rgb[..., 0]
    Image.fromarray(gray, "L").save(tmp_path / "g.png")
    out = read_photo(str(tmp_path / "g.png"))
    assert out.shape == (20, 30, 3) and all((out[..., c] == gray).all() for c in range(3))
    Image.fromarray(gray.astype(np.uint16) * 257).save(tmp_path / "g16.png")
    np.testing.assert_array_equal(read_photo(str(tmp_path / "g16.png"))[..., 0], gray)
    with open(tmp_path / "photo.jpg", "rb") as f:
        np.testing.assert_array_equal(read_photo(f.read()), rgb)              # encoded bytes


def _with_orientation(img, orientation):
    buf = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(img).save(buf, format="JPEG", quality=98, exif=exif.tobytes())
    return buf.getvalue()


def test_exif_rotated_jpeg_is_turned_upright(tmp_path):
    upright = read_photo(os.path.join(PHOTOS, "obama_small.jpg"))           # 240x320
    stored = np.ascontiguousarray(np.rot90(upright, k=1))                     # as a camera held sideways stores it
    data = _with_orientation(stored, 6)                                       # 6: rotate 90 CW to view
    (tmp_path / "side.jpg").write_bytes(data)
    out = read_photo(str(tmp_path / "side.jpg"))
    assert out.shape == upright.shape
    assert np.abs(out.astype(int) - upright.astype(int)).mean() < 3          # JPEG re-encoding noise only
    a, b = MTCNN().detect(upright), MTCNN().detect(out)
    assert len(a) == len(b) == 1
    assert np.abs(a[0].landmarks - b[0].landmarks).max() < 3


def test_unreadable_files_name_the_file(tmp_path):
    (tmp_path / "bad.jpg").write_bytes(b"not an image at all")
    with pytest.raises(FaceIdError, match=r"bad\.jpg: not a decodable image"):
        read_photo(str(tmp_path / "bad.jpg"))
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(FaceIdError, match=r"empty\.png"):
        read_photo(str(tmp_path / "empty.png"))
    full = (tmp_path / "cut.jpg")
    full.write_bytes(open(os.path.join(PHOTOS, "obama_small.jpg"), "rb").read()[:200])
    with pytest.raises(FaceIdError, match=r"cut\.jpg"):
        read_photo(str(full))
    with pytest.raises(FaceIdError, match="missing.jpg: no such file"):
        read_photo(str(tmp_path / "missing.jpg"))
