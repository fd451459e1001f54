"""Console commands (pyproject ``[project.scripts]``): each runs a tool's ``main`` through the entry guard, so a
user's mistake is one ``error: ...`` line and exit status 2, as with ``python -m``."""
import importlib

import common.core.env  # noqa: F401  (CPU speed default before mindspore loads)
from common.core.errors import guard


def _tool(module):
    def run():
        rc = guard(importlib.import_module(module).main)
        raise SystemExit(rc if isinstance(rc, int) else 0)  # mains may return their result object
    return run


evaluate = _tool("common.evaluation.scoring")
align = _tool("common.align.tool")
compare = _tool("common.tools.compare")
identify = _tool("common.tools.identify")
import_weights = _tool("common.tools.import_weights.cli")
synthetic = _tool("common.data.synthetic")
recordio = _tool("common.data.recordio")
msceleb_tsv = _tool("common.data.msceleb_tsv")
head_shards = _tool("common.heads.shards")
plan_head = _tool("common.heads.plan")
convert_zoo_ckpt = _tool("common.tools.convert_zoo_ckpt")
