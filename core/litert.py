"""Run a `.tflite` model with the LiteRT interpreter (XNNPACK), with no TensorFlow.

The worker serves with it and the pipeline scores the quantised models with it, so both
run the same bytes the same way. The interpreter takes a fixed input shape, and sizing one
makes XNNPACK pack its weights again, so a batch is run in chunks whose sizes are powers of
two (37 images: 32, 4 and 1), with one interpreter kept per size: at most eleven shapes
ever, each sized once, and no padding. Quantised inputs and outputs (a model converted with
integer I/O) are scaled here; float I/O passes through.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

#: Interpreters kept per model, one per power-of-two chunk size up to 1024.
INTERPRETERS_KEPT = 11


def litert_available() -> bool:
    """Return whether the LiteRT interpreter (`ai-edge-litert`) is installed."""
    from importlib.util import find_spec

    return find_spec("ai_edge_litert") is not None


def _to_input(images: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    """Return uint8 images in the dtype (and quantisation) the model's input takes."""
    dtype = np.dtype(detail["dtype"])
    pixels = images.astype(np.float32)
    if dtype == np.float32:
        return pixels
    scale, zero_point = detail["quantization"]
    info = np.iinfo(dtype)
    quantised = np.round(pixels / scale + zero_point)
    return np.clip(quantised, info.min, info.max).astype(dtype)


def _from_output(values: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    """Return the model's outputs as float32, dequantised when they are integers."""
    if np.dtype(detail["dtype"]) == np.float32:
        return np.array(values, dtype=np.float32)
    scale, zero_point = detail["quantization"]
    return ((values.astype(np.float32) - zero_point) * scale).astype(np.float32)


def chunk_sizes(count: int) -> list[int]:
    """Return the powers of two that add up to count, largest first (37: 32, 4, 1)."""
    return [1 << bit for bit in range(count.bit_length() - 1, -1, -1) if count >> bit & 1]


class LiteRTRunner:
    """A `.tflite` model and its interpreters, one per batch size, run on uint8 batches.

    One runner is used by one thread at a time (the worker's model thread); a lock keeps
    a second caller from interleaving with the first on the same interpreter.
    """

    def __init__(self, path: Path, *, threads: int) -> None:
        self.path = path
        self.threads = max(1, threads)
        self._content = path.read_bytes()
        self._interpreters: OrderedDict[int, Any] = OrderedDict()
        self._lock = threading.Lock()

    def _interpreter(self, batch: int, image_shape: tuple[int, ...]) -> Any:
        """Return the interpreter sized for this batch, making it on first use."""
        interpreter = self._interpreters.get(batch)
        if interpreter is not None:
            self._interpreters.move_to_end(batch)
            return interpreter
        from ai_edge_litert.interpreter import Interpreter

        interpreter = Interpreter(model_content=self._content, num_threads=self.threads)
        detail = interpreter.get_input_details()[0]
        interpreter.resize_tensor_input(detail["index"], [batch, *image_shape], strict=False)
        interpreter.allocate_tensors()
        self._interpreters[batch] = interpreter
        while len(self._interpreters) > INTERPRETERS_KEPT:
            self._interpreters.popitem(last=False)
        return interpreter

    def run(self, images: np.ndarray) -> np.ndarray:
        """Return the model's float32 outputs for one uint8 batch (batch, height, width, 3)."""
        with self._lock:
            interpreter = self._interpreter(len(images), tuple(images.shape[1:]))
            input_detail = interpreter.get_input_details()[0]
            output_detail = interpreter.get_output_details()[0]
            interpreter.set_tensor(input_detail["index"], _to_input(images, input_detail))
            interpreter.invoke()
            return _from_output(interpreter.get_tensor(output_detail["index"]), output_detail)

    def run_batch(self, images: np.ndarray) -> np.ndarray:
        """Return the outputs of a batch of any size, run in power-of-two chunks."""
        outputs, start = [], 0
        for size in chunk_sizes(len(images)):
            outputs.append(self.run(np.ascontiguousarray(images[start : start + size])))
            start += size
        return np.concatenate(outputs)

    def predict(self, images: np.ndarray, max_batch_size: int) -> np.ndarray:
        """Return the outputs for any number of images, in batches of max_batch_size."""
        chunks = [
            self.run_batch(images[start : start + max_batch_size])
            for start in range(0, len(images), max_batch_size)
        ]
        return np.concatenate(chunks)
