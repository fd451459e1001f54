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


def read_yaml(path):
    """Read a YAML mapping, following ``base:`` links; errors name the file."""
    path = os.path.abspath(path)
    if not os.path.isfile(path):
        raise SystemExit(f"error: config file not found: {path}")
    with open(path, encoding="utf-8") as f:
        try:
            data = yaml.safe_load(f) or {}
        except yaml.YAMLError as exc:
            raise SystemExit(f"error: {path}: not valid YAML ({str(exc).splitlines()[0]})")
    if not isinstance(data, dict):
        raise SystemExit(f"error: {path}: expected a mapping of key: value at the top level")
    base = data.pop("base", None)
    if base:
        merged = read_yaml(os.path.join(os.path.dirname(path), base))
        merged.update(data)
        data = merged
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


def parse_overrides(argv):
    """Turn ``['--a', '1', '--b=x', '--flag']`` into ``{'a': 1, 'b': 'x', 'flag': True}``."""
    out, i = {}, 0
    while i < len(argv):
        tok = argv[i]
        if not tok.startswith("--") or len(tok) < 3:
            raise SystemExit(f"error: unexpected argument '{tok}' (use --key value)")
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
    return out


def load_config(default_yaml, argv=None, extra_keys=()):
    """Build the run's config: YAML defaults (``--config`` or ``default_yaml``) + overrides.

    ``extra_keys`` are keys allowed on the command line though absent from the YAML.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    overrides = parse_overrides(argv)
    yaml_path = overrides.pop("config", None) or default_yaml
    cfg = Config(read_yaml(yaml_path))
    unknown = sorted(k for k in overrides if k not in cfg and k not in extra_keys)
    if unknown:
        raise SystemExit(f"error: unknown option(s) {', '.join('--' + k for k in unknown)} "
                         f"(not keys of {os.path.abspath(yaml_path)})")
    cfg.update(overrides)
    cfg["config"] = os.path.abspath(yaml_path)
    return cfg


def format_config(cfg):
    width = max((len(k) for k in cfg), default=0)
    return "\n".join(f"  {k:<{width}} : {cfg[k]!r}" for k in sorted(cfg))


def print_config(cfg, title="config"):
    print(f"---- {title} ----\n{format_config(cfg)}\n" + "-" * (len(title) + 10), flush=True)
