"""health_code_time's OCR pieces on small synthetic inputs: boxes, crops, CTC, reading order."""

from __future__ import annotations

import importlib
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

REPOSITORY = Path(__file__).resolve().parents[2] / "model_repository"
FOLDER = REPOSITORY / "health_code_time" / "1"
sys.path.insert(0, str(FOLDER))  # as Triton's python stub does for the model's own modules
sys.path.append(str(REPOSITORY / "health_code_preprocess" / "1"))  # as model.py does
text_boxes = importlib.import_module("text_boxes")
ctc_decoding = importlib.import_module("ctc_decoding")
page_reading = importlib.import_module("page_reading")
code_region = importlib.import_module("code_region")


def blobs(height: int, width: int, *rects: tuple[int, int, int, int], p: float = 0.9):
    """A probability map with rectangles (x0, y0, x1, y1) of probability p."""
    prob = np.zeros((height, width), dtype=np.float32)
    for x0, y0, x1, y1 in rects:
        prob[y0:y1, x0:x1] = p
    return prob


def test_an_empty_map_has_no_boxes():
    assert text_boxes.boxes_from_probability(np.zeros((64, 64), np.float32)) == []


def test_each_blob_becomes_one_box_grown_back_by_the_db_offset():
    prob = blobs(100, 200, (20, 10, 120, 20), (30, 60, 90, 80))
    boxes = sorted(text_boxes.boxes_from_probability(prob), key=lambda b: b.center[1])
    assert len(boxes) == 2
    line = boxes[0]
    # 100 x 10 px grown by 100 * 10 * 1.6 / (2 * 110) = 7.27 px on every side
    assert line.width == pytest.approx(100 + 2 * 7.27, abs=0.1)
    assert line.height == pytest.approx(10 + 2 * 7.27, abs=0.1)
    assert line.center == pytest.approx((70, 15), abs=0.01)
    assert line.score == pytest.approx(0.9)
    tl, tr, _, bl = line.corners
    assert tl[0] < tr[0] and tl[1] < bl[1]  # clockwise from the top left


def test_runs_touching_only_at_a_corner_are_one_blob():
    prob = blobs(20, 20, (0, 0, 10, 5), (10, 5, 20, 10))  # diagonal neighbours: 8-connected
    assert len(text_boxes.boxes_from_probability(prob)) == 1


def test_faint_blobs_and_specks_are_dropped():
    faint = blobs(50, 100, (10, 10, 60, 20), p=0.35)  # above the pixel threshold, mean too low
    speck = blobs(50, 100, (10, 10, 60, 11))  # one row high
    assert text_boxes.boxes_from_probability(faint) == []
    assert text_boxes.boxes_from_probability(speck) == []


def test_a_turned_line_gets_a_turned_box_with_its_long_side_as_width():
    img = Image.new("L", (300, 300), 0)
    ImageDraw.Draw(img).rectangle((80, 140, 220, 160), fill=230)
    prob = np.asarray(img.rotate(20, resample=Image.Resampling.NEAREST), np.float32) / 255
    (box,) = text_boxes.boxes_from_probability(prob)
    along = box.corners[1] - box.corners[0]
    assert np.degrees(np.arctan2(-along[1], along[0])) == pytest.approx(20, abs=3)
    assert box.width > 3 * box.height


def test_pieces_of_one_line_split_at_a_space_are_joined():
    prob = blobs(60, 300, (10, 20, 110, 30), (116, 20, 200, 30), (10, 45, 60, 55))
    boxes = text_boxes.boxes_from_probability(prob)
    assert len(boxes) == 2  # the two pieces on one row, and the line below on its own
    assert max(b.width for b in boxes) == pytest.approx(190 + 2 * 7.5, abs=2)


def test_boxes_far_apart_on_one_row_stay_apart():
    prob = blobs(60, 400, (10, 20, 110, 30), (250, 20, 350, 30))
    assert len(text_boxes.boxes_from_probability(prob)) == 2


def test_a_box_runs_on_when_another_box_lies_at_its_end_on_its_line():
    # a line whose end the detector gave to a bigger blob (a frame around a code), a line below
    # it, and one alone on its row
    prob = blobs(220, 400, (10, 20, 100, 30), (104, 10, 200, 120), (10, 180, 100, 190))
    boxes = text_boxes.boxes_from_probability(prob)
    assert len(boxes) == 3
    marked = {round(b.center[1]): b.runs_on for b in text_boxes.mark_runs_on(boxes, boxes)}
    assert marked[25] is True
    assert marked[185] is False


def test_a_crop_is_upright_48_high_and_keeps_the_aspect():
    img = Image.new("RGB", (400, 200), "white")
    ImageDraw.Draw(img).rectangle((100, 80, 300, 120), fill="black")
    prob = blobs(200, 400, (100, 80, 300, 120))
    (box,) = text_boxes.boxes_from_probability(prob)
    crop = text_boxes.crop_line(img, box, 48, 1000)
    assert crop.height == 48
    assert crop.width == round(48 * box.width / box.height)
    middle = np.asarray(crop)[24, crop.width // 2]
    assert middle.max() < 50  # the dark line fills the middle of the crop


def test_ctc_merges_repeats_drops_blanks_and_keeps_each_characters_probability():
    decoder = ctc_decoding.CtcDecoder(["0", "1", "2", ":"])  # classes: blank 0 1 2 : space
    steps = [1, 1, 0, 1, 2, 2, 4, 0, 5, 3]  # 0 0 _ 0 1 1 : _ ' ' 2  ->  "001: 2"
    probs = np.full((1, len(steps), 6), 0.01, np.float32)
    for t, c in enumerate(steps):
        probs[0, t, c] = 0.9 if t != 4 else 0.6
    (line,) = decoder.decode(probs)
    assert line.text == "001: 2"
    assert line.probabilities == (0.9, 0.9, 0.6, 0.9, 0.9, 0.9)


def test_ctc_refuses_an_output_that_does_not_fit_its_dictionary():
    decoder = ctc_decoding.CtcDecoder(["a", "b"])
    with pytest.raises(ValueError, match="4 classes"):
        decoder.decode(np.zeros((1, 5, 7), np.float32))


def test_the_dictionary_file_keeps_unusual_characters_as_one_line_each(tmp_path):
    keys = tmp_path / "keys.txt"
    keys.write_text("0\n\u2028\n日\n", encoding="utf-8")
    assert ctc_decoding.CtcDecoder.from_file(str(keys)).classes == ["", "0", "\u2028", "日", " "]


def test_the_detector_input_is_about_the_area_budget_in_multiples_of_32():
    for size in ((1440, 3200), (1080, 2340), (1440, 1920), (3200, 1440)):
        w, h = page_reading.detector_size(*size)
        assert w % 32 == 0 and h % 32 == 0
        assert w * h == pytest.approx(page_reading.DETECT_AREA_PX, rel=0.15)
        assert w / h == pytest.approx(size[0] / size[1], rel=0.1)


def test_line_crops_of_several_widths_batch_right_padded_with_zeros():
    crops = [Image.new("RGB", (w, 48), "white") for w in (50, 120)]
    batch = page_reading.to_line_batch(crops)
    assert batch.shape == (2, 3, 48, 120)
    assert batch[0, :, :, :50].min() == pytest.approx(1.0)  # white is 1 after scaling
    assert np.all(batch[0, :, :, 50:] == 0)


def line_page(texts_by_row: dict[int, str]):
    """A 720 x 1600 page with a centred text line at each given y, as the detector would map it;
    the wider the text, the wider its line."""
    page = page_reading.Page(Image.new("RGB", (720, 1600), "white"))
    h, w = page.detector_input.shape[1:]
    sx, sy = w / 720, h / 1600
    rects = []
    for y, text in texts_by_row.items():
        half = 14 * len(text)
        rects.append(
            (int((360 - half) * sx), int((y - 12) * sy), int((360 + half) * sx), int((y + 12) * sy))
        )
    page.set_probability(blobs(h, w, *rects))
    return page


def answer(page, texts_by_row: dict[int, str]) -> None:
    """Play the recogniser: give each crop the text drawn on its row."""
    while boxes := page.next_boxes():
        lines = []
        for box in boxes:
            y = min(texts_by_row, key=lambda row: abs(row - box.center[1]))
            lines.append(ctc_decoding.Line(texts_by_row[y], (0.99,) * len(texts_by_row[y])))
        page.add_lines(lines)


def test_the_widest_centred_lines_are_read_first_and_reading_stops_at_a_date_and_time():
    rows = {200 + 100 * i: f"Line {i}" for i in range(8)}
    rows[900] = "2022-04-12 09:31:07"
    page = line_page(rows)
    answer(page, rows)
    assert page.reading().value == "2022-04-12T09:31:07"
    assert len(page.lines) == page_reading.LINES_PER_ROUND  # one round


def test_what_lies_beside_a_time_alone_is_read_even_after_the_last_round():
    # 9 wider lines first: the time is read in the last round, its date only after it.
    rows = {100 + 120 * i: f"Some words {i}" for i in range(9)}
    rows[1300], rows[1340] = "09:31:07", "04月12日"
    page = line_page(rows)
    answer(page, rows)
    assert page.reading().value == "--04-12T09:31:07"
    assert page.rounds == page_reading.MAX_ROUNDS + 1


def test_a_line_on_the_codes_box_is_read_first(monkeypatch):
    # A locator's box that took in the code's striped card holds the update time under the code.
    monkeypatch.setattr(page_reading, "find_code", lambda image, p: (200.0, 300.0, 520.0, 700.0))
    rows = {80: "Some words here", 160: "More words here", 240: "Other words", 660: "09:31:07"}
    rows[700] = "04月12日"
    page = line_page(rows)
    answer(page, rows)
    assert page.reading().value == "--04-12T09:31:07"
    assert [line.text for line in page.lines][:2] == ["09:31:07", "04月12日"]


CODE = (250, 400, 540, 690)


def striped_card_page() -> Image.Image:
    """A real QR code (segno) at CODE, with its quiet zone, on a card of diagonal stripes."""
    import segno

    modules = np.array(segno.make("healthcode check", error="h").matrix, dtype=bool)
    pixels = np.where(modules[..., None], np.array((0, 150, 60), np.uint8), np.uint8(255))
    page = Image.new("RGB", (800, 1200), "white")
    card = Image.new("RGB", (500, 500), "white")
    draw = ImageDraw.Draw(card)
    for k in range(-500, 500, 14):
        draw.line([(k, 0), (k + 500, 500)], fill=(120, 200, 140), width=5)
    page.paste(card, (150, 300))
    page.paste(Image.new("RGB", (330, 330), "white"), (CODE[0] - 20, CODE[1] - 20))
    page.paste(Image.fromarray(pixels).resize((290, 290), Image.Resampling.NEAREST), CODE[:2])
    return page


def test_the_code_is_where_a_qr_reader_finds_it_not_the_striped_card_around_it():
    page = striped_card_page()
    assert code_region.locate_code(page, None) != pytest.approx(CODE, abs=20)  # the card too
    assert code_region.find_code(page, None) == pytest.approx(CODE, abs=6)


def test_a_qr_readers_box_too_small_for_a_code_is_not_taken(monkeypatch):
    monkeypatch.setattr(code_region, "read_code_box", lambda image: (100.0, 100.0, 100.0, 140.0))
    page = striped_card_page()
    assert code_region.find_code(page, None) == code_region.locate_code(page, None)


def test_a_page_the_whole_page_pass_found_nothing_on_looks_at_its_code_again_at_once():
    page = page_reading.Page(Image.new("RGB", (1400, 1400), "white"))
    page.set_probability(np.zeros(page.detector_input.shape[1:], np.float32))
    page.code = (500.0, 500.0, 900.0, 900.0)  # big in the whole-page pass: no look at once
    assert page.zoom_input() is not None  # yet nothing else to read first


def dark_bar_page(bar: tuple[int, int, int, int]) -> page_reading.Page:
    """A white 720 x 1600 page with one dark bar (x0, y0, x1, y1): a line of text, no code."""
    image = Image.new("RGB", (720, 1600), "white")
    ImageDraw.Draw(image).rectangle(bar, fill="black")
    return page_reading.Page(image)


def read_with_looks(page: page_reading.Page, text_of) -> None:
    """Play both models: the detector finds what is dark in a second look's input; the
    recogniser reads text_of(box)."""
    while True:
        if (zoom := page.zoom_input()) is not None:
            page.set_zoom_probability((zoom[0] < 0).astype(np.float32))
        if not (boxes := page.next_boxes()):
            return
        page.add_lines([ctc_decoding.Line(t, (0.99,) * len(t)) for t in map(text_of, boxes)])


def test_a_line_read_as_part_of_a_date_is_looked_at_again_enlarged_and_read_whole():
    page = dark_bar_page((150, 888, 340, 912))
    h, w = page.detector_input.shape[1:]
    sx, sy = w / 720, h / 1600
    # The whole-page pass finds only the bar's first third ("04月25"), too small to hold a time.
    page.set_probability(blobs(h, w, (int(155 * sx), int(891 * sy), int(235 * sx), int(909 * sy))))
    page.code = (260.0, 100.0, 460.0, 300.0)  # far above it: its look does not reach the line
    read_with_looks(page, lambda box: "04月25日 05:01:21" if box.width > 150 else "04月25")
    # Read whole: only the look around the part found the whole line.
    assert page.reading().value == "--04-25T05:01:21"
    assert [line.text for line in page.lines] == ["04月25日 05:01:21"]


def test_a_page_with_no_code_and_nothing_found_is_looked_at_again_whole_and_larger():
    page = dark_bar_page((250, 895, 470, 905))  # a line too thin for the whole-page pass
    h, w = page.detector_input.shape[1:]
    page.set_probability(np.zeros((h, w), np.float32))
    assert page.code is None
    zoom = page.zoom_input()
    assert zoom is not None and zoom.shape[1] * zoom.shape[2] > h * w
    page.set_zoom_probability((zoom[0] < 0).astype(np.float32))
    read_with_looks(page, lambda box: "2022-04-12 09:31:07")
    assert page.reading().value == "2022-04-12T09:31:07"
    assert page.zoom_input() is None  # once


def test_blobs_read_as_nothing_do_not_use_up_the_rounds():
    # Ten blobs as wide as the time's line above it (a code's modules, icons: the detector may
    # call them text) read as nothing or one stroke; the time's line comes after them.
    shapes = {100 + 120 * i: "x" * 19 for i in range(10)}
    shapes[1400] = "2022-04-12 09:31:07"
    page = line_page(shapes)
    answer(page, {**{y: "一" if y % 240 else "" for y in shapes}, 1400: shapes[1400]})
    assert page.reading().value == "2022-04-12T09:31:07"
    # A page of nothing but blobs still ends: blank rounds are refunded MAX_ROUNDS times.
    blobs_only = {60 + 50 * i: "x" * 19 for i in range(30)}
    page = line_page(blobs_only)
    answer(page, dict.fromkeys(blobs_only, ""))
    assert len(page.lines) == 2 * page_reading.LINES_PER_ROUND * page_reading.MAX_ROUNDS


def test_a_page_without_a_time_is_read_in_a_bounded_number_of_lines():
    rows = {200 + 100 * i: f"Line {i}" for i in range(14)}
    page = line_page(rows)
    answer(page, rows)
    assert page.reading() is None
    assert len(page.lines) == page_reading.LINES_PER_ROUND * page_reading.MAX_ROUNDS


def test_a_reading_is_read_again_from_taller_crops_and_withdrawn_where_the_reads_differ():
    page = line_page({900: "2022-04-12 09:31:07"})
    (first,) = page.next_boxes()
    page.add_lines([ctc_decoding.Line("2022-04-12 09:31:07", (0.97,) * 19)])
    (again,) = page.next_boxes()  # settled: its line once more
    assert again.center == pytest.approx(first.center)
    assert again.height == pytest.approx(first.height * (1 + page_reading.SECOND_READ_GROWTH))
    page.add_lines([ctc_decoding.Line("2022-04-12 09:34:07", (0.99,) * 19)])
    assert page.next_boxes() == []  # once
    assert page.reading() is None  # two confident reads that differ: neither is a reading


def test_a_reading_whose_every_digit_is_sure_is_not_read_again():
    page = line_page({900: "2022-04-12 09:31:07"})
    page.next_boxes()
    page.add_lines([ctc_decoding.Line("2022-04-12 09:31:07", (0.995,) * 19)])
    assert page.next_boxes() == []
    assert page.reading().value == "2022-04-12T09:31:07"


def test_a_second_read_that_reads_nothing_for_sure_leaves_the_first():
    page = line_page({900: "2022-04-12 09:31:07"})
    page.next_boxes()
    page.add_lines([ctc_decoding.Line("2022-04-12 09:31:07", (0.97,) * 19)])
    page.next_boxes()
    page.add_lines([ctc_decoding.Line("2022-04-12 09:31:07", (0.99,) * 17 + (0.2, 0.99))])
    assert page.next_boxes() == []
    assert page.reading().value == "2022-04-12T09:31:07"


def sure(text: str) -> ctc_decoding.Line:
    return ctc_decoding.Line(text, (0.995,) * len(text))


@pytest.mark.parametrize(
    ("again", "value"),
    [
        ("2022-04-12 09:31:07", "2022-04-12T09:31:07"),  # seconds past the box's end
        ("2022-04-12 09:31", "2022-04-12T09:31"),  # an app that draws no seconds
        ("2022-04-12 09:34:07", None),  # another minute: no reading
    ],
)
def test_a_time_without_seconds_is_read_again_reaching_past_its_end(again, value):
    page = line_page({900: "2022-04-12 09:31"})
    (first,) = page.next_boxes()
    page.add_lines([sure("2022-04-12 09:31")])  # every digit sure: read again all the same
    (longer,) = page.next_boxes()
    reach = page_reading.SECONDS_REACH * longer.height
    assert longer.width == pytest.approx(first.width + reach)
    assert longer.corners[0] == pytest.approx(first.corners[0], abs=first.height)  # same start
    page.add_lines([sure(again)])
    assert page.next_boxes() == []
    assert (page.reading() and page.reading().value) == value


def unsure(text: str) -> ctc_decoding.Line:
    """The text with its last digit read at 0.3: no reading."""
    return ctc_decoding.Line(text, (0.97,) * (len(text) - 1) + (0.3,))


def test_where_nothing_was_read_the_likeliest_lines_are_read_again_and_taken_where_all_agree():
    page = line_page({900: "2022-04-12 09:31:07"})
    (first,) = page.next_boxes()
    page.add_lines([unsure("2022-04-12 09:31:07")])
    assert page.reading() is None
    again = page.next_boxes()  # the same line, from crops grown by each of RETRY_GROWTHS
    assert [b.height for b in again] == pytest.approx(
        [first.height * (1 + g) for g in page_reading.RETRY_GROWTHS]
    )
    page.add_lines([ctc_decoding.Line("2022-04-12 09:31:07", (0.97,) * 19)] * 2)
    assert page.next_boxes() == []
    assert page.reading().value == "2022-04-12T09:31:07"


def test_reads_again_that_disagree_give_no_reading_where_nothing_was_read():
    page = line_page({900: "2022-04-12 09:31:07"})
    page.next_boxes()
    page.add_lines([unsure("2022-04-12 09:31:07")])
    page.next_boxes()
    page.add_lines(
        [
            ctc_decoding.Line("2022-04-12 09:31:07", (0.97,) * 19),
            ctc_decoding.Line("2022-04-12 09:37:07", (0.97,) * 19),
        ]
    )
    assert page.reading() is None


def test_a_date_read_unsure_beside_a_time_is_read_again_with_it():
    rows = {850: "04月12日", 900: "09:31:07"}
    page = line_page(rows)
    reads = Counter()
    while boxes := page.next_boxes():
        lines = []
        for box in boxes:
            text = rows[min(rows, key=lambda row: abs(row - box.center[1]))]
            reads[text] += 1
            first = 0.4 if "月" in text and reads[text] == 1 else 0.99  # the date's 0 unsure
            lines.append(ctc_decoding.Line(text, (first,) + (0.99,) * (len(text) - 1)))
        page.add_lines(lines)
    assert reads == {"04月12日": 3, "09:31:07": 3}  # once, then from both grown crops
    assert page.reading().value == "--04-12T09:31:07"


def test_lines_with_too_few_digits_for_a_time_are_not_read_again():
    page = line_page({900: "Valid 2022"})
    page.next_boxes()
    page.add_lines([ctc_decoding.Line("Valid 2022", (0.97,) * 10)])
    assert page.next_boxes() == []
