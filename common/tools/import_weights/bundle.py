"""The model bundle an import writes: the same three things a training run leaves, ready for every entry.

    D/model.ckpt      the imported weights (MindSpore checkpoint of the zoo network)
    D/config.yaml     the model folder's recipe YAML, resolved (no ``base:``), with the source's backbone,
                      backbone_args (embedding size, input size), preprocess and align template
    D/MODEL_CARD.md   where the weights come from (file, sha256, origin, license, training data), the
                      publisher's numbers, the parity figure and the exact import command

``python <model>/eval.py --config D/config.yaml --ckpt_file D/model.ckpt ...`` (and export.py, common.compare,
common.identify) then run it with nothing edited by hand. The folder is written beside ``D`` under a temporary
name and renamed into place: all three files or none.
"""
import datetime
import hashlib
import os
import shutil
import zipfile

import yaml

from common.core.errors import FaceIdError

UNKNOWN = "unknown — check before use"
DEFAULT_MODEL = "cosface"   # a margin recipe: backbone -> embedding, cosine scoring; --model picks another


def check_out_dir(out_dir):
    """Refuse, before any work, a ``--out_dir`` that holds files or whose parent does not exist."""
    path = os.path.abspath(out_dir)
    if os.path.exists(path) and (not os.path.isdir(path) or os.listdir(path)):
        raise FaceIdError(f"--out_dir {out_dir}: exists and is not an empty folder; give a new folder "
                          f"(a bundle is never written over another)")
    parent = os.path.dirname(path)
    if os.path.exists(parent) and not os.path.isdir(parent):
        raise FaceIdError(f"--out_dir {out_dir}: parent {parent} is a file, not a folder")
    if not os.path.isdir(parent):
        raise FaceIdError(f"--out_dir {out_dir}: parent folder {parent} does not exist")
    from common.core.paths import writable_dir

    # the bundle is built in a temporary folder beside it: the parent must take files (read-only, full disk)
    writable_dir(parent, f"--out_dir {out_dir}: parent folder")
    return path


def parse_preprocess(items):
    """``--preprocess`` values: ``KEY=VALUE`` (value read as YAML) or a YAML mapping ``{mean: 127.5, ...}``."""
    out = {}
    for item in items or ():
        text = str(item).strip()
        if text.startswith("{"):
            try:
                data = yaml.safe_load(text)
            except yaml.YAMLError as exc:
                raise FaceIdError(f"--preprocess {text}: not a YAML mapping ({str(exc).splitlines()[0]})") from None
            if not isinstance(data, dict):
                raise FaceIdError(f"--preprocess {text}: expected a mapping such as {{mean: 127.5, std: 128}}")
            out.update(data)
            continue
        key, sep, value = text.partition("=")
        if not sep or not key.strip():
            raise FaceIdError(f"--preprocess {text}: expected KEY=VALUE (e.g. std=127.5) or a YAML mapping")
        try:
            out[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError:
            out[key.strip()] = value
    return out


def default_recipe(input_size):
    """(preprocess, align template) for a network input (C, H, W) when the format does not say: the SphereFace
    crop for 112x96 (from a 112x112 ArcFace crop that is columns 8..104: a centre crop, never a resize), the
    ArcFace template for 112x112; RGB, (x - 127.5) / 128."""
    c, h, w = (tuple(int(v) for v in input_size) + (3, 112, 112))[:3] if input_size else (3, 112, 112)
    pre = {"channels": c, "resize": None, "crop": None, "mean": 127.5, "std": 128.0, "flip": True, "color": "rgb"}
    if (h, w) == (112, 96):
        pre["crop"] = [112, 96]
        return pre, "sphereface112x96"
    pre["resize"] = [h, w]
    return pre, ("arcface112" if (c, h, w) == (3, 112, 112) else None)


def sha256(path):
    if not os.path.isfile(path):
        return None
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _container(path, fmt):
    if not os.path.isfile(path):
        return "a checkpoint folder / prefix"
    if fmt.endswith("torch") or fmt == "torch":
        return "PyTorch zip (torch.save, >= 1.6)" if zipfile.is_zipfile(path) else "PyTorch legacy pickle (pre-1.6)"
    return os.path.splitext(path)[1].lstrip(".") or "file"


def _plain(v):
    if isinstance(v, tuple):
        return [_plain(x) for x in v]
    if isinstance(v, list):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    return v.item() if hasattr(v, "item") else v


def build_config(imp, model, preprocess_over=None, align=None, out_dir=None):
    """The bundle's config: ``model``'s recipe YAML (resolved) + the source's backbone, args, preprocess, align.
    Checked the way every entry checks it (preprocess valid, its size equal to the backbone's input)."""
    from common.core.config import Config, read_yaml
    from common.recipes import contract

    recipe = contract.get(model)
    cfg = read_yaml(recipe.default_config)
    pre, template = default_recipe(imp.input_size)
    pre.update(imp.recipe.get("preprocess") or {})
    pre.update(preprocess_over or {})
    template = align or imp.recipe.get("align") or template
    cfg.update(backbone=imp.arch, backbone_args=_plain(dict(imp.net_kwargs)), preprocess=_plain(pre))
    if out_dir:  # a fine-tuning run of the bundle writes beside nothing of the recipe's own runs
        cfg.update(out_dir=os.path.join("runs", f"{os.path.basename(os.path.normpath(out_dir))}_finetune"),
                   ckpt_prefix=f"{model}_{imp.arch}")
    if template:
        cfg["align"] = template
    else:
        cfg.pop("align", None)
    from common.data.transforms import Preprocess

    try:
        size = Preprocess.from_config(cfg["preprocess"], source="--preprocess").output_size
    except ValueError as exc:
        raise FaceIdError(f"--preprocess: {exc}") from None
    if imp.input_size and tuple(size) != tuple(imp.input_size):
        raise FaceIdError(f"--preprocess gives input {tuple(size)} but the imported {imp.arch} takes "
                          f"{tuple(imp.input_size)}; change crop / resize or --input_size")
    if template:
        from common.align import TEMPLATES

        if template not in TEMPLATES:
            raise FaceIdError(f"--align {template}: unknown template (known: {', '.join(sorted(TEMPLATES))})")
    return Config(cfg), recipe


def describe_preprocess(pre, template):
    order = str(pre.get("color", "rgb")).upper() if int(pre.get("channels", 3)) == 3 else "gray"
    size = pre.get("crop") or pre.get("resize")
    how = (f"centre crop {size[0]}x{size[1]}" if pre.get("crop") else f"resize to {size[0]}x{size[1]}") \
        if isinstance(size, (list, tuple)) else f"resize {size}"
    return (f"{order}, (x - {pre.get('mean')}) / {pre.get('std')}, {how}; align template "
            f"{template or 'none named'}")


def model_card(imp, cfg, model, command, parity, source_url=None, license=None, trained_on=None, reported=None):
    import numpy as np

    digest = sha256(imp.source)
    n_values = sum(int(np.prod(a.shape)) for a in imp.params.values())
    pre = cfg["preprocess"]
    name = os.path.basename(os.path.normpath(imp.source))
    rows = [
        ("source file", f"`{name}` ({_container(imp.source, imp.fmt)}, --from {imp.fmt})"),
        ("sha256", f"`{digest}`" if digest else "n/a (not a single file)"),
        ("size", f"{os.path.getsize(imp.source):,} bytes" if os.path.isfile(imp.source) else "n/a"),
        ("origin", source_url or UNKNOWN),
        ("license", license or UNKNOWN),
        ("training data", trained_on or "not given"),
        ("publisher's numbers", reported or "not given"),
        ("zoo network", f"`{imp.arch}` backbone_args {_plain(dict(imp.net_kwargs)) or '{}'}: "
                        f"{len(imp.params)} parameters ({n_values / 1e6:.2f} M values)"),
        ("input", f"{tuple(imp.input_size) if imp.input_size else 'the network default'} (C, H, W)"),
        ("preprocessing", describe_preprocess(pre, cfg.get("align"))),
        ("recipe", f"`{model}` (config.yaml = its recipe YAML with the rows above)"),
        ("parity", parity),
        ("imported", datetime.datetime.now().strftime("%Y-%m-%d %H:%M")),
    ]
    lines = [f"# Model card: {imp.arch} from {name}", "",
             "Written by `python -m common.import_weights`; check origin and license before any use.", "",
             "| | |", "|---|---|"]
    lines += [f"| {k} | {str(v).replace('|', '/')} |" for k, v in rows]
    lines += ["", "## Command", "", "```", command, "```", "", "## Use it", "", "```",
              f"python {model}/eval.py --config D/config.yaml --ckpt_file D/model.ckpt --bin_dir B "
              f"--targets cfp_ff,cfp_fp --out_dir O",
              f"python {model}/export.py --config D/config.yaml --ckpt_file D/model.ckpt",
              f"python -m common.compare --model {model} --config D/config.yaml --ckpt_file D/model.ckpt A.jpg B.jpg",
              f"python -m common.identify --model {model} --config D/config.yaml --ckpt_file D/model.ckpt "
              f"--gallery G --probe P.jpg",
              "```", "", "(D = this folder.)", ""]
    notes = list(imp.notes) + [f"dropped {n}: {why}" for n, why in imp.dropped]
    if notes:
        lines += ["## Import notes", ""] + [f"- {n}" for n in notes] + [""]
    return "\n".join(lines)


def write_bundle(imp, out_dir, model, command, parity, preprocess_over=None, align=None, **card):
    """Write ``out_dir``/{model.ckpt, config.yaml, MODEL_CARD.md} all or nothing; returns the file paths."""
    from common.tools.import_weights.result import save

    out_dir = check_out_dir(out_dir)
    cfg, recipe = build_config(imp, model, preprocess_over, align, out_dir)
    text = yaml.safe_dump({k: v for k, v in cfg.items() if not str(k).startswith("_")}, sort_keys=False,
                          default_flow_style=None, allow_unicode=True)
    header = (f"# Model bundle config: the {model} recipe ({os.path.basename(recipe.default_config)}, resolved) for "
              f"weights imported from {os.path.basename(imp.source)}\n# {command}\n")
    card_text = model_card(imp, cfg, model, command, parity, **card)
    parent, base = os.path.split(out_dir)
    tmp = os.path.join(parent, f".{base}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    try:
        save(imp, os.path.join(tmp, "model.ckpt"))
        with open(os.path.join(tmp, "config.yaml"), "w", encoding="utf-8") as f:
            f.write(header + text)
        with open(os.path.join(tmp, "MODEL_CARD.md"), "w", encoding="utf-8") as f:
            f.write(card_text)
        if os.path.isdir(out_dir):
            os.rmdir(out_dir)  # empty (checked); a folder that filled meanwhile stops the rename here
        os.rename(tmp, out_dir)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise FaceIdError(f"--out_dir {out_dir}: cannot write the bundle ({exc.strerror or exc})") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {k: os.path.join(out_dir, k) for k in ("model.ckpt", "config.yaml", "MODEL_CARD.md")}
