"""PFE uncertainty module: flattened conv features -> log sigma^2 (Shi & Jain, ICCV 2019)."""
import mindspore as ms
from mindspore import nn, ops
from mindspore.common.initializer import XavierUniform


class UncertaintyModule(nn.Cell):
    """FC + BN + ReLU, FC + BN (no gamma/beta), one shared scalar affine, then log(1e-6 + exp(.)).

    The FC layers have no bias (a BatchNorm follows each), as in the official TF code.
    ``construct(features (N, in_features)) -> log_sigma_sq (N, embedding_size)``.
    """

    def __init__(self, in_features=21504, embedding_size=512, gamma_init=1e-4, beta_init=-7.0,
                 bn_momentum=0.995, bn_eps=1e-3):
        super().__init__()
        self.in_features = in_features
        self.fc1 = nn.Dense(in_features, embedding_size, weight_init=XavierUniform(), has_bias=False)
        self.bn1 = nn.BatchNorm1d(embedding_size, eps=bn_eps, momentum=bn_momentum)
        self.relu = nn.ReLU()
        self.fc2 = nn.Dense(embedding_size, embedding_size, weight_init=XavierUniform(), has_bias=False)
        self.bn2 = nn.BatchNorm1d(embedding_size, eps=bn_eps, momentum=bn_momentum, affine=False)
        self.gamma = ms.Parameter(ms.Tensor(gamma_init, ms.float32), name="gamma")
        self.beta = ms.Parameter(ms.Tensor(beta_init, ms.float32), name="beta")

    def construct(self, features):
        x = self.relu(self.bn1(self.fc1(features)))
        x = self.bn2(self.fc2(x))
        x = self.gamma * x + self.beta
        return ops.log(1e-6 + ops.exp(x))

    def weight_decay_params(self):
        """The parameters the official code L2-regularises (5e-4): the two FC weights only."""
        return [self.fc1.weight, self.fc2.weight]
