"""The two CNNs of the classic PyTorch -> ONNX tutorials, as published and corrected.

Both tutorials size their first Linear layer for 64*6*6 = 2304 features, which is wrong for 1x28x28
inputs. `SimpleCNN` fails inside `view()` (3136 features arrive); `Net` runs *silently wrong*:
64*24*24 = 16*2304, so `view(-1, 2304)` turns one image into 16 rows. `diagnose()` runs a tutorial
net the way a user would, watches the tensor entering `view()` with a forward hook and explains
what happened in one sentence.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

INPUT_SHAPE = (1, 28, 28)  # one MNIST image: channels, height, width
TUTORIAL_FEATURES = 64 * 6 * 6  # what both tutorials wrote: 2304


class TutorialView(nn.Module):
    """The tutorials' `x.view(-1, 64*6*6)`, as a module so that a hook can watch its input."""

    def __init__(self, features: int = TUTORIAL_FEATURES):
        super().__init__()
        self.features = features

    def forward(self, x):
        return x.view(-1, self.features)


class SimpleCNN(nn.Module):
    """Conv(1->32, 3x3, pad 1)-ReLU-MaxPool(2), Conv(32->64, 3x3, pad 1)-ReLU-MaxPool(2), Linear->10, ReLU."""

    def __init__(self, fc_in: int = 64 * 7 * 7, flatten: nn.Module | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.flatten = flatten or nn.Flatten(1)
        self.fc = nn.Linear(fc_in, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        return F.relu(self.fc(self.flatten(x)))


class Net(nn.Module):
    """Conv(1->32, 3x3)-ReLU, Conv(32->64, 3x3)-ReLU, Linear->128, ReLU, Linear->10, log_softmax."""

    def __init__(self, fc_in: int = 64 * 24 * 24, flatten: nn.Module | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3)
        self.conv2 = nn.Conv2d(32, 64, 3)
        self.flatten = flatten or nn.Flatten(1)
        self.fc1 = nn.Linear(fc_in, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.relu(self.conv2(F.relu(self.conv1(x))))
        x = F.relu(self.fc1(self.flatten(x)))
        return F.log_softmax(self.fc2(x), dim=1)


NETS = {"SimpleCNN": SimpleCNN, "Net": Net}
FIRST_LINEAR = {"SimpleCNN": "fc", "Net": "fc1"}


def tutorial_net(name: str) -> nn.Module:
    """The net as the tutorial wrote it: Linear sized for 64*6*6, then `view(-1, 64*6*6)`."""
    return NETS[name](fc_in=TUTORIAL_FEATURES, flatten=TutorialView()).eval()


def corrected_net(name: str, seed: int = 0) -> nn.Module:
    """The fixed net (`flatten(1)`, Linear sized for the true feature count), seeded, eval mode."""
    torch.manual_seed(seed)
    return NETS[name]().eval()


@dataclass
class Diagnosis:
    net: str
    layer: str  # the Linear layer that is sized wrongly
    expected: int  # features per image the tutorial's Linear expects
    actual: int  # features per image that really reach view()
    batch_in: int
    output_shape: tuple | None  # what the net returned (None: it raised)
    error: str | None  # first line of the RuntimeError, if any

    @property
    def silent(self) -> bool:
        return self.error is None

    def sentence(self) -> str:
        head = (f"{self.net}: {self.layer} expects {self.expected} features per image but "
                f"{self.actual} reach view(-1, {self.expected})")
        if self.silent:
            rows = self.output_shape[0]
            effect = (f"so a batch of {self.batch_in} silently returned {rows} rows, shape "
                      f"{'x'.join(map(str, self.output_shape))} ({self.actual} = {rows // self.batch_in} x "
                      f"{self.expected})")
        else:
            effect = f"so a batch of {self.batch_in} fails ({self.error})"
        return f"{head}, {effect}; fix: nn.Linear({self.actual}, ...) after x.flatten(1)."


def diagnose(name: str, batch: int = 1) -> Diagnosis:
    """Run the tutorial's net on a batch of 28x28 images and report what `view()` did to it."""
    net = tutorial_net(name)
    seen: list[torch.Size] = []
    hook = net.flatten.register_forward_pre_hook(lambda module, args: seen.append(args[0].shape))
    out_shape, error = None, None
    try:
        with torch.no_grad():
            out_shape = tuple(net(torch.zeros(batch, *INPUT_SHAPE)).shape)
    except RuntimeError as exc:
        error = str(exc).splitlines()[0]
    finally:
        hook.remove()
    if not seen:
        raise RuntimeError(f"{name}: the forward pass failed before view(): {error}")
    return Diagnosis(net=name, layer=FIRST_LINEAR[name], expected=net.flatten.features,
                     actual=math.prod(seen[0][1:]), batch_in=batch, output_shape=out_shape, error=error)
