"""time_shapes: a line's recogniser probabilities searched again for a date or time's shape."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

REPOSITORY = Path(__file__).resolve().parents[2] / "model_repository"
FOLDER = REPOSITORY / "health_code_time" / "1"
sys.path.insert(0, str(FOLDER))  # as Triton's python stub does for the model's own modules
sys.path.append(str(REPOSITORY / "health_code_preprocess" / "1"))  # as model.py does
ctc_decoding = importlib.import_module("ctc_decoding")

DECODER = ctc_decoding.CtcDecoder(list("0123456789-./:年月日更新于\uff1as"))  # \uff1a: full-width :
INDEX = {c: i for i, c in enumerate(DECODER.classes) if c}


def steps(*spans: tuple[str, float] | dict[str, float]) -> np.ndarray:
    """(1, T, classes) probabilities: each character of a (text, p) span for two steps at p,
    a blank step after each; a dict is one step's probabilities, the rest on the blank."""
    rows = []

    def row(probabilities: dict[str, float]) -> None:
        r = np.full(len(DECODER.classes), 1e-4, np.float32)
        for c, p in probabilities.items():
            r[INDEX[c] if c else 0] = p
        r[0] += max(0.0, 1.0 - r.sum())
        rows.append(r)

    for span in spans:
        if isinstance(span, dict):
            row(span)
            continue
        text, p = span
        for c in text:
            if c != " ":
                row({c: p})
                row({c: p})
            row({"": 1.0})
    return np.stack(rows)[None]


def decode(probabilities: np.ndarray) -> ctc_decoding.Line:
    (line,) = DECODER.decode(probabilities)
    return line


def test_a_separator_lost_between_sure_digits_is_found():
    lost = steps(("2020-04", 0.95), {"-": 0.12}, ("25 22:52:32", 0.95))
    assert decode(lost).text == "2020-04-25 22:52:32"


def test_what_the_line_holds_before_the_date_is_kept():
    lost = steps(("更新于\uff1a2022.04", 0.95), {".": 0.1}, ("12 09:31:07", 0.95))
    line = decode(lost)
    assert line.text == "更新于\uff1a2022.04.12 09:31:07"
    assert len(line.probabilities) == len(line.text)


def test_a_digit_read_as_a_letter_at_first_but_surer_later_is_a_digit():
    blurred = steps(("04:", 0.95), {"s": 0.45, "5": 0.3}, {"5": 0.85}, {"": 1.0}, ("5:26", 0.95))
    assert decode(blurred).text == "04:55:26"


def test_a_row_of_digits_without_separators_is_not_made_a_time():
    assert decode(steps(("134653", 0.95))).text == "134653"


def test_a_digit_the_shape_needs_but_the_recogniser_did_not_see_is_not_invented():
    cut = steps(("2022/06/20 02:4", 0.95))  # the crop cut the last digit off
    assert decode(cut).text == "2022/06/2002:4"


def test_a_greedy_reading_that_spells_a_shape_is_left_as_it_is():
    # The recogniser drew no space; a reading searched again would have the shape's.
    assert decode(steps(("2022-04-12 09:31:07", 0.95))).text == "2022-04-1209:31:07"


def test_a_weak_separator_stays_sure_enough_for_the_parser_and_two_are_refused():
    one = decode(steps(("2020-04", 0.95), {"-": 0.12}, ("25 22:52:32", 0.95)))
    assert min(p for c, p in zip(one.text, one.probabilities, strict=True) if c == "-") >= 0.3
    two = steps(("2020", 0.95), {"-": 0.12}, ("04", 0.95), {"-": 0.12}, ("25 22:52:32", 0.95))
    assert decode(two).text == "2020042522:52:32"


def test_one_digits_run_is_not_split_in_two_to_make_up_a_digit_the_shape_wants():
    # "202" and a sure run of 2s with no blank inside: "2023" or "2022" would be a guess.
    run = {"2": 0.99}
    merged = steps(("20", 0.95), run, run, run, {"": 1.0}, ("-04-12 09:31:07", 0.95))
    assert decode(merged).text == "202-04-1209:31:07"


def test_a_line_with_letters_read_for_sure_among_its_digits_is_not_searched():
    # An ID number: "1247 2328 1528" would need two separators anyway; "12:47:s3" might not.
    assert decode(steps(("12:47:s3", 0.95))).text == "12:47:s3"
    blurred = steps(("12:47:", 0.95), {"s": 0.45, "5": 0.3}, {"5": 0.85}, {"": 1.0}, ("3", 0.95))
    assert decode(blurred).text == "12:47:53"


# The real recogniser (PP-OCRv6 small, from `make install`) on drawn lines: what the search changes.
@pytest.fixture(scope="module")
def recognise():
    import onnxruntime as ort

    from benchmarks import time_screens

    model = REPOSITORY / "ocr_text_recognizer" / "1"
    decoder = ctc_decoding.CtcDecoder.from_file(str(model / "keys.txt"))
    greedy_only = ctc_decoding.CtcDecoder.from_file(str(model / "keys.txt"))
    greedy_only.shapes.reread = lambda steps, greedy: None
    session = ort.InferenceSession(str(model / "model.onnx"))
    font = ImageFont.truetype(time_screens._fonts()["LiberationSans-Regular.ttf"], 34)
    to_line_batch = importlib.import_module("page_reading").to_line_batch

    def run(*parts: tuple[str, int]) -> tuple[str, str]:
        """(greedy, decoded) text of a 48-px line drawn in parts of a grey level each."""
        image = Image.new("RGB", (480, 48), "white")
        draw, x = ImageDraw.Draw(image), 8.0
        for text, grey in parts:
            draw.text((x, 6), text, fill=(grey,) * 3, font=font)
            x += draw.textlength(text, font=font)
        batch = to_line_batch([image.crop((0, 0, int(x) + 8, 48))])
        probabilities = session.run(None, {"x": batch})[0]
        (greedy,) = greedy_only.decode(probabilities)
        (decoded,) = decoder.decode(probabilities)
        return greedy.text, decoded.text

    return run


def test_the_real_recogniser_drops_a_faint_separator_and_the_search_finds_it(recognise):
    # Grey 243-246 on white: fainter than what the recogniser reads (240), not so faint that its
    # probabilities hold nothing of it (248).
    greedy, decoded = recognise(("2020-04", 30), ("-", 245), ("25 22:52:32", 30))
    assert greedy == "2020-04 25 22:52:32"
    assert decoded == "2020-04-25 22:52:32"


@pytest.mark.parametrize("drawn", ["2020-04 25 22:52:32", "134653", "0425 2252"])
def test_the_search_invents_no_separator_the_real_recogniser_did_not_see(recognise, drawn):
    assert recognise((drawn, 30)) == (drawn, drawn)
