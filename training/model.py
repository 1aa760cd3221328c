"""The plate network: a small CNN trunk, a CTC head for line 1 and a classifier for the province.

Why this shape (argued at length in docs/vision.md): line 1 is a short left-to-right sequence,
which CTC reads without character boxes or a fixed length; the province is one of 77 known
names, which a classifier picks as a whole word (robust to a few hidden letters, and its
softmax is the score). Plain 3x3 convolutions, batch norm and ReLU only: every operator maps
to ONNX, OpenCV DNN and the Hailo Dataflow Compiler.
"""

from __future__ import annotations

import torch
from torch import nn

from edge_agent.vision.thai_model import CHARSET, INPUT_H, PROVINCE_NONE


def _conv(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class PlateNet(nn.Module):
    def __init__(self, width: int = 1) -> None:
        super().__init__()
        c = [16 * width, 32 * width, 64 * width, 96 * width]
        self.trunk = nn.Sequential(
            *_conv(3, c[0]), nn.MaxPool2d(2),  # 32 x 80
            *_conv(c[0], c[1]), nn.MaxPool2d(2),  # 16 x 40
            *_conv(c[1], c[2]), *_conv(c[2], c[2]), nn.MaxPool2d((2, 1)),  # 8 x 40
            *_conv(c[2], c[3]), *_conv(c[3], c[3]),
        )
        rows = INPUT_H // 8
        # Line 1: the whole height folds into one feature column per step (the network learns
        # to look at the upper rows), then a little context along the width.
        self.fold = nn.Sequential(
            nn.Conv2d(c[3], 160, (rows, 1), bias=False), nn.BatchNorm2d(160), nn.ReLU(inplace=True)
        )
        self.context = nn.Sequential(
            nn.Conv1d(160, 160, 3, padding=1, bias=False), nn.BatchNorm1d(160), nn.ReLU(inplace=True),
            nn.Conv1d(160, 160, 3, padding=2, dilation=2, bias=False), nn.BatchNorm1d(160), nn.ReLU(inplace=True),
        )
        self.chars = nn.Conv1d(160, len(CHARSET) + 1, 1)
        # Province: a coarse 2 x 8 grid of the trunk keeps where things are, then two layers.
        self.province = nn.Sequential(
            nn.AdaptiveAvgPool2d((2, 8)), nn.Flatten(),
            nn.Linear(c[3] * 16, 256), nn.ReLU(inplace=True), nn.Dropout(0.3),
            nn.Linear(256, PROVINCE_NONE + 1),
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.trunk(x)
        seq = self.context(self.fold(f).squeeze(2))
        logits = self.chars(seq).permute(0, 2, 1)  # (N, T, classes)
        return logits, self.province(f)
