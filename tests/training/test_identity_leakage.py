"""Patient identity in the split: spellings of one patient, identical files and slide names
never cross splits, and the check names the offending rows when a split would leak."""

from __future__ import annotations

import io
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import typer
from PIL import Image

from core.patients import normalize_id
from training.dataset import (
    Record,
    Split,
    check_disjoint,
    index_dataset,
    split_by_patient,
    with_content_hashes,
)
from training.layouts import index_folders
from training.params import PipelineParams, SplitParams
from training.rows import read_rows, to_records, write_rows
from training.stages.common import INDEX_FILE, SPLIT_DIR, run_stage
from training.stages.split import split

N_PATIENTS = 20


def tile(seed: int) -> bytes:
    """Return a small PNG with seeded noise: distinct seeds give distinct bytes."""
    pixels = np.random.default_rng(seed).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def label_of(patient: int) -> str:
    return "malignant" if patient % 2 else "benign"


def splits_of(split: Split) -> dict[str, set[str]]:
    """Return, per normalised patient ID, the splits it lands in."""
    where: dict[str, set[str]] = {}
    for name, part in zip(("train", "val", "test"), split, strict=True):
        for record in part:
            where.setdefault(str(normalize_id(record.patient_id)), set()).add(name)
    return where


def test_spellings_of_one_patient_land_in_one_split() -> None:
    spellings = ("P{:04d}", "p{:04d}", "P{:04d} ", " p{:04d}")
    records = [
        Record(Path(f"{label_of(p)}/{p}_{t}.png"), label_of(p), spellings[t % 4].format(p))
        for p in range(N_PATIENTS)
        for t in range(8)
    ]
    for seed in range(5):
        where = splits_of(split_by_patient(records, seed=seed))
        assert len(where) == N_PATIENTS
        assert all(len(names) == 1 for names in where.values()), where
    by_spelling = Split(
        [r for r in records if r.patient_id.startswith("P")],
        [],
        [r for r in records if not r.patient_id.startswith("P")],
    )
    with pytest.raises(ValueError, match="20 patients in more than one split") as caught:
        check_disjoint(by_spelling)  # raw strings differ, so a string compare passed this
    assert "patient 'p0000': train benign/0_0.png (patient_id 'P0000'" in str(caught.value)


def test_identical_files_land_in_one_split(tmp_path: Path) -> None:
    for p in range(N_PATIENTS):
        folder = tmp_path / label_of(p)
        folder.mkdir(exist_ok=True)
        for t in range(3):
            (folder / f"P{p:04d}_{t:04d}.png").write_bytes(tile(p * 10 + t))
    for p in range(9):  # nine files copied under another patient's name
        other = (p + 7) % N_PATIENTS
        source = tmp_path / label_of(p) / f"P{p:04d}_0000.png"
        (tmp_path / label_of(other) / f"P{other:04d}_0099.png").write_bytes(source.read_bytes())
    records = with_content_hashes(index_dataset(tmp_path))
    copies = Counter(r.content_hash for r in records)
    assert sum(count == 2 for count in copies.values()) == 9
    for seed in range(5):
        split = split_by_patient(records, seed=seed)
        check_disjoint(split)  # no patient, no file content on two sides
        assert sum(len(part) for part in split) == len(records)
    twins = [r for r in records if copies[r.content_hash] == 2]
    leaky = Split([twins[0]], [], [r for r in twins[1:] if r.content_hash == twins[0].content_hash])
    with pytest.raises(ValueError, match="1 byte-identical files in more than one split") as caught:
        check_disjoint(leaky)
    assert f"content {twins[0].content_hash!r}: train {twins[0].path}" in str(caught.value)


def test_slide_names_do_not_pass_for_patients(tmp_path: Path) -> None:
    for p in range(N_PATIENTS):
        folder = tmp_path / label_of(p)
        folder.mkdir(exist_ok=True)
        for slide in (1, 2):
            for t in range(4):
                name = f"P{p:04d}_s{slide}_{t:04d}.png"
                (folder / name).write_bytes(tile(p * 100 + slide * 10 + t))
    rows = index_folders(tmp_path)
    assert rows[0]["patient_id"] == "P0000" and rows[0]["slide_id"] == "P0000_s1"
    records = to_records(rows)  # through the index table, as the split stage reads it
    assert len({r.patient_id for r in records}) == N_PATIENTS
    for seed in range(5):
        where = splits_of(split_by_patient(records, seed=seed))
        assert len(where) == N_PATIENTS and all(len(n) == 1 for n in where.values())


def test_a_slide_under_two_patient_ids_joins_them() -> None:
    records = [
        Record(Path("a.png"), "benign", "P1", "SLIDE-9"),
        Record(Path("b.png"), "benign", "P2", "slide-9 "),  # a typo in the patient column
        Record(Path("c.png"), "benign", "P3"),
    ]
    with pytest.raises(ValueError, match="1 slides") as caught:
        check_disjoint(Split(records[:1], records[1:2], records[2:]))
    assert "slide 'slide-9': val b.png (patient_id 'P2', slide_id 'slide-9 ')" in str(caught.value)
    for seed in range(8):
        split = split_by_patient(records, (0.5, 0.0, 0.5), seed=seed)
        check_disjoint(split)
        assert {r.patient_id for r in split.train} in ({"P1", "P2"}, {"P3"})


def test_the_split_stage_writes_groups_whole_and_reports_linked_patients(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    rows = []
    for p in range(N_PATIENTS):
        for t in range(3):
            path = tmp_path / f"P{p:04d}_{t}.png"
            path.write_bytes(tile(p * 10 + t))
            spelling = f"P{p:04d}" if t else f" p{p:04d} "  # two spellings of each patient
            rows.append({"path": str(path), "label": label_of(p), "patient_id": spelling})
    write_rows(rows, INDEX_FILE)
    split(PipelineParams(split=SplitParams(min_test_patients=1)))  # 20 patients: a tiny test
    where: dict[str, set[str]] = {}
    for name in ("train", "val", "test"):
        for row in read_rows(SPLIT_DIR / f"{name}.csv"):
            where.setdefault(str(normalize_id(row["patient_id"])), set()).add(name)
    assert len(where) == N_PATIENTS and all(len(names) == 1 for names in where.values())
    shared = [{**row, "slide_id": "S1"} for row in rows]  # per-patient slide numbers: linked
    write_rows(shared, INDEX_FILE)
    with pytest.raises(typer.Exit):
        run_stage(split, tmp_path / "params.yaml")
    assert "20 patients form 1 groups" in capsys.readouterr().err


def _index_of(tmp_path: Path, n_patients: int) -> None:
    rows = []
    for p in range(n_patients):
        path = tmp_path / f"P{p:04d}_0.png"
        path.write_bytes(tile(p))
        rows.append({"path": str(path), "label": label_of(p), "patient_id": f"P{p:04d}"})
    write_rows(rows, INDEX_FILE)


def test_the_default_split_holds_20_test_patients_or_fails_saying_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    _index_of(tmp_path, PipelineParams().generate.n_patients or 0)  # the default data's count
    split(PipelineParams())
    test = {row["patient_id"] for row in read_rows(SPLIT_DIR / "test.csv")}
    assert len(test) >= 20
    _index_of(tmp_path, 60)  # 20% of 60 patients: 12 in the test split
    with pytest.raises(typer.Exit):
        run_stage(split, tmp_path / "params.yaml")
    err = " ".join(capsys.readouterr().err.split())
    assert "the test split holds 12 patients, fewer than split.min_test_patients=20" in err
