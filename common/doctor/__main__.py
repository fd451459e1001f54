"""``python -m common.doctor``: the command; its code is common/core/doctor.py."""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:  # a clone used without ``pip install -e .``
    sys.path.insert(0, ROOT)

import common.core.env  # noqa: E402,F401  (CPU speed default before mindspore loads)
from common.core.errors import guard  # noqa: E402
from common.core.doctor import main  # noqa: E402

guard(main)
