"""Training sets: corrupt images skipped and counted; bad paths and list files give one clear line."""
import os

import numpy as np
import pytest

from common.data.dataset import BadImages, ImageSource, epoch_indices
from common.data.folder import read_list, scan_folder
from common.data.transforms import Preprocess
from common.core.errors import FaceIdError
from tests.helpers import make_data


def test_corrupt_jpeg_is_skipped_and_counted(tmp_path):
    train, _ = make_data(tmp_path, train_ids=2, train_images=3)
    bad = os.path.join(train, "id00000", "001.jpg")
    with open(bad, "wb") as f:
        f.write(b"\xff\xd8\xff\xe0 this is not a jpeg")
    paths, labels, classes = scan_folder(train)
    assert len(paths) == 6 and classes == ["id00000", "id00001"]
    pre = Preprocess(channels=1, resize=36, crop=32, mean=0, std=255)
    record = BadImages()
    src = ImageSource(paths, labels, pre, np.arange(6), seed=0, epoch=0, bad=record)
    items = [src[k] for k in range(len(src))]
    assert len(record) == 1 and bad in record.files
    assert all(x.shape == (1, 32, 32) for x, _ in items)
    # the corrupt item is replaced by the next image, with that image's own label
    assert items[1][1] == labels[2]


def test_missing_folder_and_bad_list(tmp_path):
    with pytest.raises(FaceIdError, match="nope: training folder not found"):
        scan_folder(str(tmp_path / "nope"))
    lst = tmp_path / "list.txt"
    lst.write_text("a/1.jpg 0\nb/2.jpg\n")
    with pytest.raises(FaceIdError, match=r"list.txt:2: expected 'relative/path label'"):
        read_list(str(lst))
    with pytest.raises(FaceIdError, match="list file not found"):
        read_list(str(tmp_path / "none.txt"))


def test_list_file_paths_relative_to_root(tmp_path):
    lst = tmp_path / "clean.txt"
    lst.write_text("m.01/1-2.jpg 0\nm.02/3-4.jpg 1\n")
    paths, labels, classes = read_list(str(lst), root="/data/msceleb")
    assert paths == ["/data/msceleb/m.01/1-2.jpg", "/data/msceleb/m.02/3-4.jpg"] and labels == [0, 1]
    assert len(classes) == 2


def test_epoch_indices_shard_disjoint_and_cover():
    n, world = 10, 3
    shards = [epoch_indices(n, epoch=2, seed=5, rank=r, world=world) for r in range(world)]
    assert len({len(s) for s in shards}) == 1
    joined = np.concatenate(shards)
    assert set(joined.tolist()) == set(range(n))
    assert len(joined) == 12  # padded by 2 repeats so each rank has 4
    np.testing.assert_array_equal(shards[0], epoch_indices(n, 2, 5, 0, world))
    assert not np.array_equal(epoch_indices(n, 3, 5, 0, world), shards[0])
