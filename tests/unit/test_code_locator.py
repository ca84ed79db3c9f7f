"""Where the code is (code_locator.py) and the closer look's Triton model (health_code_locate)."""

from __future__ import annotations

import importlib
import io
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter, ImageOps

from training.metrics import FINDER_SHARPNESS_BAR

REPOSITORY = Path(__file__).resolve().parents[2] / "model_repository"
sys.path.append(str(REPOSITORY / "health_code_preprocess" / "1"))  # as the models' model.py do
code_locator = importlib.import_module("code_locator")
imaging = importlib.import_module("imaging")

CODE = (250, 400, 540, 690)  # where page() puts its 290 px code
BAR = FINDER_SHARPNESS_BAR  # the sharpness from which the finder check withdraws a colour


def page(ink=(0, 160, 60), modules: int = 29, side: int = 290, blur: float = 0.0) -> Image.Image:
    """A white 800 x 1200 page with a random code of `modules` a side and `ink`, `side` px wide
    from CODE's corner (CODE itself by default), blurred by a Gaussian of radius `blur` px."""
    rng = np.random.default_rng(0)
    drawn = rng.integers(0, 2, (modules, modules), dtype=bool)
    pixels = np.where(drawn[..., None], np.array(ink, np.uint8), np.uint8(255))
    out = Image.new("RGB", (800, 1200), "white")
    code = Image.fromarray(pixels.astype(np.uint8)).resize((side, side), Image.Resampling.NEAREST)
    out.paste(code, CODE[:2])
    return out.filter(ImageFilter.GaussianBlur(blur)) if blur else out


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


def dotted_qr_page(ink: tuple[int, int, int]) -> Image.Image:
    """qr_page's code drawn as round dots (as some apps draw theirs): finder squares of dots."""
    import segno

    modules = np.array(segno.make("healthcode check", error="h").matrix, dtype=bool)
    out = Image.new("RGB", (800, 1200), "white")
    draw = ImageDraw.Draw(out)
    pitch = 290 / len(modules)
    for y, x in zip(*np.nonzero(modules), strict=True):
        left, top = CODE[0] + x * pitch, CODE[1] + y * pitch
        draw.ellipse((left + 1, top + 1, left + pitch - 1, top + pitch - 1), fill=ink)
    return out


def tensor(image: Image.Image) -> np.ndarray:
    return imaging.image_to_tensor(jpeg(image))


@pytest.mark.parametrize("ink", [(0, 0, 0), (250, 200, 0), (220, 30, 30)], ids=str)
def test_the_finder_check_sees_a_qr_code_in_the_first_looks_tensor(ink):
    assert code_locator.shows_finder(tensor(qr_page(ink, blur=0)))


@pytest.mark.parametrize("ink", [(0, 0, 0), (250, 200, 0), (220, 30, 30)], ids=str)
def test_the_finder_check_sees_a_code_of_dots_in_the_closer_looks_view(ink):
    """At ~2.6 px a module the first look may miss finder squares of dots; the view, at twice
    the resolution, shows them (the gateway takes a closer look before it withdraws a colour)."""
    view, box = code_locator.look_closer(jpeg(dotted_qr_page(ink)), imaging)
    assert box.any() and code_locator.shows_finder(view)


def test_the_finder_check_sees_none_in_a_square_of_modules_that_is_no_qr_code():
    assert not code_locator.shows_finder(tensor(page()))  # dense texture, no finder squares
    assert not code_locator.shows_finder(tensor(Image.new("RGB", (720, 1600), "white")))


def symbol(fmt: str, text: str, scale: int, blur: float) -> np.ndarray:
    """A symbol zxing-cpp writes (with its quiet zone), `scale` px a module, blurred: grey."""
    import zxingcpp

    made = zxingcpp.create_barcode(text, zxingcpp.barcode_format_from_str(fmt))
    grey = Image.fromarray(np.asarray(zxingcpp.write_barcode_to_image(made, scale=scale)))
    return np.asarray(grey.filter(ImageFilter.GaussianBlur(blur)))


def read_whole_family(grey: np.ndarray) -> list[str]:
    import zxingcpp

    found = zxingcpp.read_barcodes(grey, formats=zxingcpp.BarcodeFormat.QRCode, return_errors=True)
    return [str(r.format) for r in found]


def test_an_aztec_codes_bullseye_is_no_finder_square():
    """The QR family's reader takes a soft Aztec code's bullseye for a Micro QR code's finder;
    it sits in the middle of its symbol, data all round it, and does not count."""
    aztec = symbol("Aztec", "healthcode check 0", scale=4, blur=2.0)
    assert read_whole_family(aztec) == ["Micro QR Code"]  # what the reader alone reports
    assert code_locator.read_qr(aztec) == []
    assert not code_locator.shows_finder(np.stack([aztec] * 3))


def test_a_bullseye_in_an_aztec_code_the_reader_locates_is_no_finder_square():
    """A photographed Aztec code (benchmarks' written set, seed 67, page 43) whose bullseye the
    reader takes for a Micro QR code's finder with light 1.5 modules out (the module it assumes
    is not the code's): the reader locates the Aztec code there, so the find does not count."""
    from benchmarks.recognition import case

    data, drawn = case("photo", 43, 67, "written")
    assert drawn.drawn == "invalid/Aztec"
    height, width = imaging.INPUT_SHAPE[1:]
    scale = code_locator.LOOK_SCALE
    page = imaging.decode_upright(data, (scale * height, scale * width))
    page = code_locator._reduced_to(page, (scale * height, scale * width))
    darkest = np.asarray(page.convert("RGB")).min(axis=2)
    assert "Micro QR Code" in read_whole_family(darkest)  # what the reader alone reports
    assert code_locator.read_qr(darkest) == []
    assert not code_locator.look_closer_checked(data, imaging).finder


def test_an_aztec_code_is_looked_for_with_both_binarizers_and_before_its_modules_grow():
    """Seed 68's written set: a re-saved Aztec code whose tensor shows a one-finder symbol only
    with its light modules grown (the Aztec code is located in the grey it was grown from), and
    a photo whose close read shows one with the global binarizer (the local one locates the
    Aztec code)."""
    from benchmarks.recognition import case
    from training.preprocessing import image_to_tensor

    resaved, drawn = case("resaved", 55, 68, "written")
    assert drawn.drawn == "invalid/Aztec"
    assert not code_locator.shows_finder(image_to_tensor(resaved))
    photo, drawn = case("photo", 391, 68, "written")
    assert drawn.drawn == "invalid/Aztec"
    assert not code_locator.look_closer_checked(photo, imaging, read_ink=False).finder


@pytest.mark.parametrize("turns", [0, 1, 2, 3])
def test_a_micro_qr_codes_finder_at_its_corner_still_counts(turns):
    """A real one-finder symbol, in any orientation: its finder has quiet zone outside it."""
    micro = np.ascontiguousarray(np.rot90(symbol("MicroQRCode", "HC0", scale=3, blur=1.6), turns))
    assert [str(r.format) for r in code_locator.read_qr(micro)] == ["Micro QR Code"]
    assert code_locator.shows_finder(np.stack([micro] * 3))
    assert not code_locator.first_look_shows_finder(np.stack([micro] * 3))  # below: a look


@pytest.mark.parametrize("ink", [(0, 0, 0), (250, 200, 0), (220, 30, 30)], ids=str)
def test_the_first_look_counts_a_qr_codes_three_finder_squares(ink):
    assert code_locator.first_look_shows_finder(tensor(qr_page(ink, blur=0)))


def test_an_aztec_bullseye_the_first_look_shows_gets_a_closer_look():
    """Fresh seed 82's written set: an Aztec photo the first look answers yellow at 0.9999,
    whose tensor shows the reader a one-finder symbol (the bullseye, ~1 px a module) and no
    Aztec code round it. The first look's check counts no one-finder find, so the colour is
    looked at, and the view, at twice the resolution, shows no finder squares."""
    from benchmarks.recognition import case
    from training.preprocessing import image_to_tensor

    photo, drawn = case("photo", 91, 82, "written")
    assert drawn.drawn == "invalid/Aztec"
    pixels = image_to_tensor(photo)
    assert code_locator.shows_finder(pixels)  # what the one-finder rule saw
    assert not code_locator.first_look_shows_finder(pixels)
    assert not code_locator.look_closer_checked(photo, imaging).finder


def test_a_qr_code_beside_the_square_the_view_frames_still_counts_as_seen():
    """The locator frames the biggest square of texture; a smaller QR code elsewhere on the page
    (a code in a card beside a grid of icons) is found by the QR reader in the page."""
    import segno

    busy = page()
    modules = np.array(segno.make("healthcode check", error="h").matrix, dtype=bool)
    qr = Image.fromarray(np.where(modules, 0, 255).astype(np.uint8)).convert("RGB")
    busy.paste(qr.resize((180, 180), Image.Resampling.NEAREST), (560, 60))
    view, box, finder, sharp, *_ = code_locator.look_closer_checked(jpeg(busy), imaging)
    assert box * np.array([800, 1200, 800, 1200]) == pytest.approx(CODE, abs=12)
    assert not code_locator.shows_finder(view)  # the view frames the square with no finder
    assert finder and sharp >= BAR


def dense_qr_page(side: int = 240) -> bytes:
    """A 1440 x 2400 JPEG page with a 73-module QR code (version 14) `side` px wide: ~1.1 px a
    module at the look's decode (the view enlarges it, soft), ~2 in the close read's."""
    import segno

    modules = np.pad(segno.make("h" * 10, error="h", version=14).matrix, 4).astype(bool)
    code = Image.fromarray(np.where(modules, 0, 255).astype(np.uint8)).convert("RGB")
    out = Image.new("RGB", (1440, 2400), "white")
    out.paste(code.resize((side, side), Image.Resampling.NEAREST), (400, 800))
    return jpeg(out)


def test_a_soft_view_whose_code_shows_no_finder_squares_is_read_closer():
    data = dense_qr_page()
    view, box, finder, sharp, *_ = code_locator.look_closer_checked(data, imaging)
    assert box.any() and not code_locator.shows_finder(view)  # too fine for the view
    assert BAR <= sharp < code_locator.CLOSE_READ_BELOW  # soft, yet over the bar
    assert finder  # the close read found them: the colour stands


def test_a_soft_code_that_shows_no_finder_squares_as_it_is_is_read_sharpened():
    """A renderer test-split photo (seed 1,000,000,332) whose green code no read showed finder
    squares in, not even the close read: with its edges steepened, the close-up shows them."""
    from training.dataset import render_task

    spec, data = render_task((1_000_000_332, "test"))
    assert spec.label == "green" and spec.photo
    look = code_locator.look_closer_checked(data, imaging, read_ink=False)
    assert look.sharpness < code_locator.CLOSE_READ_BELOW and look.finder
    height, width = imaging.INPUT_SHAPE[1:]
    size = (code_locator.CLOSE_SCALE * height, code_locator.CLOSE_SCALE * width)
    close_up = code_locator._close_up(imaging.decode_upright(data, size), look.box)
    as_it_is = np.ascontiguousarray(np.asarray(close_up.convert("RGB")).transpose(2, 0, 1))
    assert not code_locator.shows_finder(as_it_is)


def test_a_faint_soft_codes_finder_squares_show_once_stretched_to_full_contrast():
    """A photo's glare leaves a blurred code little contrast (modules of grey 140-170 on 235): the
    reader finds no finder squares in its close-up as it is, nor sharpened; stretched to full
    contrast first, and sharpened, it does."""
    import segno

    modules = np.pad(np.array(segno.make("healthcode check", error="h").matrix, bool), 4)
    pixels = np.where(modules[..., None], np.array((140, 170, 170), np.uint8), np.uint8(235))
    close_up = (
        Image.fromarray(pixels)
        .resize((290, 290), Image.Resampling.NEAREST)
        .filter(ImageFilter.GaussianBlur(5))
    )
    as_is = [close_up, close_up.filter(code_locator.CLOSE_SHARPENED)]
    assert not any(code_locator.shows_finder(np.asarray(c).transpose(2, 0, 1)) for c in as_is)
    assert code_locator._close_read(close_up)


def test_a_dense_code_a_photo_holds_at_two_pixels_a_module_shows_finder_squares_enlarged():
    """A version 10 code at 2 px a module, softened as a photo softens it: no read finds finder
    squares in it as it is, sharpened or stretched; enlarged three times and sharpened at that
    scale, the reader finds them."""
    import segno

    matrix = segno.make_qr("healthcode", version=10, error="m").matrix
    modules = np.pad(np.array(matrix, bool), 4)
    pixels = np.where(modules[..., None], np.array((225, 160, 0), np.uint8), np.uint8(245))
    side = 2 * modules.shape[0]
    soft = (
        Image.fromarray(pixels)
        .resize((side, side), Image.Resampling.BILINEAR)
        .filter(ImageFilter.GaussianBlur(1.2))
    )
    saved = io.BytesIO()
    soft.save(saved, "JPEG", quality=80)
    close_up = Image.open(saved).convert("RGB")
    stretched = ImageOps.autocontrast(close_up, cutoff=code_locator.CLOSE_STRETCH_CUT)
    earlier = [close_up, close_up.filter(code_locator.CLOSE_SHARPENED)]
    earlier.append(stretched.filter(code_locator.CLOSE_SHARPENED))
    assert not any(code_locator.shows_finder(np.asarray(c).transpose(2, 0, 1)) for c in earlier)
    assert code_locator._close_read(close_up)


@pytest.mark.parametrize("fmt", ["Aztec", "DataMatrix", "PDF417"])
def test_a_close_up_that_decodes_as_another_kind_of_symbol_is_read_so(fmt):
    """Softened as a photo softens it, in a status colour on a light card (and the close-up's
    margin of card round it)."""
    grey = np.pad(symbol(fmt, "healthcode check 0", scale=3, blur=1.0), 24, constant_values=255)
    light = grey[..., None] / 255
    inked = light * np.array((240, 240, 240)) + (1 - light) * np.array((200, 40, 40))
    assert code_locator.reads_other_symbol(Image.fromarray(inked.astype(np.uint8)))


def test_a_qr_code_or_a_grid_of_modules_is_no_other_kind_of_symbol():
    """A QR code, sharp or soft, and a grid of random modules decode as none of them (the reader
    locates a Data Matrix in many QR codes, and decodes none)."""
    qr = symbol("QRCode", "healthcode check 0", scale=3, blur=0.0)
    soft = symbol("QRCode", "healthcode check 0", scale=3, blur=1.0)
    grid = page().crop(CODE)
    for image in (Image.fromarray(qr), Image.fromarray(soft), grid):
        assert not code_locator.reads_other_symbol(image)


def test_a_soft_view_of_a_code_that_decodes_as_another_kind_of_symbol_is_resolved():
    """A photographed Aztec code (benchmarks' written set, seed 81, page 111) whose view is too
    soft for the finder check, and which no read shows finder squares in: its close-up decodes as
    an Aztec code, so its modules are resolved (RESOLVED), and the finder check judges it."""
    from benchmarks.recognition import case

    data, drawn = case("photo", 111, 81, "written")
    assert drawn.drawn == "invalid/Aztec"
    look = code_locator.look_closer_checked(data, imaging, read_ink=False)
    assert code_locator.sharpness(look.view) < BAR  # what the view alone says
    assert not look.finder and look.sharpness == code_locator.RESOLVED >= BAR


def test_a_view_of_one_patch_of_a_coarse_symbol_is_judged_by_the_whole_symbol():
    """A re-saved screenshot of a PDF417 look-alike (benchmarks' symbols set, seed 80, page 15):
    the locator frames one patch of it, enlarged in the view past what the view can judge; the
    coarse copy frames the whole symbol, sharp and with no finder squares."""
    from benchmarks.recognition import case

    data, drawn = case("resaved", 15, 80, "symbols")
    assert drawn.drawn == "invalid/pdf417"
    look = code_locator.look_closer_checked(data, imaging, read_ink=False)
    assert code_locator.sharpness(look.view) == 0.0  # what the patch's view alone says
    assert not look.finder and look.sharpness >= code_locator.WHOLE_SHARP >= BAR


def test_a_blurred_code_is_not_judged_by_the_sharper_card_round_it():
    """A renderer photo (family blur, page 156) whose green code's view is too blurred to judge:
    the coarse copy frames the card round it, under WHOLE_SHARP, so the view stays unjudged."""
    from training.dataset import render_task, split_seeds

    spec, data = render_task((split_seeds("family/blur", 240, 0)[156], "family/blur"))
    assert spec.label == "green"
    look = code_locator.look_closer_checked(data, imaging, read_ink=False)
    assert look.box.any() and not look.finder and look.sharpness == 0.0


def test_a_sharp_view_is_not_read_closer(monkeypatch):
    """At four times the resolution the reader finds finder-like patterns in random grids."""
    read = []
    monkeypatch.setattr(code_locator, "_close_up", lambda *args: read.append(args))
    _, box, finder, sharp, *_ = code_locator.look_closer_checked(jpeg(page()), imaging)
    assert box.any() and not finder and sharp >= code_locator.CLOSE_READ_BELOW
    assert read == []


def test_a_coarse_symbol_the_locator_misses_is_still_checked_for_finder_squares():
    """A square of 11 modules 290 px wide falls apart into patches at the locator's size: no code
    is located, but a coarser copy of the page frames it for the finder check, which sees it sharp
    and with no finder squares. (The search for blurred codes frames a patch of its JPEG ringing:
    flagged, and the sharper view's finder check is the one reported.)"""
    look = code_locator.look_closer_checked(jpeg(page(modules=11)), imaging)
    assert look.blurred or not look.box.any()
    assert not look.finder and look.sharpness >= BAR


@pytest.mark.parametrize(
    ("ink", "blur"), [((0, 160, 60), 6), ((220, 30, 30), 5), ((0, 160, 60), 0)]
)
def test_a_code_blurred_past_the_locators_edges_is_found_as_a_blurred_one(ink, blur):
    """A photo's blur spreads a code's edges wider than the locator's 2 px step: it finds no code,
    and a colour would be withdrawn for want of one. The search for blurred codes frames it, and
    flags it (its view must agree with a colour to keep it); a sharp code is the locator's."""
    look = code_locator.look_closer_checked(jpeg(page(ink, blur=blur)), imaging, read_ink=False)
    assert look.blurred == (blur > 0)
    assert look.box == pytest.approx(np.array(CODE) / (800, 1200, 800, 1200), abs=0.02)


def test_the_model_looks_for_a_blurred_code_only_where_the_look_checks_a_colour(locate):
    """A refused page's look (CHECK_COLOUR false) spares the search: a blurred code answers none."""
    data = jpeg(page(blur=6))
    asked = {**request(data, data), "CHECK_COLOUR": np.array([[True], [False]])}
    checked, unasked = (r.outputs for r in locate.execute([asked, request(data)]))
    assert checked["BLURRED"].reshape(-1).tolist() == [True, False]
    assert checked["BOX"][0].any() and not checked["BOX"][1].any()
    assert unasked["BLURRED"].reshape(-1).tolist() == [True]  # no CHECK_COLOUR: look


def test_a_wide_symbol_the_locator_passes_by_is_still_checked_for_finder_squares():
    """A rectangular Data Matrix or a PDF417 is three times as wide as it is high: the square
    search finds no code, but the finder check frames the wide symbol, sees it sharp and with no
    finder squares."""
    drawn = np.random.default_rng(2).integers(0, 2, (14, 42), dtype=bool)
    pixels = np.where(drawn[..., None], np.array((0, 160, 60), np.uint8), np.uint8(255))
    symbol = Image.fromarray(pixels).resize((630, 210), Image.Resampling.NEAREST)
    image = Image.new("RGB", (800, 1200), "white")
    image.paste(symbol, (85, 700))
    view, box, finder, sharp, *_ = code_locator.look_closer_checked(jpeg(image), imaging)
    assert not box.any() and (view == imaging.PAD_VALUE).all()
    assert not finder and sharp >= BAR


def sharpness_of_view(modules: int, side: int, blur: float) -> float:
    """The sharpness of the closer look's view of page()'s code of that size, blurred."""
    box = (*CODE[:2], CODE[0] + side, CODE[1] + side)
    image = page((0, 0, 0), modules, side, blur)
    return code_locator.sharpness(code_locator.code_view(image, box, (400, 240), 127))


@pytest.mark.parametrize("side", [290, 60, 40])  # the view shows the last enlarged 3.3 times
def test_a_sharp_code_is_sharp_however_much_the_view_enlarges_it(side):
    assert sharpness_of_view(29, side, blur=0) >= BAR


def test_the_same_blur_hides_fine_modules_and_not_coarse_ones():
    """A finder square shows where edges are narrow against the modules: the blur that leaves a
    15-module square sharp makes a 57-module one of the same size too soft to say anything."""
    assert sharpness_of_view(15, 290, blur=3.5) >= BAR > sharpness_of_view(57, 290, blur=3.5)


def test_edges_wider_than_the_bound_or_no_contrast_are_not_sharp():
    assert sharpness_of_view(29, 290, blur=6) == 0.0  # ~7 px edges in the view
    assert code_locator.sharpness(np.full((3, 400, 240), 255, np.uint8)) == 0.0


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
    # as Triton's: None for an optional input the request does not hold
    triton.get_input_tensor_by_name = lambda request, name: (
        Tensor(name, request[name]) if name in request else None
    )
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
    # the view's finder check: a sharp square of modules with no finder squares
    assert response.outputs["FINDER"].tolist() == [[False]]
    assert response.outputs["SHARPNESS"][0, 0] >= 0.05


def test_the_model_answers_the_finder_squares_of_a_qr_code(locate):
    (response,) = locate.execute([request(jpeg(qr_page((220, 30, 30), blur=0)))])
    assert response.outputs["FINDER"].tolist() == [[True]]


def test_a_page_without_a_code_answers_a_zero_box_and_a_blank_view(locate):
    (response,) = locate.execute([request(jpeg(Image.new("RGB", (720, 1600), "white")))])
    assert not response.outputs["BOX"].any()
    assert (response.outputs["PIXELS"] == imaging.PAD_VALUE).all()
    assert response.outputs["FINDER"].tolist() == [[False]]
    assert response.outputs["SHARPNESS"].tolist() == [[0.0]]


def test_a_bad_image_fails_its_own_request_only(locate):
    good, bad = locate.execute([request(jpeg(page())), request(b"\xff\xd8\xff not a jpeg")])
    assert good.error is None and good.outputs["BOX"].any()
    assert bad.error is not None and bad.error.text.startswith("[corrupt_image]")
    assert bad.error.code == 3


def inked_qr_page(
    ink, paper=(255, 255, 255), cast=(1.0, 1.0, 1.0), turn: float = 0.0
) -> Image.Image:
    """An 800 x 1200 page of `paper` with a real QR code in `ink`, 290 px wide at CODE's corner,
    turned `turn` degrees, the whole page seen under a light of `cast` (a photo's white balance)."""
    import segno

    modules = np.pad(segno.make("https://hc.example.cn/v?id=5e1f", error="m").matrix, 4)
    pixels = np.where(modules[..., None].astype(bool), np.array(ink), np.array(paper))
    code = Image.fromarray(pixels.astype(np.uint8)).resize((290, 290), Image.Resampling.NEAREST)
    out = Image.new("RGB", (800, 1200), tuple(paper))
    out.paste(code.rotate(turn, Image.Resampling.BILINEAR, fillcolor=tuple(paper)), CODE[:2])
    lit = np.asarray(out, np.float32) * np.array(cast, np.float32)
    return Image.fromarray(np.clip(lit, 0, 255).astype(np.uint8))


@pytest.mark.parametrize(
    ("ink", "paper", "cast", "status"),
    [
        ((20, 170, 80), (255, 255, 255), (1.0, 1.0, 1.0), "green"),
        ((250, 190, 0), (255, 255, 255), (0.8, 0.85, 1.0), "yellow"),  # a warm cast, divided out
        ((225, 40, 40), (245, 245, 245), (0.9, 1.0, 1.0), "red"),
        ((60, 200, 90), (20, 20, 24), (1.0, 1.0, 1.0), "green"),  # inverted: a dark card's code
        ((10, 10, 10), (255, 255, 255), (1.0, 0.9, 0.8), None),  # a black venue code
        # a grey one under a lamp's yellow light: yellow as photographed, grey against its paper
        ((110, 110, 110), (255, 255, 255), (1.0, 0.85, 0.45), None),
        ((30, 80, 220), (255, 255, 255), (1.0, 1.0, 1.0), None),  # a blue one
        ((240, 120, 20), (255, 255, 255), (1.0, 1.0, 1.0), None),  # orange: neither
    ],
)
def test_a_decoded_codes_ink_tells_its_status(ink, paper, cast, status):
    from gateway.classification import ink_status

    for turn in (0.0, 20.0):
        read = code_locator.code_ink(inked_qr_page(ink, paper, cast, turn))
        assert read.any()
        assert ink_status(read) == status, (turn, read)


def test_no_ink_is_read_where_the_readers_corners_map_no_grid(monkeypatch):
    """Four corners on a line (an odd result of the reader) leave no grid to sample: no ink, not
    a failed closer look."""
    monkeypatch.setattr(
        code_locator, "_corners", lambda r: np.array([[0, 0], [1, 1], [2, 2], [3, 3.0]])
    )
    assert not code_locator.code_ink(inked_qr_page((20, 170, 80))).any()


def test_no_ink_is_read_where_no_qr_code_decodes():
    """A square of random modules in a status colour is no QR code: nothing decodes."""
    assert not code_locator.code_ink(page()).any()


def test_the_closer_look_reads_the_ink_of_a_code_the_locator_may_miss():
    ink = code_locator.look_closer_checked(jpeg(inked_qr_page((20, 170, 80))), imaging).ink
    assert ink[1] > 0.5 > ink[0]


def test_the_model_reads_a_codes_ink_where_asked_or_where_finder_squares_show(locate):
    data, symbol = jpeg(inked_qr_page((20, 170, 80))), jpeg(page())
    asked = {**request(data, data, symbol), "READ_INK": np.array([[True], [False], [False]])}
    read, unasked = (r.outputs["INK"] for r in locate.execute([asked, request(data)]))
    assert read.shape == (3, 3) and unasked.shape == (1, 3)
    assert read[0][1] > 0.5 > read[0][0]
    assert (read[1] == read[0]).all()  # not asked, but the look saw the code's finder squares
    assert (unasked[0] == read[0]).all()  # no READ_INK: read


def test_a_look_asked_for_no_ink_that_sees_no_finder_squares_reads_none(monkeypatch):
    """The ink read (~16 ms) is paid only where a QR code may decode: asked, or finder squares."""
    reads = []
    none = code_locator.NO_INK
    monkeypatch.setattr(code_locator, "code_ink", lambda page: reads.append(page) or none)
    look = code_locator.look_closer_checked(jpeg(page()), imaging, read_ink=False)
    assert not look.finder and not look.ink.any() and reads == []
    code_locator.look_closer_checked(jpeg(page()), imaging, read_ink=True)
    assert len(reads) == 1
