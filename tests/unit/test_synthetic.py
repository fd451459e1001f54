"""Demo data: deterministic, disjoint identities, valid LFW pairs."""
import hashlib
import os

from common.protocols.lfw import read_pairs
from tests.helpers import make_data


def _digest(root):
    h = hashlib.sha256()
    for d, _, files in sorted(os.walk(root)):
        for f in sorted(files):
            h.update(f.encode())
            with open(os.path.join(d, f), "rb") as fh:
                h.update(fh.read())
    return h.hexdigest()


def test_deterministic_and_valid(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    make_data(a)
    make_data(b)
    assert _digest(a) == _digest(b)
    make_data(tmp_path / "c", seed=1)
    assert _digest(a) != _digest(tmp_path / "c")
    pairs = read_pairs(str(a / "test" / "pairs.txt"))
    assert len(pairs.issame) == 200 and pairs.issame.sum() == 100
    for p in pairs.first + pairs.second:
        assert os.path.isfile(a / "test" / p)
    train_ids = set(os.listdir(a / "train"))
    test_ids = {d for d in os.listdir(a / "test") if os.path.isdir(a / "test" / d)}
    assert len(train_ids) == 6 and len(test_ids) == 20 and not train_ids & test_ids
    # each fold's pairs use only that fold's identities (as in LFW)
    for k in range(10):
        names = {p.split("/")[0] for p, f in zip(pairs.first + pairs.second, list(pairs.fold) * 2) if f == k}
        others = {p.split("/")[0] for p, f in zip(pairs.first + pairs.second, list(pairs.fold) * 2) if f != k}
        assert not names & others
