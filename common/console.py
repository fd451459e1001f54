"""Console commands (pyproject ``[project.scripts]``): each runs a tool's ``main`` through the entry guard, so a
user's mistake is one ``error: ...`` line and exit status 2, as with ``python -m``."""
import importlib

import common.env  # noqa: F401  (CPU speed default before mindspore loads)
from common.errors import guard


def _tool(module):
    def run():
        rc = guard(importlib.import_module(module).main)
        raise SystemExit(rc if isinstance(rc, int) else 0)  # mains may return their result object
    return run


evaluate = _tool("common.evaluate")
align = _tool("common.align.tool")
compare = _tool("common.compare")
identify = _tool("common.identify")
import_weights = _tool("common.import_weights.__main__")
synthetic = _tool("common.data.synthetic")
recordio = _tool("common.data.recordio")
msceleb_tsv = _tool("common.data.msceleb_tsv")
head_shards = _tool("common.head_shards")
plan_head = _tool("common.plan_head")
convert_zoo_ckpt = _tool("common.convert_zoo_ckpt")
