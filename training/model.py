"""The classifier: a small depthwise-separable CNN that takes raw uint8 pixels."""

from __future__ import annotations

import copy

import torch
from torch import nn

# ImageNet statistics: any fixed values work, these keep inputs near zero mean, unit variance.
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
# A 4x4 stride-4 patch stem takes 400 x 240 -> 100 x 60 in one step (on 2 CPU threads a 3x3
# stride-2 stem made a training step 2.4x slower). Its 16 channels, not 24: the stem's output is
# the largest tensor of the graph, and at batch 16 on one onnxruntime thread 24 channels cost
# 0.92 ms per image against 0.66. Then (output channels, stride) of the depthwise-separable blocks.
STEM_CHANNELS = 16
BLOCKS = ((48, 2), (64, 1), (96, 2), (96, 1), (128, 2), (160, 1))


def _conv_bn_relu(
    c_in: int, c_out: int, kernel: int, stride: int, groups: int = 1, padding: int | None = None
) -> nn.Sequential:
    padding = kernel // 2 if padding is None else padding
    conv = nn.Conv2d(c_in, c_out, kernel, stride, padding, groups=groups, bias=False)
    return nn.Sequential(conv, nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class HealthCodeNet(nn.Module):
    """uint8 NCHW pixels in [0, 255] -> class logits; normalisation is part of the network."""

    def __init__(
        self,
        num_classes: int = 4,
        stem: int = STEM_CHANNELS,
        blocks: tuple[tuple[int, int], ...] = BLOCKS,
        max_pool: bool = True,
    ) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1))
        layers = [_conv_bn_relu(3, stem, 4, 4, padding=0)]
        c_in = stem
        for c_out, stride in blocks:
            layers += [
                _conv_bn_relu(c_in, c_in, 3, stride, groups=c_in),
                _conv_bn_relu(c_in, c_out, 1, 1),
            ]
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.stem_conv: nn.Conv2d = layers[0][0]
        # Max pooling next to the average: a code can be a small part of the page, and "is there
        # a green QR texture anywhere" is a maximum, which an average over the page dilutes.
        self.max_pool = max_pool
        self.head = nn.Linear(c_in * (2 if max_pool else 1), num_classes)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        x = pixels.float()
        if self.stem_conv.bias is None:  # else fold_normalisation moved it into the stem
            x = (x / 255 - self.mean) / self.std
        x = self.features(x)
        pooled = x.mean(dim=(2, 3))
        if self.max_pool:
            pooled = torch.cat((pooled, x.amax(dim=(2, 3))), dim=1)
        return self.head(pooled)


def input_normalisation(net: HealthCodeNet) -> tuple[torch.Tensor, torch.Tensor]:
    """(scale, shift), each (1, 3, 1, 1): the network's input normalisation (x / 255 - mean) / std
    as x * scale + shift, per channel."""
    return 1 / (255 * net.std.view(1, 3, 1, 1)), -(net.mean / net.std).view(1, 3, 1, 1)


def fold_normalisation(net: HealthCodeNet) -> HealthCodeNet:
    """A copy of `net` whose stem convolution takes the raw 0..255 values: the same function.

    (x / 255 - mean) / std is per channel x * a + b, so the stem's weights absorb a and a bias
    absorbs b (exact: the stem has no padding). The served graph then makes no three full-size
    passes over the input before its first convolution: at batch 16 a 400 x 180 input is 14 MB
    of floats per pass.
    """
    folded = copy.deepcopy(net).eval()
    conv = folded.stem_conv
    scale, shift = input_normalisation(folded)
    with torch.no_grad():
        bias = (conv.weight * shift).sum(dim=(1, 2, 3))
        conv.weight.mul_(scale)
        conv.bias = nn.Parameter(bias)
    return folded


def looks(net: nn.Module, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The logits for the page, and the mean of those for the page and for its mirror image,
    each (N, 4).

    The network is trained on mirrored pages as well (a mirrored screen keeps its status), so the
    two are two looks at the same evidence; their mean is right more often than either, on every
    set and most on unseen layouts and photos (training/MODEL_CARD.md, "Mirror averaging"), for
    a second pass of the network. Training computes it from mirrored pages; the exported graph from
    a mirrored twin of the network that gives the same numbers (export.add_mirror).
    """
    both = net(torch.cat([pixels, pixels.flip(3)])).reshape(2, len(pixels), -1)
    return both[0], both.mean(0)


class SoftmaxScores(nn.Module):
    """The served graph: pixels -> calibrated class probabilities softmax(logits / temperature),
    from the first look's logits where that is at least `gate` sure, else from the mirror-averaged
    logits (the mirror's look is paid for only where the first look is unsure: metrics.choose_gate;
    a gate over 1 always takes both looks)."""

    def __init__(self, net: HealthCodeNet, temperature: float, gate: float) -> None:
        super().__init__()
        self.net = net
        self.temperature = temperature
        self.gate = gate

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        first, mirrored = looks(self.net, pixels)
        one = torch.softmax(first / self.temperature, dim=1)
        both = torch.softmax(mirrored / self.temperature, dim=1)
        return torch.where(one.amax(dim=1, keepdim=True) >= self.gate, one, both)


def count_macs(net: HealthCodeNet, height: int, width: int) -> int:
    """Multiply-accumulates of one forward pass on a height x width image (convolutions, head)."""
    macs, h, w = 0, height, width
    for module in net.features.modules():
        if isinstance(module, nn.Conv2d):
            k, stride, pad = module.kernel_size[0], module.stride[0], module.padding[0]
            h, w = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
            per_pixel = module.in_channels // module.groups * k**2
            macs += h * w * module.out_channels * per_pixel
    return macs + net.head.in_features * net.head.out_features
