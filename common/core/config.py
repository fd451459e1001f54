"""Configuration: per-model YAML defaults, ``--key value`` overrides, printed at start.

A YAML file may name a ``base:`` YAML (path relative to itself) whose keys it
overrides, so an experiment config holds only what differs from the recipe.
Nothing is parsed at import time: entry points call :func:`load_config`.

Command line: ``--config FILE`` picks the YAML (else the model's default), then
every other ``--key value`` (or ``--key=value``) overrides a key of that YAML.
Values are parsed as YAML scalars/lists (``--milestones [10,20]``, ``--resume true``).
An unknown key is an error naming the key and the YAML, so typos never pass silently.
"""
import os
import sys

import yaml

from common.core import options, optspec
from common.core.errors import FaceIdError, HelpRequested  # noqa: F401  (HelpRequested re-exported)


class Config(dict):
    """A dict with attribute access (``cfg.lr``); missing attributes raise a clear error."""

    def __getattr__(self, key):
        try:
            return self[key]
        except KeyError:
            raise AttributeError(f"config has no key '{key}'") from None

    def __setattr__(self, key, value):
        self[key] = value

    def copy(self):
        return Config(self)


def read_yaml(path, origin=None):
    """Read a YAML mapping, following ``base:`` links; errors name the file. ``origin`` (a dict) gets, for each
    key, the file that set it."""
    path = os.path.abspath(path)
    if not os.path.isfile(path):
        raise FaceIdError(f"config file not found: {path}")
    with open(path, encoding="utf-8") as f:
        try:
            data = yaml.safe_load(f) or {}
        except yaml.YAMLError as exc:
            raise FaceIdError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise FaceIdError(f"{path}: expected a mapping of key: value at the top level")
    base = data.pop("base", None)
    own = list(data)
    if base:
        merged = read_yaml(os.path.join(os.path.dirname(path), base), origin)
        merged.update(data)
        data = merged
    if origin is not None:
        origin.update({k: path for k in own})
    return data


def parse_value(text):
    """Parse one command-line value as YAML (ints, floats, bools, null, lists)."""
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    # YAML reads 1e-4 as a string; accept the usual float spellings.
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def parse_overrides(argv, raw=None):
    """Turn ``['--a', '1', '--b=x', '--flag']`` into ``{'a': 1, 'b': 'x', 'flag': True}``; ``raw`` (a dict) gets
    each key's text as typed."""
    out, i = {}, 0
    while i < len(argv):
        tok = argv[i]
        if not tok.startswith("--") or len(tok) < 3:
            raise FaceIdError(f"unexpected argument '{tok}' (use --key value; --help lists the options)")
        key = tok[2:]
        if "=" in key:
            key, text = key.split("=", 1)
            i += 1
        elif i + 1 < len(argv) and not argv[i + 1].startswith("--"):
            text = argv[i + 1]
            i += 2
        else:
            text = "true"
            i += 1
        out[key.replace("-", "_")] = parse_value(text)
        if raw is not None:
            raw[key.replace("-", "_")] = text
    return out


def load_config(default_yaml, argv=None, extra_keys=(), command=None, prog=None):
    """Build the run's config: YAML defaults (``--config`` or ``default_yaml``) + overrides.

    ``command`` (train, eval, export; see common.core.options) adds that command's options with their defaults,
    resolves the seed aliases (printed once as "alias of ..."), and refuses keys that belong to another
    command with one line naming it. ``extra_keys`` are further keys allowed though absent from the YAML.
    ``--help`` raises :class:`HelpRequested` with the grouped option list.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if any(a in ("-h", "--help") for a in argv):
        yaml_path = _config_arg(argv) or default_yaml
        raise HelpRequested(help_text(read_yaml(yaml_path), command, prog, yaml_path))
    raw, origin = {}, {}
    overrides = parse_overrides(argv, raw)
    yaml_path = overrides.pop("config", None) or default_yaml
    if not isinstance(yaml_path, str):
        raise FaceIdError(f"--config {raw.get('config')}: expected the path of a YAML file")
    cfg = Config(read_yaml(yaml_path, origin))
    if command:
        overrides = _resolve_aliases(overrides, command)
        for alias, (target, _) in options.ALIASES.get(command, {}).items():
            if alias in raw and target not in raw:
                raw[target] = raw.pop(alias)
        _refuse_foreign(overrides, command, prog)
        for key, value in options.DEFAULTS.get(command, {}).items():
            cfg.setdefault(key, value)
        for key in options.GROUPS[command] if command in ("eval", "export") else ():  # present (None) unless given
            cfg.setdefault(key, None)
    unknown = sorted(k for k in overrides if k not in cfg and k not in extra_keys)
    if unknown:
        raise FaceIdError(f"unknown option(s) {', '.join('--' + k for k in unknown)} "
                          f"(not keys of {os.path.abspath(yaml_path)}; --help lists the options)")
    defaults = dict(cfg)
    cfg.update(overrides)
    check_types(cfg, overrides, raw, defaults, origin, yaml_path)
    cfg["config"] = os.path.abspath(yaml_path)
    cfg["_given"] = sorted(overrides)
    return cfg


def check_types(cfg, overrides, raw, defaults, origin, yaml_path):
    """Every value of ``cfg`` against its spec (common.core.options.SPECS; a key without one: the type of its
    recipe default), normalised in place; one FaceIdError naming the option (or YAML file and key), the value and
    what is allowed."""
    for key in list(cfg):
        if str(key).startswith("_") or key == "config":
            continue
        given = key in overrides
        spec = options.SPECS.get(key)
        if spec is None:
            spec = optspec.inferred(defaults.get(key)) if given else None
            if spec is None:
                continue
        text = raw.get(key) if given else None
        try:
            cfg[key] = spec.check(cfg[key], text)
        except optspec.SpecError as exc:
            if given:
                raise FaceIdError(f"--{key} {optspec.quote(cfg[key], text)}: expected {exc}") from None
            where = origin.get(key) or os.path.abspath(yaml_path)
            raise FaceIdError(f"{where}: {key}: {optspec.quote(cfg[key])}: expected {exc}") from None


def _config_arg(argv):
    for i, a in enumerate(argv):
        if a == "--config" and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith("--config="):
            return a.split("=", 1)[1]
    return None


def _resolve_aliases(overrides, command):
    out = {}
    for key, value in overrides.items():
        alias = options.ALIASES.get(command, {}).get(key)
        if alias:
            target, note = alias
            print(f"note: --{key} is an alias of --{target}" + (f" ({note})" if note else ""), flush=True)
            if target == key:  # accepted for compatibility, nothing to set
                continue
            if target in overrides:
                raise FaceIdError(f"--{key} and --{target} both given (--{key} is an alias of --{target})")
            key = target
        out[key] = value
    return out


def _refuse_foreign(overrides, command, prog):
    mine = options.command_keys(command)
    for key in overrides:
        if key in mine or key == "config":
            continue
        takers = options.owners(key)
        if takers:
            where = " or ".join(options.OWNER[t] for t in takers)
            raise FaceIdError(f"--{key} is an option of {where}, not of {prog or command}"
                              + (" (to score a checkpoint use --ckpt_file CKPT)" if command == "eval" else ""))


def help_text(yaml_cfg, command, prog, yaml_path):
    """Every key this command takes, grouped, with its default and meaning."""
    lines = [f"usage: {prog or 'python ENTRY.py'} [--config YAML] [--key value ...]",
             f"recipe: {os.path.abspath(yaml_path)} (any of its keys: --key value; values are YAML)", ""]
    groups = options.COMMANDS.get(command, tuple(options.GROUPS)) if command else tuple(options.GROUPS)
    shown = set()
    defaults = dict(options.DEFAULTS.get(command, {})) if command else {}
    for g in groups:
        if g in ("eval", "export"):  # the command's own options: all of them
            keys = list(options.GROUPS[g])
        else:  # recipe groups: the keys this recipe has (and the basics every entry takes)
            keys = [k for k in options.GROUPS[g] if k in yaml_cfg or k in options.BASIC or k in defaults]
        if not keys:
            continue
        lines.append(f"{g} options:")
        for k in keys:
            shown.add(k)
            default = yaml_cfg.get(k, defaults.get(k))
            lines.append(f"  --{k:<22} {_short(default):<24} {options.GROUPS[g][k]}{_allowed(k, default)}")
        lines.append("")
    rest = sorted(k for k in yaml_cfg if k not in shown and options.group_of(k) is None)
    if rest:
        lines.append("recipe keys:")
        lines += [f"  --{k:<22} {_short(yaml_cfg[k]):<24}" for k in rest]
        lines.append("")
    al = options.ALIASES.get(command, {}) if command else {}
    if al:
        lines.append("seed aliases: " + ", ".join(f"--{a} = --{t}" for a, (t, _) in sorted(al.items())))
    return "\n".join(lines).rstrip() + "\n"


def _allowed(key, default):
    spec = options.SPECS.get(key) or optspec.inferred(default)
    return f" [{spec.describe()}]" if spec is not None else ""


def _short(value):
    text = "null" if value is None else str(value)
    return text if len(text) <= 24 else text[:21] + "..."


def format_config(cfg):
    keys = [k for k in sorted(cfg) if not k.startswith("_")]
    width = max((len(k) for k in keys), default=0)
    return "\n".join(f"  {k:<{width}} : {cfg[k]!r}" for k in keys)


def print_config(cfg, title="config"):
    print(f"---- {title} ----\n{format_config(cfg)}\n" + "-" * (len(title) + 10), flush=True)
