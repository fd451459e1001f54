"""The eval flow of every model: targets -> inference network -> protocol -> one JSON + ROC PNG per target.

Targets (any combination): ``--bin_dir DIR --targets lfw,cfp_fp,agedb_30`` (insightface .bin sets),
``--data_root DIR`` with ``--protocols lfw[,blufr]`` (an LFW-format folder), and for recipes that have it
``--templates FILE`` (PFE template fusion). Every result goes to ``OUT_DIR/eval/<target>_result.json`` where
``<target>`` is ``<name>.bin``, ``<folder>.lfw``, ``<folder>.blufr``, ``<folder>.templates`` or ``ijbb.ijb`` /
``ijbc.ijb`` (``--ijb_dir DIR [--ijb_target IJBB|IJBC]``, common/evaluation/ijb.py): one name per result, never
shared. ``--save_embeddings true`` adds ``<target>_embeddings.npy`` + ``<target>_images.txt``.
After all targets, ``OUT_DIR/eval/report.html`` shows them on one page (common/evaluation/report.py).
``--onnx FILE`` scores any ONNX face model instead of the recipe's network, on the same protocols, with the
config's ``preprocess`` (or ``--preprocess {...}``) as its preprocessing (common/deploy/onnx_model.py).
"""
import os

from common.core.runtime import prepare
from common.core.config import load_config, read_yaml
from common.data.transforms import Preprocess
from common.core.errors import FaceIdError
from common.core.paths import check_output, writable_dir
from common.recipes.load import inference_net
from common.evaluation.sets import bin_file, folder_name, target_names
from common.evaluation.printer import result_table, seed_lines

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHIPPED_BLUFR = os.path.join(ROOT, "protocols", "blufr_lfw_config.mat")


class Target:
    def __init__(self, kind, name, path, out_dir, inputs):
        self.kind, self.name, self.path = kind, name, path
        self.key = f"{name}.{kind}"
        self.out_json = os.path.join(out_dir, f"{self.key}_result.json")
        self.inputs = [p for p in inputs if p]

    def outputs(self, save_embeddings):
        stem = self.out_json[: -len("_result.json")]
        files = [self.out_json, stem + "_result_roc.png", stem + "_result_pairs.npz"]
        return files + ([stem + "_embeddings.npy", stem + "_images.txt"] if save_embeddings else [])


def load(recipe, argv=None, prog=None):
    return load_config(recipe.default_config, argv, command="eval", prog=prog or f"{recipe.name}/eval.py")


def plan_targets(recipe, cfg, protocols=None):
    """The targets this run scores, each with its result file; refused up front when an input is missing."""
    out_dir = os.path.join(os.path.abspath(cfg.out_dir), "eval")
    targets = []
    if cfg.get("bin_dir"):
        for name in target_names(cfg.get("targets"), "lfw,cfp_fp,agedb_30"):
            path = bin_file(cfg.bin_dir, name, "--bin_dir")
            targets.append(Target("bin", name, path, out_dir, [path]))
    if cfg.get("data_root"):
        if not os.path.isdir(cfg.data_root):
            raise FaceIdError(f"{cfg.data_root}: --data_root is not a folder")
        name = folder_name(cfg.data_root)
        for proto in target_names(protocols or cfg.get("protocols"), "lfw"):
            if proto not in ("lfw", "blufr"):
                raise FaceIdError(f"--protocols {proto}: unknown protocol (lfw, blufr)")
            extra = cfg.get("pairs") if proto == "lfw" else (cfg.get("blufr_config") or SHIPPED_BLUFR)
            targets.append(Target(proto, name, cfg.data_root, out_dir, [cfg.data_root, extra, cfg.get("image_list")]))
    if cfg.get("templates"):
        if cfg.get("onnx"):
            raise FaceIdError(f"--templates with --onnx {cfg.onnx}: template fusion needs the model's own uncertainty "
                              f"output; an ONNX model is scored on --bin_dir / --data_root")
        if "templates" not in recipe.eval_extras:
            raise FaceIdError(f"--templates: {recipe.name} has no template protocol (PFE has)")
        name = os.path.splitext(os.path.basename(os.path.normpath(cfg.templates)))[0]
        targets.append(Target("templates", name, cfg.templates, out_dir, [cfg.templates]))
    if cfg.get("ijb_dir"):  # IJB-B / IJB-C (common/evaluation/ijb.py): meta files checked here, before any work
        from common.evaluation.ijb import detect_target, locate
        from common.protocols.ijb import meta_files, target_info

        meta_dir, _ = locate(cfg.ijb_dir)
        key, _ = target_info(cfg.get("ijb_target") or detect_target(cfg.ijb_dir))
        files = meta_files(meta_dir, key)
        targets.append(Target("ijb", key.lower(), cfg.ijb_dir, out_dir,
                              [v for k, v in files.items() if k != "1N"] + list((files["1N"] or {}).values())))
    if not targets:
        raise FaceIdError("nothing to evaluate: give --data_root DIR (LFW-format folder) and/or --bin_dir DIR "
                          "(insightface <target>.bin files) and/or --ijb_dir DIR (IJB-B / IJB-C)" +
                          (" and/or --templates FILE" if "templates" in recipe.eval_extras else ""))
    inputs = [p for t in targets for p in t.inputs] + [cfg.get("ckpt_file"), cfg.get("onnx"), cfg.config]
    for t in targets:
        for out in t.outputs(cfg.get("save_embeddings")):
            check_output(out, *inputs)
    check_output(report_path(cfg), *inputs)
    writable_dir(cfg.out_dir, "--out_dir")  # read-only, a file, a full disk: said now, before any embedding
    writable_dir(os.path.dirname(report_path(cfg)), "--out_dir")
    return targets


def report_path(cfg):
    """``OUT_DIR/eval/report.html``: every target of the run on one page (common/evaluation/report.py)."""
    return os.path.join(os.path.abspath(cfg.out_dir), "eval", "report.html")


def eval_preprocess(cfg):
    """The recipe's preprocessing, behind face detection + alignment when ``--align`` asks for it."""
    pre = Preprocess.from_config(cfg.preprocess)
    template = align_template(cfg)
    if not template:
        return pre, None
    from common.align import aligned_preprocess

    return aligned_preprocess(pre, template), template


def align_template(cfg):
    """``--align TEMPLATE`` or ``--align true`` (the recipe's template); the recipe YAML's ``align`` alone only
    names the template, it does not switch alignment on (eval inputs are usually aligned crops already)."""
    if "align" not in (cfg.get("_given") or ()):
        return None
    value = cfg.get("align")
    if value is True:
        value = read_yaml(cfg.config).get("align")
        if not value:
            raise FaceIdError(f"--align true: {cfg.config} names no alignment template; give --align TEMPLATE")
    return value or None


def onnx_model(cfg):
    """``--onnx FILE``: that face model run by ONNX Runtime on the config's preprocessing (``preprocess`` of
    ``--config``, or ``--preprocess {...}``), its input checked against it (common.deploy.onnx_model); else None."""
    path = cfg.get("onnx")
    if not path:
        return None
    if cfg.get("ckpt_file"):
        raise FaceIdError(f"--onnx {path} and --ckpt_file {cfg.ckpt_file}: give one (the ONNX file is the whole model)")
    if "backend" in (cfg.get("_given") or ()) and cfg.get("backend") != "onnxruntime":
        print(f"note: --backend {cfg.backend} is not used with --onnx (ONNX Runtime runs the file)", flush=True)
    from common.deploy.onnx_model import onnx_embedding

    pre = Preprocess.from_config(cfg.preprocess, source=f"{cfg.config}: preprocess"
                                 if "preprocess" not in (cfg.get("_given") or ()) else "--preprocess")
    emb = onnx_embedding(os.path.abspath(path), pre.output_size, int(cfg.get("eval_batch_size") or 64))
    print(f"onnx: {emb.reason}", flush=True)
    return emb


def run(recipe, argv=None, protocols=None, prog=None):
    """Evaluate as ``argv`` says; returns {target key: result dict}."""
    cfg = load(recipe, argv, prog)
    targets = plan_targets(recipe, cfg, protocols)
    prepare(cfg, f"{recipe.name} eval")
    onnx = onnx_model(cfg)  # --onnx FILE: that model through ONNX Runtime, instead of the recipe's network
    ckpt = cfg.get("ckpt_file")
    if ckpt:
        ckpt = os.path.abspath(ckpt)
    elif not onnx:
        print("WARNING: no --ckpt_file: scoring an UNTRAINED network (random weights, seed "
              f"{cfg.get('seed', 0)}); its numbers say nothing about the model", flush=True)
    net = None if onnx else inference_net(recipe, cfg, ckpt)
    pre, template = eval_preprocess(cfg)
    flip = bool(cfg.get("flip"))
    if flip and not recipe.flip and not onnx:
        print(f"note: --flip is not used by {recipe.name} ({recipe.flip_note})", flush=True)
        flip = False
    extra = {"model": recipe.name, "backbone": cfg.backbone, "checkpoint": ckpt, "align": template,
             "config": cfg.config, "preprocess": dict(Preprocess.from_config(cfg.preprocess).__dict__)}
    if onnx:
        extra.update(backbone=None, checkpoint=None, onnx=onnx.path)
    emb = onnx or (recipe.embedding_of(net) if recipe.embedding_of else net)
    if not onnx and (cfg.get("backend") or "mindspore") != "mindspore":
        from common.deploy.backends import make_backend

        emb = make_backend(emb, Preprocess.from_config(cfg.preprocess).output_size, cfg.backend, batch_size=int(cfg.get("eval_batch_size") or 64),
                           name=f"{recipe.name}:{cfg.backbone}")
        print(f"backend: {emb.backend} ({emb.reason})", flush=True)
    batch = onnx.batch_size if onnx else int(cfg.get("eval_batch_size") or 64)  # a fixed-batch ONNX: its batch
    ctx = dict(cfg=cfg, net=net, emb=emb, pre=pre, batch=batch, flip=flip, extra=extra,
               save_embeddings=bool(cfg.get("save_embeddings")))
    results = {}
    for t in targets:
        runner = (None if onnx else recipe.eval_extras.get(t.kind)) or RUNNERS[t.kind]
        results[t.key] = runner(t, **ctx)
    label = f"checkpoint {ckpt}" if ckpt else "UNTRAINED"
    print(f"{recipe.name} (ONNX {onnx.path}):" if onnx else f"{recipe.name} ({cfg.backbone}, {label}):")
    print(result_table(results))
    for line in seed_lines(results, recipe.eval_lines):  # the old zoos' result lines, for scripts that grep them
        print(line)
    from common.evaluation.report import write_report

    print(f"report: {write_report(report_path(cfg), [(t.key, results[t.key], t.out_json) for t in targets])}")
    return results


def _embeddings_stem(t, save):
    return t.out_json[: -len("_result.json")] if save else None


def run_bin(t, cfg, net, emb, pre, batch, flip, extra, save_embeddings):
    from common.evaluation.targets import bin_set

    return bin_set(emb, pre, t.path, t.out_json, batch, extra=dict(extra),
                   embeddings_out=_embeddings_stem(t, save_embeddings))


def run_lfw(t, cfg, net, emb, pre, batch, flip, extra, save_embeddings):
    from common.evaluation.targets import lfw_folder

    return lfw_folder(emb, pre, t.path, cfg.get("pairs"), t.out_json, batch, flip=flip, extra=dict(extra),
                      image_list=cfg.get("image_list"), embeddings_out=_embeddings_stem(t, save_embeddings))


def run_blufr(t, cfg, net, emb, pre, batch, flip, extra, save_embeddings):
    from common.evaluation.targets import blufr_folder

    return blufr_folder(emb, pre, t.path, cfg.get("blufr_config") or SHIPPED_BLUFR, t.out_json,
                        batch, extra=dict(extra), image_list=cfg.get("image_list"),
                        embeddings_out=_embeddings_stem(t, save_embeddings))


def run_ijb(t, cfg, net, emb, pre, batch, flip, extra, save_embeddings):
    from common.core.config import read_yaml
    from common.evaluation.ijb import ijb_set

    template = cfg.get("ijb_align") or (cfg.get("align") if isinstance(cfg.get("align"), str) else None) \
        or read_yaml(cfg.config).get("align")
    return ijb_set(emb, pre, t.path, t.name.upper(), t.out_json, batch, flip=flip, template=template,
                   extra=dict(extra), embeddings_out=_embeddings_stem(t, save_embeddings),
                   norm_score=bool(cfg.get("ijb_norm_score", True)),
                   detector_score=bool(cfg.get("ijb_detector_score", True)))


RUNNERS = {"bin": run_bin, "lfw": run_lfw, "blufr": run_blufr, "ijb": run_ijb}
