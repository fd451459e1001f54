"""MTCNN face detector with 5 landmarks (Zhang et al., IEEE SPL 2016), the three-stage cascade in numpy.

1. Image pyramid: scales ``12 / min_face * factor**k`` while the shorter side stays >= 12 px; each level is
   resized (area interpolation, on the uint8 photo as the original), normalised ``(x - 127.5) / 128`` and run through P-Net. Cells with face
   probability >= ``thresholds[0]`` give 12x12 candidate boxes (stride 2) mapped back to the image; NMS 0.5 per
   level, NMS 0.7 over all levels, box regression, squared.
2. R-Net on 24x24 patches (zeros outside the image): probability > ``thresholds[1]``, NMS 0.7, regression, squared.
3. O-Net on 48x48 patches: probability > ``thresholds[2]``, 5 landmarks, regression, NMS 0.7 on the smaller area.

Defaults are the published ones (min face 20 px, thresholds 0.6 / 0.7 / 0.7, factor 0.709), the same as
davidsandberg/facenet and facenet-pytorch. The nets run on onnxruntime (default, measured faster:
bench/bench_align.py) or MindSpore; both are built from the committed weights (common/align/weights/).
"""
from dataclasses import dataclass

import cv2
import numpy as np

from common.align.boxes import nms, patches, regress, square
from common.core.errors import FaceIdError

BACKENDS = ("onnxruntime", "mindspore")
_NETS = {}


def get_nets(backend="onnxruntime", threads=1):
    """The three nets on ``backend``, built once per process (and per thread count)."""
    key = (backend, int(threads))
    if key not in _NETS:
        if backend == "onnxruntime":
            from common.align.nets_onnx import OnnxNets
            _NETS[key] = OnnxNets(threads=threads)
        elif backend == "mindspore":
            from common.align.nets_ms import MindSporeNets
            _NETS[key] = MindSporeNets()
        else:
            raise FaceIdError(f"--backend {backend}: unknown MTCNN backend (choose from {', '.join(BACKENDS)})")
    return _NETS[key]


@dataclass
class Face:
    box: np.ndarray        # (4,) x1, y1, x2, y2 in image pixels (0-based, x2/y2 exclusive-ish, as MTCNN)
    score: float           # O-Net face probability
    landmarks: np.ndarray  # (5, 2) x, y: left eye, right eye, nose, left mouth corner, right mouth corner

    @property
    def size(self):
        return float(max(self.box[2] - self.box[0], self.box[3] - self.box[1]))


class MTCNN:
    def __init__(self, min_face=20, thresholds=(0.6, 0.7, 0.7), factor=0.709, backend="onnxruntime", threads=1):
        if not min_face or float(min_face) < 12:
            raise FaceIdError(f"--min_face {min_face}: must be at least 12 (pixels)")
        self.min_face = float(min_face)
        self.thresholds = tuple(float(t) for t in thresholds)
        self.factor = float(factor)
        self.backend = backend
        self.nets = get_nets(backend, threads)

    def scales(self, h, w):
        m = 12.0 / self.min_face
        side = min(h, w) * m
        out = []
        while side >= 12:
            out.append(m * self.factor ** len(out))
            side *= self.factor
        return out

    def _stage1(self, img):
        h, w = img.shape[:2]
        found = []
        for scale in self.scales(h, w):
            hs, ws = int(np.ceil(h * scale)), int(np.ceil(w * scale))
            level = cv2.resize(img, (ws, hs), interpolation=cv2.INTER_AREA)
            x = ((level.astype(np.float32) - 127.5) * 0.0078125).transpose(2, 0, 1)[None]
            prob, reg = self.nets.pnet(x)
            ys, xs = np.nonzero(prob[0] >= self.thresholds[0])
            if ys.size == 0:
                continue
            cells = np.stack([xs, ys], axis=1).astype(np.float64)
            b = np.empty((ys.size, 9))
            b[:, 0:2] = np.fix((2 * cells + 1) / scale)
            b[:, 2:4] = np.fix((2 * cells + 12) / scale)
            b[:, 4] = prob[0, ys, xs]
            b[:, 5:9] = reg[0][:, ys, xs].T
            found.append(b[nms(b, 0.5)])
        if not found:
            return np.zeros((0, 5))
        b = np.concatenate(found)
        b = b[nms(b, 0.7)]
        return np.fix(square(regress(b[:, :5], b[:, 5:9], plus_one=False)))

    @staticmethod
    def _valid(boxes):
        return boxes[(boxes[:, 2] >= boxes[:, 0]) & (boxes[:, 3] >= boxes[:, 1])]

    def detect(self, img):
        """RGB uint8 HxWx3 -> list of :class:`Face`, highest score first."""
        if img.ndim != 3 or img.shape[2] != 3:
            raise FaceIdError(f"MTCNN needs an RGB HxWx3 image, got shape {img.shape}")
        img = np.ascontiguousarray(img, np.uint8)
        boxes = self._valid(self._stage1(img))
        if len(boxes):
            prob, reg = self.nets.rnet(patches(img, boxes, 24))
            ok = prob > self.thresholds[1]
            boxes, reg = np.c_[boxes[ok, :4], prob[ok]], reg[ok]
            keep = nms(boxes, 0.7)
            boxes = self._valid(np.fix(square(regress(boxes[keep], reg[keep]))))
        faces = []
        if len(boxes):
            prob, reg, pts = self.nets.onet(patches(img, boxes, 48))
            ok = prob > self.thresholds[2]
            boxes, reg, pts = np.c_[boxes[ok, :4], prob[ok]], reg[ok], pts[ok]
            w = boxes[:, 2] - boxes[:, 0] + 1
            h = boxes[:, 3] - boxes[:, 1] + 1
            lm = np.stack([pts[:, :5] * w[:, None] + boxes[:, 0:1] - 1,
                           pts[:, 5:] * h[:, None] + boxes[:, 1:2] - 1], axis=2)
            boxes = regress(boxes, reg)
            keep = nms(boxes, 0.7, "min")
            faces = [Face(boxes[i, :4].astype(np.float32), float(boxes[i, 4]), lm[i].astype(np.float32))
                     for i in keep]
        return faces


def pick_face(faces, shape):
    """The face the policy picks when a photo has several: the largest, ties broken by nearness to the centre.

    Score = box area - 2 x (distance of the box centre to the image centre)^2, as facenet's align_dataset_mtcnn.
    Returns the index into ``faces``.
    """
    if not faces:
        return None
    h, w = shape[:2]
    best, best_score = 0, -np.inf
    for i, f in enumerate(faces):
        bw, bh = f.box[2] - f.box[0], f.box[3] - f.box[1]
        cx, cy = (f.box[0] + f.box[2]) / 2 - w / 2, (f.box[1] + f.box[3]) / 2 - h / 2
        s = bw * bh - 2.0 * (cx * cx + cy * cy)
        if s > best_score:
            best, best_score = i, s
    return best
