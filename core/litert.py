"""Run a `.tflite` model with the LiteRT interpreter (XNNPACK), with no TensorFlow.

The worker serves with it and the pipeline scores the quantised models with it, so both
run the same bytes the same way. The interpreter takes a fixed input shape, and sizing one
makes XNNPACK pack its weights again, so a batch is run in chunks whose sizes are powers of
two (37 images: 32, 4 and 1), with one interpreter kept per size: at most eleven shapes
ever, each sized once, and no padding. Batches are written straight into the input
tensor: uint8 pixels as they are where the model takes them so (the pipeline's int8
files), widened to float32 or requantised otherwise; integer outputs are dequantised.
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


def _pixel_table(detail: dict[str, Any]) -> np.ndarray:
    """Return each pixel value 0..255 as the model's quantised input takes it."""
    dtype = np.dtype(detail["dtype"])
    scale, zero_point = detail["quantization"]
    info = np.iinfo(dtype)
    quantised = np.round(np.arange(256, dtype=np.float32) / scale + zero_point)
    return np.clip(quantised, info.min, info.max).astype(dtype)


def _write_input(interpreter: Any, detail: dict[str, Any], images: np.ndarray) -> None:
    """Write uint8 images into the interpreter's input tensor in the dtype it takes.

    Straight into the interpreter's buffer: no float copy of the batch is made in numpy
    first. A uint8 input read as raw pixels (scale 1, zero point 0) takes the bytes as
    they are; another quantised input goes through a 256-entry table.
    """
    target = interpreter.tensor(detail["index"])()  # a view: let go before invoke
    dtype = np.dtype(detail["dtype"])
    if dtype == np.float32 or (dtype == np.uint8 and detail["quantization"] == (1.0, 0)):
        np.copyto(target, images)
    else:
        np.take(_pixel_table(detail), images, out=target, mode="clip")


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
            _write_input(interpreter, input_detail, images)
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
