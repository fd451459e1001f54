"""What an import produced, the checks before anything is written, the printed table, the atomic save."""
import collections
import fnmatch
import os
import sys
from dataclasses import dataclass, field

import numpy as np

from common.core.errors import FaceIdError


@dataclass
class Imported:
    """``params`` named as the zoo network's parameters (``prefix`` is added when saving)."""
    fmt: str
    arch: str
    source: str
    params: "collections.OrderedDict"
    rows: list                                      # (source name, zoo name, shape, note)
    expected: dict                                  # zoo name -> shape the target network needs
    unused: list = field(default_factory=list)      # (source name, shape): refused unless allowed
    dropped: list = field(default_factory=list)     # (source name, reason): known extras (classifier, optimizer)
    notes: list = field(default_factory=list)
    net_kwargs: dict = field(default_factory=dict)  # backbone_args the zoo net needs for these weights
    net: object = None                              # the zoo network (common/nets archs), for parity
    parity: object = None                          # callable(net) -> (relative error, what was compared)
    parity_skip: str = ""                           # why no parity check runs here
    preprocess: str = ""
    input_size: tuple = ()                          # (C, H, W) the imported network takes
    recipe: dict = field(default_factory=dict)      # preprocess / align of the source, where the format knows them


def backbone(arch, **kwargs):
    """(net, expected {name: shape}) of a ``common.nets`` backbone."""
    from common.nets import BACKBONES

    if arch not in BACKBONES:
        raise FaceIdError(f"--arch {arch}: not a backbone of the zoo (known: {', '.join(BACKBONES.names())})")
    try:
        net = BACKBONES.create(arch, **kwargs)
    except (TypeError, ValueError) as exc:
        why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise FaceIdError(f"--arch {arch}: cannot build it with {kwargs} read from the source ({why}); "
                          f"is --arch right?") from None
    return net, collections.OrderedDict((p.name, tuple(p.shape)) for p in net.get_parameters())


def _allowed(name, patterns):
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def check(imp, allow=()):
    """Shapes equal, nothing missing, nothing left over, unless ``allow`` (glob patterns) names it."""
    where = imp.source
    bad = [f"{n} {imp.params[n].shape} vs {imp.expected[n]}" for n in imp.params
           if n in imp.expected and tuple(imp.params[n].shape) != tuple(imp.expected[n])]
    if bad:
        raise FaceIdError(f"{where}: shapes do not fit {imp.arch}: {'; '.join(bad[:3])}")
    stray = [n for n in imp.params if n not in imp.expected]
    if stray:
        raise FaceIdError(f"{where}: mapped names that {imp.arch} does not have: {', '.join(stray[:3])}")
    missing = [n for n in imp.expected if n not in imp.params and not _allowed(n, allow)]
    unused = [(n, s) for n, s in imp.unused if not _allowed(n, allow)]
    if missing:
        raise FaceIdError(f"{where}: {len(missing)} parameter(s) of {imp.arch} have no source weights "
                          f"(e.g. {', '.join(missing[:3])}); name them with --allow_missing to keep their "
                          f"initial values")
    if unused:
        raise FaceIdError(f"{where}: {len(unused)} source tensor(s) map to nothing in {imp.arch} "
                          f"(e.g. {', '.join(n for n, _ in unused[:3])}); name them with --allow_missing to "
                          f"drop them, or pick another --arch")


def print_table(imp, allow=(), out=None):
    out = out or sys.stdout
    w1 = min(48, max([len("source")] + [len(r[0]) for r in imp.rows] + [len(n) for n, _ in imp.dropped]))
    w2 = min(44, max([len("zoo parameter")] + [len(r[1]) for r in imp.rows]))
    print(f"{'source':<{w1}}  {'zoo parameter':<{w2}}  {'shape':<18} note", file=out)
    for src, dst, shape, note in imp.rows:
        print(f"{src:<{w1}}  {dst:<{w2}}  {str(shape):<18} {note}".rstrip(), file=out)
    for name, reason in imp.dropped:
        print(f"{name:<{w1}}  {'(dropped)':<{w2}}  {'':<18} {reason}", file=out)
    for name, shape in imp.unused:
        print(f"{name:<{w1}}  {'(unused, allowed)':<{w2}}  {str(shape):<18}", file=out)
    missing = [n for n in imp.expected if n not in imp.params]
    for name in missing:
        print(f"{'(none)':<{w1}}  {name:<{w2}}  {str(imp.expected[name]):<18} missing, allowed: initial values",
              file=out)
    values = sum(int(np.prod(a.shape)) for a in imp.params.values())
    print(f"mapped {len(imp.params)} parameters ({values / 1e6:.2f} M values) of {imp.arch}; "
          f"dropped {len(imp.dropped)}, unused {len(imp.unused)}, missing {len(missing)}", file=out)
    for note in imp.notes:
        print(f"note: {note}", file=out)


def save(imp, path, prefix=""):
    """Write the parameters (as float32) to ``path`` through a temporary file in the same folder."""
    import mindspore as ms

    from common.train.checkpoint import save_atomic

    items = [{"name": prefix + n, "data": ms.Tensor(np.array(a, dtype=np.float32, order="C"))}
             for n, a in imp.params.items()]
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FaceIdError(f"--out {path}: folder {folder} does not exist")
    save_atomic(items, path)
    return path


def load_into(net, imp):
    """Put the imported parameters into a built zoo network (strict: every parameter must be supplied)."""
    import mindspore as ms

    own = {p.name for p in net.get_parameters()}
    missing = own - set(imp.params)
    if missing:
        raise FaceIdError(f"{imp.source}: cannot run {imp.arch}: {len(missing)} parameter(s) have no weights")
    ms.load_param_into_net(net, {n: ms.Parameter(ms.Tensor(a), name=n) for n, a in imp.params.items()
                                 if n in own}, strict_load=True)
    return net
