"""Patient identity (core.patients) and the per-patient call (core.patient_call)."""

from __future__ import annotations

import io
from collections import Counter
from dataclasses import dataclass, field

import pytest
from PIL import Image

from core.patient_call import CallRule, CallStatus, call_patient
from core.patients import identity_from_name, is_not_image, normalize_id
from core.preprocessing import ImageError, sniff_image


@pytest.mark.parametrize(
    "raw",
    ["CASE01", "case01", " case01 ", "Case01\t", "case\u200b01", "\ufeffCASE01"],
)
def test_spellings_of_one_patient_normalise_alike(raw: str) -> None:
    assert normalize_id(raw) == "case01"


def test_normalisation_is_nfc_and_keeps_no_empty_id() -> None:
    assert normalize_id("Jose\u0301") == normalize_id("JOS\u00c9") == "jos\u00e9"
    assert normalize_id("Stra\u00dfe") == "strasse"  # case-folded, not only lower-cased
    assert normalize_id(None) is None and normalize_id("  \u200b ") is None


@pytest.mark.parametrize(
    ("name", "patient", "slide"),
    [
        ("P0001_s2_0013.png", "P0001", "P0001_s2"),
        ("dir/P0001_slide12_7.TIF", "P0001", "P0001_slide12"),
        ("P0007_0012.png", "P0007", None),
        ("case_a_12.png", "case_a", None),
        ("lonely.png", "lonely", None),
        ("H-12_x.tif", "H-12", None),
    ],
)
def test_file_names_name_the_patient_not_the_slide(
    name: str, patient: str, slide: str | None
) -> None:
    identity = identity_from_name(name)
    assert identity is not None
    assert (identity.patient_id, identity.slide_id) == (patient, slide)


@pytest.mark.parametrize("name", ["scan.log", "notes.txt", "P0001_0001.png.bak", "README"])
def test_a_file_that_is_no_image_names_no_patient(name: str) -> None:
    assert identity_from_name(name) is None


def _refusal(data: bytes) -> str:
    with pytest.raises(ImageError) as caught:
        sniff_image(data, max_pixels=100)
    return str(caught.value)


def test_not_image_reasons_are_what_the_intake_says() -> None:
    assert is_not_image(_refusal(b"2026-12-02 scanner started\n"))
    assert is_not_image(_refusal(b""))
    buffer = io.BytesIO()
    Image.new("RGB", (20, 20)).save(buffer, format="PNG")
    assert not is_not_image(_refusal(buffer.getvalue()))  # too many pixels: still an image
    assert not is_not_image(None) and not is_not_image("invalid image: corrupt")


@dataclass
class Tiles:
    """A patient's tile counts, as the summary keeps them."""

    n_images: int
    n_classified: int
    positive_tiles: int
    strong_tiles: int
    label_counts: Counter[str] = field(default_factory=Counter)

    def mean(self, name: str) -> float:
        return 0.0


MALIGNANT = CallRule(positive_class="malignant")
CLASSES = ["benign", "malignant"]


def test_the_default_rule_is_sensitive_to_a_focal_tumour() -> None:
    focal = Tiles(100, 100, 9, 9, Counter(benign=91, malignant=9))
    assert call_patient(focal, MALIGNANT, CLASSES) == (CallStatus.CALLED, "malignant")
    one_strong = Tiles(100, 100, 1, 1, Counter(benign=99, malignant=1))
    assert call_patient(one_strong, MALIGNANT, CLASSES) == (CallStatus.CALLED, "benign")
    diffuse = Tiles(40, 40, 2, 0, Counter(benign=38, malignant=2))  # 5 % at the threshold
    assert call_patient(diffuse, MALIGNANT, CLASSES)[1] == "malignant"


def test_no_call_without_coverage_or_a_patient() -> None:
    sparse = Tiles(10, 1, 1, 1, Counter(malignant=1))
    assert call_patient(sparse, MALIGNANT, CLASSES) == (CallStatus.INCOMPLETE, None)
    nothing = Tiles(3, 0, 0, 0)
    assert call_patient(nothing, MALIGNANT, CLASSES) == (CallStatus.INCOMPLETE, None)
    pooled = Tiles(5, 5, 5, 5, Counter(malignant=5))
    assert call_patient(pooled, MALIGNANT, CLASSES, assigned=False) == (
        CallStatus.UNASSIGNED,
        None,
    )
