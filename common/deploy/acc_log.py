"""The seed's 310 ``acc.log``: LFW 6,000-pairs and (when the embedded images cover it) BLUFR results, one metric a
line, written beside the harness's result.json by common/deploy/infer310_post.py.

    LFW 100%-EER: 98.60%          BLUFR VR@FAR=0.1%: 95.61%
    LFW TPR@FAR=1%: 98.43%        BLUFR DIR@FAR=1%: 80.47%
    ...
"""
import os

from common.core.errors import FaceIdError
from common.core.fileio import write_text_atomic
from common.protocols import ProtocolError

from common.core.paths import REPO_ROOT as ROOT
SHIPPED_BLUFR = os.path.join(ROOT, "protocols", "blufr_lfw_config.mat")
LFW_KEYS = ("accuracy_mean", "100%-EER", "TPR@FAR=1%", "TPR@FAR=0.1%", "TPR@FAR=0%", "auc")


def lfw_lines(result):
    return [f"LFW {k}: {result[k] * 100:.2f}%" for k in LFW_KEYS if isinstance(result.get(k), (int, float))]


def blufr_lines(result):
    vr, dr = result.get("VR@FAR=0.1%", {}), result.get("DIR@FAR=1%,rank=1", {})
    return [f"BLUFR VR@FAR=0.1%: {vr['mean'] * 100:.2f}%", f"BLUFR DIR@FAR=1%: {dr['mean'] * 100:.2f}%"]


def write_acc_log(folder, lfw_result, embeddings, names, config_path=SHIPPED_BLUFR, log=print):
    """Write ``folder/acc.log``; BLUFR is scored when every image of its config was embedded. Returns the path."""
    from common.evaluation.scoring import evaluate_blufr

    lines = lfw_lines(lfw_result) if lfw_result else []
    try:
        lines += blufr_lines(evaluate_blufr(embeddings, config_path, names, source="C++ harness embeddings"))
    except (ProtocolError, FaceIdError) as exc:
        log(f"acc.log: BLUFR not scored ({str(exc).splitlines()[0]})")
    path = os.path.join(folder, "acc.log")
    write_text_atomic(path, "".join(line + "\n" for line in lines))
    log(f"wrote {path}")
    return path
