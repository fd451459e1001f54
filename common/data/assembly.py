"""The training data of a recipe, by its data form: shuffled image batches (identity folders, a list file or
an insightface .rec) or P identities x K images."""
from common.data.dataset import BadImages, RecordItems, build_epoch_dataset
from common.data.folder import load_training_set
from common.data.pk_dataset import build_pk_epoch_dataset, pk_steps
from common.core.errors import FaceIdError


def source_name(cfg):
    return cfg.get("train_csv") or cfg.get("train_rec") or cfg.get("train_list") or cfg.get("train_root")


def training_data(recipe, cfg, preprocess, rank, world):
    """-> (labels, classes, dataset_fn(epoch, skip) -> (dataset, steps), steps per epoch, bad-image record)."""
    if recipe.data == "classes":
        return image_classification_data(cfg, preprocess, rank, world)
    return pk_data(cfg, preprocess, rank, world)


def pk_data(cfg, preprocess, rank, world):
    """P x K batches. Without ``steps_per_epoch`` an epoch is one pass of the sampler over the identities; with
    it, epoch ``e`` is global batches [e * S, (e + 1) * S) of the endless sequence of sampler passes (PFE's
    recipe: 1000 steps), so the schedule and resume positions are in those steps."""
    if cfg.get("train_csv"):  # the old FaceNet zoo's id,name,class CSV (common/data/seed_csv.py)
        from common.data.seed_csv import read_seed_csv

        paths, labels, classes = read_seed_csv(cfg.train_csv, cfg.get("train_root"))
    else:
        paths, labels, classes = load_training_set(cfg.get("train_root"), cfg.get("train_list"))
    if cfg.get("num_classes") and int(cfg.num_classes) != len(classes):
        raise FaceIdError(f"{source_name(cfg)}: has {len(classes)} identities but the config says "
                          f"num_classes={cfg.num_classes}")
    P, K = int(cfg.classes_per_batch), int(cfg.images_per_class)
    if P < 2 or K < 2:
        raise FaceIdError(f"{cfg.config}: P x K batches need classes_per_batch >= 2 and images_per_class >= 2, "
                          f"got {P} x {K}")
    per_pass = pk_steps(labels, P, K, world)
    if per_pass == 0:
        raise FaceIdError(f"{source_name(cfg)}: {len(set(labels))} identities cannot fill one batch of "
                          f"classes_per_batch={P} on {world} rank(s)")
    bad = BadImages()
    seed, workers = cfg.get("seed", 0), cfg.get("workers", 2)

    def one_pass(index, skip):
        return build_pk_epoch_dataset(paths, labels, preprocess, P, K, index, seed, rank, world, skip, workers, bad)

    fixed = cfg.get("steps_per_epoch")
    if not fixed:
        return labels, classes, one_pass, per_pass, bad
    fixed = int(fixed)

    def dataset_fn(epoch, skip):
        start, end = epoch * fixed + skip, (epoch + 1) * fixed
        data, batch = None, start
        while batch < end:
            index, offset = divmod(batch, per_pass)
            piece, steps = one_pass(index, offset)
            take = min(steps, end - batch)
            piece = piece.take(take) if take < steps else piece
            data = piece if data is None else data + piece
            batch += take
        return data, fixed - skip

    return labels, classes, dataset_fn, fixed, bad


def training_items(cfg):
    """The training samples a config names -> (items, labels, classes, read, name).

    ``train_rec`` (insightface ``train.rec`` + ``train.idx``, or ``train_idx``) wins over ``train_list`` /
    ``train_root``; items are then record keys read through ``read`` (see common.data.dataset.ImageSource).
    """
    if cfg.get("train_rec"):
        rec = RecordItems(cfg.train_rec, cfg.get("train_idx"))
        return rec.keys, rec.labels, rec.classes, rec.read, rec.name
    paths, labels, classes = load_training_set(cfg.get("train_root"), cfg.get("train_list"))
    return paths, labels, classes, None, None


def image_classification_data(cfg, preprocess, rank=0, world=1):
    """Identity folders / list file / .rec -> (labels, classes, dataset_fn, steps_per_epoch, bad-image record)."""
    paths, labels, classes, read, name = training_items(cfg)
    if cfg.get("num_classes") and int(cfg.num_classes) != len(classes):
        raise FaceIdError(f"config num_classes={cfg.num_classes} but the training data "
                         f"({cfg.get('train_rec') or cfg.get('train_list') or cfg.get('train_root')}) "
                         f"has {len(classes)} identities")
    per_rank = -(-len(paths) // world)
    steps = per_rank // cfg.batch_size
    if steps == 0:
        raise FaceIdError(f"{len(paths)} images cannot fill one batch of {cfg.batch_size} on {world} rank(s)")
    bad = BadImages()

    def dataset_fn(epoch, skip):
        data, _ = build_epoch_dataset(paths, labels, preprocess, cfg.batch_size, epoch, cfg.get("seed", 0),
                                      rank, world, skip, cfg.get("workers", 2), bad, read=read, name=name,
                                      raw=bool(cfg.get("uint8_input")))
        return data, steps

    return labels, classes, dataset_fn, steps, bad
