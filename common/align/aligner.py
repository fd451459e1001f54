"""Photo -> aligned face crop for a model's template, and a Preprocess that detects + aligns first.

Which faces count: MTCNN's cascade keeps candidates down to its published O-Net threshold 0.7, which also passes
face-like objects (a desk phone in tests/data/raw_photos/obama.jpg scores 0.94); every real face of those photos
scores above 0.999. A detection counts as a face when its score is >= ``min_score`` (default 0.95) and its box
is at least ``min_face`` pixels. Of several faces, the one used is the largest nearest the centre
(:func:`common.align.mtcnn.pick_face`, facenet's rule).
"""
import threading

import cv2
import numpy as np

from common.align.mtcnn import MTCNN, pick_face
from common.align.photo import read_photo
from common.align.templates import get_template, transform_for, warp
from common.core.errors import FaceIdError

MIN_SCORE = 0.95


class Aligner:
    """``Aligner('arcface112')(rgb)`` -> aligned uint8 crop; ``.all(rgb)`` -> [(box, landmarks, crop)] left to right."""

    def __init__(self, template, min_face=20, min_score=MIN_SCORE, backend="onnxruntime", threads=1):
        self.template = get_template(template)
        self.min_score = float(min_score)
        self.detector = MTCNN(min_face=min_face, backend=backend, threads=threads)

    def faces(self, img):
        """Detected faces (score >= min_score, box >= min_face), left to right."""
        found = [f for f in self.detector.detect(img)
                 if f.score >= self.min_score and f.size >= self.detector.min_face]
        return sorted(found, key=lambda f: float(f.box[0] + f.box[2]))

    def crop(self, img, face):
        m = transform_for(self.template, landmarks=face.landmarks, box=face.box, shape=img.shape)
        return warp(img, m, self.template)

    def matrix(self, img, face):
        """The 2x3 matrix mapping photo pixels to the aligned crop of ``face``."""
        return transform_for(self.template, landmarks=face.landmarks, box=face.box, shape=img.shape)

    def pick(self, img, name=None):
        """-> (faces, index of the face used); FaceIdError '<name>: no face found' when there is none."""
        faces = self.faces(img)
        if not faces:
            raise FaceIdError(f"{name or 'image'}: no face found")
        return faces, pick_face(faces, img.shape)

    def __call__(self, img, name=None):
        faces, i = self.pick(img, name)
        return self.crop(img, faces[i])

    def all(self, img):
        return [(f.box.copy(), f.landmarks.copy(), self.crop(img, f)) for f in self.faces(img)]


def _to_channels(crop, channels, color="rgb"):
    if channels == 1 and crop.shape[2] == 3:
        return cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)[:, :, None]
    if channels == 3 and crop.shape[2] == 1:
        crop = np.repeat(crop, 3, axis=2)
    if channels == 3 and color == "bgr":
        crop = np.ascontiguousarray(crop[:, :, ::-1])
    return crop


class AlignedPreprocess:
    """The model's Preprocess behind detection + alignment: ``load`` gives the aligned crop, ``eval_array`` the
    network input. Attributes of the wrapped Preprocess (``channels``, ``output_size``, ...) are passed through.

    ``no_face``: ``error`` (default) raises ImageError(kind ``no_face``) naming the file; ``center`` falls back to
    the whole photo through the model's own preprocessing (as without alignment). ``stats`` counts images, faces
    found, photos without a face and photos with several faces.
    """

    def __init__(self, preprocess, template, no_face="error", **aligner_kw):
        if no_face not in ("error", "center"):
            raise FaceIdError(f"no_face must be error or center, got {no_face!r}")
        self.preprocess = preprocess
        self.aligner = Aligner(template, **aligner_kw)
        self.template = self.aligner.template.name
        self.no_face = no_face
        self.stats = {"images": 0, "faces_found": 0, "no_face": 0, "several_faces": 0}
        self._lock = threading.Lock()

    def __getattr__(self, key):
        if key == "preprocess":
            raise AttributeError(key)
        return getattr(self.preprocess, key)

    def _count(self, **kw):
        with self._lock:
            for k, v in kw.items():
                self.stats[k] += v

    def load(self, path_or_bytes, name=None):
        """Decoded, detected and aligned crop, in the model's channels (uint8 HxWxC)."""
        from common.data.images import ImageError

        if name is None and not isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
            name = str(path_or_bytes)
        try:
            img = read_photo(path_or_bytes, name)
        except ImageError:
            raise
        except FaceIdError as exc:
            raise ImageError(str(exc), kind="unreadable") from None
        faces = self.aligner.faces(img)
        self._count(images=1, faces_found=int(bool(faces)), no_face=int(not faces), several_faces=int(len(faces) > 1))
        if not faces:
            if self.no_face == "center":
                return _to_channels(img, self.preprocess.channels, getattr(self.preprocess, "color", "rgb"))
            raise ImageError(f"{name or '<bytes>'}: no face found", kind="no_face")
        crop = self.aligner.crop(img, faces[pick_face(faces, img.shape)])
        return _to_channels(crop, self.preprocess.channels, getattr(self.preprocess, "color", "rgb"))

    def eval_image(self, img, name=None):
        """An already aligned crop -> network input (the model's preprocessing unchanged)."""
        return self.preprocess.eval_image(img, name) if name is not None else self.preprocess.eval_image(img)

    def eval_array(self, path_or_bytes, name=None):
        if name is None and not isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
            name = str(path_or_bytes)
        return self.eval_image(self.load(path_or_bytes, name), name)


def aligned_preprocess(preprocess, template, **kw):
    """``preprocess`` (common.data.transforms.Preprocess) with face detection + ``template`` alignment first."""
    return AlignedPreprocess(preprocess, template, **kw)
