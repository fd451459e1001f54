"""acc.log of the 310 post-step: one metric a line, numbers taken from the result, BLUFR only when covered."""
import os

import numpy as np

from common.deploy.acc_log import write_acc_log


def test_acc_log_lines_follow_the_result_and_skip_uncovered_blufr(tmp_path):
    result = {"accuracy_mean": 0.987654, "100%-EER": 0.98125, "TPR@FAR=1%": 0.5, "TPR@FAR=0.1%": None, "auc": 0.99949}
    said = []
    emb = np.random.default_rng(0).standard_normal((6, 8)).astype(np.float32)
    names = [f"Person_{i}/Person_{i}_0001.jpg" for i in range(6)]
    path = write_acc_log(str(tmp_path), result, emb, names, log=said.append)
    assert path == os.path.join(str(tmp_path), "acc.log")
    with open(path) as f:
        lines = f.read().splitlines()
    # percentages rounded to 2 decimals; a metric that is n/a (None) or absent has no line
    assert lines == ["LFW accuracy_mean: 98.77%", "LFW 100%-EER: 98.12%", "LFW TPR@FAR=1%: 50.00%", "LFW auc: 99.95%"]
    assert any(s.startswith("acc.log: BLUFR not scored (") for s in said)  # 6 images do not cover BLUFR's 13,233
    assert os.listdir(tmp_path) == ["acc.log"]  # no temporary file left beside it
