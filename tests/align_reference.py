"""Tests only: import facenet-pytorch's MTCNN as the independent reference detector.

facenet-pytorch is installed with ``--no-deps`` (scripts/setup.sh), so two of its imports may be absent here:
``requests`` (used only to download InceptionResnetV1 weights, never by MTCNN) and torchvision (MTCNN uses only
``torchvision.ops.boxes.batched_nms``; the local torchvision wheels are CUDA builds whose C ops do not load with the
CPU torch). Where they are missing, stand-ins are put in ``sys.modules`` for the import only and removed again:
``batched_nms`` is then a plain greedy NMS in torch (IoU, highest score first, per index), written
here independently of common/align's numpy NMS (IoU without MTCNN's +1, as torchvision).
"""
import importlib
import sys
import types


def _torch_batched_nms(boxes, scores, idxs, iou_threshold):
    """Greedy NMS in torch: take the best remaining box, drop the boxes of the same index overlapping it."""
    import torch

    boxes = boxes.double()
    order = torch.argsort(scores, descending=True, stable=True)
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    alive = torch.ones(len(order), dtype=torch.bool)
    keep = []
    for pos in range(len(order)):
        if not alive[pos]:
            continue
        a = order[pos]
        keep.append(int(a))
        rest = order[pos + 1:]
        lt = torch.maximum(boxes[rest, :2], boxes[a, :2])
        rb = torch.minimum(boxes[rest, 2:4], boxes[a, 2:4])
        inter = (rb - lt).clamp(min=0).prod(dim=1)
        iou = inter / (area[rest] + area[a] - inter)
        alive[pos + 1:] &= ~((iou > iou_threshold) & (idxs[rest] == idxs[a]))
    return torch.as_tensor(keep, dtype=torch.long)


def _works(name):
    try:
        importlib.import_module(name)
        return True
    except Exception:  # noqa: BLE001 - a broken optional install counts as absent
        for key in [k for k in sys.modules if k == name or k.startswith(name + ".")]:
            del sys.modules[key]
        return False


def load_facenet_pytorch():
    """-> (module facenet_pytorch.models.mtcnn, note on stand-ins used); ImportError when torch/facenet absent."""
    import torch  # noqa: F401  (ImportError -> caller skips)

    if importlib.util.find_spec("facenet_pytorch") is None:
        raise ImportError("facenet-pytorch not installed (pip install --no-deps facenet-pytorch)")
    stubs, notes = {}, []
    if not _works("requests"):
        req = types.ModuleType("requests")
        req.adapters = types.ModuleType("requests.adapters")
        req.adapters.HTTPAdapter = object
        stubs.update({"requests": req, "requests.adapters": req.adapters})
        notes.append("requests stubbed (download code only)")
    if not _works("torchvision.ops.boxes"):
        tv = types.ModuleType("torchvision")
        tv.transforms = types.ModuleType("torchvision.transforms")
        tv.transforms.functional = types.ModuleType("torchvision.transforms.functional")
        tv.ops = types.ModuleType("torchvision.ops")
        tv.ops.boxes = types.ModuleType("torchvision.ops.boxes")
        tv.ops.boxes.batched_nms = _torch_batched_nms
        stubs.update({"torchvision": tv, "torchvision.transforms": tv.transforms,
                      "torchvision.transforms.functional": tv.transforms.functional,
                      "torchvision.ops": tv.ops, "torchvision.ops.boxes": tv.ops.boxes})
        notes.append("torchvision batched_nms = brute-force torch NMS in tests/align_reference.py")
    saved = {k: sys.modules.get(k) for k in stubs}
    sys.modules.update(stubs)
    try:
        mtcnn = importlib.import_module("facenet_pytorch.models.mtcnn")
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v
    return mtcnn, "; ".join(notes)
