"""One-time conversion of the public MTCNN weights to the plain array file the zoo loads.

    pip download --no-deps facenet-pytorch==2.6.0 -d /tmp/fp
    python scripts/convert_mtcnn_weights.py /tmp/fp/facenet_pytorch-2.6.0-py3-none-any.whl

Reads ``facenet_pytorch/data/{pnet,rnet,onet}.pt`` (torch state_dicts, MIT licensed, the MTCNN weights of
davidsandberg/facenet ``det1/2/3.npy`` converted by facenet-pytorch) straight out of the wheel, and writes
``common/align/weights/mtcnn.npz`` (float32 arrays named ``pnet.conv1.weight`` ..., no pickle) and
``common/align/weights/PROVENANCE`` (wheel, member names, sha256 of each). Needs torch once, here only; the zoo
reads the .npz with ``np.load(allow_pickle=False)``. Arrays are stored exactly as in the state_dicts (PyTorch
layouts: conv OIHW, dense (out, in) with the inputs in the Caffe (W, H, C) flatten order).
"""
import argparse
import hashlib
import io
import os
import sys
import zipfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_DIR = os.path.join(ROOT, "common", "align", "weights")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("wheel", help="facenet_pytorch-*.whl (pip download --no-deps facenet-pytorch)")
    ap.add_argument("--out_dir", default=OUT_DIR)
    args = ap.parse_args(argv)
    import torch  # conversion only

    arrays, lines = {}, []
    wheel_sha = hashlib.sha256(open(args.wheel, "rb").read()).hexdigest()
    lines.append(f"source wheel: {os.path.basename(args.wheel)} (PyPI facenet-pytorch), sha256 {wheel_sha}")
    with zipfile.ZipFile(args.wheel) as zf:
        for net in ("pnet", "rnet", "onet"):
            member = f"facenet_pytorch/data/{net}.pt"
            data = zf.read(member)
            lines.append(f"{member}: sha256 {hashlib.sha256(data).hexdigest()}, {len(data)} bytes")
            sd = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
            for k, v in sd.items():
                arrays[f"{net}.{k}"] = v.detach().cpu().numpy().astype(np.float32)
    os.makedirs(args.out_dir, exist_ok=True)
    out = os.path.join(args.out_dir, "mtcnn.npz")
    tmp = out + ".tmp.npz"
    np.savez(tmp, **arrays)
    os.replace(tmp, out)
    npz_sha = hashlib.sha256(open(out, "rb").read()).hexdigest()
    lines.append(f"common/align/weights/mtcnn.npz: sha256 {npz_sha}, {len(arrays)} arrays "
                 f"(float32, names '<net>.<state_dict key>', layouts as in the state_dicts)")
    lines.append("converted by scripts/convert_mtcnn_weights.py")
    with open(os.path.join(args.out_dir, "PROVENANCE"), "w", encoding="utf-8") as f:
        f.write("MTCNN weights (Zhang et al., 2016), as published in davidsandberg/facenet src/align/det{1,2,3}.npy\n"
                "and converted to PyTorch by facenet-pytorch (timesler/facenet-pytorch); both MIT, see LICENSE.\n\n")
        f.write("\n".join(lines) + "\n")
    print(f"wrote {out} ({os.path.getsize(out)} bytes, {len(arrays)} arrays)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
