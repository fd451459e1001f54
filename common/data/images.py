"""Images on disk: the one list of image file extensions every path reads (training folders, eval folders and
LFW layouts, list files, align, identify, the C++ pre-step) and the one decoder (OpenCV).

    is_image("a/b.JPG")                      # True
    decode_image(path_or_bytes, channels=3)  # uint8 HxWxC RGB; ImageError naming the file on failure
"""
import cv2
import numpy as np

from common.core.errors import FaceIdError

# Extensions OpenCV decodes, preferred first (an LFW folder holding name_0001.jpg and name_0001.png reads the .jpg).
IMAGE_EXTS = (".jpg", ".jpeg", ".jpe", ".png", ".bmp", ".webp", ".tif", ".tiff")


def is_image(name):
    """True when file ``name`` has one of :data:`IMAGE_EXTS` (any case)."""
    return name.lower().endswith(IMAGE_EXTS)


class ImageError(FaceIdError, ValueError):
    """An image that cannot be used: ``kind`` is ``unreadable`` (cannot be read or decoded) or ``size``."""

    def __init__(self, message, kind="unreadable"):
        super().__init__(message)
        self.kind = kind


def decode_image(path_or_bytes, channels=3, name=None, color="rgb"):
    """Decode to uint8 HxWxC (RGB, or BGR with ``color='bgr'``, for 3 channels; gray HxWx1 for 1);
    ImageError (kind ``unreadable``) naming the file on failure."""
    if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        buf = np.frombuffer(path_or_bytes, np.uint8)
        name = name or "<bytes>"
    else:
        name = name or str(path_or_bytes)
        try:
            buf = np.fromfile(path_or_bytes, np.uint8)
        except OSError as exc:
            raise ImageError(f"{name}: cannot read ({exc.strerror or exc})") from None
    img = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE if channels == 1 else cv2.IMREAD_COLOR) if buf.size else None
    if img is None:
        raise ImageError(f"{name}: not a decodable image" + ("" if buf.size else " (empty file)"))
    if channels == 1:
        return img[:, :, None]
    return img if color == "bgr" else cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
