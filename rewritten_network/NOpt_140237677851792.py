import sys
import mindspore
from mindspore import nn
from mindspore.nn import Cell
from mindspore.ops import functional as F
#
#
sys.path.insert(0, '/tmp/work/r5')
N = getattr(sys.modules['__main__'], 'N')

class NOpt(N, nn.Cell):

    def __init__(self, obj):
        nn.Cell.__init__(self)
        for key, value in obj.__dict__.items():
            setattr(self, key, value)

    def construct(s, x):
        fc_var = s.fc(x)
        bn_var = s.bn(fc_var)
        fc2_var = s.fc2(bn_var)
        return fc2_var
#