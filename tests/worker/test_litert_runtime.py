"""The LiteRT runtime: which file a worker serves, and the same results as TensorFlow.

fp32 LiteRT and TensorFlow agree to 1e-4 on the same bytes; int8 labels agree with fp32
on at least the share the card records; each precision passes its own smoke check.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from core.model_card import SMOKE_FILE, ModelCard
from core.model_files import ModelChoiceError, choose_file
from worker.model_holder import load_model
from worker.smoke import SmokeCheckError, smoke_check


def tiles(count: int, seed: int = 1) -> np.ndarray:
    """Return random uint8 tiles of the test model's size."""
    return np.random.default_rng(seed).integers(0, 256, (count, 96, 96, 3), dtype=np.uint8)


def test_auto_serves_the_fastest_file_the_process_can_run(quantized_model_dir: Path) -> None:
    files = ModelCard.read(quantized_model_dir).model_files
    pick = choose_file(files, quantized_model_dir)
    assert (pick.runtime, pick.precision) == ("litert", "int8")
    fp32 = choose_file(files, quantized_model_dir, precision="fp32")
    assert (fp32.file, fp32.runtime) == ("model.tflite", "litert")
    no_litert = choose_file(files, quantized_model_dir, installed={"tensorflow"})
    assert no_litert.file == "model.keras"
    with pytest.raises(ModelChoiceError, match="no litert installed"):
        choose_file(files, quantized_model_dir, runtime="litert", installed={"tensorflow"})


def test_a_keras_only_directory_refuses_litert_with_what_it_holds(model_dir: Path) -> None:
    files = ModelCard.read(model_dir).model_files
    assert choose_file(files, model_dir).runtime == "tensorflow"
    with pytest.raises(ModelChoiceError, match=r"it holds model.keras \(tensorflow fp32\)"):
        choose_file(files, model_dir, runtime="litert")


def test_fp32_litert_and_tensorflow_agree_on_the_same_bytes(quantized_model_dir: Path) -> None:
    images = tiles(37)  # not a multiple of the batch: the last chunk has its own shape
    keras_model = load_model(str(quantized_model_dir), max_batch_size=16, runtime="tensorflow")
    litert = load_model(
        str(quantized_model_dir), max_batch_size=16, runtime="litert", precision="fp32"
    )
    assert (litert.runtime, litert.precision) == ("litert", "fp32")
    expected, _ = keras_model.predict(images)
    produced, _ = litert.predict(images)
    assert np.abs(produced - expected).max() <= 1e-4


def test_int8_labels_agree_with_fp32_as_often_as_the_card_says(quantized_model_dir: Path) -> None:
    card = ModelCard.read(quantized_model_dir)
    (int8_entry,) = [entry for entry in card.files if entry.precision == "int8"]
    recorded = int8_entry.metrics["label_agreement"]
    rng = np.random.default_rng(0)  # the tiles the fixture scored the card on
    images = rng.integers(0, 256, (64, 96, 96, 3), dtype=np.uint8)
    fp32 = load_model(str(quantized_model_dir), max_batch_size=8, precision="fp32")
    int8 = load_model(str(quantized_model_dir), max_batch_size=8, precision="int8")
    smoke_check(int8)
    agreement = np.mean(fp32.predict(images)[0].argmax(1) == int8.predict(images)[0].argmax(1))
    assert agreement >= recorded


def test_int8_is_held_to_its_own_recorded_outputs(
    quantized_model_dir: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "model"
    shutil.copytree(quantized_model_dir, broken)
    with np.load(broken / SMOKE_FILE) as stored:
        arrays = {name: stored[name] for name in stored.files}
    recorded = arrays["outputs_int8"]  # moved 0.1 towards 0.5: still probabilities, and
    # off by more than the tolerance even when a random-weight model answers about 0.5
    arrays["outputs_int8"] = np.where(recorded > 0.5, recorded - 0.1, recorded + 0.1)
    np.savez_compressed(broken / SMOKE_FILE, **arrays)
    smoke_check(load_model(str(broken), max_batch_size=4, precision="fp32"))  # fp32 untouched
    with pytest.raises(SmokeCheckError, match=r"tolerance 0\.02"):
        smoke_check(load_model(str(broken), max_batch_size=4, precision="int8"))


def test_batches_run_in_power_of_two_chunks_so_few_interpreters_are_sized() -> None:
    from core.litert import chunk_sizes

    assert chunk_sizes(37) == [32, 4, 1]
    assert chunk_sizes(64) == [64]
    assert chunk_sizes(0) == []
    assert all(sum(chunk_sizes(n)) == n for n in range(1, 1025))


def test_an_input_at_another_scale_is_requantised_on_the_way_in(
    quantized_model_dir: Path, tmp_path: Path
) -> None:
    from tensorflow.lite.tools import flatbuffer_utils

    from core.litert import LiteRTRunner

    pinned = quantized_model_dir / "model-int8.tflite"  # uint8 pixels as they are
    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(pinned.read_bytes()))
    graph = model.subgraphs[0]
    quantization = graph.tensors[graph.inputs[0]].quantization
    assert (quantization.scale, quantization.zeroPoint) == ([1.0], [0])
    quantization.scale, quantization.zeroPoint = [0.5], [10]  # pixel p is 2p + 10 now
    rescaled = tmp_path / "rescaled.tflite"
    rescaled.write_bytes(bytes(flatbuffer_utils.convert_object_to_bytearray(model)))
    images = tiles(8) // 3  # 0..85: what the rescaled input holds without clipping
    expected = LiteRTRunner(pinned, threads=1).run_batch(images)
    produced = LiteRTRunner(rescaled, threads=1).run_batch(images)
    np.testing.assert_allclose(produced, expected, atol=1e-6)
