"""Decode any photo a user brings to RGB uint8: the format is read from the content, not the name.

JPEG / PNG / WebP / BMP / TIFF / GIF (first frame), EXIF orientation applied (phone photos), transparency
composited over white (RGBA / LA / palette PNGs), gray, 16-bit and CMYK converted. The pixel limit is the one of
every other path (:func:`common.data.images.check_pixels`), checked on the header before the pixels are read.
"""
import io
import os
import warnings

import numpy as np

from common.core.errors import FaceIdError
from common.data.images import ImageError, check_pixels, max_pixels


def read_photo(path_or_bytes, name=None):
    """File path (or encoded bytes) -> RGB uint8 HxWx3; ImageError (a FaceIdError) naming the file when it cannot be
    decoded (kind ``unreadable``) or is over the pixel limit (kind ``too_large``)."""
    from PIL import Image, ImageOps

    if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        name = name or "<bytes>"
        src = io.BytesIO(bytes(path_or_bytes))
    else:
        name = name or str(path_or_bytes)
        if not os.path.isfile(path_or_bytes):
            raise ImageError(f"{name}: no such file")
        src = path_or_bytes
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")       # e.g. 'Corrupt EXIF data', palette transparency notes
            with Image.open(src) as im:
                check_pixels(im.size[0], im.size[1], name)   # the header only, before any pixel is decoded
                im.load()
                try:
                    im = ImageOps.exif_transpose(im)
                except Exception:  # noqa: BLE001 - a broken EXIF block must not lose the photo
                    pass
                return _to_rgb(im)
    except FaceIdError:
        raise
    except Image.DecompressionBombError:   # past PIL's own hard limit (2x 89 M pixels): ours says it
        if max_pixels():
            raise ImageError(f"{name}: over the pixel limit {max_pixels():,} (a decompression-bomb guard; raise "
                             f"FACEID_MAX_PIXELS to read it)", kind="too_large") from None
        raise ImageError(f"{name}: over PIL's hard pixel limit {2 * Image.MAX_IMAGE_PIXELS:,}", kind="too_large") \
            from None
    except (OSError, ValueError, SyntaxError) as exc:
        why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "cannot identify image file" in why:
            why = "unknown or corrupt image format"
        raise ImageError(f"{name}: not a decodable image ({why})") from None


def _to_rgb(im):
    from PIL import Image

    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        a = np.asarray(im, np.float64)
        top = 65535.0 if a.max() > 255 else 255.0
        return np.repeat(np.clip(a / top * 255.0 + 0.5, 0, 255).astype(np.uint8)[:, :, None], 3, axis=2)
    if im.mode == "F":
        a = np.asarray(im, np.float64)
        a = (a - a.min()) / max(a.max() - a.min(), 1e-12) * 255.0
        return np.repeat(a.astype(np.uint8)[:, :, None], 3, axis=2)
    if im.mode == "P" or im.mode == "PA":
        im = im.convert("RGBA")
    if im.mode in ("RGBA", "LA", "RGBa", "La"):
        im = im.convert("RGBA")
        white = Image.new("RGBA", im.size, (255, 255, 255, 255))
        im = Image.alpha_composite(white, im)
    if im.mode != "RGB":
        im = im.convert("RGB")
    return np.ascontiguousarray(np.asarray(im, np.uint8))
