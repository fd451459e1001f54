"""Which device MindSpore can use here, and for each one it cannot, the exact missing piece and its fix.

Nothing here imports mindspore at module level (``common.core.env`` imports this before mindspore loads).

How the PyPI ``mindspore`` wheel reaches a GPU (read from MindSpore 2.10's own code): at start-up it runs
``$CUDA_HOME/bin/nvcc --version``, reads ``Cuda compilation tools, release X.Y,`` and dlopens the plugin
``lib/plugin/libmindspore_gpu.so.A.B`` of the same major version, exactly X.Y or else the newest below it (the
wheel ships 11.1 and 11.6: any CUDA 11.x >= 11.1 works, CUDA 12 finds none). That plugin links the CUDA 11
runtime, cuBLAS, cuFFT, cuRAND, cuSOLVER, cuSPARSE, NVRTC and cuDNN 8, which the wheel does not bundle:
``bash scripts/setup.sh --gpu`` installs them as ``nvidia-*-cu11`` wheels into the venv and makes
``.venv/cuda11`` (``lib64/`` links to them, ``bin/nvcc`` a stand-in that reports their version);
``scripts/env.sh`` points ``CUDA_HOME`` and ``LD_LIBRARY_PATH`` there. Ascend needs the CANN toolkit
(``ASCEND_TOOLKIT_HOME`` / ``ASCEND_HOME``, its ``set_env.sh`` sourced) and an NPU (``/dev/davinci*``).
"""
import glob
import importlib.util
import os
import re
import shutil
import subprocess
import sys

FIX_GPU = "bash scripts/setup.sh --gpu, then source scripts/env.sh"
VENV_CUDA = "cuda11"  # the CUDA_HOME that setup.sh --gpu makes inside the venv
# soname a GPU plugin links -> what provides it (requirements-gpu.txt pins the versions)
LIB_SOURCE = {
    "libcudart.so": "nvidia-cuda-runtime-cu11", "libcublas.so": "nvidia-cublas-cu11",
    "libcublasLt.so": "nvidia-cublas-cu11", "libcufft.so": "nvidia-cufft-cu11",
    "libcurand.so": "nvidia-curand-cu11", "libcusolver.so": "nvidia-cusolver-cu11",
    "libcusparse.so": "nvidia-cusparse-cu11", "libnvrtc.so": "nvidia-cuda-nvrtc-cu11",
    "libcudnn.so": "nvidia-cudnn-cu11 8.9", "libcuda.so": "the NVIDIA driver",
}
NVCC_RELEASE = re.compile(r"Cuda compilation tools, release (\d+)\.(\d+),")


# ---------------------------------------------------------------- what the installed MindSpore wheel has

def mindspore_dir():
    """The installed mindspore package folder (without importing it), or None."""
    spec = importlib.util.find_spec("mindspore")
    if spec is None or not spec.submodule_search_locations:
        return None
    return list(spec.submodule_search_locations)[0]


def mindspore_version():
    try:
        from importlib.metadata import version

        return version("mindspore")
    except Exception:  # noqa: BLE001
        return "?"


def gpu_plugins(ms_dir=None):
    """{(major, minor): path} of the wheel's GPU plugins (libmindspore_gpu.so.11.1 ...)."""
    ms_dir = ms_dir or mindspore_dir()
    out = {}
    for path in glob.glob(os.path.join(ms_dir or "", "lib", "plugin", "libmindspore_gpu.so.*")):
        m = re.search(r"\.so\.(\d+)\.(\d+)$", path)
        if m:
            out[(int(m.group(1)), int(m.group(2)))] = path
    return dict(sorted(out.items()))


def select_plugin(cuda, plugins):
    """MindSpore's rule: the plugin of the same major version, exactly ``cuda`` or else the newest below it."""
    same = [v for v in plugins if v[0] == cuda[0] and v <= tuple(cuda)]
    return plugins[max(same)] if same else None


def cuda_needed(plugins):
    """'CUDA 11.x (>= 11.1, with cuDNN 8)' for the wheel's plugins."""
    if not plugins:
        return "a CUDA build of MindSpore (this wheel has no GPU plugin)"
    majors = sorted({v[0] for v in plugins})
    low = min(plugins)
    return " or ".join(f"CUDA {m}.x" for m in majors) + f" (>= {low[0]}.{low[1]}, with cuDNN 8)"


# ---------------------------------------------------------------- what this machine has

def _run(cmd, timeout=10, env=None):
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return p


def visible_gpus(env=os.environ):
    """NVIDIA GPUs this machine shows: ``nvidia-smi -L`` lines, else the /dev/nvidiaN device names."""
    smi = shutil.which("nvidia-smi", path=env.get("PATH"))
    if smi:
        p = _run([smi, "-L"])
        if p is not None and p.returncode == 0:
            lines = [ln.strip() for ln in p.stdout.splitlines() if ln.strip().startswith("GPU ")]
            if lines:
                return lines
    return sorted(d for d in glob.glob("/dev/nvidia*") if re.fullmatch(r"/dev/nvidia\d+", d))


def visible_npus(env=os.environ):
    """Ascend NPUs this machine shows: /dev/davinciN devices, else ``npu-smi info -l`` NPU ids."""
    devs = sorted(d for d in glob.glob("/dev/davinci*") if re.fullmatch(r"/dev/davinci\d+", d))
    if devs:
        return devs
    smi = shutil.which("npu-smi", path=env.get("PATH"))
    if smi:
        p = _run([smi, "info", "-l"])
        if p is not None and p.returncode == 0:
            return [ln.strip() for ln in p.stdout.splitlines() if "NPU ID" in ln]
    return []


def nvcc_version(cuda_home):
    """(major, minor) that ``CUDA_HOME/bin/nvcc --version`` reports, None if it reports none; raises
    FileNotFoundError when there is no nvcc."""
    nvcc = os.path.join(cuda_home, "bin", "nvcc")
    if not os.path.isfile(nvcc):
        raise FileNotFoundError(nvcc)
    p = _run([nvcc, "--version"])
    m = NVCC_RELEASE.search(p.stdout if p is not None else "")
    return (int(m.group(1)), int(m.group(2))) if m else None


def venv_cuda_home(prefix=None):
    return os.path.join(prefix or sys.prefix, VENV_CUDA)


def missing_libs(library, env=os.environ):
    """The sonames ``ldd LIBRARY`` cannot find with this environment's LD_LIBRARY_PATH ([] when ldd is absent)."""
    if not shutil.which("ldd"):
        return []
    p = _run(["ldd", library], env=dict(env))
    if p is None:
        return []
    return [ln.split("=>")[0].strip() for ln in p.stdout.splitlines() if "not found" in ln]


def _source_of(soname):
    for prefix, source in LIB_SOURCE.items():
        if soname.startswith(prefix + "."):
            return source
    return None


# ---------------------------------------------------------------- one line per device

def gpu_problem(env=os.environ, ms_dir=None, ms_message=None):
    """None when nothing is missing for MindSpore's GPU plugin, else one line: the missing piece; the fix.

    ``ms_message``: MindSpore's own plugin-load message, reported when every check here passes."""
    gpus = visible_gpus(env)
    if not gpus:
        return "no NVIDIA GPU visible (nvidia-smi -L lists none, no /dev/nvidia0); run on a machine with one"
    plugins = gpu_plugins(ms_dir)
    need = cuda_needed(plugins)
    ms_ver = mindspore_version()
    home = env.get("CUDA_HOME")
    venv_home = venv_cuda_home()
    if not home:
        if os.path.isfile(os.path.join(venv_home, "bin", "nvcc")):
            return (f"CUDA_HOME is not set (MindSpore {ms_ver} picks its GPU plugin from $CUDA_HOME/bin/nvcc); "
                    f"fix: source scripts/env.sh (it points CUDA_HOME at {venv_home})")
        return (f"CUDA is not set up: CUDA_HOME is not set, and the MindSpore {ms_ver} wheel's GPU plugin needs "
                f"{need} with its libraries; fix: {FIX_GPU}")
    try:
        ver = nvcc_version(home)
    except FileNotFoundError:
        return (f"CUDA_HOME={home} has no bin/nvcc (MindSpore {ms_ver} picks its GPU plugin from "
                f"`$CUDA_HOME/bin/nvcc --version`); fix: {FIX_GPU}")
    if ver is None:
        return (f"{home}/bin/nvcc --version reports no 'Cuda compilation tools, release X.Y,' line; fix: {FIX_GPU}")
    plugin = select_plugin(ver, plugins)
    if plugin is None:
        have = ", ".join(f"{a}.{b}" for a, b in plugins) or "none"
        return (f"CUDA_HOME={home} is CUDA {ver[0]}.{ver[1]}, but the MindSpore {ms_ver} wheel needs {need} "
                f"(its GPU plugins: CUDA {have}); fix: {FIX_GPU} (CUDA 11.8 + cuDNN 8.9 wheels in the venv; "
                f"the system CUDA {ver[0]}.{ver[1]} stays as it is)")
    missing = missing_libs(plugin, env)
    if missing:
        named = ", ".join(f"{s} ({_source_of(s) or 'CUDA 11'})" for s in missing)
        lib64 = os.path.join(home, "lib64")
        on_path = lib64 in (env.get("LD_LIBRARY_PATH") or "").split(":")
        fix = ("install the NVIDIA driver" if all(s.startswith("libcuda.so") for s in missing) else
               f"source scripts/env.sh (LD_LIBRARY_PATH must hold {lib64})"
               if os.path.isdir(lib64) and not on_path and home == venv_home else FIX_GPU)
        return (f"{os.path.basename(plugin)} (CUDA {ver[0]}.{ver[1]} at {home}) cannot load: not found: {named}; "
                f"fix: {fix}")
    if ms_message:
        return f"MindSpore could not load its GPU plugin: {ms_message}; fix: {FIX_GPU}"
    return None


def ascend_toolkit(env=os.environ):
    """The CANN toolkit folder: ASCEND_TOOLKIT_HOME, else ASCEND_HOME(/ascend-toolkit/latest), else
    /usr/local/Ascend/ascend-toolkit/latest; None when none exists."""
    cands = []
    if env.get("ASCEND_TOOLKIT_HOME"):
        cands.append(env["ASCEND_TOOLKIT_HOME"])
    if env.get("ASCEND_HOME"):
        cands += [os.path.join(env["ASCEND_HOME"], "ascend-toolkit", "latest"), env["ASCEND_HOME"]]
    cands.append("/usr/local/Ascend/ascend-toolkit/latest")
    for c in cands:
        if os.path.isfile(os.path.join(c, "set_env.sh")) or os.path.isdir(os.path.join(c, "lib64")):
            return c
    return None


def cann_version(toolkit):
    """The CANN version the toolkit's install info names (version=...), or None."""
    files = glob.glob(os.path.join(toolkit, "*", "ascend_toolkit_install.info")) + \
        glob.glob(os.path.join(toolkit, "ascend_toolkit_install.info")) + glob.glob(os.path.join(toolkit, "version.cfg"))
    for f in files:
        try:
            text = open(f, encoding="utf-8", errors="replace").read()
        except OSError:
            continue
        m = re.search(r"^\s*(?:version|Version)\s*=\s*(\S+)", text, re.M)
        if m:
            return m.group(1)
    return None


def ascend_problem(env=os.environ, ms_dir=None, ms_message=None):
    """None when nothing is missing for MindSpore on Ascend, else one line: the missing piece; the fix."""
    if not visible_npus(env):
        return "no Ascend NPU visible (no /dev/davinci0, npu-smi lists none); run on a machine with one"
    toolkit = ascend_toolkit(env)
    if toolkit is None:
        return ("the CANN toolkit is not found (ASCEND_TOOLKIT_HOME / ASCEND_HOME unset, no "
                "/usr/local/Ascend/ascend-toolkit/latest); fix: install the CANN toolkit matching MindSpore "
                f"{mindspore_version()} (mindspore.cn/install), then source <toolkit>/set_env.sh")
    plugin = os.path.join(ms_dir or mindspore_dir() or "", "lib", "plugin", "libmindspore_ascend.so.2")
    missing = missing_libs(plugin, env) if os.path.isfile(plugin) else []
    if missing:
        return (f"CANN {cann_version(toolkit) or '(version unknown)'} at {toolkit}: its libraries are not on "
                f"LD_LIBRARY_PATH (not found: {', '.join(missing[:4])}); fix: source {toolkit}/set_env.sh")
    if ms_message:
        return (f"MindSpore could not load its Ascend plugin with CANN {cann_version(toolkit) or '?'} at {toolkit}: "
                f"{ms_message}; fix: install the CANN version MindSpore {mindspore_version()} needs")
    return None


def problem(target, env=os.environ, ms_message=None):
    return (gpu_problem if target == "GPU" else ascend_problem)(env, ms_message=ms_message)


def accelerator_blocker(env=os.environ):
    """device_target auto found only the CPU: when a GPU or an NPU is visible anyway, the one line saying why
    MindSpore cannot use it and the fix (auto then stops instead of training on the CPU); else None."""
    for name, visible, check in (("an Ascend NPU", visible_npus, ascend_problem), ("an NVIDIA GPU", visible_gpus,
                                                                                   gpu_problem)):
        seen = visible(env)
        if seen:
            why = check(env) or "MindSpore reports it unavailable"
            return (f"{name} is visible ({seen[0]}) but MindSpore cannot use it: {why}; "
                    f"or pass --device_target CPU to run on the CPU")
    return None


def plugin_message(text, target):
    """The line of MindSpore's 'Device load error message' about ``target``'s plugin (or the first one)."""
    key = "libmindspore_gpu" if target == "GPU" else "libmindspore_ascend"
    lines = [ln.strip() for ln in str(text).splitlines() if "Load dynamic library" in ln or "cannot open" in ln]
    mine = [ln for ln in lines if key in ln]
    return (mine or lines or [str(text).strip().splitlines()[0] if str(text).strip() else ""])[0]


# ---------------------------------------------------------------- python -m common.doctor

def report(env=os.environ, probe=True):
    """The doctor's lines and the device MindSpore can use ("GPU", "Ascend" or "CPU")."""
    lines = [f"MindSpore {mindspore_version()} ({mindspore_dir() or 'not installed'})"]
    usable = "CPU"
    for target in ("Ascend", "GPU"):
        ms_msg = None
        ok = False
        if probe:
            ok, ms_msg = _probe(target)
        why = None if ok else (problem(target, env, ms_msg) or "MindSpore reports it unavailable")
        if ok and usable == "CPU":
            usable = target
        lines.append(f"{target}: " + ("usable" if ok else f"not usable: {why}"))
    lines.append("CPU: usable")
    blocker = accelerator_blocker(env) if usable == "CPU" else None
    lines.append(f"device_target auto: {usable}" if not blocker else f"device_target auto: stops: {blocker}")
    from common.core.env import ort_available

    lines.append(f"ONNX Runtime providers: {', '.join(ort_available()) or 'onnxruntime not installed'}")
    return lines, usable


def _probe(target):
    """(usable, MindSpore's plugin-load message) in a child process (a failed plugin leaves this one clean)."""
    code = ("import logging, mindspore as ms\n"
            "logging.getLogger('mindspore').setLevel(logging.CRITICAL)\n"
            f"ok = ms.hal.is_available('{target}')\n"
            "msg = ''\n"
            f"if not ok:\n    try:\n        ms.set_device('{target}')\n        ms.Tensor([1.0]) + 1\n"
            "    except Exception as e:\n        msg = str(e)\n"
            "print('FACEID-PROBE', ok)\nprint(msg)\n")
    p = _run([sys.executable, "-c", code], timeout=300)
    if p is None or "FACEID-PROBE" not in p.stdout:
        return False, (p.stderr.strip().splitlines() or ["probe failed"])[-1] if p is not None else "probe timed out"
    head, _, msg = p.stdout.partition("FACEID-PROBE")
    ok_line, _, rest = msg.partition("\n")
    return ok_line.strip() == "True", (plugin_message(rest, target) if rest.strip() else None)


def make_cuda_home(dest, site_dir):
    """Make ``dest`` a CUDA_HOME for the nvidia-*-cu11 wheels under ``site_dir``: ``lib64/`` links to every
    library of ``site_dir/nvidia/*/lib`` and ``bin/nvcc`` answers ``--version`` with the runtime wheel's
    version (in nvcc's own format, which MindSpore parses). Returns the (major, minor, patch) reported."""
    from common.core.errors import FaceIdError
    from common.core.fileio import write_text_atomic

    libs = sorted(glob.glob(os.path.join(site_dir, "nvidia", "*", "lib", "lib*.so*")))
    runtime = [p for p in libs if os.path.basename(p).startswith("libcudart.so.")]
    infos = glob.glob(os.path.join(site_dir, "nvidia_cuda_runtime_cu11-*.dist-info"))
    if not runtime or not infos:
        raise FaceIdError(f"{site_dir}: the nvidia-cuda-runtime-cu11 wheel is not installed here "
                          f"(run bash scripts/setup.sh --gpu)")
    m = re.search(r"-(\d+)\.(\d+)\.(\d+)\.dist-info$", sorted(infos)[-1])
    if not m:
        raise FaceIdError(f"{infos[0]}: cannot read the CUDA runtime version from this name")
    ver = tuple(int(x) for x in m.groups())
    lib64, bindir = os.path.join(dest, "lib64"), os.path.join(dest, "bin")
    os.makedirs(lib64, exist_ok=True)
    os.makedirs(bindir, exist_ok=True)
    for path in libs:
        link = os.path.join(lib64, os.path.basename(path))
        if os.path.islink(link) or os.path.exists(link):
            os.remove(link)
        os.symlink(path, link)
    full = os.path.join(lib64, "libcudart.so.%d.%d.%d" % ver)  # the version MindSpore's checker reads
    if not os.path.exists(full):
        os.symlink(runtime[0], full)
    a, b, c = ver
    script = f"""#!/bin/sh
# Stand-in nvcc made by scripts/setup.sh --gpu: the nvidia-*-cu11 wheels ship the CUDA {a}.{b} libraries
# (in ../lib64) but no compiler. MindSpore runs `$CUDA_HOME/bin/nvcc --version` to pick its GPU plugin.
case "$1" in
  --version*|-V*)
    echo "nvcc: NVIDIA (R) Cuda compiler driver"
    echo "Cuda compilation tools, release {a}.{b}, V{a}.{b}.{c}"
    echo "Build cuda_{a}.{b}.r{a}.{b}/compiler (stand-in: runtime libraries only, from PyPI wheels)"
    exit 0;;
esac
echo "nvcc (stand-in): this CUDA_HOME holds the CUDA {a}.{b} runtime libraries only, no compiler;" \\
     "install the CUDA toolkit to compile CUDA code" >&2
exit 1
"""
    nvcc = os.path.join(bindir, "nvcc")
    write_text_atomic(nvcc, script)
    os.chmod(nvcc, 0o755)
    return ver


def main(argv=None):
    import argparse

    from common.core.errors import FaceIdError

    ap = argparse.ArgumentParser(prog="python -m common.doctor",
                                 description="Which device MindSpore can use here; for each one it cannot, why "
                                             "and the fix.")
    ap.add_argument("--require", choices=["GPU", "Ascend", "any"],
                    help="exit 2 with the reason unless this device (any: GPU or Ascend) is usable")
    ap.add_argument("--make_cuda_home", metavar="DIR", help=argparse.SUPPRESS)  # used by scripts/setup_gpu.sh
    ap.add_argument("--site", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.make_cuda_home:
        import sysconfig

        ver = make_cuda_home(args.make_cuda_home, args.site or sysconfig.get_paths()["purelib"])
        print(f"CUDA_HOME {args.make_cuda_home}: CUDA {ver[0]}.{ver[1]}.{ver[2]} libraries in lib64/, "
              f"bin/nvcc reports release {ver[0]}.{ver[1]}")
        return 0
    lines, usable = report()
    for line in lines:
        print(line, flush=True)
    if args.require and not (usable == args.require or (args.require == "any" and usable != "CPU")):
        want = "GPU or Ascend" if args.require == "any" else args.require
        why = next((ln.split(": ", 1)[1] for ln in lines if ln.startswith(f"{args.require}: ")), "")
        raise FaceIdError(f"{want} is not usable here: " + (why.replace("not usable: ", "", 1) if why else
                                                             "see the lines above"))
    return 0
