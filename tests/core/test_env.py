import subprocess
import sys


def _isa(env):
    code = "import common.core.env, os; print(os.environ['ONEDNN_MAX_CPU_ISA'])"
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          cwd=__import__("tests.helpers", fromlist=["ROOT"]).ROOT).stdout.strip()


def test_default_set_before_mindspore_and_user_value_wins():
    import os

    env = {k: v for k, v in os.environ.items() if k != "ONEDNN_MAX_CPU_ISA"}
    assert _isa(env) == "AVX2"
    env["ONEDNN_MAX_CPU_ISA"] = "SSE41"
    assert _isa(env) == "SSE41"
