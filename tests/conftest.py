"""Shared fixtures: settings on temporary folders, real databases, a served model."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest

from core.settings import Settings
from db.migrate import upgrade
from db.scratch import scratch_database

POSTGRES_ADMIN_URL = os.environ.get(
    "INFERQ_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("INFERQ_TEST_REDIS_URL", "redis://127.0.0.1:6379")
REQUIRE_SERVICES = os.environ.get("INFERQ_REQUIRE_SERVICES") == "1"


def reachable(url: str) -> bool:
    """Return whether a TCP connection to the URL's host and port succeeds."""
    parsed = urlparse(url.replace("+psycopg", ""))
    try:
        with socket.create_connection((parsed.hostname, parsed.port), timeout=1):
            return True
    except OSError:
        return False


def need(url: str, name: str) -> None:
    """Skip (or fail, when services are required) if a service is down."""
    if reachable(url):
        return
    message = f"{name} at {url} is not reachable"
    if REQUIRE_SERVICES:
        pytest.fail(message + " and INFERQ_REQUIRE_SERVICES=1")
    pytest.skip(message)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A migrated SQLite database in a temporary folder."""
    url = f"sqlite:///{tmp_path / 'inferq.db'}"
    upgrade(url)
    return url


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A freshly created and migrated PostgreSQL database, dropped afterwards."""
    need(POSTGRES_ADMIN_URL, "PostgreSQL")
    with scratch_database(POSTGRES_ADMIN_URL, prefix="inferq_test") as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each database backend in turn."""
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    url: str = request.getfixturevalue(fixture)
    return url


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A Redis database index of the shared server, emptied afterwards."""
    need(REDIS_URL, "Redis")
    import redis

    index = 1 + secrets.randbelow(15)
    url = f"{REDIS_URL}/{index}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url
    client.flushdb()
    client.close()


@pytest.fixture
def settings(tmp_path: Path, sqlite_url: str) -> Settings:
    """Embedded-default settings on temporary folders."""
    return Settings(
        data_dir=tmp_path / "data",
        database_url=sqlite_url,
        model_uri=str(tmp_path / "no-model"),
        _env_file=None,  # type: ignore[call-arg]
    )


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A served model directory: the default small CNN with random weights (fast to build)."""
    from training.export import build_card, export_model
    from training.model_zoo import build_model

    directory = tmp_path_factory.mktemp("model")
    model = build_model("small_cnn", (96, 96), 2)
    card = build_card(
        architecture="small_cnn",
        class_names=["benign", "malignant"],
        input_size=(96, 96),
        data_hash="0" * 64,
        metrics={},
    )
    export_model(model, card, directory)
    return directory


def add_tflite_files(directory: Path, seed: int = 0) -> Path:
    """Convert a model directory's Keras model to fp32 and int8 TFLite, scored on random tiles.

    The card lists all three files with their scores on 64 random labelled tiles; the
    smoke file gains the int8 outputs, as the pipeline's quantize and export stages do.
    """
    import keras

    from core.model_card import SMOKE_FILE, ModelCard
    from training.quantize import compare, file_entries, run_tflite, score, write_tflite

    model = keras.models.load_model(directory / "model.keras", compile=False)
    rng = np.random.default_rng(seed)
    card = ModelCard.read(directory)
    images = rng.integers(0, 256, (64, *card.input_size, 3), dtype=np.uint8)
    labels = rng.integers(0, len(card.class_names), 64)
    paths = write_tflite(model, images[:16], directory, ("fp32", "int8"))
    rule = (card.class_names, card.threshold, card.positive_class)
    keras_scores = score(np.asarray(model(images.astype("float32"))), labels, *rule)
    report = {"keras": keras_scores[1]}
    for precision, path in paths.items():
        report[precision] = compare(keras_scores, score(run_tflite(path, images), labels, *rule))
    with np.load(directory / SMOKE_FILE) as stored:
        arrays = {name: stored[name] for name in stored.files}
    arrays["outputs_int8"] = run_tflite(paths["int8"], arrays["tiles"])
    np.savez_compressed(directory / SMOKE_FILE, **arrays)
    card.model_copy(update={"files": file_entries(report)}).write(directory)
    return directory


@pytest.fixture(scope="session")
def quantized_model_dir(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test model with model.tflite and model-int8.tflite beside model.keras."""
    directory = tmp_path_factory.mktemp("quantized") / "model"
    shutil.copytree(model_dir, directory)
    return add_tflite_files(directory)


@pytest.fixture(scope="session")
def slow_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model whose batch of 16 takes seconds: two wide 7x7 convolutions at 96 px."""
    import keras

    from training.export import build_card, export_model

    inputs = keras.Input((96, 96, 3))
    x = keras.layers.Conv2D(128, 7, padding="same")(inputs)
    x = keras.layers.Conv2D(128, 7, padding="same")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(2, activation="softmax")(x)
    card = build_card(
        architecture="slow",
        class_names=["benign", "malignant"],
        input_size=(96, 96),
        data_hash="0" * 64,
        metrics={},
    )
    directory = tmp_path_factory.mktemp("slow-model")
    export_model(keras.Model(inputs, outputs), card, directory)
    return directory
