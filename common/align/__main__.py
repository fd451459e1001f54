"""``python -m common.align SRC DST --template T``: see common/align/tool.py."""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import common.core.env  # noqa: E402,F401

from common.align.tool import main  # noqa: E402
from common.core.errors import guard  # noqa: E402

if __name__ == "__main__":
    guard(main)
