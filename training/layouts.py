"""Index a folder of real images: class folders, BreakHis, IDC, or a manifest.csv.

Each indexer returns rows (dicts of strings) with at least `path`, `label` and
`patient_id`; other columns (slide, subtype, magnification) ride along. Files are only
listed and read, never moved or rewritten.
"""

from __future__ import annotations

import csv
import logging
import re
from collections.abc import Callable, Iterator
from pathlib import Path

from core.patients import IMAGE_SUFFIXES
from training.dataset import index_dataset

logger = logging.getLogger(__name__)

Row = dict[str, str]

MANIFEST_FILE = "manifest.csv"
#: BreakHis: SOB_<B|M>_<subtype>-<patient>-<magnification>-<sequence>.png
BREAKHIS_NAME = re.compile(
    r"^SOB_(?P<tumor_class>[BM])_(?P<subtype>[A-Z]+)-(?P<patient>[0-9]+-[0-9A-Za-z]+)"
    r"-(?P<magnification>[0-9]+)-(?P<sequence>[0-9]+)\.png$",
    re.IGNORECASE,
)
BREAKHIS_CLASSES = {"B": "benign", "M": "malignant"}
BREAKHIS_SUBTYPES = {
    "A": "adenosis",
    "F": "fibroadenoma",
    "PT": "phyllodes_tumor",
    "TA": "tubular_adenoma",
    "DC": "ductal_carcinoma",
    "LC": "lobular_carcinoma",
    "MC": "mucinous_carcinoma",
    "PC": "papillary_carcinoma",
}
#: IDC (Janowczyk): <patient>/<0|1>/<patient>_idx5_x<x>_y<y>_class<0|1>.png
IDC_NAME = re.compile(r"^(?P<patient>.+)_idx5_x(?P<x>\d+)_y(?P<y>\d+)_class(?P<cls>[01])\.png$")
IDC_CLASSES = {"0": "benign", "1": "malignant"}


def _images(root: Path) -> Iterator[Path]:
    """Yield the image files under root, sorted, skipping hidden files and folders."""
    for path in sorted(root.rglob("*")):
        hidden = any(part.startswith(".") for part in path.relative_to(root).parts)
        if path.is_file() and not hidden and path.suffix.lower() in IMAGE_SUFFIXES:
            yield path


def index_breakhis(root: Path, magnification: int | None = None) -> list[Row]:
    """Index BreakHis files anywhere under root by their names; optionally one magnification."""
    rows = []
    for path in _images(root):
        match = BREAKHIS_NAME.match(path.name)
        if match is None or (magnification and int(match["magnification"]) != magnification):
            continue
        subtype = match["subtype"].upper()
        rows.append(
            {
                "path": str(path),
                "label": BREAKHIS_CLASSES[match["tumor_class"].upper()],
                "patient_id": match["patient"],
                "subtype": BREAKHIS_SUBTYPES.get(subtype, subtype),
                "magnification": match["magnification"],
            }
        )
    return rows


def index_idc(root: Path, magnification: int | None = None) -> list[Row]:
    """Index IDC patches: the patient folder names the patient, the file name the class."""
    rows = []
    for path in _images(root):
        match = IDC_NAME.match(path.name)
        if match is None:
            continue
        rows.append(
            {
                "path": str(path),
                "label": IDC_CLASSES[match["cls"]],
                "patient_id": match["patient"],
                "x": match["x"],
                "y": match["y"],
            }
        )
    return rows


def index_manifest(root: Path, magnification: int | None = None) -> list[Row]:
    """Index the files a manifest.csv names (filename,label,patient_id[,slide_id,...])."""
    with (root / MANIFEST_FILE).open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = {"filename", "label", "patient_id"} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{root / MANIFEST_FILE} lacks columns {sorted(missing)}")
        entries = [row for row in reader if row.get("filename")]
    rows, absent = [], []
    for entry in entries:
        path = root / entry.pop("filename")
        if not path.is_file():
            absent.append(str(path))
            continue
        rows.append({"path": str(path), **{k: v or "" for k, v in entry.items() if k}})
    if absent:
        raise ValueError(f"{len(absent)} files in the manifest do not exist, e.g. {absent[0]}")
    return sorted(rows, key=lambda row: row["path"])


def index_folders(root: Path, magnification: int | None = None) -> list[Row]:
    """Index class folders: <root>/<class>/<patient>[_s<n>]_<anything>.<ext>."""
    return [
        {"path": str(r.path), "label": r.label, "patient_id": r.patient_id}
        | ({"slide_id": r.slide_id} if r.slide_id else {})
        for r in index_dataset(root)
    ]


INDEXERS: dict[str, Callable[[Path, int | None], list[Row]]] = {
    "breakhis": index_breakhis,
    "idc": index_idc,
    "manifest": index_manifest,
    "folders": index_folders,
}


def detect_layout(root: Path) -> str:
    """Guess a folder's layout: a manifest wins, then BreakHis or IDC names, else folders."""
    if (root / MANIFEST_FILE).is_file():
        return "manifest"
    for path in _images(root):
        if BREAKHIS_NAME.match(path.name):
            return "breakhis"
        if IDC_NAME.match(path.name):
            return "idc"
        return "folders"
    raise ValueError(f"no images found under {root}")


def index_folder(root: Path, layout: str = "auto", magnification: int | None = None) -> list[Row]:
    """Index a folder of labelled images in the given (or detected) layout."""
    if not root.is_dir():
        raise ValueError(f"{root} is not a folder")
    chosen = detect_layout(root) if layout == "auto" else layout
    rows = INDEXERS[chosen](root, magnification)
    if not rows:
        raise ValueError(f"no {chosen} images found under {root}")
    logger.info("indexed %d images under %s as %s", len(rows), root, chosen)
    return rows
