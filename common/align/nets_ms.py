"""P-Net, R-Net and O-Net as MindSpore cells (PyNative: the pyramid feeds P-Net a new size at every scale)."""
import numpy as np

from common.align.weights import DENSE_INPUT, HEADS, LAYERS, dense_nchw, load_weights


def _cells(net, weights):
    import mindspore as ms
    from mindspore import nn

    def param(arr):
        return ms.Parameter(ms.Tensor(np.ascontiguousarray(arr, np.float32)), requires_grad=False)

    def make(layer):
        kind = layer[0]
        if kind == "conv":
            _, name, cin, cout, k = layer
            cell = nn.Conv2d(cin, cout, k, pad_mode="valid", has_bias=True)
            cell.weight = param(weights[f"{net}.{name}.weight"])
            cell.bias = param(weights[f"{net}.{name}.bias"])
        elif kind == "dense":
            _, name, cin, cout = layer
            cell = nn.Dense(cin, cout)
            w = weights[f"{net}.{name}.weight"]
            cell.weight = param(dense_nchw(w, DENSE_INPUT[net]) if net in DENSE_INPUT and cin == np.prod(
                DENSE_INPUT[net]) else w)
            cell.bias = param(weights[f"{net}.{name}.bias"])
        elif kind == "prelu":
            cell = nn.PReLU(layer[2])
            cell.w = param(weights[f"{net}.{layer[1]}.weight"])
        else:
            cell = nn.MaxPool2d(layer[1], layer[2], pad_mode="pad", padding=0, ceil_mode=True)
        return cell

    body, flat = [], []
    for layer in LAYERS[net]:
        if layer[0] == "dense":
            body.append(nn.Flatten())
        body.append(make(layer))
    return nn.SequentialCell(body), [make(h) for h in HEADS[net]]


class MindSporeNets:
    """The three nets on MindSpore, in the process's current mode and device. Use PyNative mode: in graph mode
    every pyramid level (a new input size) compiles a new graph. 8x slower than onnxruntime on the CPU
    (bench/bench_align.py); the outputs agree within 1e-5 (tests/test_align_mtcnn.py)."""

    name = "mindspore"

    def __init__(self, weights=None):
        import common.core.env  # noqa: F401  (ONEDNN_MAX_CPU_ISA default before mindspore)
        import mindspore as ms
        from mindspore import nn

        self._ms = ms
        weights = weights if weights is not None else load_weights()

        class Net(nn.Cell):
            def __init__(self, body, heads):
                super().__init__()
                self.body = body
                self.heads = nn.CellList(heads)
                self.softmax = nn.Softmax(axis=1)

            def construct(self, x):
                y = self.body(x)
                outs = [h(y) for h in self.heads]
                return (self.softmax(outs[0]),) + tuple(outs[1:])

        self._nets = {}
        for net in LAYERS:
            cell = Net(*_cells(net, weights))
            cell.set_train(False)
            self._nets[net] = cell

    def _run(self, net, x):
        outs = self._nets[net](self._ms.Tensor(np.ascontiguousarray(x, np.float32)))
        return [o.asnumpy() for o in outs]

    def pnet(self, x):
        prob, reg = self._run("pnet", x)
        return prob[:, 1], reg

    def rnet(self, x):
        prob, reg = self._run("rnet", x)
        return prob[:, 1], reg

    def onet(self, x):
        prob, reg, points = self._run("onet", x)
        return prob[:, 1], reg, points
