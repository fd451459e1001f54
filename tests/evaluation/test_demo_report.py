"""The report of the demo's eval (scripts/demo.sh) renders in a headless browser with its curves and thumbnails.

The demo's eval command (lightcnn/eval_lfw.py with the demo config, ``--data_root`` the LFW-format test folder and
``--ijb_dir`` a synthetic IJB-C set) on a reduced scale (few images, the tiny 32x32 crop), untrained as the demo's
first eval; then its ``OUT/eval/report.html`` and the ``--report`` comparison page are opened in headless
Chromium: every image (ROC, DET, the LFW pairs' and the IJB template pairs' thumbnails) loads. The IJB thumbnails
are checked against the first loose crop of their template, resized here independently."""
import base64
import json
import os
import re
import shutil
import subprocess

import cv2
import numpy as np
import pytest

from common.data.synthetic_ijb import generate
from tests.helpers import ROOT, TINY_BB, TINY_PRE, make_data

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DEMO = os.path.join(ROOT, "scripts", "demo.sh")


def _chromium_images(page, tmp_path):
    """(all images, loaded images, loaded in the IJB section, loaded curves) as headless Chromium sees them, and
    a screenshot (rendered, not blank)."""
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("CI is set but chromium is not installed (scripts/setup.sh --test installs it with apt-get)")
        pytest.skip("chromium not installed (scripts/setup.sh --test installs it)")
    flags = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}"]
    shot = tmp_path / "shot.png"
    p = subprocess.run(flags + [f"--screenshot={shot}", "--window-size=1200,1600", "file://" + str(page)],
                       capture_output=True, text=True, timeout=120)
    assert shot.is_file(), p.stderr[-2000:]
    img = cv2.imread(str(shot))
    assert img.shape[:2] == (1600, 1200) and img.std() > 20 and np.mean(img.min(axis=2) < 200) > 0.03
    probe = tmp_path / "probe.html"
    script = ("<script>window.addEventListener('load',function(){function ok(q){var a=Array.from("
              "document.querySelectorAll(q));return a.length+':'+a.filter(function(i){return i.complete&&"
              "i.naturalWidth>0&&i.naturalHeight>0}).length}document.body.setAttribute('data-probe',ok('img')+"
              "'|'+ok('section[data-entry$=\".ijb\"] img.thumb, section[data-entry$=\"ijb_result.json\"] img.thumb')"
              "+'|'+ok('img.curve'))})</script></body>")
    probe.write_text(open(page, encoding="utf-8").read().replace("</body>", script), encoding="utf-8")
    p = subprocess.run(flags + ["--virtual-time-budget=5000", "--dump-dom", "file://" + str(probe)],
                       capture_output=True, text=True, timeout=120)
    m = re.search(r'data-probe="(\d+):(\d+)\|(\d+):(\d+)\|(\d+):(\d+)"', p.stdout)
    assert m, p.stdout[-500:] + p.stderr[-2000:]
    return [int(x) for x in m.groups()]


def _png(src):
    blob = base64.b64decode(src.split(",", 1)[1])
    return cv2.imdecode(np.frombuffer(blob, np.uint8), cv2.IMREAD_COLOR)


def test_demo_eval_report_renders_with_ijb_curves_and_thumbnails(tmp_path):
    from common.evaluation import report
    from common.evaluation.scoring import main as evaluate_main
    from lightcnn import eval_lfw

    demo = open(DEMO, encoding="utf-8").read()  # the commands this test runs at a reduced scale are the demo's
    assert demo.count('lightcnn/eval_lfw.py" --config "$CFG" --data_root "$DATA/test" --ijb_dir "$IJB"') == 2
    assert "-m common.data.synthetic_ijb" in demo and "-m common.evaluate --report" in demo
    _, test = make_data(tmp_path / "d", train_ids=1, train_images=1, test_ids=20, test_images=3, pairs_per_fold=2)
    ijb_dir = tmp_path / "ijbc"
    generate(str(ijb_dir), "IJBC", subjects=6, templates=3, media=2, frames=2, outsiders=1, size=72, seed=7,
             log=lambda *_: None)
    out = tmp_path / "untrained"
    eval_lfw.main(["--config", os.path.join(ROOT, "lightcnn", "configs", "demo.yaml"), "--preprocess", TINY_PRE,
                   "--backbone_args", TINY_BB, "--data_root", test, "--ijb_dir", str(ijb_dir),
                   "--out_dir", str(out), "--eval_batch_size", "32"])
    page = out / "eval" / "report.html"
    res = json.load(open(out / "eval" / "ijbc.ijb_result.json"))
    assert res["files"]["pair_scores"].endswith("ijbc.ijb_result_pairs.npz")
    text = open(page, encoding="utf-8").read()
    total, ok, ijb_total, ijb_ok, curves_total, curves_ok = _chromium_images(page, tmp_path)
    assert curves_total == curves_ok == 2           # ROC + DET, LFW and IJB-C curves overlaid
    assert ijb_total == ijb_ok == 2 * 16            # 8 worst false accepts + 8 worst false rejects, 2 templates each
    assert total == ok == 2 + 2 * 16 + 2 * 16       # + the LFW pairs' thumbnails
    # each IJB thumbnail is its template's first loose crop (file order), resized to the report's height
    with np.load(res["files"]["pair_scores"]) as z:
        firsts, templates = [str(x) for x in z["first"]], z["first_template"].tolist()
    tm = [line.split() for line in open(ijb_dir / "meta" / "ijbc_face_tid_mid.txt")]
    first_of = {}
    for name, tid, _ in tm:
        first_of.setdefault(int(tid), name)
    section = text[text.index('<section class="target" data-entry="ijbc.ijb"'):]
    figs = re.findall(r'<figure class="pair (?:fa|fr)"[^>]*data-first="([^"]+)"[^>]*>\s*<img class="thumb" '
                      r'alt="[^"]*" src="([^"]+)"', section)
    assert len(figs) == 16
    for path, src in figs:
        k = firsts.index(path)
        assert os.path.basename(path) == first_of[templates[k]]
        raw = cv2.imread(path)
        h, w = raw.shape[:2]
        want = cv2.resize(raw, (max(1, round(w * 72 / h)), 72), interpolation=cv2.INTER_AREA if h > 72 else
                          cv2.INTER_LINEAR)
        got = _png(src)
        assert got.shape == want.shape and np.abs(got.astype(int) - want).mean() < 1.0
    # the demo's comparison page (here: the LFW and IJB-C results of this eval) renders too
    cmp_page = tmp_path / "compare.html"
    evaluate_main(["--report", str(out / "eval" / "test.lfw_result.json"), str(out / "eval" / "ijbc.ijb_result.json"),
                   "--out", str(cmp_page)])
    total, ok, ijb_total, ijb_ok, curves_total, curves_ok = _chromium_images(cmp_page, tmp_path)
    assert curves_total == curves_ok == 2 and ijb_total == ijb_ok == 32 and total == ok == 2 + 64
    assert report.read_result(str(out / "eval" / "ijbc.ijb_result.json"))["protocol"] == "ijb"
