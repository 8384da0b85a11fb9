"""Indexing class folders, patient IDs, the patient-level split, loading and hashing."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.preprocessing import decode_image
from training.dataset import (
    Record,
    _allocate,
    class_names,
    encode_labels,
    hash_dataset,
    index_dataset,
    load_images,
    parse_patient_id,
    split_by_patient,
)


@pytest.mark.parametrize(
    ("name", "patient"),
    [
        ("P0007_0012.png", "P0007"),
        ("case_a_12.png", "case_a"),
        ("lonely.png", "lonely"),
        ("H-12_x.tif", "H-12"),
    ],
)
def test_patient_id_is_the_name_before_the_last_underscore(name: str, patient: str) -> None:
    assert parse_patient_id(Path("benign") / name) == patient


def test_index_reads_class_folders_and_skips_non_images(small_dir: Path, tmp_path: Path) -> None:
    root = tmp_path / "data"
    shutil.copytree(small_dir, root)
    (root / "benign" / "notes.txt").write_text("not an image")
    (root / ".cache").mkdir()
    (root / ".cache" / "P9999_0000.png").write_bytes(b"")
    records = index_dataset(root)
    assert len(records) == 240
    assert class_names(records) == ["benign", "malignant"]
    assert all(r.path.parent.name == r.label for r in records)
    assert records == sorted(records, key=lambda r: r.path)


def test_index_refuses_an_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no images"):
        index_dataset(tmp_path)


def _patients(split: list[Record]) -> set[str]:
    return {record.patient_id for record in split}


def test_split_is_disjoint_complete_and_stratified(signal_dir: Path) -> None:
    records = index_dataset(signal_dir)
    split = split_by_patient(records, seed=0)
    train, val, test = (_patients(part) for part in split)
    assert not (train & val or train & test or val & test)
    assert sorted(r.path for part in split for r in part) == [r.path for r in records]
    assert (len(train), len(val), len(test)) == (14, 3, 3)
    for part in split:
        assert {r.label for r in part} == {"benign", "malignant"}
    assert split_by_patient(records, seed=0) == split
    assert split_by_patient(records, seed=1) != split


layouts = st.lists(
    st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(1, 4)), min_size=1, max_size=40
)


@settings(max_examples=150, deadline=None)
@given(layout=layouts, seed=st.integers(0, 2**16))
def test_split_never_shares_a_patient(layout: list[tuple[str, int]], seed: int) -> None:
    records = [
        Record(Path(label) / f"P{index:04d}_{tile}.png", label, f"P{index:04d}")
        for index, (label, tiles) in enumerate(layout)
        for tile in range(tiles)
    ]
    split = split_by_patient(records, seed=seed)
    parts = [_patients(part) for part in split]
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    assert Counter(r.path for part in split for r in part) == Counter(r.path for r in records)
    per_label = Counter(label for label, _ in layout)
    for label, count in per_label.items():
        if count >= 3:  # enough patients of a label: every split gets some
            assert all(label in {r.label for r in part} for part in split)


@given(
    n=st.integers(1, 500),
    quotas=st.lists(st.floats(-1, 1), min_size=3, max_size=3),
    wanted=st.lists(st.booleans(), min_size=3, max_size=3),
)
def test_allocation_shares_out_every_patient(
    n: int, quotas: list[float], wanted: list[bool]
) -> None:
    # Quotas are shares of n plus a rounding debt in (-1, 1) carried from earlier strata.
    scaled = [n / 3 + debt - sum(quotas) / 3 for debt in quotas]
    counts = _allocate(n, scaled, wanted)
    assert sum(counts) == n
    assert all(count >= 0 for count in counts)
    if n >= 3:
        assert all(count > 0 for count, want in zip(counts, wanted, strict=True) if want)


def test_load_images_goes_through_core_preprocessing(small_dir: Path) -> None:
    records = index_dataset(small_dir)[:5]
    batch = load_images(records, (64, 64))
    assert batch.shape == (5, 64, 64, 3)
    assert batch.dtype == np.uint8
    np.testing.assert_array_equal(batch[2], decode_image(records[2].path.read_bytes(), (64, 64)))
    assert list(encode_labels(records, ["benign", "malignant"])) == [0] * 5


def test_data_hash_depends_on_content_and_names_only(small_dir: Path, tmp_path: Path) -> None:
    records = index_dataset(small_dir)
    digest = hash_dataset(records, small_dir)
    assert len(digest) == 64
    assert hash_dataset(list(reversed(records)), small_dir) == digest
    copy = tmp_path / "copy"
    shutil.copytree(small_dir, copy)
    assert hash_dataset(index_dataset(copy), copy) == digest
    victim = next((copy / "malignant").iterdir())
    victim.rename(victim.with_name("P9999_0000.png"))
    renamed = hash_dataset(index_dataset(copy), copy)
    assert renamed != digest
    victim.with_name("P9999_0000.png").write_bytes(b"changed")
    assert hash_dataset(index_dataset(copy), copy) not in {digest, renamed}
