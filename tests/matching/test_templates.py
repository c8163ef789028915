"""Template binary form, repr hygiene and distance."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from matching.errors import TemplateInvalid
from matching.quality import QualityReport
from matching.templates import Template, distance

REPORT = QualityReport((139, 637, 404, 372), 265, 146.06, 1346.1, 1)
finite32 = st.floats(-4, 4, allow_nan=False, width=32)
ident = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=40)
reports = st.builds(
    QualityReport,
    face_box=st.tuples(*[st.integers(0, 40_000)] * 4),
    face_height_px=st.integers(0, 40_000),
    brightness=st.floats(0, 255),
    sharpness=st.floats(0, 1e6),
    faces_found=st.integers(1, 50),
    detection_score=st.none() | st.floats(0, 1),
    yaw=st.none() | st.floats(0, 10),
)


def make(seed: int = 0, **kw: object) -> Template:
    vector = np.random.default_rng(seed).normal(0, 0.1, 128).astype(np.float32)
    args: dict[str, object] = {"model_id": "dlib_resnet_v1", "model_version": "1.0+5pt"}
    args.update(kw)
    return Template(vector, quality=REPORT, **args)  # type: ignore[arg-type]


@given(
    vector=arrays(np.float32, st.integers(1, 512), elements=finite32),
    model_id=ident,
    model_version=ident,
    quality=reports | st.dictionaries(st.text(max_size=8), st.integers(), max_size=3),
)
def test_round_trip(
    vector: np.ndarray, model_id: str, model_version: str, quality: QualityReport | dict
) -> None:
    template = Template(vector, model_id, model_version, quality)
    again = Template.from_bytes(template.to_bytes())
    assert again == template
    assert again.vector.dtype == np.float32 and np.array_equal(again.vector, vector)


def test_a_template_written_before_score_and_yaw_parses_whole() -> None:
    body = {"face_box": [1, 5, 6, 2], "face_height_px": 5, "brightness": 100.0,
            "sharpness": 30.0, "faces_found": 1}
    old = Template(make().vector, "dlib_resnet_v1", "1.0+5pt", body)
    parsed = Template.from_bytes(old.to_bytes())
    assert parsed.quality == QualityReport((1, 5, 6, 2), 5, 100.0, 30.0, 1, None, None)


def test_real_size_is_compact() -> None:
    data = make().to_bytes()
    assert 128 * 4 < len(data) < 128 * 4 + 200
    assert data[:4] == b"FTPL"


@given(cut=st.integers(0, 700))
def test_truncated_bytes_are_invalid(cut: int) -> None:
    data = make().to_bytes()
    if cut < len(data):
        with pytest.raises(TemplateInvalid):
            Template.from_bytes(data[:cut])


@pytest.mark.parametrize(
    "data",
    [b"", b"FTPL", b"XXXX\x01", b"FTPL\x02" + b"\x00" * 20],
    ids=["empty", "magic", "bad", "v2"],
)
def test_garbage_is_invalid(data: bytes) -> None:
    with pytest.raises(TemplateInvalid):
        Template.from_bytes(data)


def test_trailing_bytes_are_invalid() -> None:
    with pytest.raises(TemplateInvalid):
        Template.from_bytes(make().to_bytes() + b"\x00")


def test_repr_shows_no_vector_values() -> None:
    template = make(seed=7)
    text = repr(template)
    assert str(template) == text
    assert "redacted" in text and "dlib_resnet_v1" in text
    for value in template.vector:
        for shown in (repr(float(value)), f"{value:.4f}", f"{value:.3f}", f"{value:.2e}"):
            assert shown.lstrip("-0.") == "" or shown not in text
    numbers = re.findall(r"\d+\.\d+", text)
    assert numbers == ["1.0"]  # the model version only


def test_vector_is_an_immutable_private_copy() -> None:
    source = np.ones(128, dtype=np.float64)
    template = Template(source, "m", "v", {})
    source[0] = 5
    assert template.vector[0] == 1 and template.vector.dtype == np.float32
    with pytest.raises(ValueError):
        template.vector[0] = 2


@pytest.mark.parametrize("bad", [np.array([]), np.array([np.nan, 1.0]), np.array([np.inf])])
def test_empty_or_non_finite_vector_refused(bad: np.ndarray) -> None:
    with pytest.raises(ValueError):
        Template(bad, "m", "v", {})


def test_distance_is_euclidean() -> None:
    a, b = make(1), make(2)
    expected = float(np.linalg.norm(a.vector.astype(np.float64) - b.vector))
    assert distance(a, b) == pytest.approx(expected) == pytest.approx(distance(b, a))
    assert distance(a, a) == 0.0


def test_distance_across_models_is_refused() -> None:
    with pytest.raises(TemplateInvalid):
        distance(make(1), make(1, model_version="1.0+68pt"))
