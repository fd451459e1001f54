"""``python -m common.import_weights --from FORMAT --arch NAME --in FILE (--out model.ckpt | --out_dir D)``

Reads published weights without running code from the file, maps every tensor onto the zoo network, prints the
table (source tensor -> zoo parameter, shape, note; dropped, unused, missing), refuses anything unmapped unless
``--allow_missing`` names it (comma-separated names or glob patterns, source or zoo names), runs the parity
check where the source framework is installed (ONNX: onnxruntime), then writes the checkpoint atomically
(``--out``) and / or a model bundle (``--out_dir``: model.ckpt + config.yaml + MODEL_CARD.md, see ``bundle``).
"""
import argparse
import os
import shlex
import sys

import common.core.env  # noqa: E402,F401  (before mindspore)

from common.core.errors import FaceIdError, guard  # noqa: E402
from common.tools.import_weights import FORMATS, bundle, convert  # noqa: E402
from common.tools.import_weights.result import check, load_into, print_table, save  # noqa: E402

PARITY_TOLERANCE = 1e-4


def parse(argv):
    p = argparse.ArgumentParser(prog="python -m common.import_weights", description=__doc__.split("\n\n")[1])
    p.add_argument("--from", dest="fmt", required=True, choices=sorted(FORMATS), help="source format")
    p.add_argument("--arch", required=True, help="zoo network, e.g. iresnet50, mbf, lightcnn29v2, spherenet20a, "
                                                 "spherenet64, pfe_spherenet64")
    p.add_argument("--in", dest="src", required=True, help="source file (a TF checkpoint prefix, .index or folder)")
    p.add_argument("--out", default=None, help="MindSpore checkpoint to write")
    p.add_argument("--out_dir", default=None, help="model bundle folder to write (new or empty): model.ckpt, "
                                                   "config.yaml (the --model recipe), MODEL_CARD.md")
    p.add_argument("--input_size", default=None, help="HxW the network takes, for nets whose last kernel depends "
                                                      "on it (mobilefacenet --input_size 112x96: GDC 7x6)")
    p.add_argument("--model", default=None, help="bundle: the model folder whose recipe config.yaml is "
                                                 "(default cosface: margin backbone, cosine scoring)")
    p.add_argument("--preprocess", action="append", default=[], metavar="KEY=VALUE",
                   help="bundle: preprocessing of the source (repeatable; or a YAML mapping), e.g. std=127.5, "
                        "color=bgr; default RGB, (x - 127.5) / 128, the crop of the input size")
    p.add_argument("--align", default=None, help="bundle: alignment template of the source (default from the "
                                                 "input size: 112x96 sphereface112x96, 112x112 arcface112)")
    p.add_argument("--source_url", default=None, help="bundle card: where the file comes from")
    p.add_argument("--license", default=None, help="bundle card: the weights' license (default: unknown)")
    p.add_argument("--trained_on", default=None, help="bundle card: training data, e.g. CASIA-WebFace")
    p.add_argument("--reported", default=None, help="bundle card: the publisher's numbers, e.g. 'LFW 99.30'")
    p.add_argument("--allow_missing", default="", help="comma-separated names / glob patterns that may stay "
                                                       "unmapped (source tensors dropped, zoo parameters left "
                                                       "at their initial values)")
    p.add_argument("--keep_classifier", action="store_true", help="lightcnn_torch: keep fc2 (backbone.* + fc2.*)")
    p.add_argument("--source_channels", choices=("bgr", "rgb"), default=None,
                   help="sphereface_torch: channel order the source was trained on (default bgr; the import "
                        "always takes RGB)")
    p.add_argument("--quiet", action="store_true", help="print only the summary, not the per-tensor table")
    return p.parse_args(argv)


def _print_mismatch(exc):
    """The short table a layer-matching refusal carries (last matched rows, then the disagreement)."""
    table = getattr(exc, "table", None)
    if not table:
        return
    w1 = max(len("source layer"), *(len(r[0]) for r in table))
    w2 = max(len("zoo layer"), *(len(r[1]) for r in table))
    print(f"{'source layer':<{w1}}  {'zoo layer':<{w2}}", file=sys.stderr)
    for a, b, ok in table:
        print(f"{a:<{w1}}  {b:<{w2}}  {ok}", file=sys.stderr)


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse(argv)
    src, out = args.src, args.out
    if not out and not args.out_dir:
        raise FaceIdError("give --out FILE (a checkpoint) and / or --out_dir D (a model bundle)")
    if out and os.path.abspath(src) == os.path.abspath(out):
        raise FaceIdError(f"--out {out}: would overwrite the input")
    if out and os.path.isdir(out):
        raise FaceIdError(f"--out {out}: is a folder; give a file name such as model.ckpt (or use --out_dir)")
    if out:
        from common.core.paths import writable_file

        writable_file(out, "--out")  # a read-only folder, a file in the way, a full disk: before any conversion
    bundle_opts = [o for o in ("model", "align", "source_url", "license", "trained_on", "reported")
                   if getattr(args, o)] + (["preprocess"] if args.preprocess else [])
    if bundle_opts and not args.out_dir:
        raise FaceIdError(f"--{bundle_opts[0]}: describes a model bundle; give --out_dir D")
    model = args.model or bundle.DEFAULT_MODEL
    preprocess_over = bundle.parse_preprocess(args.preprocess)
    if args.out_dir:
        bundle.check_out_dir(args.out_dir)
        if os.path.abspath(src).startswith(os.path.abspath(args.out_dir) + os.sep):
            raise FaceIdError(f"--out_dir {args.out_dir}: holds the input {src}")
        from common.recipes import contract

        contract.get(model)  # an unknown --model is refused before any work
    allow = tuple(p.strip() for p in args.allow_missing.split(",") if p.strip())
    options = {"keep_classifier": args.keep_classifier, "allow": allow}
    if args.source_channels:
        options["source_channels"] = args.source_channels
    if args.input_size:
        if args.fmt != "torch":
            raise FaceIdError("--input_size: only --from torch takes it (the other formats fix the input size)")
        options["input_size"] = args.input_size
    try:
        imp = convert(args.fmt, src, args.arch, **options)
    except FaceIdError as exc:
        _print_mismatch(exc)
        raise
    if not imp.input_size and imp.net is not None:
        imp.input_size = tuple(int(v) for v in getattr(imp.net, "input_size", None) or ())
    if args.quiet:
        rows, imp.rows = imp.rows, []
        print_table(imp, allow)
        imp.rows = rows
    else:
        print_table(imp, allow)
    check(imp, allow)
    if imp.net_kwargs and not args.out_dir:
        print(f"backbone_args for this checkpoint: {imp.net_kwargs} (set them in the model's YAML, or use --out_dir "
              f"for a bundle whose config.yaml has them)")
    if imp.preprocess:
        print(f"preprocessing of these weights: {imp.preprocess}")
    parity = f"not run here ({imp.parity_skip})"
    if imp.parity is not None and imp.net is not None:
        result = imp.parity(load_into(imp.net, imp))
        if result is None:
            parity = f"not run ({imp.parity_skip})"
        else:
            err, what = result
            parity = f"{what}: max |difference| / max |reference| = {err:.2e} (limit {PARITY_TOLERANCE:g})"
            if not err <= PARITY_TOLERANCE:
                print(f"parity: {parity}")
                raise FaceIdError(f"{src}: parity check failed ({err:.2e} > {PARITY_TOLERANCE:g}); nothing written")
    print(f"parity: {parity}")
    if out:
        save(imp, out)
        print(f"wrote {out}: {len(imp.params)} parameters of {imp.arch}; load it with --ckpt_file {out}")
    if args.out_dir:
        command = shlex.join(["python", "-m", "common.import_weights"] + argv)
        files = bundle.write_bundle(imp, args.out_dir, model, command, parity, preprocess_over, args.align,
                                    source_url=args.source_url, license=args.license, trained_on=args.trained_on,
                                    reported=args.reported)
        d = args.out_dir
        print(f"wrote the model bundle {d}: {', '.join(os.path.basename(f) for f in files.values())} "
              f"({len(imp.params)} parameters of {imp.arch})")
        print(f"run it: python {model}/eval.py --config {os.path.join(d, 'config.yaml')} "
              f"--ckpt_file {os.path.join(d, 'model.ckpt')} --bin_dir B --targets cfp_ff,cfp_fp --out_dir O")
    return imp


if __name__ == "__main__":
    guard(main)
