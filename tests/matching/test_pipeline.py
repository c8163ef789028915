"""FacePipeline.extract on real photos: who matches whom, and what each odd input gives."""

from __future__ import annotations

import io
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image, ImageFilter

from matching.errors import (
    FaceNotFound,
    FaceTooSmall,
    ImageBlurry,
    ImageOverexposed,
    ImageTooDark,
    ImageTooLarge,
    ImageUnreadable,
    MatchingError,
    MultipleFaces,
)
from matching.pipeline import FacePipeline, downscale, scale_box
from matching.templates import Template, distance

TemplateOf = Callable[[str], Template]
Photo = Callable[[str], bytes]
OBAMA = "samples/obama/obama.jpg"
SAME = 0.6  # face_recognition's tolerance for the dlib model


def jpeg(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=92)
    return buf.getvalue()


def opened(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data)).convert("RGB")


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (OBAMA, "samples/obama/obama1.jpg"),
        (OBAMA, "samples/obama/obama2.jpg"),
        (OBAMA, "samples/obama/obama3.jpg"),
        ("samples/obama/obama1.jpg", "samples/obama/obama3.jpg"),
        ("samples/kit_harington/john1.jpeg", "samples/kit_harington/john2.jpeg"),
        ("samples/biden/biden.jpg", "samples/biden/biden2.jpg"),
        ("yale/subject01/normal.gif", "yale/subject01/happy.gif"),
    ],
)
def test_same_person_is_close(template: TemplateOf, a: str, b: str) -> None:
    assert distance(template(a), template(b)) < SAME


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (OBAMA, "samples/biden/biden.jpg"),
        ("samples/obama/obama1.jpg", "samples/biden/biden2.jpg"),
        ("samples/kit_harington/john1.jpeg", "samples/rose_leslie/img1.jpg"),
        ("yale/subject01/normal.gif", "yale/subject02/normal.gif"),
    ],
)
def test_different_people_are_far(template: TemplateOf, a: str, b: str) -> None:
    assert distance(template(a), template(b)) > SAME


def test_template_carries_model_and_quality(template: TemplateOf) -> None:
    t = template(OBAMA)
    assert (t.model_id, t.model_version, t.dimension) == ("dlib_resnet_v1", "1.0+5pt", 128)
    assert t.quality.faces_found == 1 and t.quality.face_height_px > 200  # type: ignore[union-attr]
    assert Template.from_bytes(t.to_bytes()) == t


# Documented outcomes of samples/_multi_face (box areas from the HOG detector):
#   obama_and_biden.jpg  two faces of equal size (+ a third smaller)  -> multiple_faces
#   two_people.jpg       second face 70% of the first's area          -> multiple_faces
#   kit_with_rose.jpg    Rose's face is 48% of Kit's, under the 0.5 ratio -> Kit's template
@pytest.mark.parametrize("name", ["obama_and_biden.jpg", "two_people.jpg"])
def test_two_comparable_faces_are_refused(pipeline: FacePipeline, photo: Photo, name: str) -> None:
    with pytest.raises(MultipleFaces):
        pipeline.extract(photo(f"samples/_multi_face/{name}"))


def test_smaller_second_face_is_ignored(template: TemplateOf) -> None:
    kit = template("samples/_multi_face/kit_with_rose.jpg")
    assert kit.quality.faces_found == 2  # type: ignore[union-attr]
    assert distance(kit, template("samples/kit_harington/john1.jpeg")) < SAME
    assert distance(kit, template("samples/rose_leslie/img1.jpg")) > SAME


@pytest.mark.parametrize(
    "name",
    [
        "obama-240p.jpg",  # face 62 px high: just over min_face_px
        "obama-480p.jpg",
        "obama-720p.jpg",
        "obama-1080p.jpg",
        "obama_partial_face.jpg",  # face cut by the left edge: still found, still matches
        "obama_partial_face2.jpg",  # cut by the right edge
        "32bit.png",  # RGBA copy of obama2.jpg
    ],
)
def test_derivatives_match_obama(template: TemplateOf, name: str) -> None:
    assert distance(template(f"samples/_derivatives/{name}"), template(OBAMA)) < SAME


def test_rgba_png_equals_its_jpeg_source(template: TemplateOf) -> None:
    png, jpg = template("samples/_derivatives/32bit.png"), template("samples/obama/obama2.jpg")
    assert distance(png, jpg) < 0.05


def test_side_lit_yale_face_is_not_found(pipeline: FacePipeline, photo: Photo) -> None:
    # HOG finds no face in subject01, 05 and 11 under right-side light.
    with pytest.raises(FaceNotFound):
        pipeline.extract(photo("yale/subject01/rightlight.gif"))
    assert pipeline.extract(photo("yale/subject01/leftlight.gif")).dimension == 128


def scaled(data: bytes, factor: float) -> bytes:
    pixels = np.asarray(opened(data), dtype=np.float32) * factor
    return jpeg(Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)))


@pytest.mark.parametrize(
    ("factor", "error"), [(0.2, ImageTooDark), (0.1, ImageTooDark), (2.0, ImageOverexposed)]
)
def test_badly_exposed_photo(
    pipeline: FacePipeline, photo: Photo, factor: float, error: type
) -> None:
    with pytest.raises(error):
        pipeline.extract(scaled(photo(OBAMA), factor))


@pytest.mark.parametrize("radius", [10, 14])
def test_blurred_photo(pipeline: FacePipeline, photo: Photo, radius: int) -> None:
    blurred = opened(photo(OBAMA)).filter(ImageFilter.GaussianBlur(radius))
    with pytest.raises(ImageBlurry):
        pipeline.extract(jpeg(blurred))


def test_slightly_soft_photo_still_passes(
    pipeline: FacePipeline, photo: Photo, template: TemplateOf
) -> None:
    soft = opened(photo(OBAMA)).filter(ImageFilter.GaussianBlur(2))
    assert distance(pipeline.extract(jpeg(soft)), template(OBAMA)) < 0.25


def test_far_away_face_is_too_small(pipeline: FacePipeline, photo: Photo) -> None:
    small = opened(photo("samples/obama/obama_small.jpg")).resize((160, 120))  # face ~53 px
    with pytest.raises(FaceTooSmall):
        pipeline.extract(jpeg(small))


def test_exif_rotated_jpeg_is_turned_upright(
    pipeline: FacePipeline, photo: Photo, template: TemplateOf
) -> None:
    exif = Image.Exif()
    exif[0x0112] = 8  # stored turned clockwise; viewers rotate it 90 degrees back
    buf = io.BytesIO()
    opened(photo(OBAMA)).transpose(Image.Transpose.ROTATE_270).save(buf, "JPEG", exif=exif)
    sideways = opened(buf.getvalue())  # what a decoder ignoring EXIF would see
    assert pipeline.detect(np.asarray(sideways)) == []
    assert distance(pipeline.extract(buf.getvalue()), template(OBAMA)) < 0.1


def test_sixteen_bit_grey_png_is_encoded(
    pipeline: FacePipeline, photo: Photo, template: TemplateOf
) -> None:
    grey = np.asarray(opened(photo(OBAMA)).convert("L"), dtype=np.uint16) * 257
    buf = io.BytesIO()
    Image.fromarray(grey).save(buf, "PNG")
    assert distance(pipeline.extract(buf.getvalue()), template(OBAMA)) < SAME


@pytest.mark.parametrize(
    ("data", "error"),
    [(b"not a photo", ImageUnreadable), (b"\x00" * (10 * 1024 * 1024 + 1), ImageTooLarge)],
)
def test_bad_files(pipeline: FacePipeline, data: bytes, error: type) -> None:
    with pytest.raises(error):
        pipeline.extract(data)


def test_large_photo_is_detected_on_a_downscaled_copy(pipeline: FacePipeline, photo: Photo) -> None:
    rgb = np.asarray(opened(photo("samples/obama/obama3.jpg")))  # 1434 x 2333
    (face,) = pipeline.detect(rgb)
    top, right, bottom, left = face.box
    assert bottom - top > 200  # in full-resolution pixels
    assert pipeline.encoder.detect(downscale(rgb, 800 / 2333)) != []


def test_scale_box_clips_to_the_image() -> None:
    assert scale_box((10, 50, 40, 0), 2.0, (70, 90, 3)) == (20, 90, 70, 0)


def test_concurrent_extracts_equal_sequential(pipeline: FacePipeline, photo: Photo) -> None:
    names = [
        "samples/obama/obama_small.jpg",
        "samples/kit_harington/john2.jpeg",
        "samples/_derivatives/obama-480p.jpg",  # downscaled for detection
        "lfw/images/Aaron_Sorkin/Aaron_Sorkin_0001.jpg",
        "yale/subject02/normal.gif",
        "yale/subject01/rightlight.gif",  # face_not_found
    ]
    inputs = [photo(n) for n in names]

    def run(data: bytes) -> np.ndarray | str:
        try:
            return pipeline.extract(data).vector
        except MatchingError as exc:
            return exc.code

    sequential = [run(d) for d in inputs]
    with ThreadPoolExecutor(max_workers=4) as pool:
        concurrent = list(pool.map(run, inputs * 2))
    for got, want in zip(concurrent, sequential * 2, strict=True):
        assert np.array_equal(got, want) if isinstance(want, np.ndarray) else got == want
