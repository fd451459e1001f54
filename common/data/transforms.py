"""The one preprocessing definition per model, shared by train, eval, export and the C++ path.

A model's YAML holds a ``preprocess`` mapping, e.g. LightCNN::

    preprocess: {channels: 1, resize: 144, crop: 128, mean: 0.0, std: 255.0, flip: true}

Eval: decode -> gray/RGB (or BGR) -> resize (shorter side, or exact [H, W]) -> centre crop -> (x - mean) / std
-> CHW. Train: the same with a random crop and a random horizontal flip.

Keys (any other key is refused, one line naming it):

* ``channels`` 1 (gray) or 3; ``color`` ``rgb`` (default) or ``bgr``: channel order of 3-channel input;
* ``resize``: null (keep), an int (shorter side to this, aspect kept) or [H, W] (exactly this size; an image of
  another aspect ratio is first centre-cropped to H:W, never squashed: a 112x112 ArcFace-aligned crop given to a
  112x96 recipe is its columns 8..104, which is the SphereFace 112x96 template, the ArcFace one shifted by 8 px);
* ``crop``: null, an int or [H, W]: centre crop (eval), random crop (train); without ``resize`` an image
  smaller than the crop is refused naming the file;
* ``mean``, ``std``: ``(x - mean) / std`` on 0..255 pixels, a number or one per channel (in the ``color`` order,
  e.g. ImageNet's ``mean: [123.675, 116.28, 103.53], std: [58.395, 57.12, 57.375]``); ``flip``: random
  horizontal flip in training;
* ``interp``: resize interpolation ``auto`` (default: area when shrinking, linear when enlarging), ``linear``,
  ``area``, ``cubic`` or ``nearest``.
"""
from dataclasses import dataclass

import cv2
import numpy as np

from common.core.errors import FaceIdError
from common.data.images import ImageError, check_min_size, decode_image

KEYS = ("channels", "color", "resize", "crop", "mean", "std", "flip", "interp")
INTERP = {"linear": cv2.INTER_LINEAR, "area": cv2.INTER_AREA, "cubic": cv2.INTER_CUBIC,
          "nearest": cv2.INTER_NEAREST}


class PreprocessError(FaceIdError, ValueError):
    """A bad ``preprocess`` mapping (unknown key, impossible value); one line naming the key."""


def _pair(v):
    if v is None:
        return None
    if isinstance(v, (list, tuple)):
        return int(v[0]), int(v[1])
    return int(v), int(v)


def _number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def aspect_crop(img, th, tw):
    """The centred window of ``img`` with the aspect ratio th:tw (the whole image when it has it already).

    A resize to an exact [th, tw] takes this window first, so the face keeps its shape: a 112x112 image for
    112x96 is ``img[:, 8:104]``; a wider image loses columns equally left and right, a taller one rows."""
    h, w = img.shape[:2]
    if w * th > h * tw:      # wider than th:tw
        cw = max(1, min(w, round(h * tw / th)))
        x = (w - cw) // 2
        return img[:, x:x + cw]
    if w * th < h * tw:      # taller
        ch = max(1, min(h, round(w * th / tw)))
        y = (h - ch) // 2
        return img[y:y + ch]
    return img


def _size_ok(v, exact_pair=True):
    if v is None:
        return True
    if isinstance(v, bool):
        return False
    if isinstance(v, (list, tuple)):
        return exact_pair and len(v) == 2 and all(isinstance(x, int) and not isinstance(x, bool) and x > 0 for x in v)
    return isinstance(v, int) and v > 0


@dataclass
class Preprocess:
    channels: int = 3
    resize: object = None          # int: shorter side to this; [H, W]: centre crop to H:W, then exact size
    crop: object = None            # int or [H, W]: centre (eval) / random (train) crop
    mean: object = 127.5           # a number, or one per channel
    std: object = 128.0
    flip: bool = True              # random horizontal flip in training
    color: str = "rgb"             # channel order of 3-channel input: rgb | bgr
    interp: str = "auto"           # resize interpolation: auto | linear | area | cubic | nearest

    def __post_init__(self):
        self.validate()

    @classmethod
    def from_config(cls, d, source="preprocess"):
        """From a YAML mapping; unknown (e.g. misspelled) keys and bad values are one line naming them."""
        if d is None:
            d = {}
        if not isinstance(d, dict):
            raise PreprocessError(f"{source}: expected a mapping {{channels, resize, crop, mean, std, flip}}, "
                              f"got {d!r}")
        unknown = [k for k in d if k not in KEYS]
        if unknown:
            raise PreprocessError(f"{source}: unknown key {unknown[0]!r} (known: {', '.join(KEYS)})")
        try:
            return cls(**dict(d))
        except PreprocessError as exc:
            raise PreprocessError(f"{source}: {exc}") from None

    def validate(self):
        """Refuse values no image could be prepared with (one line naming the key)."""
        if self.channels not in (1, 3) or isinstance(self.channels, bool):
            raise PreprocessError(f"channels must be 1 or 3, got {self.channels!r}")
        if self.color not in ("rgb", "bgr"):
            raise PreprocessError(f"color must be rgb or bgr, got {self.color!r}")
        if self.interp != "auto" and self.interp not in INTERP:
            raise PreprocessError(f"interp must be auto, {', '.join(INTERP)}; got {self.interp!r}")
        for key in ("resize", "crop"):
            if not _size_ok(getattr(self, key)):
                raise PreprocessError(f"{key} must be null, a positive int or [H, W], got {getattr(self, key)!r}")
        for key in ("mean", "std"):
            v = getattr(self, key)
            if isinstance(v, (list, tuple)):
                if len(v) != self.channels or not all(_number(x) for x in v):
                    raise PreprocessError(f"{key} must be a number or {self.channels} numbers (one per channel), "
                                          f"got {v!r}")
            elif not _number(v):
                raise PreprocessError(f"{key} must be a number, got {v!r}")
        if any(x == 0 for x in (self.std if isinstance(self.std, (list, tuple)) else [self.std])):
            raise PreprocessError("std must not be 0")
        if not isinstance(self.flip, bool):
            raise PreprocessError(f"flip must be true or false, got {self.flip!r}")
        if self.crop is not None and self.resize is not None:
            ch, cw = _pair(self.crop)
            if isinstance(self.resize, (list, tuple)):
                rh, rw = _pair(self.resize)
                if ch > rh or cw > rw:
                    raise PreprocessError(f"crop {[ch, cw]} is larger than resize {[rh, rw]}")
            elif max(ch, cw) > int(self.resize):
                raise PreprocessError(f"crop {[ch, cw]} is larger than resize {self.resize} (the shorter side)")

    @property
    def output_size(self):
        """(C, H, W) of the network input."""
        if self.crop is not None:
            h, w = _pair(self.crop)
        elif isinstance(self.resize, (list, tuple)):
            h, w = _pair(self.resize)
        else:
            raise PreprocessError("preprocess needs crop or resize [H, W] to fix the input size")
        return self.channels, h, w

    def _resize(self, img):
        if self.resize is None:
            return img
        h, w = img.shape[:2]
        if isinstance(self.resize, (list, tuple)):
            th, tw = _pair(self.resize)
            img = aspect_crop(img, th, tw)
            h, w = img.shape[:2]
        else:
            s = int(self.resize) / min(h, w)
            th, tw = max(1, round(h * s)), max(1, round(w * s))
        if (th, tw) != (h, w):
            if self.interp == "auto":
                interp = cv2.INTER_AREA if th < h else cv2.INTER_LINEAR
            else:
                interp = INTERP[self.interp]
            img = cv2.resize(img, (tw, th), interpolation=interp)
            if img.ndim == 2:
                img = img[:, :, None]
        return img

    def _crop(self, img, rng=None, name=None):
        if self.crop is None:
            return img
        ch, cw = _pair(self.crop)
        h, w = img.shape[:2]
        if h < ch or w < cw:
            raise ImageError(f"{name or 'image'}: {h}x{w} image is smaller than the crop {ch}x{cw} (preprocess has "
                             f"no resize; set resize to [H, W] or an int >= the crop)", kind="size")
        if rng is None:
            y, x = (h - ch) // 2, (w - cw) // 2
        else:
            y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
        return img[y:y + ch, x:x + cw]

    def _finish(self, img):
        x = (img.astype(np.float32) - np.asarray(self.mean, np.float32)) / np.asarray(self.std, np.float32)
        return np.ascontiguousarray(x.transpose(2, 0, 1))

    def _input_hw(self):
        """(H, W) of the network input, None when the preprocessing does not fix it."""
        if self.crop is not None:
            return _pair(self.crop)
        if isinstance(self.resize, (list, tuple)):
            return _pair(self.resize)
        return None

    def eval_image(self, img, name=None):
        """uint8 HxWxC -> float32 CHW, deterministic. An image under the minimum size
        (:func:`common.data.images.check_min_size`) is ImageError kind ``too_small``, not upscaled."""
        check_min_size(img, self._input_hw(), name or "image")
        return self._finish(self._crop(self._resize(img), name=name))

    def train_image(self, img, rng, name=None, raw=False):
        """uint8 HxWxC -> float32 CHW with random crop and flip from ``rng`` (np.random.Generator).

        ``raw``: the cropped/flipped uint8 HxWxC instead (``uint8_input``: the graph's first op normalises it,
        common/data/device_input.py; the same numbers as ``_finish``, bit for bit)."""
        check_min_size(img, self._input_hw(), name or "image")
        img = self._crop(self._resize(img), rng, name=name)
        if self.flip and rng.random() < 0.5:
            img = img[:, ::-1]
        return np.ascontiguousarray(img) if raw else self._finish(img)

    def load(self, path_or_bytes, name=None):
        return decode_image(path_or_bytes, self.channels, name, self.color)

    def eval_array(self, path_or_bytes, name=None):
        """File path (or encoded bytes) -> float32 CHW network input; ImageError naming the file."""
        if name is None and not isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
            name = str(path_or_bytes)
        return self.eval_image(self.load(path_or_bytes, name), name)
