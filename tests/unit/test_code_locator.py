"""Where the code is (code_locator.py) and the closer look's Triton model (health_code_locate)."""

from __future__ import annotations

import importlib
import io
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

REPOSITORY = Path(__file__).resolve().parents[2] / "model_repository"
sys.path.append(str(REPOSITORY / "health_code_preprocess" / "1"))  # as the models' model.py do
code_locator = importlib.import_module("code_locator")
imaging = importlib.import_module("imaging")

CODE = (250, 400, 540, 690)  # where page() puts its 290 px code


def page(ink=(0, 160, 60)) -> Image.Image:
    """A white 800 x 1200 page with a random 29-module code of `ink` at CODE."""
    rng = np.random.default_rng(0)
    modules = rng.integers(0, 2, (29, 29), dtype=bool)
    pixels = np.where(modules[..., None], np.array(ink, np.uint8), np.uint8(255))
    out = Image.new("RGB", (800, 1200), "white")
    code = Image.fromarray(pixels.astype(np.uint8)).resize((290, 290), Image.Resampling.NEAREST)
    out.paste(code, CODE[:2])
    return out


def jpeg(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def test_a_code_is_found_where_it_is():
    assert code_locator.locate_code(page(), None) == pytest.approx(CODE, abs=12)


def test_a_page_without_a_code_has_none():
    blank = Image.new("RGB", (800, 1200), "white")
    assert code_locator.locate_code(blank, None) is None


def test_a_paragraph_the_window_joins_into_a_square_is_not_taken_for_the_code():
    """Twelve lines of dense glyphs, more texture than the code: the density window joins them
    into one square blob, but only single lines are left of it once the gaps cut it."""
    pixels = np.asarray(page()).copy()
    rng = np.random.default_rng(1)
    for y in range(760, 1190, 36):  # 12 px lines, 24 px apart, 600 px wide
        glyphs = np.repeat(np.repeat(rng.integers(0, 2, (2, 100), dtype=bool), 6, 0), 6, 1)
        pixels[y : y + 12, 100:700][glyphs] = 0
    found = code_locator.locate_code(Image.fromarray(pixels), None)
    assert found == pytest.approx(CODE, abs=12)


def test_a_code_the_detector_took_for_text_is_still_found():
    as_text = np.zeros((600, 400), np.float32)
    as_text[180:370, 110:310] = 0.9  # one blob over the code and around it
    assert code_locator.locate_code(page(), as_text) == pytest.approx(CODE, abs=12)


def qr_page(ink: tuple[int, int, int], blur: float) -> Image.Image:
    """A white 800 x 1200 page with a real QR code (segno) of `ink` at CODE, blurred."""
    import segno

    modules = np.array(segno.make("healthcode check", error="h").matrix, dtype=bool)
    pixels = np.where(modules[..., None], np.array(ink, np.uint8), np.uint8(255))
    code = Image.fromarray(pixels.astype(np.uint8)).resize((290, 290), Image.Resampling.NEAREST)
    out = Image.new("RGB", (800, 1200), "white")
    out.paste(code, CODE[:2])
    return out.filter(ImageFilter.GaussianBlur(blur))


@pytest.mark.parametrize("ink", [(0, 0, 0), (250, 200, 0), (220, 30, 30)], ids=str)
def test_the_qr_reader_finds_a_code_by_its_finder_patterns_in_any_status_colour(ink):
    found = code_locator.read_code_box(qr_page(ink, blur=2))
    assert found == pytest.approx(CODE, abs=6)


def test_the_qr_reader_finds_nothing_where_there_is_no_code():
    assert code_locator.read_code_box(page()) is None  # dense texture, but no finder patterns


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])  # decoded again larger; decoded whole once
def test_the_closer_look_asks_the_qr_reader_where_the_locator_finds_nothing(monkeypatch, fmt):
    monkeypatch.setattr(code_locator, "locate_code", lambda image, probability: None)
    out = io.BytesIO()
    qr_page((250, 200, 0), blur=1).save(out, fmt)
    view, box = code_locator.look_closer(out.getvalue(), imaging)
    scale = np.array([800, 1200, 800, 1200])
    assert box * scale == pytest.approx(CODE, abs=10)  # fractions of the page
    assert view.shape == imaging.INPUT_SHAPE


def test_the_view_is_centred_on_the_code_at_its_share_of_the_width():
    view = code_locator.code_view(page(), CODE, (400, 240), fill=127)
    assert view.shape == (3, 400, 240) and view.dtype == np.uint8
    inked = np.nonzero((view[0] < 100).any(axis=0))[0]  # the code's columns (red channel low)
    share = (inked[-1] - inked[0] + 1) / 240
    assert share == pytest.approx(code_locator.CODE_SHARE, abs=0.03)
    assert (inked[0] + inked[-1]) / 2 == pytest.approx(120, abs=3)


def test_the_view_beyond_the_page_is_filled():
    corner = (0, 0, 100, 100)  # a code in the corner: most of its view lies outside the page
    view = code_locator.code_view(page(), corner, (400, 240), fill=127)
    assert (view[:, :5, :5] == 127).all()


@pytest.fixture
def locate(monkeypatch):
    """health_code_locate's model.py with a stand-in for Triton's python backend utils."""

    class Tensor:
        def __init__(self, name, array):
            self.name, self.array = name, array

        def as_numpy(self):
            return self.array

    class Error:
        INVALID_ARG = 3

        def __init__(self, message, code=0):
            self.text, self.code = message, code

    class Response:
        def __init__(self, output_tensors=(), error=None):
            self.outputs = {t.name: t.array for t in output_tensors}
            self.error = error

    triton = types.ModuleType("triton_python_backend_utils")
    triton.Tensor, triton.TritonError, triton.InferenceResponse = Tensor, Error, Response
    triton.Logger = types.SimpleNamespace(log_error=lambda m: None)
    triton.get_input_tensor_by_name = lambda request, name: Tensor(name, request[name])
    monkeypatch.setitem(sys.modules, "triton_python_backend_utils", triton)
    path = REPOSITORY / "health_code_locate" / "1" / "model.py"
    spec = importlib.util.spec_from_file_location("health_code_locate_model", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.TritonPythonModel()
    model.initialize({})
    return model


def request(*images: bytes) -> dict:
    return {"IMAGE": np.array([[image] for image in images], dtype=np.object_)}


def test_the_model_answers_the_view_and_the_box_as_fractions(locate):
    (response,) = locate.execute([request(jpeg(page()))])
    assert response.error is None
    box = response.outputs["BOX"][0]
    expected = (CODE[0] / 800, CODE[1] / 1200, CODE[2] / 800, CODE[3] / 1200)
    assert box == pytest.approx(expected, abs=0.02)
    pixels = response.outputs["PIXELS"]
    assert pixels.shape == (1, *imaging.INPUT_SHAPE)
    assert (pixels[0, 0] < 100).mean() > 0.05  # the code's green modules fill much of the view


def test_a_page_without_a_code_answers_a_zero_box_and_a_blank_view(locate):
    (response,) = locate.execute([request(jpeg(Image.new("RGB", (720, 1600), "white")))])
    assert not response.outputs["BOX"].any()
    assert (response.outputs["PIXELS"] == imaging.PAD_VALUE).all()


def test_a_bad_image_fails_its_own_request_only(locate):
    good, bad = locate.execute([request(jpeg(page())), request(b"\xff\xd8\xff not a jpeg")])
    assert good.error is None and good.outputs["BOX"].any()
    assert bad.error is not None and bad.error.text.startswith("[corrupt_image]")
    assert bad.error.code == 3
