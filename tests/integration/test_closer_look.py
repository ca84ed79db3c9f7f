"""The closer look, through the real gateway and Triton: a small code in a photo gets a second
chance, from its view or from the ink of its decoded code, a page that is no health code stays
invalid, an unsure colour needs a code, and a colour on a square of modules with no QR finder
squares is withdrawn."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from benchmarks.recognition import case
from tests.support.service import run_service
from training.dataset import render_task

# Independent phone photos (benchmarks/code_screens.py, seed 1) of home pages whose code is small
# in a card: the whole page at the classifier's resolution leaves their colour below the rule, and
# the view around the code answers them.
SMALL_CODES = (9, 38, 46, 394)
# Independent phone photos (seed 1) of home pages refused at first (green at 0.105, red at 0.07),
# whose view does not clear the closer look's bar either, but whose QR code the reader decodes in
# the page: its ink is their colour.
INKED_CODES = (100, 246)
# Independent home pages (status set, seed 80; a re-saved screenshot and a photo) whose first look
# saw almost no colour (yellow at 0.034 and 0.041, under the closer look's floor), whose view sees
# their yellow at 0.9997-0.9998 with finder squares, short of the unseen bar (0.9999), and whose
# decoded QR code is inked in yellow: two reads of the code agree (benchmarks/NOTES.md, stop 63).
# (kind, page, seed)
UNSEEN_INKED_CODES = (("resaved", 213, 80), ("photo", 105, 80))
# Photos of pages that are no health code but hold a code-like square: a badge, a trip card, a
# black code under a coloured header.
NOT_HEALTH_CODES = (3, 15, 27, 47)

# News lists with coloured thumbnails and no code, whose first look sees a colour below the code
# check's bar (with iteration 7's weights the last two passed as colours, at 0.994 and 0.998,
# while the check stopped at 0.99). Since iteration 10 the threshold (0.96, now 0.98) refuses
# most of them first, so the check is shown on a service whose threshold lets their colour
# through.
NEWS_LISTS = (("photo", 371, 1), ("photo", 323, 2), ("photo", 371, 2), ("photo", 155, 8))
LENIENT_THRESHOLD = "0.5"
# Unsure colours (over the threshold, under 0.99) whose code is there: two home pages' photos
# (seed 1; iteration 12 answers them at 0.983 and 0.987). The first look at the first shows no
# QR finder squares, and the closer look finds its code; the second's shows them, which is a
# code found: it needs no closer look.
# (kind, page, seed, whether it gets a closer look)
UNSURE_WITH_CODE = (("photo", 44, 1, True), ("photo", 89, 1, False))
# Renderer photos (training/: a test-split page and an every-effect one) whose big code a photo's
# blur hides from the locator: the first look answers red at 0.997 and green at 0.999, under the
# code check's bar, with no finder squares; the search for blurred codes frames the code, whose
# view agrees. And a photo of a feed whose yellow placeholder square that search frames: its first
# look says red at 0.996, its view invalid, so the colour is withdrawn (benchmarks/NOTES.md,
# stop 60).
BLURRED_CODES = ((1000000510, "test"), (4200000228, "family/photo, every effect"))
BLURRED_PLACEHOLDER = (1000000479, "test")
# Independent status-coloured symbols that are not QR codes (the symbols set), that iteration 12
# answers a colour at 0.98 or more: screenshots of a Data Matrix, an Aztec code, a checkerboard
# and a maze (seed 50), in views of sharpness 0.82-0.89; and two photos (seeds 55 and 56), in views
# of 0.74 and 0.88, which the sharpness before 2026-12-07 took for blurred (the bar: 0.62); and
# three coarse stacks of bars (seeds 58-60) in which the locator finds no code, checked in a
# coarser copy of the page; and a rectangular Data Matrix (seed 69, answered green at 0.9993), too
# wide for the locator's squares, checked as a wide symbol.
# (kind, page, seed, screens)
SYMBOLS = (
    *(("screenshot", page, 50, "symbols") for page in (7, 75, 79, 83)),
    ("photo", 43, 55, "symbols"),
    ("photo", 95, 56, "symbols"),
    ("resaved", 83, 58, "symbols"),
    ("screenshot", 259, 59, "symbols"),
    ("screenshot", 387, 60, "symbols"),
    # Aztec codes whose bullseye the QR reader took for a Micro QR code's finder square; in the
    # last two with light where the quiet zone would be: the reader locates the Aztec code there
    ("resaved", 139, 62, "symbols"),
    ("photo", 51, 62, "written"),
    ("photo", 43, 67, "written"),
    ("photo", 55, 67, "written"),
    ("resaved", 55, 68, "written"),
    ("screenshot", 287, 69, "written"),
    # Aztec photos whose first look shows the bullseye as a one-finder symbol, too small there for
    # the reader to locate the Aztec code round it: that find no longer counts as a code, so the
    # colour (yellow 0.9999, red 1.0) gets the closer look (stop 63)
    ("photo", 91, 82, "written"),
    ("photo", 267, 80, "symbols"),
    # a tall coarse stack of bars (1.8:1 with its card) the square coarse search passed by
    ("screenshot", 255, 84, "symbols"),
)
# Independent photos of small symbols whose soft view (sharpness 0, 0.53 and 0.54: too soft for
# the check that withdraws a colour) the classifier answers a colour at 0.9997 and 1.0 where the
# first look refused: a PDF417 code and real Aztec codes (symbols and written sets, seeds 65 and
# 68). A view answers a refused page only where finder squares were seen.
# (kind, page, seed, screens)
SOFT_SYMBOLS = (
    ("photo", 91, 65, "symbols"),
    ("photo", 155, 65, "written"),
    ("photo", 391, 68, "written"),
)


@pytest.fixture(scope="module")
def lenient(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    with (
        run_service(
            tmp_path_factory.mktemp("lenient"), min_colour_probability=LENIENT_THRESHOLD
        ) as svc,
        httpx.Client(base_url=svc.base_url, timeout=30) as http,
    ):
        yield http


def analyse(client, image: bytes) -> dict:
    response = client.post(
        "/analysis/health-code", content=image, headers={"content-type": "image/jpeg"}
    )
    assert response.status_code == 200, response.text
    return response.json()


def closer_looks(client, outcome: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(f'healthcode_closer_looks_total{{outcome="{outcome}"}}'):
            return float(line.split()[-1])
    return 0.0


@pytest.mark.parametrize("page", SMALL_CODES)
def test_a_small_code_in_a_photo_is_answered_from_the_closer_look(client, page):
    image, drawn = case("photo", page, seed=1)
    before = closer_looks(client, "colour")
    body = analyse(client, image)
    assert (body["status"], body["decided_by"]) == (drawn.label, "closer_look")
    assert body["confidence"] == max(body["scores"].values()) >= 0.9
    x0, y0, x1, y1 = body["code_box"]
    assert 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1
    assert closer_looks(client, "colour") == before + 1


@pytest.mark.parametrize("page", INKED_CODES)
def test_a_refused_photo_whose_decoded_code_is_inked_in_its_colour_is_answered_so(client, page):
    image, drawn = case("photo", page, seed=1)
    before = closer_looks(client, "code_colour")
    body = analyse(client, image)
    assert (body["status"], body["decided_by"]) == (drawn.label, "code_colour")
    assert body["confidence"] == body["scores"][drawn.label] < 0.5  # the first look's
    assert closer_looks(client, "code_colour") == before + 1


@pytest.mark.parametrize(("kind", "page", "seed"), UNSEEN_INKED_CODES)
def test_a_page_seen_colourless_is_answered_where_its_codes_ink_confirms_the_view(
    client, kind, page, seed
):
    image, drawn = case(kind, page, seed=seed)
    body = analyse(client, image)
    assert (body["status"], body["decided_by"]) == (drawn.label, "closer_look")
    assert 0.995 <= body["confidence"] < 0.9999  # the view's: over the rule's bar, not the unseen


@pytest.mark.parametrize("page", NOT_HEALTH_CODES)
def test_a_page_that_is_no_health_code_stays_invalid(client, page):
    image, drawn = case("photo", page, seed=1)
    assert drawn.label == "invalid"
    body = analyse(client, image)
    assert body["status"] == "invalid"
    assert body["decided_by"] != "closer_look"


@pytest.mark.parametrize(("kind", "page", "seed"), NEWS_LISTS)
def test_an_unsure_colour_on_a_page_with_no_code_is_withdrawn(lenient, kind, page, seed):
    image, drawn = case(kind, page, seed=seed)
    assert drawn.drawn == "invalid/news"
    outcomes = {"no_code": "withdrawn", "no_finder": "no_finder"}
    before = {outcome: closer_looks(lenient, outcome) for outcome in outcomes.values()}
    body = analyse(lenient, image)
    # no code; or a thumbnail the search for blurred codes frames, sharp and with no finder squares
    assert body["status"] == "invalid" and body["decided_by"] in outcomes
    assert max(body["scores"], key=body["scores"].get) != "invalid"  # the model's colour, shown
    counted = outcomes[body["decided_by"]]
    assert closer_looks(lenient, counted) == before[counted] + 1


@pytest.mark.parametrize(("kind", "page", "seed", "looked"), UNSURE_WITH_CODE)
def test_an_unsure_colour_whose_code_is_found_stands(client, kind, page, seed, looked):
    image, drawn = case(kind, page, seed=seed)
    before = closer_looks(client, "confirmed")
    body = analyse(client, image)
    assert (body["status"], body["decided_by"]) == (drawn.label, "model")
    assert body["confidence"] < 0.99  # unsure: its code is needed
    if looked:  # found by the closer look, with its box
        assert len(body["code_box"]) == 4
        assert closer_looks(client, "confirmed") == before + 1
    else:  # finder squares in the first look: no closer look, no box
        assert "code_box" not in body
        assert closer_looks(client, "confirmed") == before


@pytest.mark.parametrize("task", BLURRED_CODES)
def test_an_unsure_colour_whose_code_is_blurred_stands_where_its_view_agrees(client, task):
    spec, image = render_task(task)
    before = closer_looks(client, "confirmed")
    body = analyse(client, image)
    assert (body["status"], body["decided_by"]) == (spec.label, "model")
    assert body["confidence"] < 0.999  # under the code check's bar: its code is needed
    assert len(body["code_box"]) == 4
    assert closer_looks(client, "confirmed") == before + 1


def test_a_blurred_square_whose_view_is_no_colour_keeps_none(client):
    spec, image = render_task(BLURRED_PLACEHOLDER)
    assert spec.label == "invalid"
    before = closer_looks(client, "withdrawn")
    body = analyse(client, image)
    assert (body["status"], body["decided_by"]) == ("invalid", "no_code")
    assert max(body["scores"], key=body["scores"].get) == "red"  # the first look's, shown
    assert "code_box" not in body
    assert closer_looks(client, "withdrawn") == before + 1


@pytest.mark.parametrize(("kind", "page", "seed", "screens"), SYMBOLS)
def test_a_colour_on_a_symbol_with_no_finder_squares_is_withdrawn(
    client, kind, page, seed, screens
):
    image, drawn = case(kind, page, seed=seed, screens=screens)
    assert drawn.label == "invalid"
    before = closer_looks(client, "no_finder")
    body = analyse(client, image)
    assert (body["status"], body["decided_by"]) == ("invalid", "no_finder")
    assert max(body["scores"], key=body["scores"].get) != "invalid"  # the model's colour, shown
    assert closer_looks(client, "no_finder") == before + 1


@pytest.mark.parametrize(("kind", "page", "seed", "screens"), SOFT_SYMBOLS)
def test_a_soft_view_with_no_finder_squares_answers_no_refused_page(
    client, kind, page, seed, screens
):
    image, drawn = case(kind, page, seed=seed, screens=screens)
    assert drawn.label == "invalid"
    before = closer_looks(client, "no_finder")
    body = analyse(client, image)
    assert (body["status"], body["decided_by"]) in {("invalid", "threshold"), ("invalid", "model")}
    assert closer_looks(client, "no_finder") == before + 1  # the view's colour, not answered
