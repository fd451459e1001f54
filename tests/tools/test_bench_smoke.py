"""The benchmarks run end to end (--quick) and write the documented JSON; no timing is asserted."""
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _run(args, timeout):
    p = subprocess.run([sys.executable] + args, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    return p


def test_run_all_quick_writes_the_rows(tmp_path):
    out = tmp_path / "bench.json"
    _run(["bench/run_all.py", "--quick", "--nets", "lightcnn9", "--json", str(out)], timeout=240)
    data = json.loads(out.read_text())
    assert data["peak_gflops"] > 0 and data["macs_per_image"]["lightcnn9"] > 0
    rows = data["rows"]
    assert [(r["net"], r["task"]) for r in rows] == [("lightcnn9", "infer_b4"), ("lightcnn9", "train_b4")]
    for r in rows:
        assert set(r) >= {"net", "task", "mindspore_s", "torch_s", "onnxruntime_s", "ratio_best_vs_torch", "gflops"}
        assert r["mindspore_s"] > 0 and r["gflops"] > 0, r["errors"]
    assert rows[0]["onnxruntime_s"] > 0, rows[0]["errors"]
    assert rows[1]["onnxruntime_s"] is None  # inference only
    try:
        import torch  # noqa: F401
        assert all(r["torch_s"] > 0 and r["ratio_best_vs_torch"] > 0 for r in rows), rows
    except ImportError:
        assert all(r["torch_s"] is None for r in rows)


def test_bench_data_quick(tmp_path):
    out = tmp_path / "data.json"
    _run(["bench/bench_data.py", "--quick", "--json", str(out)], timeout=180)
    data = json.loads(out.read_text())
    kinds = {(r["pipeline"], r["source"], r["mode"]) for r in data["rows"]}
    assert {("zoo", "folder", "threads"), ("zoo", "rec", "threads"), ("legacy", "folder", "threads"),
            ("native", "folder", "C++ threads")} <= kinds
    assert all(r["images_per_s"] > 0 for r in data["rows"])
