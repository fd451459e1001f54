"""The maps a newcomer reads (README "Layout", docs/ARCHITECTURE.md) against the tree, and the layout rules of
common/: every path they name exists, every package is named, no flat modules, no sys.path changes in library
modules, no model names in common/, no upward imports, one image-extension definition."""
import ast
import os
import re
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODELS = [d for d in sorted(os.listdir(ROOT)) if os.path.isfile(os.path.join(ROOT, d, "src", "recipe.py"))]


def _read(rel):
    with open(os.path.join(ROOT, rel), encoding="utf-8") as f:
        return f.read()


def _readme_layout():
    text = _read("README.md")
    start = text.index("## Layout\n")
    end = text.find("\n## ", start + 5)
    return text[start:end if end != -1 else len(text)]


def _packages():
    """Every folder under common/ holding Python files (concern packages and command packages)."""
    out = []
    for dirpath, dirnames, files in os.walk(os.path.join(ROOT, "common")):
        dirnames[:] = [d for d in dirnames if d != "__pycache__"]
        if any(f.endswith(".py") for f in files):
            rel = os.path.relpath(dirpath, ROOT).replace(os.sep, "/")
            if rel != "common":
                out.append(rel)
    return sorted(out)


def _tracked_py(prefix):
    files = subprocess.run(["git", "ls-files", prefix], cwd=ROOT, capture_output=True, text=True).stdout.split()
    if not files:  # not a git checkout: walk the tree instead
        for dirpath, _, names in os.walk(os.path.join(ROOT, prefix)):
            files += [os.path.relpath(os.path.join(dirpath, n), ROOT) for n in names]
    return [f for f in files if f.endswith(".py") and os.path.isfile(os.path.join(ROOT, f))]


def test_every_path_architecture_names_exists():
    text = _read("docs/ARCHITECTURE.md")
    paths = set(re.findall(r"`((?:common|tests|scripts|bench|ascend310_infer|protocols|docs)/[\w./-]*)`", text))
    assert len(paths) > 30
    missing = [p for p in sorted(paths) if not os.path.exists(os.path.join(ROOT, p))]
    assert not missing, f"docs/ARCHITECTURE.md names paths that do not exist: {missing}"
    # module names inside a package row (`common/core/` | `config.py` ...) exist in that package
    for row in re.findall(r"^\| `(common/[\w/]+/)` \| (.*) \|$", text, re.M):
        folder, job = row
        here = {f for _, _, files in os.walk(os.path.join(ROOT, folder)) for f in files}  # the folder and below
        for name in re.findall(r"`(\w+\.py)`", job):
            assert name in here, f"ARCHITECTURE: no {name} in {folder}"


def test_every_module_is_named_in_architecture():
    arch = _read("docs/ARCHITECTURE.md")
    missing = [f for f in _tracked_py("common") if not f.endswith(("__init__.py", "__main__.py"))
               and f"`{os.path.basename(f)}`" not in arch]
    assert not missing, f"docs/ARCHITECTURE.md does not name: {missing}"


def test_every_package_is_named_in_both_maps():
    arch, layout = _read("docs/ARCHITECTURE.md"), _readme_layout()
    for pkg in _packages():
        parts = pkg.split("/")
        short = parts[-1] + "/"
        assert f"`{pkg}/`" in arch or f"`{short}`" in arch, f"docs/ARCHITECTURE.md does not name {pkg}/"
        assert re.search(rf"(?<![\w/]){re.escape(short)}", layout), f"README Layout does not name {pkg}/"


def test_every_path_readme_layout_names_exists():
    layout = _readme_layout()
    block = layout.split("```")[1]
    for line in block.splitlines():
        indent = len(line) - len(line.lstrip())
        head = line.split("  ")[0].strip() if line.strip() else ""
        if not head:
            continue
        base = "common" if indent == 2 else ""
        for name in head.split():
            path = os.path.join(ROOT, base, name.rstrip("/"))
            assert os.path.exists(path), f"README Layout names {os.path.join(base, name)}, which does not exist"


def test_common_has_no_flat_modules():
    top = [f for f in _tracked_py("common") if f.count("/") == 1]
    assert len(top) <= 3, top


def test_no_sys_path_changes_in_library_modules():
    bad = [f for f in _tracked_py("common")
           if not f.endswith("__main__.py") and "sys.path.insert" in _read(f)]
    assert not bad, bad


def test_no_model_names_in_common():
    for f in _tracked_py("common"):
        src = _read(f)
        assert not re.search(r"model\s*[!=]=\s*[\"']", src), f"{f} tests a model name"
        assert not re.search(r"\.name\s*[!=]=\s*[\"'](" + "|".join(MODELS) + r")[\"']", src), f"{f} tests a recipe name"
        for node in ast.walk(ast.parse(src)):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
                for n in names:
                    assert n.split(".")[0] not in MODELS, f"{f}:{node.lineno} imports model folder {n}"


LAYERS = ["core", "protocols", "data|nets|align", "train|heads|evaluation|deploy", "recipes", "flows", "tools"]


def _layer(pkg):
    for i, group in enumerate(LAYERS):
        if pkg in group.split("|"):
            return i
    return len(LAYERS)  # command packages (common/<cmd>/__main__.py) sit on top


def test_imports_run_one_way():
    """A module imports only its own layer or the layers below it at import time (a function-level import is a
    run-time lookup, e.g. the option table asking the registries for their choices)."""
    bad = []
    for f in _tracked_py("common"):
        parts = f.split("/")
        if len(parts) < 3:
            continue
        here = _layer(parts[1])
        for node in ast.parse(_read(f)).body:
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("common."):
                mods = [node.module]
            elif isinstance(node, ast.Import):
                mods = [a.name for a in node.names if a.name.startswith("common.")]
            else:
                continue
            for m in mods:
                there = _layer(m.split(".")[1])
                if there > here and here < len(LAYERS):
                    bad.append(f"{f}:{node.lineno} imports {m}")
    assert not bad, "imports that run upward:\n" + "\n".join(bad)


def test_one_image_extension_definition():
    defs = []
    for f in _tracked_py("common") + _tracked_py("scripts") + _tracked_py("bench"):
        for m in re.finditer(r"^\s*\w*EXT\w*\s*=\s*\(\s*[\"']\.(jpg|png)", _read(f), re.M | re.I):
            defs.append(f)
    assert defs == ["common/data/images.py"], defs


def test_every_documented_command_resolves():
    """Each ``python -m common.X`` the README, docs/ and the scripts name is a module or a package with __main__."""
    import importlib.util

    text = _read("README.md") + _read("docs/ARCHITECTURE.md")
    for f in subprocess.run(["git", "ls-files", "*.sh"], cwd=ROOT, capture_output=True, text=True).stdout.split():
        text += _read(f)
    mods = set(m for m in re.findall(r"-m (common(?:\.\w+)+)", text) if not m.endswith(".X"))
    assert {"common.evaluate", "common.align", "common.compare", "common.identify", "common.import_weights",
            "common.convert_zoo_ckpt", "common.head_shards", "common.plan_head", "common.infer310"} <= mods, mods
    for mod in sorted(mods):
        spec = importlib.util.find_spec(mod)
        assert spec is not None, f"python -m {mod}: no such module"
        if spec.submodule_search_locations is not None:
            assert importlib.util.find_spec(mod + ".__main__") is not None, f"python -m {mod}: package without __main__"
