"""The one preprocessing definition per model, shared by train, eval, export and the C++ path.

A model's YAML holds a ``preprocess`` mapping, e.g. LightCNN::

    preprocess: {channels: 1, resize: 144, crop: 128, mean: 0.0, std: 255.0, flip: true}

Eval: decode -> gray/RGB -> resize (shorter side, or exact [H, W]) -> centre crop -> (x - mean) / std -> CHW.
Train: the same with a random crop and a random horizontal flip.
"""
from dataclasses import dataclass, field

import cv2
import numpy as np


class ImageError(ValueError):
    """An image file that cannot be read or decoded."""


def _pair(v):
    if v is None:
        return None
    if isinstance(v, (list, tuple)):
        return int(v[0]), int(v[1])
    return int(v), int(v)


def decode_image(path_or_bytes, channels=3, name=None):
    """Decode to uint8 HxWxC (RGB for 3 channels, gray HxWx1 for 1); ImageError on failure."""
    if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        buf = np.frombuffer(path_or_bytes, np.uint8)
        name = name or "<bytes>"
    else:
        name = name or str(path_or_bytes)
        try:
            buf = np.fromfile(path_or_bytes, np.uint8)
        except OSError as exc:
            raise ImageError(f"{name}: cannot read ({exc.strerror})") from None
    img = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE if channels == 1 else cv2.IMREAD_COLOR) if buf.size else None
    if img is None:
        raise ImageError(f"{name}: not a decodable image")
    if channels == 1:
        return img[:, :, None]
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


@dataclass
class Preprocess:
    channels: int = 3
    resize: object = None          # int: shorter side to this; [H, W]: exact size; None: keep
    crop: object = None            # int or [H, W]: centre (eval) / random (train) crop
    mean: float = 127.5
    std: float = 128.0
    flip: bool = True              # random horizontal flip in training
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_config(cls, d):
        d = dict(d or {})
        known = {k: d.pop(k) for k in ("channels", "resize", "crop", "mean", "std", "flip") if k in d}
        return cls(**known, extra=d)

    @property
    def output_size(self):
        """(C, H, W) of the network input."""
        if self.crop is not None:
            h, w = _pair(self.crop)
        elif isinstance(self.resize, (list, tuple)):
            h, w = _pair(self.resize)
        else:
            raise ValueError("preprocess needs crop or resize [H, W] to fix the input size")
        return self.channels, h, w

    def _resize(self, img):
        if self.resize is None:
            return img
        h, w = img.shape[:2]
        if isinstance(self.resize, (list, tuple)):
            th, tw = _pair(self.resize)
        else:
            s = int(self.resize) / min(h, w)
            th, tw = max(1, round(h * s)), max(1, round(w * s))
        if (th, tw) != (h, w):
            img = cv2.resize(img, (tw, th), interpolation=cv2.INTER_AREA if th < h else cv2.INTER_LINEAR)
            if img.ndim == 2:
                img = img[:, :, None]
        return img

    def _crop(self, img, rng=None):
        if self.crop is None:
            return img
        ch, cw = _pair(self.crop)
        h, w = img.shape[:2]
        if h < ch or w < cw:
            raise ImageError(f"image {h}x{w} is smaller than the crop {ch}x{cw}")
        if rng is None:
            y, x = (h - ch) // 2, (w - cw) // 2
        else:
            y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
        return img[y:y + ch, x:x + cw]

    def _finish(self, img):
        x = (img.astype(np.float32) - np.float32(self.mean)) / np.float32(self.std)
        return np.ascontiguousarray(x.transpose(2, 0, 1))

    def eval_image(self, img):
        """uint8 HxWxC -> float32 CHW, deterministic."""
        return self._finish(self._crop(self._resize(img)))

    def train_image(self, img, rng):
        """uint8 HxWxC -> float32 CHW with random crop and flip from ``rng`` (np.random.Generator)."""
        img = self._crop(self._resize(img), rng)
        if self.flip and rng.random() < 0.5:
            img = img[:, ::-1]
        return self._finish(img)

    def load(self, path_or_bytes, name=None):
        return decode_image(path_or_bytes, self.channels, name)

    def eval_array(self, path_or_bytes):
        """File path (or encoded bytes) -> float32 CHW network input."""
        return self.eval_image(self.load(path_or_bytes))
