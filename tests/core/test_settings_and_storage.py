"""Settings defaults and overrides; content-addressed storage."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.settings import Settings
from core.storage import BlobStore, content_hash
from core.tasks import chunk_ids


def test_defaults_need_no_servers(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, _env_file=None)  # type: ignore[call-arg]
    assert settings.resolved_database_url == f"sqlite:///{tmp_path / 'inferq.db'}"
    assert settings.resolved_broker_url == "filesystem://"
    assert settings.resolved_storage_url == str(tmp_path / "blobs")
    assert settings.model_uri == "models/default"


def test_environment_and_dotenv_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("INFERQ_MAX_BATCH_SIZE=16\nINFERQ_BROKER_URL=redis://x:6379/0\n")
    monkeypatch.setenv("INFERQ_MAX_BATCH_SIZE", "8")
    settings = Settings(_env_file=env_file)  # type: ignore[call-arg]
    assert settings.max_batch_size == 8  # the environment wins over .env
    assert settings.resolved_broker_url == "redis://x:6379/0"


def test_env_example_lists_every_setting() -> None:
    example = (Path(__file__).parents[2] / ".env.example").read_text()
    for name in Settings.model_fields:
        assert f"INFERQ_{name.upper()}=" in example, name


def test_store_is_idempotent_and_content_addressed(tmp_path: Path) -> None:
    store = BlobStore(str(tmp_path / "blobs"))
    first = store.put(b"abc")
    assert store.put(b"abc") == first == content_hash(b"abc")
    assert store.get(first) == b"abc"
    assert len(list((tmp_path / "blobs").rglob("*"))) == 3  # two folders and one file


def test_store_works_on_other_fsspec_backends() -> None:
    store = BlobStore("memory://inferq-test")
    assert store.get(store.put(b"xyz")) == b"xyz"


@pytest.mark.parametrize(
    ("n", "size", "lengths"),
    [
        (130, 64, [44, 43, 43]),
        (200, 64, [50, 50, 50, 50]),
        (64, 64, [64]),
        (3, 64, [3]),
        (0, 8, []),
    ],
)
def test_chunks_are_even_and_never_exceed_batch_size(n: int, size: int, lengths: list[int]) -> None:
    ids = [str(i) for i in range(n)]
    chunks = chunk_ids(ids, size)
    assert [len(c) for c in chunks] == lengths
    assert [i for chunk in chunks for i in chunk] == ids
