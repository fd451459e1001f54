import pytest

from common.core.config import load_config, parse_overrides
from common.core.errors import FaceIdError


def _write(p, text):
    p.write_text(text)
    return str(p)


def test_base_inheritance_and_typed_overrides(tmp_path):
    _write(tmp_path / "base.yaml", "lr: 0.1\nepochs: 10\nmilestones: [3, 6]\nname: a\nflag: false\n")
    child = _write(tmp_path / "child.yaml", "base: base.yaml\nepochs: 20\n")
    cfg = load_config(child, ["--lr", "1e-3", "--milestones", "[1,2]", "--flag", "--name=b"])
    assert cfg.epochs == 20 and cfg.lr == pytest.approx(1e-3) and isinstance(cfg.lr, float)
    assert cfg.milestones == [1, 2] and cfg.flag is True and cfg.name == "b"
    assert cfg.config.endswith("child.yaml")


def test_config_option_selects_yaml(tmp_path):
    a = _write(tmp_path / "a.yaml", "x: 1\n")
    b = _write(tmp_path / "b.yaml", "x: 2\n")
    assert load_config(a, ["--config", b]).x == 2


def test_unknown_key_is_a_clear_error(tmp_path):
    a = _write(tmp_path / "a.yaml", "lr: 1\n")
    with pytest.raises(FaceIdError, match=r"unknown option\(s\) --lrr .*a\.yaml"):
        load_config(a, ["--lrr", "2"])


def test_missing_and_bad_yaml(tmp_path):
    with pytest.raises(FaceIdError, match="config file not found"):
        load_config(str(tmp_path / "nope.yaml"), [])
    bad = _write(tmp_path / "bad.yaml", "a: [1, 2\n")
    with pytest.raises(FaceIdError, match="bad.yaml: not valid YAML"):
        load_config(bad, [])


def test_parse_overrides_rejects_positional():
    with pytest.raises(FaceIdError, match="unexpected argument 'x'"):
        parse_overrides(["x"])
