"""FaceNet backbones, registered in the zoo's one backbone registry (common.nets.BACKBONES).

Inception-ResNet-v1 ends in global average pooling, so it takes any input of at least 75x75 (``input_size``);
the old zoo's ResNet-50/FC128 flattens a 7x7 map into its Dense layer and takes 3x224x224 only.
"""
from common.nets import BACKBONES
from facenet.src.inception_resnet_v1 import InceptionResnetV1
from facenet.src.resnet50 import ResNet50FC128

BACKBONES.register("inception_resnet_v1", input_size=(3, 160, 160), any_size=True)(InceptionResnetV1)
BACKBONES.register("resnet50_fc128", input_size=(3, 224, 224))(ResNet50FC128)
