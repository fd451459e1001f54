"""FaceNet backbone registry: ``FACENET_NETS.create("inception_resnet_v1")`` or ``"resnet50_fc128"``."""
from common.registry import Registry
from facenet.src.inception_resnet_v1 import InceptionResnetV1
from facenet.src.resnet50 import ResNet50FC128

FACENET_NETS = Registry("facenet backbone")
FACENET_NETS.register("inception_resnet_v1")(InceptionResnetV1)
FACENET_NETS.register("resnet50_fc128")(ResNet50FC128)
