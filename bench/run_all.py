"""Speed of every backbone of the zoo: MindSpore graph mode vs PyTorch eager vs the exported ONNX in ONNX Runtime.

    python bench/run_all.py --json bench.json                 # all nets, 3 repeats (long: ~1 h on 2 cores)
    python bench/run_all.py --nets iresnet50,mobilefacenet --repeats 5 --json b.json
    python bench/run_all.py --quick --nets lightcnn9 --json q.json   # smoke test: 1 repeat, batch 4, ~1 min

Tasks per net: inference at batch 1 and 32, and one training step at batch 32 (backbone + CosFace margin head
over 10,000 classes, cross-entropy, SGD momentum). Each measurement runs in its own process (a warm-up call
that compiles, then ``--iters`` timed calls, median); frameworks are interleaved per (net, task) and their order
rotates per repeat; the reported time is the median over ``--repeats`` processes. PyTorch (tests/torch_nets.py,
the same architectures written again) is optional: without it ``torch_s`` is null. GFLOP/s is that of the zoo's
best path (min of MindSpore and ONNX Runtime) from the MACs of the MindSpore net (common/nets/flops.py; a train
step counted as 3x the forward), next to the measured fp32 GEMM peak (numpy / torch matmul) of this machine.

JSON: {"machine": {...}, "peak_gflops": P, "rows": [{net, task, batch, mindspore_s, torch_s, onnxruntime_s,
ratio_best_vs_torch, gflops, pct_of_peak, errors}]}. ``--quick`` halves the input of nets that take any size,
uses batch 4 and a 100-class head: it checks that everything runs, its numbers mean little.
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NETS = ("lightcnn9", "lightcnn29v2", "mobilefacenet", "spherenet20", "spherenet64", "iresnet50", "iresnet100",
        "inception_resnet_v1")
FRAMEWORKS = ("mindspore", "torch", "onnxruntime")


# ------------------------------------------------------------------------------------------- worker side
def _median_time(fn, iters):
    fn()  # warm-up: graph compile / allocator
    times = []
    for _ in range(iters):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _ms_net(name, size):
    sys.path.insert(0, ROOT)
    import lightcnn.src.lightcnn  # noqa: F401  (registers LightCNN)
    import facenet.src.nets  # noqa: F401  (registers Inception-ResNet-v1)
    from common.nets import BACKBONES, create_backbone

    meta = BACKBONES.meta(name) if hasattr(BACKBONES, "meta") else {}
    if meta.get("any_size"):
        return create_backbone(name, input_size=tuple(size))
    return create_backbone(name)


def worker_mindspore(spec):
    sys.path.insert(0, ROOT)
    import common.core.env  # noqa: F401  (ONEDNN_MAX_CPU_ISA=AVX2 before mindspore)
    import mindspore as ms
    import numpy as np
    from mindspore import nn

    ms.set_device("CPU")
    ms.set_context(mode=ms.GRAPH_MODE)
    net = _ms_net(spec["net"], spec["size"])
    out = {}
    if spec.get("macs"):
        from common.nets.flops import count_macs, count_params

        out["macs"] = count_macs(net, tuple(spec["size"]))
        out["params"] = count_params(net)
        out["embedding"] = int(net.embedding_size)
        ms.set_context(mode=ms.GRAPH_MODE)
    b = spec["batch"]
    rng = np.random.default_rng(0)
    x = ms.Tensor(rng.standard_normal((b,) + tuple(spec["size"])).astype(np.float32))
    if spec["task"].startswith("infer"):
        net.set_train(False)
        out["seconds"] = _median_time(lambda: net(x).asnumpy(), spec["iters"])
        return out
    from common.heads.margin import MarginHead

    head = MarginHead(net.embedding_size, spec["classes"], s=64.0, m1=1.0, m2=0.0, m3=0.35)

    class WithLoss(nn.Cell):
        def __init__(self):
            super().__init__()
            self.net, self.head = net, head
            self.ce = nn.SoftmaxCrossEntropyWithLogits(sparse=True, reduction="mean")

        def construct(self, images, labels):
            return self.ce(self.head(self.net(images), labels), labels)

    cell = WithLoss()
    step = nn.TrainOneStepCell(cell, nn.Momentum(cell.trainable_params(), 1e-3, 0.9))
    step.set_train()
    y = ms.Tensor(rng.integers(0, spec["classes"], b).astype(np.int32))
    out["seconds"] = _median_time(lambda: step(x, y).asnumpy(), spec["iters"])
    return out


def worker_torch(spec):
    try:
        import torch
    except ImportError:
        return {"error": "torch not installed"}
    sys.path.insert(0, ROOT)
    from tests import torch_nets  # the one module of PyTorch reference nets

    torch.set_num_threads(spec["threads"])
    torch.manual_seed(0)
    net = torch_nets.build(spec["net"], spec["size"])
    b = spec["batch"]
    x = torch.randn((b,) + tuple(spec["size"]))
    out = {"params": sum(p.numel() for p in net.parameters())}
    if spec["task"].startswith("infer"):
        with torch.inference_mode():
            out["seconds"] = _median_time(lambda: net(x), spec["iters"])
        return out
    emb = net(x[:2]).shape[1]
    head = torch_nets.MarginHead(emb, spec["classes"])
    net.train()
    opt = torch.optim.SGD(list(net.parameters()) + list(head.parameters()), lr=1e-3, momentum=0.9)
    y = torch.randint(0, spec["classes"], (b,))

    def step():
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(head(net(x), y), y)
        loss.backward()
        opt.step()
        return float(loss)

    out["seconds"] = _median_time(step, spec["iters"])
    return out


def worker_onnxruntime(spec):
    if not spec["task"].startswith("infer"):
        return {"error": "inference only"}
    sys.path.insert(0, ROOT)
    import common.core.env  # noqa: F401
    import mindspore as ms
    import numpy as np

    from common.core.env import ort_session
    from common.deploy.export import export

    ms.set_device("CPU")
    ms.set_context(mode=ms.GRAPH_MODE)
    net = _ms_net(spec["net"], spec["size"])
    b = spec["batch"]
    with tempfile.TemporaryDirectory() as tmp:
        path = export(net, tuple(spec["size"]), os.path.join(tmp, "net"), "ONNX", b)
        sess = ort_session(path, providers=spec.get("ort_providers", "cpu"), threads=spec["threads"])  # CPU table
    name = sess.get_inputs()[0].name
    x = np.random.default_rng(0).standard_normal((b,) + tuple(spec["size"])).astype(np.float32)
    return {"seconds": _median_time(lambda: sess.run(None, {name: x}), spec["iters"])}


def worker_peak(spec):
    """Best fp32 GEMM GFLOP/s of numpy (and torch when installed) on n x n matrices."""
    import numpy as np

    n = spec["n"]
    a = np.random.default_rng(0).standard_normal((n, n)).astype(np.float32)
    flops = 2.0 * n ** 3
    res = {"numpy": flops / _median_time(lambda: a @ a, spec["iters"]) / 1e9}
    try:
        import torch

        torch.set_num_threads(spec["threads"])
        t = torch.from_numpy(a)
        res["torch"] = flops / _median_time(lambda: torch.mm(t, t), spec["iters"]) / 1e9
    except ImportError:
        pass
    return {"gflops": max(res.values()), "by": res}


WORKERS = {"mindspore": worker_mindspore, "torch": worker_torch, "onnxruntime": worker_onnxruntime,
           "peak": worker_peak}


# ------------------------------------------------------------------------------------------- driver side
def run_one(kind, spec, timeout):
    """One measurement in a fresh process -> its result dict (``error`` on failure)."""
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(spec["threads"])
    cmd = [sys.executable, os.path.abspath(__file__), "--_worker", kind, json.dumps(spec)]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout} s"}
    for line in reversed(p.stdout.splitlines()):
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    tail = (p.stderr.strip().splitlines() or ["no output"])[-1]
    return {"error": f"exit {p.returncode}: {tail[:300]}"}


def input_size(net, quick):
    size = {"lightcnn9": (1, 128, 128), "lightcnn29v2": (1, 128, 128), "spherenet20": (3, 112, 96),
            "spherenet64": (3, 112, 96), "inception_resnet_v1": (3, 160, 160)}.get(net, (3, 112, 112))
    if quick and net in ("lightcnn9", "lightcnn29v2", "inception_resnet_v1"):  # nets that take any size
        size = (size[0], size[1] // 2, size[2] // 2)
    return size


def machine_info(threads):
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu)
    except OSError:
        pass
    return {"cpu": cpu, "cores": len(os.sched_getaffinity(0)), "threads": threads, "python": platform.python_version(),
            "onednn_max_cpu_isa (MindSpore)": os.environ.get("ONEDNN_MAX_CPU_ISA", "AVX2 (common.core.env default)"),
            "load_average_at_start": os.getloadavg()[0]}


def make_rows(results, macs, peak, nets, tasks):
    rows = []
    for net in nets:
        for task, batch, classes in tasks:
            r = results.get((net, task), {})
            times = {fw: (statistics.median(r[fw]) if r.get(fw) else None) for fw in FRAMEWORKS}
            zoo = [t for t in (times["mindspore"], times["onnxruntime"]) if t]
            best = min(zoo) if zoo else None
            ratio = best / times["torch"] if best and times["torch"] else None
            flops = None
            if macs.get(net):
                flops = 2.0 * macs[net] * batch
                if task.startswith("train"):
                    flops = 3.0 * flops + 6.0 * batch * classes * macs.get(net + ":emb", 512)
            gflops = flops / best / 1e9 if flops and best else None
            rows.append({"net": net, "task": task, "batch": batch,
                         "mindspore_s": times["mindspore"], "torch_s": times["torch"],
                         "onnxruntime_s": times["onnxruntime"], "ratio_best_vs_torch": ratio,
                         "gflops": gflops, "pct_of_peak": 100.0 * gflops / peak if gflops and peak else None,
                         "repeats": {fw: r.get(fw, []) for fw in FRAMEWORKS},
                         "errors": r.get("errors", [])})
    return rows


def print_table(rows, peak):
    def f(v, fmt="{:.3f}"):
        return "-" if v is None else fmt.format(v)
    print(f"fp32 GEMM peak {f(peak, '{:.0f}')} GFLOP/s")
    print(f"{'net':20s} {'task':10s} {'mindspore':>10s} {'torch':>10s} {'onnxrt':>10s} {'best/pt':>8s} {'GFLOP/s':>8s}")
    for r in rows:
        print(f"{r['net']:20s} {r['task']:10s} {f(r['mindspore_s']):>10s} {f(r['torch_s']):>10s} "
              f"{f(r['onnxruntime_s']):>10s} {f(r['ratio_best_vs_torch'], '{:.2f}'):>8s} "
              f"{f(r['gflops'], '{:.0f}'):>8s}", flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", required=True, help="write the rows here (JSON)")
    parser.add_argument("--nets", default=None, help=f"comma-separated subset of {','.join(NETS)}")
    parser.add_argument("--frameworks", default=",".join(FRAMEWORKS))
    parser.add_argument("--repeats", type=int, default=3, help="processes per measurement (median)")
    parser.add_argument("--iters", type=int, default=3, help="timed calls per process (median)")
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--classes", type=int, default=10000, help="margin-head classes of the train step")
    parser.add_argument("--timeout", type=int, default=900, help="seconds per measurement process")
    parser.add_argument("--quick", action="store_true", help="smoke test: 1 repeat, 1 iter, batch 4, small inputs")
    parser.add_argument("--tasks", default="infer_b1,infer_b32,train_b32",
                        help="subset of infer_b1,infer_b32,train_b32 (not with --quick)")
    args = parser.parse_args(argv)
    nets = args.nets.split(",") if args.nets else (["lightcnn9"] if args.quick else list(NETS))
    unknown = [n for n in nets if n not in NETS]
    if unknown:
        parser.error(f"unknown net(s) {unknown}; known: {', '.join(NETS)}")
    all_tasks = ("infer_b1", "infer_b32", "train_b32")
    bad_tasks = [t for t in args.tasks.split(",") if t not in all_tasks]
    if bad_tasks:
        parser.error(f"unknown task(s) {bad_tasks}; known: {', '.join(all_tasks)}")
    frameworks = [f for f in args.frameworks.split(",") if f]
    if args.quick:
        args.repeats, args.iters, args.classes = 1, 1, 100
        tasks = [("infer_b4", 4, 0), ("train_b4", 4, args.classes)]
    else:
        tasks = [t for t in (("infer_b1", 1, 0), ("infer_b32", 32, 0), ("train_b32", 32, args.classes))
                 if t[0] in args.tasks.split(",")]

    peak = run_one("peak", {"threads": args.threads, "n": 1024 if args.quick else 4096,
                            "iters": 1 if args.quick else 5}, args.timeout)
    print(f"GEMM peak: {peak}", flush=True)
    results, macs = {}, {}
    for rep in range(args.repeats):
        for net in nets:
            size = input_size(net, args.quick)
            for task, batch, classes in tasks:
                order = frameworks[rep % len(frameworks):] + frameworks[:rep % len(frameworks)]
                for fw in order:
                    if fw == "onnxruntime" and task.startswith("train"):
                        continue
                    spec = {"net": net, "task": task, "batch": batch, "classes": classes, "size": list(size),
                            "iters": args.iters, "threads": args.threads,
                            "macs": fw == "mindspore" and net not in macs}
                    t0 = time.perf_counter()
                    res = run_one(fw, spec, args.timeout)
                    slot = results.setdefault((net, task), {})
                    if "seconds" in res:
                        slot.setdefault(fw, []).append(res["seconds"])
                    else:
                        slot.setdefault("errors", []).append(f"{fw}: {res.get('error')}")
                    if "macs" in res:
                        macs[net], macs[net + ":emb"] = res["macs"], res["embedding"]
                    print(f"[{rep + 1}/{args.repeats}] {net} {task} {fw}: "
                          f"{res.get('seconds', res.get('error'))} ({time.perf_counter() - t0:.0f} s wall)",
                          flush=True)
    rows = make_rows(results, macs, peak.get("gflops"), nets, tasks)
    out = {"machine": machine_info(args.threads), "peak_gflops": peak.get("gflops"), "peak": peak,
           "macs_per_image": macs, "repeats": args.repeats, "iters": args.iters, "quick": args.quick,
           "rows": rows}
    tmp = args.json + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(out, f, indent=1)
    os.replace(tmp, args.json)
    print_table(rows, peak.get("gflops"))
    print(f"wrote {args.json}")
    return out


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--_worker":
        result = WORKERS[sys.argv[2]](json.loads(sys.argv[3]))
        print("RESULT " + json.dumps(result), flush=True)
    else:
        main()
