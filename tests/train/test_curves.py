"""Training draws its own curves (issue 22 item 6): OUT_DIR/logs/curves.png, a valid PNG rewritten at every epoch
end, whose data (curves.json) equals the progress and verification lines the run printed."""
import json
import os
import re

import cv2
import numpy as np
import pytest

from common.train import curves as train_curves
from tests.helpers import lightcnn_tiny_args, make_data

LINE = re.compile(r"\[(\d+)/\d+\] loss (\S+) lr (\S+) (\S+) img/s")
VERIFY = re.compile(r"\[verification step (\d+)\] (\S+): accuracy (\S+), accuracy-flip (\S+) ")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_data(tmp_path_factory.mktemp("curves"), train_ids=4, train_images=8, test_ids=20, test_images=3,
                     pairs_per_fold=2)


def test_tiny_run_draws_curves_each_epoch(data, tmp_path, monkeypatch):
    from lightcnn import train as lightcnn_train

    train, test = data
    real, drawn = train_curves.plot, []

    def spy(png, series):
        real(png, series)
        blob = open(png, "rb").read()  # the file as it is right after this rewrite
        drawn.append((png, json.loads(json.dumps(series)), blob))

    monkeypatch.setattr(train_curves, "plot", spy)
    out = tmp_path / "run"
    lightcnn_train.main(lightcnn_tiny_args(out, train, epochs=2, log_every=2, verify_data_root=test,
                                           verify_every_steps=0))
    png = out / "logs" / "curves.png"
    assert len(drawn) == 2 and all(p == str(png) for p, _, _ in drawn)  # once per epoch end (the last = the end)
    for _, series, blob in drawn:
        assert blob[:8] == b"\x89PNG\r\n\x1a\n"
        img = cv2.imdecode(np.frombuffer(blob, np.uint8), cv2.IMREAD_COLOR)
        assert img is not None and img.shape[0] > 300 and img.std() > 5  # drawn, not blank
    steps = [len(s["progress"]) for _, s, _ in drawn]
    assert steps == sorted(steps) and steps[0] < steps[-1]  # rewritten with more data each epoch
    assert open(png, "rb").read() == drawn[-1][2]
    assert not [f for f in os.listdir(out / "logs") if f.startswith(".tmp_")]

    # the data drawn equals what the run printed (the numbers as printed: loss .4f, lr .3g, img/s .1f)
    log = open(out / "logs" / "train_rank0.log").read()
    printed = [m.groups() for m in LINE.finditer(log)]
    final = json.load(open(out / "logs" / "curves.json"))
    assert final == drawn[-1][1]
    rows = final["progress"]
    assert len(printed) == len(rows) == 4  # 4 steps/epoch x 2 epochs, a line every 2 steps
    for (step, loss, lr, rate), r in zip(printed, rows):
        assert int(step) == r["global_step"]
        assert f"{r['loss']:.4f}" == loss and f"{r['lr']:.3g}" == lr and f"{r['img_s']:.1f}" == rate
    verified = [m.groups() for m in VERIFY.finditer(log)]
    assert len(verified) == 2
    name = verified[0][1]
    pts = final["verification"][name]
    assert [int(s) for s, *_ in verified] == [p["global_step"] for p in pts] == [4, 8]
    for (_, _, acc, accf), p in zip(verified, pts):
        assert f"{p['accuracy']:.5f}" == acc and f"{p['accuracy_flip']:.5f}" == accf


def test_resumed_run_keeps_the_earlier_curve(tmp_path):
    """Progress records before the resume point are kept; a fresh run in a used folder draws only itself."""
    from common.train.progress import Progress

    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "verification.jsonl").write_text(
        json.dumps({"global_step": 2, "epoch": 1, "results": {"x": {"accuracy": 0.5, "accuracy_flip": 0.6}}}) + "\n"
        + json.dumps({"global_step": 9, "epoch": 2, "results": {"x": {"accuracy": 0.1, "accuracy_flip": 0.1}}}) + "\n")
    (logs / "curves.json").write_text(json.dumps({"progress": [{"global_step": s, "loss": 1.0, "lr": 0.1,
                                                                "img_s": 5.0} for s in (2, 4, 6)]}))
    clock = iter(np.arange(0, 100, 0.5)).__next__
    p = Progress(10, 4, every=2, start_step=4, printer=lambda *_: None, clock=clock)
    c = train_curves.TrainingCurves(str(tmp_path), p)
    p.update(6, 0, 2, 1, 5, 0.25, 0.01)
    c.draw()
    got = json.load(open(logs / "curves.json"))
    assert [r["global_step"] for r in got["progress"]] == [2, 4, 6] and got["progress"][-1]["loss"] == 0.25
    assert got["verification"] == {"x": [{"global_step": 2, "accuracy": 0.5, "accuracy_flip": 0.6}]}
    fresh = train_curves.TrainingCurves(str(tmp_path), Progress(10, 4, printer=lambda *_: None, clock=clock))
    assert fresh.series() == {"progress": [], "verification": {}}
    fresh.draw()  # nothing to draw yet: still a valid PNG
    assert open(logs / "curves.png", "rb").read(8) == b"\x89PNG\r\n\x1a\n"
