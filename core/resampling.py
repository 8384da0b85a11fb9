"""The resampling filters a model card may name: the resize its images went through.

Apart from core.preprocessing, which applies them with Pillow, so that reading a model card
(the gateway does it to describe served models) needs neither Pillow nor numpy.
"""

from __future__ import annotations

from typing import Literal

Resample = Literal["bilinear", "bicubic", "nearest", "lanczos"]
