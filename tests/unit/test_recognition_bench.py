"""benchmarks.code_screens (the independent pages) and benchmarks.recognition's scoring."""

from __future__ import annotations

import random
from collections import Counter

import numpy as np

from benchmarks.code_screens import (
    INVALID_KINDS,
    LABELS,
    SYMBOLS,
    WIDER_COLOUR_LAYOUTS,
    WIDER_INVALID_KINDS,
    WRITTEN,
    Page,
    status_page,
    symbol_page,
    wider_page,
    written_page,
)
from benchmarks.recognition import COARSE, answer_at, score


def test_pages_cover_every_label_kind_and_qr_density():
    pages = [status_page(random.Random(i)) for i in range(120)]
    assert Counter(p.label for p in pages).keys() == set(LABELS)
    assert {p.drawn.split("/")[1] for p in pages if p.label == "invalid"} == set(INVALID_KINDS)
    colour = [p for p in pages if p.label != "invalid"]
    assert all(p.modules >= 21 for p in colour)  # every colour page carries a QR code
    assert any(p.modules <= COARSE for p in colour) and any(p.modules > COARSE for p in colour)
    no_code = [p for p in pages if p.drawn.split("/")[1] in ("trip", "badge", "news")]
    assert no_code and all(p.modules == 0 for p in no_code)


def test_the_wider_set_draws_its_own_layouts_and_look_alikes():
    pages = [wider_page(random.Random(i), LABELS[i % 4]) for i in range(80)]
    kinds = Counter(p.drawn.split("/")[1] for p in pages)
    assert kinds.keys() == {*WIDER_COLOUR_LAYOUTS, *WIDER_INVALID_KINDS}
    assert all(p.modules >= 21 for p in pages if p.label != "invalid")
    # a QR code on every page but the calendars: payment and other-ink codes are look-alikes
    assert all((p.modules == 0) == (p.drawn == "invalid/heatmap") for p in pages)


def test_the_symbols_set_draws_every_symbol_and_no_qr_code_on_its_invalid_pages():
    import zxingcpp

    pages = [symbol_page(random.Random(i), LABELS[i % 4]) for i in range(160)]
    invalid = [p for p in pages if p.label == "invalid"]
    assert {p.drawn.split("/")[1] for p in invalid} == set(SYMBOLS)
    assert all(p.modules >= 21 for p in pages if p.label != "invalid")
    for page in invalid[:12]:  # not a QR code: a reader finds no finder squares
        grey = np.asarray(page.image.convert("L"))
        # any QR code, whole or not; an Aztec bullseye may pass for a micro QR code's one finder
        found = zxingcpp.read_barcodes(grey, return_errors=True)
        assert not [r for r in found if r.format == zxingcpp.BarcodeFormat.QRCode], page.drawn


def test_the_written_set_draws_real_symbols_of_every_kind_on_its_invalid_pages():
    import zxingcpp

    pages = [written_page(random.Random(i), LABELS[i % 4]) for i in range(40)]
    invalid = [p for p in pages if p.label == "invalid"]
    assert {p.drawn.split("/")[1] for p in invalid} == set(WRITTEN)
    for page in invalid:  # the symbol reads as what it is: zxing-cpp wrote it
        kind = zxingcpp.barcode_format_from_str(page.drawn.split("/")[1])
        assert zxingcpp.read_barcodes(page.image, formats=kind), page.drawn


def test_a_page_is_fixed_by_its_seed():
    a, b = status_page(random.Random(3), "red"), status_page(random.Random(3), "red")
    assert a.drawn == b.drawn and a.image.tobytes() == b.image.tobytes()


def test_the_rule_at_another_threshold_refuses_an_unsure_colour_only():
    unsure = {"green": 0.6, "yellow": 0.1, "red": 0.1, "invalid": 0.2}
    assert answer_at(unsure, 0.5) == "green"
    assert answer_at(unsure, 0.66) == "invalid"
    assert answer_at({"green": 0.1, "yellow": 0.1, "red": 0.1, "invalid": 0.7}, 0.9) == "invalid"


def test_scores_count_false_colours_recall_and_density():
    image = status_page(random.Random(0)).image
    pages = [
        Page(image, "green", "green/home", 21),
        Page(image, "green", "green/home", 41),
        Page(image, "invalid", "invalid/trip"),
        Page(image, "invalid", "invalid/news"),
    ]

    def answer(status: str, p: float) -> dict:
        scores = {label: (1 - p) / 3 for label in LABELS} | {status: p}
        return {"status": status, "scores": scores, "decided_by": "model"}

    answers = [answer("green", 0.99), answer("invalid", 0.7), answer("green", 0.7),
               answer("invalid", 0.9)]  # fmt: skip
    result = score(pages, answers)
    assert (result["right"], result["invalid_as_colour"], result["colour_right"]) == (2, 1, 1)
    assert result["by_drawn"]["green/home/coarse"] == {"green": 1}
    assert result["by_drawn"]["green/home/dense"] == {"invalid": 1}
    assert result["rule_curve"]["0.80"] == {"right": 3, "invalid_as_colour": 0, "colour_right": 1}
