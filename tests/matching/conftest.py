"""Fixtures for the face pipeline tests: real photos, one encoder per model per session.

Tests that take `pipeline`, `template` or `same` run once per model (sface, dlib)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from matching.encoder import DlibEncoder, SFaceEncoder, load_encoder
from matching.pipeline import FacePipeline
from matching.templates import Template

MODELS = ("sface", "dlib")
# "Same person" distances for tests on a handful of photos: dlib's is face_recognition's
# tolerance 0.6; SFace's 1.1 is cosine 0.395 (OpenCV Zoo's SFace threshold: cosine 0.363).
SAME = {"sface": 1.1, "dlib": 0.6}


@pytest.fixture(scope="session")
def photo(faces_dir: Path) -> Callable[[str], bytes]:
    """Bytes of a photo by its path under the faces folder."""
    return lambda name: (faces_dir / name).read_bytes()


@pytest.fixture(scope="session")
def encoder() -> DlibEncoder:
    enc = DlibEncoder()
    enc.load()
    return enc


@pytest.fixture(scope="session")
def sface() -> SFaceEncoder:
    enc = load_encoder("sface")
    assert isinstance(enc, SFaceEncoder)
    return enc


@pytest.fixture(scope="session", params=MODELS)
def model(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def same(model: str) -> float:
    return SAME[model]


@pytest.fixture(scope="session")
def pipeline(model: str, encoder: DlibEncoder, sface: SFaceEncoder) -> FacePipeline:
    return FacePipeline(sface if model == "sface" else encoder)


@pytest.fixture(scope="session")
def template(pipeline: FacePipeline, photo: Callable[[str], bytes]) -> Callable[[str], Template]:
    """Template of a photo, computed once per session and model."""
    cache: dict[str, Template] = {}

    def get(name: str) -> Template:
        if name not in cache:
            cache[name] = pipeline.extract(photo(name))
        return cache[name]

    return get
