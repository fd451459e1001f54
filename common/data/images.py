"""Images on disk: the one list of image file extensions every path reads (training folders, eval folders and
LFW layouts, list files, align, identify, the C++ pre-step), the one decoder (OpenCV) and the size guards.

    is_image("a/b.JPG")                      # True
    decode_image(path_or_bytes, channels=3)  # uint8 HxWxC RGB; ImageError naming the file on failure
    check_pixels(w, h, name)                 # the decompression-bomb guard (ImageError kind ``too_large``)
    check_min_size(img, (H, W), name)        # the minimum face size (ImageError kind ``too_small``)

Size guards, the same in every path (train, eval, align, compare/identify, the C++ pre-step):

* pixel limit: an image whose header announces more than ``max_pixels()`` pixels (env ``FACEID_MAX_PIXELS``,
  default 89,478,485 = PIL's limit; 0 = no limit) is refused before it is decoded, naming the file;
* minimum size: an image smaller than a quarter of the network input per side (env ``FACEID_MIN_SIDE_FRACTION``,
  default 0.25; 0 = off) is refused, not upscaled. Eval skips, counts and names such images like unreadable
  ones (their pairs are dropped); training skips and counts them with a warning.
"""
import io
import math
import os
import re

import cv2
import numpy as np

from common.core.errors import FaceIdError

# Extensions OpenCV decodes, preferred first (an LFW folder holding name_0001.jpg and name_0001.png reads the .jpg).
IMAGE_EXTS = (".jpg", ".jpeg", ".jpe", ".png", ".bmp", ".webp", ".tif", ".tiff")

# ImageError kinds every eval path skips and counts (the pairs holding them are dropped): the rest stop the run
SKIPPED_KINDS = ("unreadable", "no_face", "too_large", "too_small")

DEFAULT_MAX_PIXELS = 89_478_485        # PIL's Image.MAX_IMAGE_PIXELS (a 9459 x 9459 image)
DEFAULT_MIN_SIDE_FRACTION = 0.25       # of the network input, per side


def is_image(name):
    """True when file ``name`` has one of :data:`IMAGE_EXTS` (any case)."""
    return name.lower().endswith(IMAGE_EXTS)


class ImageError(FaceIdError, ValueError):
    """An image that cannot be used: ``kind`` is ``unreadable`` (cannot be read or decoded), ``size`` (smaller
    than a crop without resize), ``too_large`` (over the pixel limit) or ``too_small`` (under the minimum size)."""

    def __init__(self, message, kind="unreadable"):
        super().__init__(message)
        self.kind = kind


def _env_number(key, default, cast):
    raw = os.environ.get(key)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = cast(raw)
    except ValueError:
        raise FaceIdError(f"{key}={raw!r}: expected a number >= 0") from None
    if not math.isfinite(value) or value < 0:
        raise FaceIdError(f"{key}={raw!r}: expected a number >= 0")
    return value


def max_pixels():
    """The pixel limit (env ``FACEID_MAX_PIXELS``; 0 = no limit)."""
    return _env_number("FACEID_MAX_PIXELS", DEFAULT_MAX_PIXELS, lambda s: int(float(s)))


def min_side_fraction():
    """The minimum image side as a fraction of the network input side (env ``FACEID_MIN_SIDE_FRACTION``)."""
    return _env_number("FACEID_MIN_SIDE_FRACTION", DEFAULT_MIN_SIDE_FRACTION, float)


def check_pixels(width, height, name, limit=None):
    """ImageError (kind ``too_large``) when ``width x height`` is over the pixel limit."""
    limit = max_pixels() if limit is None else limit
    if limit and int(width) * int(height) > limit:
        raise ImageError(f"{name}: {width}x{height} image ({int(width) * int(height):,} pixels) is over the pixel "
                         f"limit {limit:,} (a decompression-bomb guard; raise FACEID_MAX_PIXELS to read it)",
                         kind="too_large")


def header_size(src, name="image"):
    """(width, height) from the image header only (PIL reads no pixel data), or None when PIL cannot tell.
    An image past PIL's own hard limit (2x its MAX_IMAGE_PIXELS) is ImageError kind ``too_large`` here."""
    import warnings

    from PIL import Image

    if isinstance(src, (bytes, bytearray, memoryview)):
        src = io.BytesIO(bytes(src))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")     # DecompressionBombWarning: our limit decides
            with Image.open(src) as im:
                return im.size
    except Image.DecompressionBombError as exc:
        limit = max_pixels()
        if limit and limit <= 2 * (Image.MAX_IMAGE_PIXELS or 0):
            got = re.search(r"\((\d+) pixels\)", str(exc))
            what = f"image of {int(got.group(1)):,} pixels" if got else "image"
            raise ImageError(f"{name}: {what} is over the pixel limit {limit:,} (a decompression-bomb guard; raise "
                             f"FACEID_MAX_PIXELS to read it)", kind="too_large") from None
        return None
    except Exception:  # noqa: BLE001 - not an image PIL knows: OpenCV decides (its size is checked after)
        return None


_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def fast_size(buf):
    """(width, height) read straight from a PNG IHDR or a JPEG SOF header in ``buf`` (bytes-like), no copy and no
    decoding; None for other formats or a header it cannot follow (then :func:`header_size` asks PIL)."""
    b = memoryview(buf).cast("B") if not isinstance(buf, (bytes, bytearray)) else buf
    n = len(b)
    if n >= 24 and bytes(b[:8]) == b"\x89PNG\r\n\x1a\n" and bytes(b[12:16]) == b"IHDR":
        return int.from_bytes(b[16:20], "big"), int.from_bytes(b[20:24], "big")
    if n < 4 or b[0] != 0xFF or b[1] != 0xD8:
        return None
    i = 2
    while i + 3 < n:
        if b[i] != 0xFF:
            return None
        marker = b[i + 1]
        if marker == 0xFF:                      # fill byte
            i += 1
            continue
        if marker in (0x01, 0xD8) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        length = (b[i + 2] << 8) | b[i + 3]
        if marker in _SOF:
            if i + 9 > n:
                return None
            return (b[i + 7] << 8) | b[i + 8], (b[i + 5] << 8) | b[i + 6]
        if length < 2 or marker in (0xD9, 0xDA):  # end of image / scan data before any frame header
            return None
        i += 2 + length
    return None


def check_header(src, name, buf=None):
    """The pixel limit on the header of a file or encoded bytes (``buf``: its bytes already read), before any
    decoding: PNG / JPEG headers are read directly, other formats through PIL's header reader."""
    limit = max_pixels()
    if not limit:
        return
    size = fast_size(buf if buf is not None else src) if buf is not None or isinstance(
        src, (bytes, bytearray, memoryview)) else None
    if size is None:
        size = header_size(src, name)
    if size is not None:
        check_pixels(size[0], size[1], name, limit)


def min_size(input_hw):
    """(min H, min W) an image must have for a network input of ``input_hw`` (None: no minimum)."""
    frac = min_side_fraction()
    if not frac or input_hw is None:
        return None
    return tuple(max(1, math.ceil(frac * int(s))) for s in input_hw)


def check_min_size(img, input_hw, name):
    """ImageError (kind ``too_small``) when ``img`` is smaller than :func:`min_size` of the input: refused, not
    upscaled (a 1x1 image in an eval folder would otherwise be scored)."""
    need = min_size(input_hw)
    if need is None:
        return img
    h, w = img.shape[:2]
    if h < need[0] or w < need[1]:
        raise ImageError(f"{name}: {w}x{h} image is smaller than the minimum {need[1]}x{need[0]} (a quarter of the "
                         f"{int(input_hw[1])}x{int(input_hw[0])} network input per side); refused, not upscaled "
                         f"(FACEID_MIN_SIDE_FRACTION sets the fraction)", kind="too_small")
    return img


def decode_image(path_or_bytes, channels=3, name=None, color="rgb"):
    """Decode to uint8 HxWxC (RGB, or BGR with ``color='bgr'``, for 3 channels; gray HxWx1 for 1);
    ImageError naming the file on failure (kind ``unreadable``) or over the pixel limit (kind ``too_large``,
    checked on the header before decoding)."""
    if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        buf = np.frombuffer(path_or_bytes, np.uint8)
        name = name or "<bytes>"
    else:
        name = name or str(path_or_bytes)
        try:
            buf = np.fromfile(path_or_bytes, np.uint8)
        except OSError as exc:
            raise ImageError(f"{name}: cannot read ({exc.strerror or exc})") from None
    if buf.size:
        check_header(path_or_bytes, name, buf)   # the header only, before any decoding
    img = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE if channels == 1 else cv2.IMREAD_COLOR) if buf.size else None
    if img is None:
        raise ImageError(f"{name}: not a decodable image" + ("" if buf.size else " (empty file)"))
    check_pixels(img.shape[1], img.shape[0], name)   # formats PIL cannot read: the size OpenCV decoded
    if channels == 1:
        return img[:, :, None]
    return img if color == "bgr" else cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
