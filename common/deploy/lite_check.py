"""Before the C++ harness builds or preprocesses anything: can its MindSpore Lite load the MINDIR it is given?

A MINDIR is a ``mind_ir.ModelProto`` protobuf; its top-level fields ``producer_name`` (2), ``producer_version``
(3, the MindSpore that wrote it) and ``mind_ir_version`` (13: 1 = IR_VERSION, 2 = with primitive functions,
3 = with scalar graph holders) are read here with a minimal protobuf walk (the graph is skipped, not parsed).
MindSpore Lite loads a MINDIR written by the same or an older MindSpore; Lite 2.0 (the newest on PyPI) reads
mind_ir_version 1 only and refuses a MindSpore 2.10 MINDIR ("maximum mind ir version: 1 ... mind ir version:
3"). The Lite in use: ``MSLITE_HOME`` (its library names its version), else what ascend310_infer/install_mslite.sh
installs (``MSLITE_VERSION`` states it for a package whose name and files do not). ``python -m common.deploy.lite_check --model M.mindir --device_target Ascend`` exits 2 with one line
naming the Lite the file needs.
"""
import argparse
import glob
import os
import re

from common.core.errors import FaceIdError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
INSTALL_SCRIPT = os.path.join(ROOT, "ascend310_infer", "install_mslite.sh")
THIRD_PARTY = os.path.join(ROOT, "ascend310_infer", "third_party", "mindspore_lite")
# the highest mind_ir_version a Lite release reads, where known (Lite 2.0: its own error message says 1)
LITE_MAX_MIND_IR = {(2, 0): 1}
FIELDS = {1: "ir_version", 2: "producer_name", 3: "producer_version", 13: "mind_ir_version"}


def _varint(f):
    shift = value = 0
    while True:
        b = f.read(1)
        if not b:
            raise EOFError
        value |= (b[0] & 0x7F) << shift
        if b[0] < 0x80:
            return value
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def mindir_info(path):
    """{ir_version, producer_name, producer_version, mind_ir_version} of a MINDIR file (absent fields: None).
    FaceIdError when the file is not a MINDIR protobuf."""
    out = {v: None for v in FIELDS.values()}
    size = os.path.getsize(path)
    try:
        with open(path, "rb") as f:
            while f.tell() < size:
                key = _varint(f)
                field, wire = key >> 3, key & 7
                if wire == 0:
                    value = _varint(f)
                    if field in FIELDS:
                        out[FIELDS[field]] = value
                elif wire == 2:
                    n = _varint(f)
                    if field in FIELDS and n < 4096:
                        out[FIELDS[field]] = f.read(n).decode("utf-8", "replace")
                    else:
                        if f.tell() + n > size:
                            raise ValueError("length past the end")
                        f.seek(n, os.SEEK_CUR)
                elif wire == 1:
                    f.seek(8, os.SEEK_CUR)
                elif wire == 5:
                    f.seek(4, os.SEEK_CUR)
                else:
                    raise ValueError(f"wire type {wire}")
    except (EOFError, ValueError) as exc:
        raise FaceIdError(f"{path}: not a MINDIR file (protobuf: {exc})") from None
    if out["producer_name"] is None and out["mind_ir_version"] is None and out["ir_version"] is None:
        raise FaceIdError(f"{path}: not a MINDIR file (no ModelProto header fields)")
    return out


def _version(text):
    m = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", str(text or ""))
    return tuple(int(x) for x in m.groups() if x is not None) if m else None


def lite_version(env=os.environ):
    """(version string, where) of the MindSpore Lite the harness uses: MSLITE_HOME's library, else the
    installed third_party copy, else the version install_mslite.sh would install."""
    home = env.get("MSLITE_HOME")
    if env.get("MSLITE_VERSION"):  # stated by the user (a Lite package whose files do not name it)
        return env["MSLITE_VERSION"], "MSLITE_VERSION"
    if home:
        m = re.search(r"mindspore[-_]lite[-_](\d+\.\d+\.\d+)", os.path.abspath(home))
        if m:  # the release packages unpack to mindspore-lite-X.Y.Z-linux-<arch>
            return m.group(1), f"MSLITE_HOME={home}"
        for lib in sorted(glob.glob(os.path.join(home, "lib", "libmindspore-lite.so*")) +
                          glob.glob(os.path.join(home, "runtime", "lib", "libmindspore-lite.so*"))):
            found = _version_in_binary(lib)
            if found:
                return found, f"MSLITE_HOME={home}"
        return None, f"MSLITE_HOME={home}"
    marker = os.path.join(THIRD_PARTY, ".faceid_installed")
    if os.path.isfile(marker):
        text = open(marker).read()
        if "==" in text:
            return text.split("==", 1)[1].strip(), THIRD_PARTY
    try:
        m = re.search(r'^VERSION="([^"]+)"', open(INSTALL_SCRIPT).read(), re.M)
    except OSError:
        m = None
    return (m.group(1) if m else None), "ascend310_infer/install_mslite.sh"


def _version_in_binary(path):
    try:
        data = open(path, "rb").read()
    except OSError:
        return None
    m = re.search(rb"MindSpore Lite (\d+\.\d+\.\d+)", data)
    return m.group(1).decode() if m else None


def lite_can_load(info, lite):
    """(ok, the reason when not) for a MINDIR ``info`` and a Lite version string."""
    producer = _version(info.get("producer_version"))
    lv = _version(lite)
    if lv is None:
        return True, None  # unknown Lite: the harness reports Lite's own message if it refuses
    ir = info.get("mind_ir_version") or 0
    max_ir = LITE_MAX_MIND_IR.get(tuple(lv[:2]))
    if max_ir is not None and ir > max_ir:
        return False, f"MindSpore Lite {lite} reads mind_ir_version <= {max_ir}"
    if producer and tuple(lv[:2]) < tuple(producer[:2]):
        return False, (f"MindSpore Lite {lite} is older than the MindSpore {info.get('producer_version')} "
                       f"that wrote it")
    return True, None


def check(model, device_target, env=os.environ):
    """The line to print when the harness's Lite can load ``model`` on ``device_target``; FaceIdError (one line:
    what the file needs) when it cannot. Only a MindSpore MINDIR the harness loads directly is checked (CPU/GPU
    with a sibling .onnx convert that ONNX instead)."""
    if not model.endswith(".mindir"):
        return f"lite check: {os.path.basename(model)} is not a MINDIR (converted by the harness): nothing to check"
    info = mindir_info(model)
    if not info.get("producer_version"):  # MindSpore 2.x leaves it empty: the export's sidecar names it
        try:
            import json

            with open(model + ".json", encoding="utf-8") as f:
                info["producer_version"] = json.load(f).get("mindspore_version")
        except (OSError, ValueError):
            pass
    name = str(info.get("producer_name") or "")
    sibling = os.path.splitext(model)[0] + ".onnx"
    if device_target != "Ascend" and os.path.isfile(sibling):
        return f"lite check: {device_target} converts the sibling {os.path.basename(sibling)}: the MINDIR is not loaded"
    if device_target != "Ascend" and "lite" in name.lower():
        return f"lite check: {os.path.basename(model)} is a Lite model ({name})"
    lite, where = lite_version(env)
    ok, why = lite_can_load(info, lite)
    desc = (f"written by {name or 'MindSpore'} {info.get('producer_version') or '?'}, mind_ir_version "
            f"{info.get('mind_ir_version') or '?'}")
    if ok:
        return f"lite check: {os.path.basename(model)} ({desc}) with MindSpore Lite {lite or '?'} ({where}): ok"
    need = _version(info.get("producer_version"))
    need_txt = (f"MindSpore Lite >= {need[0]}.{need[1]}" if need else
                f"a MindSpore Lite that reads mind_ir_version {info.get('mind_ir_version')} (the release of the "
                f"MindSpore that exported it)")
    alt = (f"export ONNX too (same --file_name, so that {sibling} exists) and run on GPU/CPU"
           if device_target == "Ascend" else
           f"export ONNX too (same --file_name, so that {sibling} exists): the harness converts it")
    raise FaceIdError(f"{model} ({desc}) cannot be loaded: {why} ({where}); it needs {need_txt} for "
                      f"{device_target}: set MSLITE_HOME to that package (the MindSpore download site; PyPI has "
                      f"only mindspore-lite 2.0.0), or {alt}")


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m common.deploy.lite_check",
                                 description="Can the C++ harness's MindSpore Lite load this MINDIR?")
    ap.add_argument("--model", required=True)
    ap.add_argument("--device_target", default="Ascend", choices=("Ascend", "GPU", "CPU"))
    args = ap.parse_args(argv)
    if not os.path.isfile(args.model):
        raise FaceIdError(f"{args.model}: model file not found")
    print(check(os.path.abspath(args.model), args.device_target), flush=True)
    return 0


if __name__ == "__main__":
    from common.core.errors import guard

    guard(main)
