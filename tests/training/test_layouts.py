"""Indexing real folder layouts (class folders, BreakHis, IDC, manifest) from fixture trees."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from training.layouts import detect_layout, index_folder
from training.rows import read_rows, to_records, write_rows
from training.synthetic import encode_png

PNG = encode_png(np.full((8, 8, 3), 200, dtype=np.uint8))


def _touch(root: Path, *relatives: str) -> None:
    for relative in relatives:
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(PNG)


def _snapshot(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_class_folders_any_class_names(tmp_path: Path) -> None:
    _touch(tmp_path, "tumour/case7_001.png", "tumour/case7_002.png", "stroma/case9_1.jpg")
    (tmp_path / "stroma" / "notes.txt").write_text("not an image")
    rows = index_folder(tmp_path)
    assert detect_layout(tmp_path) == "folders"
    assert [(r["label"], r["patient_id"]) for r in rows] == [
        ("stroma", "case9"),
        ("tumour", "case7"),
        ("tumour", "case7"),
    ]


BREAKHIS = [
    "benign/SOB/adenosis/SOB_B_A_14-22549AB/40X/SOB_B_A-14-22549AB-40-001.png",
    "benign/SOB/adenosis/SOB_B_A_14-22549AB/100X/SOB_B_A-14-22549AB-100-001.png",
    "malignant/SOB/ductal_carcinoma/SOB_M_DC_14-2523/40X/SOB_M_DC-14-2523-40-010.png",
    "malignant/SOB/papillary_carcinoma/SOB_M_PC_15-190EF/40X/SOB_M_PC-15-190EF-40-002.png",
]


def test_breakhis_names_give_class_subtype_patient_and_magnification(tmp_path: Path) -> None:
    _touch(tmp_path, *BREAKHIS)
    rows = index_folder(tmp_path)
    by_name = {Path(r["path"]).name: r for r in rows}
    first = by_name["SOB_B_A-14-22549AB-40-001.png"]
    assert first["label"] == "benign"
    assert first["patient_id"] == "14-22549AB"
    assert first["subtype"] == "adenosis"
    assert first["magnification"] == "40"
    assert by_name["SOB_M_DC-14-2523-40-010.png"]["subtype"] == "ductal_carcinoma"
    assert by_name["SOB_M_PC-15-190EF-40-002.png"]["patient_id"] == "15-190EF"
    assert len(index_folder(tmp_path, "breakhis", magnification=40)) == 3
    assert len(index_folder(tmp_path, "breakhis", magnification=100)) == 1


def test_idc_layout_patient_folders_and_class_in_name(tmp_path: Path) -> None:
    _touch(
        tmp_path,
        "10253/0/10253_idx5_x1001_y1001_class0.png",
        "10253/1/10253_idx5_x501_y251_class1.png",
        "8863/1/8863_idx5_x51_y1251_class1.png",
    )
    rows = index_folder(tmp_path)
    assert detect_layout(tmp_path) == "idc"
    assert sorted((r["patient_id"], r["label"], r["x"]) for r in rows) == [
        ("10253", "benign", "1001"),
        ("10253", "malignant", "501"),
        ("8863", "malignant", "51"),
    ]


def test_manifest_names_labels_patients_and_keeps_extra_columns(tmp_path: Path) -> None:
    _touch(tmp_path, "scan/a.png", "scan/b.png", "c.png")
    (tmp_path / "manifest.csv").write_text(
        "filename,label,patient_id,slide_id,stain\n"
        "scan/a.png,malignant,P1,S1,HE\nscan/b.png,benign,P2,S2,\nc.png,benign,P2,S3,HE\n"
    )
    rows = index_folder(tmp_path)
    assert detect_layout(tmp_path) == "manifest"
    assert [(Path(r["path"]).name, r["label"], r["patient_id"], r["slide_id"]) for r in rows] == [
        ("c.png", "benign", "P2", "S3"),
        ("a.png", "malignant", "P1", "S1"),
        ("b.png", "benign", "P2", "S2"),
    ]
    assert rows[0]["stain"] == "HE"


def test_manifest_errors_are_explained(tmp_path: Path) -> None:
    _touch(tmp_path, "a.png")
    (tmp_path / "manifest.csv").write_text("filename,label\na.png,benign\n")
    with pytest.raises(ValueError, match="lacks columns"):
        index_folder(tmp_path)
    (tmp_path / "manifest.csv").write_text("filename,label,patient_id\ngone.png,benign,P1\n")
    with pytest.raises(ValueError, match="do not exist"):
        index_folder(tmp_path)


def test_index_round_trips_and_leaves_the_raw_folder_untouched(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    _touch(raw, *BREAKHIS)
    before = _snapshot(raw)
    rows = index_folder(raw)
    table = write_rows(rows, tmp_path / "index.csv")
    assert read_rows(table) == rows
    assert table.read_text().splitlines()[0].startswith("path,label,patient_id,")
    assert {r.patient_id for r in to_records(rows)} == {"14-22549AB", "14-2523", "15-190EF"}
    assert _snapshot(raw) == before


def test_empty_or_missing_folders_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no images"):
        index_folder(tmp_path)
    with pytest.raises(ValueError, match="not a folder"):
        index_folder(tmp_path / "missing")
