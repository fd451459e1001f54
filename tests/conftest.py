"""Test set-up: repository root importable, CPU speed default before mindspore loads."""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import common.env  # noqa: E402,F401  (sets ONEDNN_MAX_CPU_ISA before any test imports mindspore)

SHARED = os.path.join(os.path.dirname(ROOT), "shared")
FIXTURES = os.path.join(SHARED, "fixtures")
