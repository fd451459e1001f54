"""Box arithmetic of MTCNN, numpy only: greedy NMS, square boxes, box regression, padded patches.

Boxes are float arrays ``[x1, y1, x2, y2, score]`` in MTCNN's convention: pixel x covers the columns
``x1 - 1 .. x2 - 1`` (0-based, inclusive), so a box is ``x2 - x1 + 1`` pixels wide.
"""
import cv2
import numpy as np


def nms(boxes, threshold, mode="union"):
    """Indices kept by greedy NMS (highest score first); overlap = intersection / union (or / smaller area)."""
    if len(boxes) == 0:
        return np.zeros(0, np.int64)
    x1, y1, x2, y2, s = (boxes[:, i] for i in range(5))
    area = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = np.argsort(s, kind="stable")[::-1]
    keep = []
    while order.size:
        i, rest = order[0], order[1:]
        keep.append(i)
        w = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]) + 1)
        h = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]) + 1)
        inter = w * h
        denom = np.minimum(area[i], area[rest]) if mode == "min" else area[i] + area[rest] - inter
        order = rest[inter / denom <= threshold]
    return np.asarray(keep, np.int64)


def square(boxes):
    """Grow each box to a square around its centre (side = the longer side)."""
    out = boxes.copy()
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    side = np.maximum(w, h)
    out[:, 0] = boxes[:, 0] + (w - side) * 0.5
    out[:, 1] = boxes[:, 1] + (h - side) * 0.5
    out[:, 2] = out[:, 0] + side
    out[:, 3] = out[:, 1] + side
    return out


def regress(boxes, reg, plus_one=True):
    """Apply the nets' box offsets ``reg`` (N, 4), relative to the box width/height."""
    out = boxes.copy()
    extra = 1.0 if plus_one else 0.0
    w = boxes[:, 2] - boxes[:, 0] + extra
    h = boxes[:, 3] - boxes[:, 1] + extra
    out[:, :4] = boxes[:, :4] + reg[:, :4] * np.stack([w, h, w, h], axis=1)
    return out


def patches(img, boxes, size):
    """Crop each (integer) box from ``img`` (HxWx3 uint8), zeros outside the image, resized to size x size.

    Returns (N, 3, size, size) float32 normalised as MTCNN expects: (x - 127.5) / 128.
    """
    h, w = img.shape[:2]
    out = np.empty((len(boxes), size, size, 3), np.uint8)
    for k, (bx1, by1, bx2, by2) in enumerate(boxes[:, :4].astype(np.int64)):
        sx, sy = max(bx1 - 1, 0), max(by1 - 1, 0)     # source region, 0-based, end exclusive
        ex, ey = min(bx2, w), min(by2, h)
        if sx == bx1 - 1 and sy == by1 - 1 and ex == bx2 and ey == by2:
            patch = img[sy:ey, sx:ex]                  # inside the image: no copy
        else:
            patch = np.zeros((max(by2 - by1 + 1, 1), max(bx2 - bx1 + 1, 1), 3), np.uint8)
            if ex > sx and ey > sy:
                dx, dy = sx - (bx1 - 1), sy - (by1 - 1)
                patch[dy:dy + ey - sy, dx:dx + ex - sx] = img[sy:ey, sx:ex]
        out[k] = cv2.resize(patch, (size, size), interpolation=cv2.INTER_AREA)
    return ((out.astype(np.float32) - 127.5) * 0.0078125).transpose(0, 3, 1, 2)
