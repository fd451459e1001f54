"""The old zoos' log and result lines, printed beside this zoo's own so scripts that grep them keep working.

Training (MindSpore LossMonitor / TimeMonitor forms, as the LightCNN, CosFace, LResNet100E-IR and FaceNet folders
printed them)::

    epoch: 1 step: 479, loss is 21.010275
    per step time: 35.435 ms

Verification: ``[lfw]Accuracy: 0.99700+-0.00277`` and ``[lfw]Accuracy-Flip: 0.99750+-0.00214`` (the margin
models' eval.log, fractions with 5 decimals) and ``Accuracy on LFW: 0.9401+-0.0118`` (FaceNet, 4 decimals).
"""


def loss_line(epoch, step, loss):
    """``epoch: E step: S, loss is L`` (1-based epoch, step within the epoch)."""
    return f"epoch: {int(epoch)} step: {int(step)}, loss is {float(loss)}"


def step_time_line(step_ms):
    return f"per step time: {float(step_ms):.3f} ms"


def progress_lines(epoch, step, loss, step_ms):
    return [loss_line(epoch, step, loss), step_time_line(step_ms)]


def _pm(mean, std, digits):
    return f"{float(mean):.{digits}f}+-{float(std):.{digits}f}"


def accuracy_lines(target, accuracy, accuracy_flip=None):
    """``[target]Accuracy: m+-s`` and ``[target]Accuracy-Flip: m+-s``; each value a (mean, std) pair of fractions."""
    lines = []
    if accuracy is not None:
        lines.append(f"[{target}]Accuracy: {_pm(*accuracy, 5)}")
    if accuracy_flip is not None:
        lines.append(f"[{target}]Accuracy-Flip: {_pm(*accuracy_flip, 5)}")
    return lines


def lfw_accuracy_line(mean, std):
    """FaceNet's ``Accuracy on LFW: m+-s``."""
    return f"Accuracy on LFW: {_pm(mean, std, 4)}"
