"""``python -m common.import_weights --from FORMAT --arch NAME --in FILE --out model.ckpt``

Reads published weights without running code from the file, maps every tensor onto the zoo network, prints the
table (source tensor -> zoo parameter, shape, note; dropped, unused, missing), refuses anything unmapped unless
``--allow_missing`` names it (comma-separated names or glob patterns, source or zoo names), runs the parity
check where the source framework is installed (ONNX: onnxruntime), then writes the checkpoint atomically.
"""
import argparse
import os

import common.core.env  # noqa: E402,F401  (before mindspore)

from common.core.errors import FaceIdError, guard  # noqa: E402
from common.tools.import_weights import FORMATS, convert  # noqa: E402
from common.tools.import_weights.result import check, load_into, print_table, save  # noqa: E402

PARITY_TOLERANCE = 1e-4


def parse(argv):
    p = argparse.ArgumentParser(prog="python -m common.import_weights", description=__doc__.split("\n\n")[1])
    p.add_argument("--from", dest="fmt", required=True, choices=sorted(FORMATS), help="source format")
    p.add_argument("--arch", required=True, help="zoo network, e.g. iresnet50, mbf, lightcnn29v2, spherenet20a, "
                                                 "spherenet64, pfe_spherenet64")
    p.add_argument("--in", dest="src", required=True, help="source file (a TF checkpoint prefix, .index or folder)")
    p.add_argument("--out", required=True, help="MindSpore checkpoint to write")
    p.add_argument("--allow_missing", default="", help="comma-separated names / glob patterns that may stay "
                                                       "unmapped (source tensors dropped, zoo parameters left "
                                                       "at their initial values)")
    p.add_argument("--keep_classifier", action="store_true", help="lightcnn_torch: keep fc2 (backbone.* + fc2.*)")
    p.add_argument("--source_channels", choices=("bgr", "rgb"), default=None,
                   help="sphereface_torch: channel order the source was trained on (default bgr; the import "
                        "always takes RGB)")
    p.add_argument("--quiet", action="store_true", help="print only the summary, not the per-tensor table")
    return p.parse_args(argv)


def main(argv=None):
    args = parse(argv)
    src, out = args.src, args.out
    if os.path.abspath(src) == os.path.abspath(out):
        raise FaceIdError(f"--out {out}: would overwrite the input")
    if os.path.isdir(out):
        raise FaceIdError(f"--out {out}: is a folder; give a file name such as model.ckpt")
    options = {"keep_classifier": args.keep_classifier}
    if args.source_channels:
        options["source_channels"] = args.source_channels
    imp = convert(args.fmt, src, args.arch, **options)
    allow = tuple(p.strip() for p in args.allow_missing.split(",") if p.strip())
    if args.quiet:
        rows, imp.rows = imp.rows, []
        print_table(imp, allow)
        imp.rows = rows
    else:
        print_table(imp, allow)
    check(imp, allow)
    if imp.net_kwargs:
        print(f"backbone_args for this checkpoint: {imp.net_kwargs} (set them in the model's YAML)")
    print(f"preprocessing of these weights: {imp.preprocess}")
    if imp.parity is not None and imp.net is not None:
        result = imp.parity(load_into(imp.net, imp))
        if result is None:
            print(f"parity: not run ({imp.parity_skip})")
        else:
            err, what = result
            print(f"parity: {what}: max |difference| / max |reference| = {err:.2e} (limit {PARITY_TOLERANCE:g})")
            if not err <= PARITY_TOLERANCE:
                raise FaceIdError(f"{src}: parity check failed ({err:.2e} > {PARITY_TOLERANCE:g}); nothing written")
    else:
        print(f"parity: not run here ({imp.parity_skip})")
    save(imp, out)
    print(f"wrote {out}: {len(imp.params)} parameters of {imp.arch}; load it with --ckpt_file {out}")
    return imp


if __name__ == "__main__":
    guard(main)
