"""FaceNet's recipe: backbone (Inception-ResNet-v1 or the old zoo's ResNet-50/FC128) trained with the triplet loss
mined inside P x K batches; eval and export use the L2-normalised embedding."""
import os

from common.core.errors import FaceIdError
from common.evaluation.seedlog import lfw_accuracy_line
from common.recipes.contract import Recipe, register
from facenet.src import nets, zoo_ckpt  # noqa: F401  (registers the FaceNet backbones in common.nets.BACKBONES)
from facenet.src.model import L2Normalized, TripletNet, build_loss

CONFIGS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs")


def build_train(cfg, backbone, num_classes):
    return TripletNet(backbone, build_loss(cfg)), backbone.trainable_params()


def build_inference(cfg, backbone):
    return L2Normalized(backbone)


def prepare_train(cfg):
    """The seed's ``--batch_size`` is the P x K batch: it sets classes_per_batch = batch_size / images_per_class."""
    if cfg.get("batch_size") is not None and "batch_size" in (cfg.get("_given") or ()):
        k = int(cfg.images_per_class)
        if int(cfg.batch_size) % k:
            raise FaceIdError(f"--batch_size {cfg.batch_size}: must be a multiple of images_per_class ({k}): "
                              f"a batch is classes_per_batch x images_per_class")
        cfg.classes_per_batch = int(cfg.batch_size) // k
        print(f"note: --batch_size {cfg.batch_size} = classes_per_batch {cfg.classes_per_batch} x "
              f"images_per_class {k}", flush=True)


def seed_lines(mean, std):
    """The old FaceNet zoo's ``Accuracy on LFW: m+-s`` line (eval and training-time verification logs)."""
    return [lfw_accuracy_line(mean, std)]


RECIPE = register(Recipe(name="facenet", default_config=os.path.join(CONFIGS, "facenet_vggface2.yaml"),
                         build_train=build_train, build_inference=build_inference, data="pk",
                         prepare_train=prepare_train, eval_lines=seed_lines, verification_lines=seed_lines,
                         zoo_checkpoints={"facenet_resnet50": ("resnet50_fc128.yaml", zoo_ckpt.rename)}))
