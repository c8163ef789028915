"""Fixtures for the face pipeline tests: real photos, one encoder per test session."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from matching.encoder import DlibEncoder, SFaceEncoder, load_encoder
from matching.pipeline import FacePipeline
from matching.templates import Template


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


@pytest.fixture(scope="session")
def pipeline(encoder: DlibEncoder) -> FacePipeline:
    return FacePipeline(encoder)


@pytest.fixture(scope="session")
def template(pipeline: FacePipeline, photo: Callable[[str], bytes]) -> Callable[[str], Template]:
    """Template of a photo, computed once per session."""
    cache: dict[str, Template] = {}

    def get(name: str) -> Template:
        if name not in cache:
            cache[name] = pipeline.extract(photo(name))
        return cache[name]

    return get
