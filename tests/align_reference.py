"""Tests only: import facenet-pytorch's MTCNN as the independent reference detector.

facenet-pytorch is installed with ``--no-deps`` (scripts/setup.sh), so two of its imports may be absent here:
``requests`` (used only to download InceptionResnetV1 weights, never by MTCNN) and torchvision (MTCNN uses only
``torchvision.ops.boxes.batched_nms``; the local torchvision wheels are CUDA builds whose C ops do not load with the
CPU torch). Where they are missing, stand-ins are put in ``sys.modules`` for the import only and removed again:
``batched_nms`` is then a plain brute-force greedy NMS in torch (IoU, highest score first, per index), written
here independently of common/align's numpy NMS.
"""
import importlib
import sys
import types


def _torch_batched_nms(boxes, scores, idxs, iou_threshold):
    import torch

    keep = []
    order = torch.argsort(scores, descending=True, stable=True).tolist()
    suppressed = set()
    for a_pos, a in enumerate(order):
        if a in suppressed:
            continue
        keep.append(a)
        for b in order[a_pos + 1:]:
            if b in suppressed or int(idxs[b]) != int(idxs[a]):
                continue
            x1 = torch.maximum(boxes[a, 0], boxes[b, 0])
            y1 = torch.maximum(boxes[a, 1], boxes[b, 1])
            x2 = torch.minimum(boxes[a, 2], boxes[b, 2])
            y2 = torch.minimum(boxes[a, 3], boxes[b, 3])
            inter = torch.clamp(x2 - x1, min=0) * torch.clamp(y2 - y1, min=0)
            area_a = (boxes[a, 2] - boxes[a, 0]) * (boxes[a, 3] - boxes[a, 1])
            area_b = (boxes[b, 2] - boxes[b, 0]) * (boxes[b, 3] - boxes[b, 1])
            if float(inter / (area_a + area_b - inter)) > iou_threshold:
                suppressed.add(b)
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
