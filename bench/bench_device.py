"""One part of the GPU benchmark that bench/device_run.sh runs (each part in its own process, with its own time
limit); prints one JSON object on its last stdout line.

    python bench/bench_device.py ms_train    --net iresnet50 --batch 128 --steps 30   MindSpore GPU, fp16 O2
    python bench/bench_device.py torch_train --net iresnet50 --batch 128 --steps 30   PyTorch CUDA, AMP
    python bench/bench_device.py export_onnx --net iresnet50 --file F.onnx             dynamic batch (CPU)
    python bench/bench_device.py ort_infer   --file F.onnx --providers cuda --batches 1,32,256

Train steps (IResNet-50 / MobileFaceNet + a CosFace head over 10,000 classes, SGD momentum): "sync" reads the
loss back to the host after every step (what a loop logging each step does), "nosync" queues the steps and
reads the last loss once (the device runs ahead). The first step (graph compile + the CUDA PTX JIT of a CUDA
11.8 build on a newer GPU) is timed on its own and left out of the img/s. Both frameworks see the same random
batch on the device: this measures the step, not the data pipeline.
"""
import argparse
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
T0 = time.perf_counter()
CLASSES = 10000


def _emit(obj):
    print(json.dumps(obj), flush=True)


def _rates(step, sync, steps, batch):
    """img/s of ``steps`` steps, syncing after each (sync) or only at the end (nosync)."""
    out = {}
    for mode in ("sync", "nosync"):
        t = time.perf_counter()
        last = None
        for _ in range(steps):
            last = step()
            if mode == "sync":
                sync(last)
        sync(last)
        out[f"img_s_{mode}"] = round(steps * batch / (time.perf_counter() - t), 1)
    return out


def ms_train(args):
    sys.path.insert(0, ROOT)
    import common.core.env  # noqa: F401
    import mindspore as ms
    import numpy as np
    from mindspore import nn

    from common.heads.margin import MarginHead
    from common.nets import create_backbone

    t_import = time.perf_counter() - T0
    ms.set_device(args.target, args.device_id)
    ms.set_context(mode=ms.GRAPH_MODE)
    net = create_backbone(args.net)
    if args.amp != "O0":
        net = ms.amp.auto_mixed_precision(net, args.amp, dtype=ms.float16)
    head = MarginHead(net.embedding_size, CLASSES, s=64.0, m1=1.0, m2=0.0, m3=0.35)

    class WithLoss(nn.Cell):
        def __init__(self):
            super().__init__()
            self.net, self.head = net, head
            self.ce = nn.SoftmaxCrossEntropyWithLogits(sparse=True, reduction="mean")

        def construct(self, images, labels):
            emb = self.net(images).astype(ms.float32)
            return self.ce(self.head(emb, labels), labels)

    cell = WithLoss()
    scale = 1024.0 if args.amp != "O0" else 1.0
    opt = nn.Momentum(cell.trainable_params(), 1e-3, 0.9, loss_scale=scale)
    step_cell = nn.TrainOneStepCell(cell, opt, sens=scale)
    step_cell.set_train()
    rng = np.random.default_rng(0)
    x = ms.Tensor(rng.standard_normal((args.batch, 3, 112, 112)).astype(np.float32))
    y = ms.Tensor(rng.integers(0, CLASSES, args.batch).astype(np.int32))
    t = time.perf_counter()
    first = float(step_cell(x, y).asnumpy())
    first_s = time.perf_counter() - t
    for _ in range(3):
        step_cell(x, y)
    out = {"framework": "mindspore", "version": ms.__version__, "net": args.net, "batch": args.batch,
           "amp": args.amp, "import_s": round(t_import, 2), "first_step_s": round(first_s, 2),
           "first_loss": first, "steps": args.steps}
    out.update(_rates(lambda: step_cell(x, y), lambda v: v.asnumpy(), args.steps, args.batch))
    _emit(out)


def torch_train(args):
    import torch

    if not torch.cuda.is_available():
        _emit({"framework": "torch", "error": f"torch {torch.__version__} has no CUDA here (a CPU build?)"})
        return
    sys.path.insert(0, ROOT)
    from tests import torch_nets  # the one module of PyTorch reference nets

    dev = torch.device("cuda", args.device_id)
    torch.backends.cudnn.benchmark = True
    net = torch_nets.build(args.net, (3, 112, 112)).to(dev).train()
    head = torch_nets.MarginHead(512 if args.net.startswith("iresnet") else 128, CLASSES).to(dev)
    with torch.no_grad():
        emb = net(torch.zeros(2, 3, 112, 112, device=dev)).shape[1]
    if emb != head.weight.shape[1]:
        head = torch_nets.MarginHead(emb, CLASSES).to(dev)
    opt = torch.optim.SGD(list(net.parameters()) + list(head.parameters()), lr=1e-3, momentum=0.9)
    scaler = torch.cuda.amp.GradScaler()
    x = torch.randn(args.batch, 3, 112, 112, device=dev)
    y = torch.randint(0, CLASSES, (args.batch,), device=dev)

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=torch.float16):
            logits = head(net(x).float(), y)
            loss = torch.nn.functional.cross_entropy(logits, y)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        return loss.detach()

    t = time.perf_counter()
    first = float(step())
    first_s = time.perf_counter() - t
    for _ in range(3):
        step()
    torch.cuda.synchronize()
    out = {"framework": "torch", "version": torch.__version__, "net": args.net, "batch": args.batch, "amp": "autocast fp16",
           "first_step_s": round(first_s, 2), "first_loss": first, "steps": args.steps,
           "gpu": torch.cuda.get_device_name(dev)}
    out.update(_rates(step, lambda v: v.item(), args.steps, args.batch))
    _emit(out)


def export_onnx(args):
    sys.path.insert(0, ROOT)
    import common.core.env  # noqa: F401
    import mindspore as ms

    from common.deploy.export import export
    from common.nets import create_backbone

    ms.set_device("CPU")
    ms.set_context(mode=ms.GRAPH_MODE)
    net = create_backbone(args.net)
    t = time.perf_counter()
    path = export(net, (3, 112, 112), args.file, "ONNX", "dynamic")
    _emit({"file": path, "net": args.net, "export_s": round(time.perf_counter() - t, 2)})


def ort_infer(args):
    sys.path.insert(0, ROOT)
    import numpy as np
    import onnxruntime as ort

    from common.core.env import ORT_NAMES

    want = ORT_NAMES[args.providers]
    if want not in ort.get_available_providers():
        _emit({"providers": args.providers, "error": f"onnxruntime {ort.__version__} has no {want} "
                                                     f"(it offers {', '.join(ort.get_available_providers())})"})
        return
    opts = [{"device_id": args.device_id}]
    if args.providers == "tensorrt":
        cache = os.path.join(os.path.dirname(os.path.abspath(args.file)), "trt_cache")
        opts = [{"device_id": args.device_id, "trt_fp16_enable": True, "trt_engine_cache_enable": True,
                 "trt_engine_cache_path": cache}]
    t = time.perf_counter()
    sess = ort.InferenceSession(args.file, providers=[want, "CPUExecutionProvider"], provider_options=opts + [{}])
    out = {"providers": args.providers, "version": ort.__version__, "session_s": round(time.perf_counter() - t, 2),
           "active": sess.get_providers()}
    if want not in sess.get_providers():
        out["error"] = f"{want} did not start (its CUDA/TensorRT libraries?)"
        _emit(out)
        return
    name = sess.get_inputs()[0].name
    for b in [int(v) for v in args.batches.split(",")]:
        x = np.random.default_rng(b).standard_normal((b, 3, 112, 112)).astype(np.float32)
        t = time.perf_counter()
        sess.run(None, {name: x})
        out[f"b{b}_first_s"] = round(time.perf_counter() - t, 2)  # TensorRT: the engine build for this shape
        iters = max(3, min(50, 2048 // b))
        t = time.perf_counter()
        for _ in range(iters):
            sess.run(None, {name: x})
        out[f"b{b}_img_s"] = round(iters * b / (time.perf_counter() - t), 1)
    _emit(out)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="bench/bench_device.py")
    ap.add_argument("part", choices=["ms_train", "torch_train", "export_onnx", "ort_infer"])
    ap.add_argument("--net", default="iresnet50")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--amp", default="O2")
    ap.add_argument("--device_id", type=int, default=0)
    ap.add_argument("--target", default="GPU", help="ms_train's device (CPU: a smoke run of this script)")
    ap.add_argument("--file")
    ap.add_argument("--providers", default="cuda", choices=["cuda", "tensorrt"])
    ap.add_argument("--batches", default="1,32,256")
    args = ap.parse_args(argv)
    {"ms_train": ms_train, "torch_train": torch_train, "export_onnx": export_onnx, "ort_infer": ort_infer}[args.part](args)


if __name__ == "__main__":
    main()
