"""Raw photos -> aligned faces: MTCNN detection with 5 landmarks, per-model templates, similarity alignment.

    from common.align import Aligner, aligned_preprocess, read_photo
    crop = Aligner("arcface112")(read_photo("photo.jpg"))        # uint8 112x112x3, FaceIdError if no face
    pre = aligned_preprocess(Preprocess.from_config(cfg.preprocess), "arcface112")   # detect + align + preprocess

    python -m common.align SRC DST --template arcface112 [--min_face 20] [--workers N] [--all_faces]

Files: ``photo.py`` (decode anything to RGB), ``mtcnn.py`` (the cascade), ``boxes.py`` (NMS and box maths),
``nets_onnx.py`` / ``nets_ms.py`` (the nets on onnxruntime / MindSpore), ``weights.py`` (the committed weights),
``templates.py`` (templates, similarity transform, warp), ``aligner.py`` (photo -> crop), ``tool.py`` (the CLI).
"""
from common.align.aligner import MIN_SCORE, AlignedPreprocess, Aligner, aligned_preprocess
from common.align.mtcnn import MTCNN, Face, pick_face
from common.align.photo import read_photo
from common.align.templates import TEMPLATES, get_template, similarity_transform

__all__ = ["Aligner", "AlignedPreprocess", "aligned_preprocess", "MTCNN", "Face", "pick_face", "read_photo",
           "TEMPLATES", "get_template", "similarity_transform", "MIN_SCORE"]
