"""The one option vocabulary of every entry point: what each key means, which commands take it, its aliases.

Every ``<model>/train.py | eval.py | export.py`` reads its model's YAML and takes any of that YAML's keys as
``--key value``; on top of the YAML, each command accepts the keys of its own groups below. A key of another
command's group is refused with one line naming the command that takes it (``--resume`` given to an eval is not
silently ignored). ``--help`` prints these groups with each key's default (from the YAML) and meaning.
"""

# group -> {key: meaning}. The order of groups is the order --help prints.
GROUPS = {
    "common": {
        "config": "YAML recipe to start from (default: the model's own); any of its keys can be overridden",
        "model": "the model folder this recipe belongs to (lightcnn, cosface, lresnet100e_ir, pfe, facenet)",
        "device_target": "auto (the installed MindSpore build's device: Ascend, GPU, else CPU), Ascend, GPU or CPU",
        "device_id": "accelerator index on this server (null: the launcher's DEVICE_ID, else 0)",
        "ort_providers": "ONNX Runtime execution providers in order of preference: cuda,tensorrt,cann,cpu "
                         "(null/auto: the best installed of CUDA, CANN, then the CPU)",
        "graph_mode": "true: compiled graph mode (fast); false: PyNative (no compile, for small runs and debugging)",
        "out_dir": "every output of the run goes under this folder (checkpoints, logs, results, exports)",
        "seed": "random seed (weights initialisation, data order, augmentation)",
        "backbone": "network name in the backbone registry (iresnet100, lightcnn9, spherenet64, ...)",
        "backbone_args": "keyword arguments of the backbone (embedding_size, widths, input_size, ...)",
        "preprocess": "channels, resize, crop, mean, std, flip: one definition for train, eval, export and C++",
        "align": "face alignment template of this recipe (arcface112, sphereface112x96, facenet160, lightcnn144)",
        "amp_level": "mixed precision O0/O1/O2/O3 (null: per device: Ascend O3, GPU O2, CPU O0)",
        "amp_dtype": "float16, bfloat16 or auto (bfloat16 where the device has it) for mixed precision",
        "embedding_size": "embedding dimension",
        "uncertainty": "PFE uncertainty module settings (gamma_init, beta_init, bn_momentum, bn_eps)",
        "dropout": "dropout before the embedding/classifier layer in training",
    },
    "train": {
        "train_root": "training images: identity folders DIR/<identity>/<image> (or the root of --train_list)",
        "train_list": "list file of 'relative/path label' lines, relative to train_root",
        "train_rec": "insightface train.rec (read without MXNet; train.idx beside it)",
        "train_idx": "train.idx of --train_rec when not beside it",
        "train_csv": "FaceNet triplets CSV (write_csv_for_making_triplets.py format) as the training list",
        "num_classes": "number of identities (null: counted from the data; a value is checked against it)",
        "ckpt_dir": "checkpoint folder (default OUT_DIR/ckpt)",
        "ckpt_prefix": "checkpoint file name prefix: <prefix>-e<epoch>-s<step>.ckpt",
        "keep_ckpt": "keep the newest K checkpoints",
        "save_every_steps": "checkpoint every N steps (0: only at epoch ends)",
        "resume": "true: newest loadable checkpoint in ckpt_dir; or a checkpoint path (full training state)",
        "max_steps": "stop after N steps with a checkpoint (null: the whole schedule)",
        "epochs": "training epochs",
        "steps_per_epoch": "fixed number of steps per epoch (null: one pass over the data)",
        "batch_size": "images per step per device (P x K batches: classes_per_batch x images_per_class)",
        "classes_per_batch": "P identities per batch (triplet / PFE training)",
        "images_per_class": "K images per identity per batch (triplet / PFE training)",
        "workers": "data decoding workers",
        "optimizer": "sgd, momentum or adam",
        "lr": "base learning rate",
        "momentum": "SGD momentum",
        "nesterov": "Nesterov momentum",
        "weight_decay": "L2 weight decay",
        "lr_schedule": "step, multistep or cosine",
        "lr_gamma": "lr multiplier at each step / milestone",
        "lr_step_epochs": "step schedule: epochs between lr drops",
        "lr_milestones": "multistep schedule: epochs (or fractions) where the lr drops",
        "warmup_epochs": "linear warm-up length in epochs",
        "warmup_lr": "lr at the start of the warm-up",
        "min_lr": "cosine schedule floor",
        "lr_scale_with_world": "scale lr by the number of devices",
        "lr_reference_batch": "scale lr by total batch / this batch (null: no scaling)",
        "param_groups": "per-parameter lr multipliers and weight decay (match: substring of the name)",
        "loss_scale": "fp16 loss scale: a number (fixed) or dynamic (null: dynamic on GPU/Ascend, 1024 on CPU)",
        "loss_scale_window": "dynamic loss scale: doubled after N steps without overflow (halved on one)",
        "head_fp16": "the margin head's cosine GEMM in fp16 with float32 logits (Partial FC too)",
        "sink": "GPU/Ascend: run log_every steps per call in data-sink mode (null: on where the boundaries "
                "allow; never on CPU)",
        "uint8_input": "batches cross to the device as uint8 HWC, cast/normalised/transposed in the graph "
                       "(null: on GPU/Ascend)",
        "log_every": "progress line every N steps (losses fetched from the device once per N steps)",
        "head": "margin head: arcface, cosface, softmax, margin (s*(cos(m1*theta+m2)-m3)) or linear",
        "head_args": "head settings: s, m (m1, m2, m3 for 'margin')",
        "head_parallel": "shard the class centres over the devices (Partial FC)",
        "sample_rate": "Partial FC: share of negative class centres sampled per step (1.0: all)",
        "margin": "triplet loss margin",
        "mining": "triplet mining: semi_hard or batch_hard",
        "squared_distance": "triplet loss on squared distances",
        "base_ckpt": "PFE: the base model checkpoint whose backbone is frozen",
        "verify_every_steps": "verify on the sets below every N steps (0: at epoch ends only)",
        "verify_bin_dir": "insightface .bin sets to verify on during training",
        "verify_targets": "names of the .bin sets (lfw,cfp_fp,agedb_30)",
        "verify_data_root": "LFW-format folder to verify on during training",
        "verify_pairs": "pairs file of verify_data_root",
        "verify_batch_size": "batch size of the periodic verification",
        "pretrained": "fine-tune: backbone weights to start from (a checkpoint or import bundle's model.ckpt; the "
                      "margin head is new, for the training data's classes)",
        "backbone_lr_mult": "fine-tune: lr multiplier of the backbone's parameters (the head's is 1)",
        "freeze_bn": "fine-tune: BatchNorm layers in inference mode (running statistics kept), their scale and "
                     "shift frozen",
        "head_warmup_epochs": "fine-tune: the first N epochs train only the head (backbone unchanged)",
    },
    "eval": {
        "ckpt_file": "checkpoint to score (without it the UNTRAINED network is scored, and said so)",
        "data_root": "LFW-format image folder (name/name_0001.jpg; pairs.txt inside or beside, or --pairs)",
        "pairs": "pairs file: LFW pairs.txt or LightCNN lfw_pairs.mat (default DATA_ROOT/pairs.txt, "
                 "else the shipped protocols/lfw_pairs.txt)",
        "image_list": "LightCNN image_list_for_lfw.txt / image_list_for_blufr.txt naming the images of a .mat",
        "bin_dir": "folder of insightface .bin sets",
        "targets": "names of the .bin sets to score (comma separated)",
        "blufr_config": "BLUFR config .mat (default: the shipped protocols/blufr_lfw_config.mat)",
        "protocols": "which protocols to run on --data_root: lfw, blufr (comma separated)",
        "flip": "add the horizontally flipped image's embedding (default true for every model: the standard "
                ".bin protocol and the papers' test-time augmentation)",
        "save_embeddings": "write embeddings.npy + images.txt per target (python -m common.evaluate reads them)",
        "eval_batch_size": "images per inference batch",
        "backend": "embedding extraction: mindspore, onnxruntime or auto (the faster measured one)",
        "templates": "PFE: template file (lines 'template_id subject_id path') or identity folders; fused by "
                     "precision-weighted mean and scored set to set",
        "onnx": "score this ONNX face model (ONNX Runtime) instead of a checkpoint; its preprocessing: the "
                "config's preprocess or --preprocess {...}",
        "ijb_dir": "IJB-B / IJB-C folder: meta/ (the published meta files) and loose_crop/ (images aligned from "
                   "the given landmarks with the recipe's template, no detection)",
        "ijb_target": "IJBB or IJBC (default: the one whose meta files are in --ijb_dir)",
        "ijb_align": "alignment template for --ijb_dir (default: the recipe's align template; a box template is "
                     "replaced by its 5-point equivalent)",
        "ijb_norm_score": "IJB: keep each image feature's norm (true, published) or L2-normalise it",
        "ijb_detector_score": "IJB: multiply each image feature by its detector score (true, published)",
    },
    "export": {
        "ckpt_file": "checkpoint to export (required)",
        "file_name": "output file without suffix (default OUT_DIR/export/<model>)",
        "file_format": "MINDIR, ONNX or AIR (Ascend only)",
        "batch_size_export": "batch size of the exported input: N (static), or dynamic (ONNX: a symbolic batch "
                             "axis; MINDIR: any batch)",
        "export_tol": "parity tolerance of exported vs Python outputs (null: 1e-5 x max |output|, >= 1e-4)",
    },
}


# key -> type and range (common.core.optspec), checked at the front door for command-line AND YAML values and
# shown by --help. A key of GROUPS without an entry here takes the type of its recipe default (a number, a
# boolean) or is left as given; add its spec here when adding the key. Choices come from the code's registries.
def _backbones():
    from common.nets import BACKBONES

    return BACKBONES.names()


def _heads():
    from common.heads.margin import HEADS

    return HEADS.names()


def _schedules():
    from common.train.lr import SCHEDULES

    return SCHEDULES


def _optimizers():
    from common.train.optim import OPTIMIZERS

    return OPTIMIZERS


def _backends():
    from common.deploy.backends import BACKENDS

    return BACKENDS


def _formats():
    from common.deploy.export import SUFFIX

    return tuple(SUFFIX)


def _templates():
    from common.align.templates import TEMPLATES

    return sorted(TEMPLATES)


def _specs():
    from common.core.optspec import AnyOf, Bool, Choice, Int, List, Mapping, Number, Path, Str

    pos_int, nonneg_int = Int(min=1), Int(min=0)
    return {
        # common
        "config": Path(), "model": Str(), "out_dir": Path(),
        "device_target": Choice(("auto", "Ascend", "GPU", "CPU"), case=False), "device_id": Int(min=0, null=True),
        "ort_providers": Str(null=True),
        "graph_mode": Bool(), "seed": nonneg_int, "backbone": Choice(_backbones), "backbone_args": Mapping(null=True),
        "preprocess": Mapping(), "align": AnyOf(Choice(_templates), Bool(), null=True),
        "amp_level": Choice(("O0", "O1", "O2", "O3"), null=True, case=False),
        "amp_dtype": Choice(("float16", "bfloat16", "auto")), "embedding_size": pos_int,
        "dropout": Number(0, 1, lt=True),
        "uncertainty": Mapping(null=True),
        # train
        "train_root": Path(null=True), "train_list": Path(null=True), "train_rec": Path(null=True),
        "train_idx": Path(null=True), "train_csv": Path(null=True), "num_classes": Int(min=1, null=True),
        "ckpt_dir": Path(null=True), "ckpt_prefix": Path(), "keep_ckpt": nonneg_int, "save_every_steps": nonneg_int,
        "resume": AnyOf(Bool(), Choice(("latest",)), Path(exists="file"), null=True,
                        label="true/false, latest, or the path of an existing checkpoint file, or null"),
        "max_steps": Int(min=1, null=True), "epochs": pos_int, "steps_per_epoch": Int(min=1, null=True),
        "batch_size": pos_int, "classes_per_batch": pos_int, "images_per_class": pos_int, "workers": pos_int,
        "optimizer": Choice(_optimizers), "lr": Number(0, gt=True), "momentum": Number(0, 1),
        "nesterov": Bool(), "weight_decay": Number(0), "lr_schedule": Choice(_schedules),
        "lr_gamma": Number(0, gt=True), "lr_step_epochs": Number(0, gt=True),
        "lr_milestones": List(Number(0), null=True), "warmup_epochs": Number(0), "warmup_lr": Number(0),
        "min_lr": Number(0), "lr_scale_with_world": Bool(), "lr_reference_batch": Int(min=1, null=True),
        "param_groups": List(Mapping(), null=True),
        "loss_scale": AnyOf(Number(0, gt=True), Choice(("dynamic",)), null=True,
                            label="a positive number, dynamic or null"),
        "loss_scale_window": pos_int, "head_fp16": Bool(), "sink": Bool(null=True), "uint8_input": Bool(null=True),
        "log_every": pos_int, "head": Choice(_heads, null=True), "head_args": Mapping(null=True),
        "head_parallel": Bool(), "sample_rate": Number(0, 1, gt=True), "margin": Number(0),
        "mining": Choice(("semi_hard", "batch_hard")), "squared_distance": Bool(), "base_ckpt": Path(null=True),
        "verify_every_steps": nonneg_int, "verify_bin_dir": Path(null=True),
        "verify_targets": List(Str(), null=True, names=True), "verify_data_root": Path(null=True),
        "verify_pairs": Path(null=True), "verify_batch_size": pos_int,
        "pretrained": Path(null=True, exists="file"), "backbone_lr_mult": Number(0), "freeze_bn": Bool(),
        "head_warmup_epochs": Number(0),
        # eval
        "ckpt_file": Path(null=True), "data_root": Path(null=True), "pairs": Path(null=True),
        "image_list": Path(null=True), "bin_dir": Path(null=True), "targets": List(Str(), null=True, names=True),
        "blufr_config": Path(null=True), "protocols": List(Str(), null=True, names=True), "flip": Bool(),
        "save_embeddings": Bool(), "eval_batch_size": pos_int, "backend": Choice(_backends),
        "templates": Path(null=True), "onnx": Path(null=True, exists="file"),
        "ijb_dir": Path(null=True), "ijb_target": Choice(("IJBB", "IJBC"), null=True, case=False),
        "ijb_align": Choice(_templates, null=True), "ijb_norm_score": Bool(), "ijb_detector_score": Bool(),
        # export
        "file_name": Path(null=True), "file_format": Choice(_formats, case=False), "batch_size_export": AnyOf(pos_int, Choice(("dynamic",), case=False),
                                                                    label="a positive integer or dynamic"),
        "export_tol": Number(0, gt=True, null=True),
    }


SPECS = _specs()


# the common keys every entry takes, shown by --help even when a recipe YAML does not set them
BASIC = ("config", "device_target", "device_id", "graph_mode", "out_dir")

# defaults of the command keys a recipe YAML does not set (the same for every model)
DEFAULTS = {
    "train": {"device_target": "auto", "graph_mode": True, "ort_providers": None, "train_root": None, "train_list": None, "train_rec": None,
              "train_idx": None, "train_csv": None, "num_classes": None, "ckpt_dir": None, "resume": None, "max_steps": None,
              "keep_ckpt": 5, "save_every_steps": 0, "log_every": 20, "verify_every_steps": 0,
              "verify_bin_dir": None, "verify_targets": None, "verify_data_root": None, "verify_pairs": None,
              "verify_batch_size": 64, "pretrained": None, "backbone_lr_mult": 1.0, "freeze_bn": False,
              "head_warmup_epochs": 0, "loss_scale_window": 1000, "head_fp16": False, "sink": None,
              "uint8_input": None},
    "eval": {"device_target": "auto", "graph_mode": True, "ort_providers": None, "flip": True, "save_embeddings": False,
             "eval_batch_size": 64, "backend": "mindspore", "protocols": "lfw", "ijb_norm_score": True,
             "ijb_detector_score": True},
    "export": {"device_target": "auto", "graph_mode": True, "ort_providers": None, "file_format": "MINDIR", "batch_size_export": 1},
}

# which groups each command accepts
COMMANDS = {
    "train": ("common", "train"),
    "eval": ("common", "eval"),
    "export": ("common", "export"),
}

# the command to name when a key of another group is given
OWNER = {"train": "train.py", "eval": "eval.py", "export": "export.py"}

# seed (old zoo) flag names: alias -> (key, note). Per command; printed once as "alias of ...".
# The old zoos' config keys (src/config.py, train.py / eval.py settings) are aliases too where they mean the same.
_SEED_TRAIN_KEYS = {
    "data_path": ("train_root", "LightCNN config"), "webface_dir": ("train_root", "CosFace train.py"),
    "save_ckpt_dir": ("ckpt_dir", "CosFace train.py"), "lfw_path": ("verify_data_root", "CosFace train.py"),
    "save_checkpoint_steps": ("save_every_steps", "LightCNN config"),
    "keep_checkpoint_max": ("keep_ckpt", "LightCNN / FaceNet config"),
    "init_lr": ("lr", "CosFace"), "learning_rate": ("lr", "FaceNet config"),
    "epoch_size": ("epochs", "CosFace / LResNet100E-IR config"), "num_epochs": ("epochs", "FaceNet config"),
    "num_work": ("workers", "CosFace"), "num_workers": ("workers", "FaceNet config"),
    "num_class": ("num_classes", "CosFace"), "schedule": ("lr_milestones", "LResNet100E-IR config"),
    "gamma": ("lr_gamma", "LResNet100E-IR config"),
    "is_distributed": ("is_distributed", "distribution is set by the launcher's environment"),
}
_SEED_EVAL_KEYS = {
    "root_path": ("data_root", "LightCNN config"), "lfw_path": ("data_root", "CosFace eval.py"),
    "lfw_img_list": ("image_list", "LightCNN config"), "blufr_img_list": ("image_list", "LightCNN config"),
    "lfw_pairs_mat_path": ("pairs", "LightCNN config"), "blufr_config_mat_path": ("blufr_config", "LightCNN config"),
}
ALIASES = {
    "train": {"ckpt_path": ("ckpt_dir", "the seed's checkpoint folder"),
              "run_distribute": ("run_distribute", "distribution is set by the launcher's environment"),
              **_SEED_TRAIN_KEYS},
    "eval": {"ckpt_path": ("ckpt_file", ""), "ckpt": ("ckpt_file", ""), "resume": ("ckpt_file", ""),
             "pretrained": ("ckpt_file", ""), **_SEED_EVAL_KEYS},
    "export": {"ckpt_path": ("ckpt_file", ""), "ckpt": ("ckpt_file", ""), "pretrained": ("ckpt_file", ""),
               "batch_size": ("batch_size_export", "the exported input's batch")},
}


def meaning(key):
    for group in GROUPS.values():
        if key in group:
            return group[key]
    return ""


def group_of(key):
    """The first group that defines ``key`` (None for a key no group documents)."""
    for name, group in GROUPS.items():
        if key in group:
            return name
    return None


def command_keys(command):
    keys = set()
    for g in COMMANDS[command]:
        keys |= set(GROUPS[g])
    return keys


def owners(key):
    """The commands that accept ``key``."""
    return [c for c in COMMANDS if key in command_keys(c)]
