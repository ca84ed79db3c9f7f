"""One image's way from bytes to a shown time, in stages a caller can batch across images.

    page = Page.from_bytes(data, imaging)     # decode (DCT-scaled), detector input
    page.set_probability(detector(page.detector_input[None])[0, 0])
    while True:
        if (zoom := page.zoom_input()) is not None:   # a second look, enlarged
            page.set_zoom_probability(detector(zoom[None])[0, 0])
        if not (crops := page.next_crops()):  # a few lines per round of recognition
            break
        page.add_lines(decoder.decode(recogniser(to_line_batch(crops))))
    page.reading()                            # Reading or None

Only what is needed is read. Boxes whose shape cannot hold a date or time are never recognised;
the others are read a round of LINES_PER_ROUND at a time, likeliest first, and reading stops as
soon as a date and time is read. Likeliest: the lines just above and below the code, nearest
first (apps draw their clock there), then centred, then wide ones. Once a part is read (a time,
a date), the boxes beside it come next, whatever the rounds so far: they may complete it, or
hold a date that cannot be read, which withdraws it. With nothing found, reading gives up after
MAX_ROUNDS (a round whose lines all read as blobs, not text, is not counted, MAX_ROUNDS times). When
the code is small in the detector's input, or its neighbours hold no reading, the region around it
is detected again, enlarged (once): a phone photographed from a distance shows its clock too small
for the whole-page pass. When the rounds end with nothing read, the
region around a line read as part of a date or time ("月25") is detected again, enlarged; and a
page with no code found, whole at a larger scale (once each). Last, once, lines are read again from
slightly taller crops: an unsure reading's, which another date or time there withdraws (and a
reading of hours:minutes, from crops reaching past the end, where its seconds may lie); or, where
nothing was read, those with the most digits, twice, whose reads must agree.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np
from code_locator import Box
from code_region import Bands, beside_code, find_code, time_bands
from ctc_decoding import Line
from PIL import Image
from shown_time import Reading, TextLine, read_shown_time, shows_date_or_time
from text_boxes import TextBox, boxes_from_probability, crop_line, mark_runs_on

# Images are decoded (JPEGs DCT-scaled) to at least this on the long side, and bigger ones
# reduced to it: a phone screen's 14 dp text stays ~25 px high, enough for the recogniser's 48.
DECODE_LONG_SIDE_PX = 1600
# The detector's input area (its cost grows with it): a 9:20 screen at 320 x 704 keeps 14 dp text
# ~11 px high. 352 x 768 read no more of the photos in the benchmark; 288 x 640 read fewer.
DETECT_AREA_PX = 320 * 704
DETECT_STRIDE = 32  # the detector's input sides must be multiples of this
LINE_HEIGHT_PX = 48  # the recogniser's input height
MAX_LINE_WIDTH_PX = 864  # 18 x 48: the widest box read
# Lines recognised in one call. The recogniser answers 8 px of a line a step, each step
# probabilities over its 18,710 classes: 8 lines of the widest are 65 MB of output that the BLS
# model receives through /dev/shm (tests/unit/test_gpu_path.py sizes it). A page reads ~3 lines.
MAX_LINES_PER_CALL = 8
# Width / height of a box that can hold a date or time: "09:31" is ~2.3, a long
# "更新于 2022.04.12 09:31:07" ~13; wider boxes are paragraphs, narrower ones words or icons.
MIN_ASPECT, MAX_ASPECT = 1.8, 18.0
MIN_TEXT_HEIGHT_PX = 6.0  # in decoded pixels: smaller is unreadable at any scale
# Lines recognised per round, and rounds at most while nothing is found. Reading a page costs
# about as much as its lines are wide: 0.07-0.08 CPU-ms per pixel of crop width (48 high).
LINES_PER_ROUND, MAX_ROUNDS = 2, 5
# A round whose every line reads as under BLANK_CHARS characters (a blob of the code or of an
# icon that the detector took for text) does not count against MAX_ROUNDS, MAX_ROUNDS times at most.
BLANK_CHARS = 2
# The second look around the code: enlarged so that the code is ZOOM_CODE_PX wide in the
# detector's input (its clock's text then ~10-25 px high), up to ZOOM_MAX_UPSCALE times the
# decoded image and ZOOM_AREA_PX; done only when that is at least ZOOM_MIN_GAIN times the
# whole-page pass's resolution, at once when the code is under ZOOM_AT_ONCE_BELOW_PX there.
ZOOM_CODE_PX = 240
ZOOM_MAX_UPSCALE = 2.0
ZOOM_AREA_PX = 192_000
ZOOM_MIN_GAIN = 1.25
ZOOM_AT_ONCE_BELOW_PX = 120
# When the rounds end with nothing read, a line that holds a part of a date or time (a month and
# day, digits around a colon) is looked at again: the region LINE_ZOOM_ALONG of its
# heights each way along it and LINE_ZOOM_ACROSS across (a date above a time), enlarged so that
# the line is LINE_ZOOM_PX high (the detector found a blurred line's part, or split it). A page on
# which no code was found and nothing can be read is detected again whole, at PAGE_ZOOM_AREA_PX.
# The lines those looks find are read whatever the rounds so far (the LOOK_LINES likeliest).
LINE_ZOOM_ALONG, LINE_ZOOM_ACROSS, LINE_ZOOM_PX = 6.0, 3.0, 24
PAGE_ZOOM_AREA_PX = 600_000
LOOK_LINES = 4
# Lines are read again from crops a little taller (more of the blur around the text); a misread
# of blurred digits rarely repeats from a shifted crop. A settled reading's lines are read once
# more, SECOND_READ_GROWTH taller: where that read gives another date or time, there is no
# reading. A reading whose every digit was read at SECOND_READ_BELOW or more is not read again
# (it costs ~30 CPU-ms a line): on the rendered and independent test sets (seeds 7, 11, 13) 86% of
# right readings were, and the misreads a second read caught had digits at 0.60 and 0.80.
SECOND_READ_GROWTH = 0.15
SECOND_READ_BELOW = 0.99
# A reading of hours:minutes may have lost its seconds: the detector's box often ends before pale
# or blurred last characters. Its lines are then read again (whatever their digits' confidence)
# from crops reaching SECONDS_REACH line heights past their end (":07" is ~1.5 wide); seconds read
# there, after the same date and minute, complete the reading.
SECONDS_REACH = 2.0
_NO_SECONDS = re.compile(r"T\d{2}:\d{2}$")  # in a reading's value (partial ISO 8601)
_PART = re.compile(r"\d\s*[:：年月日号时点]|[年月]\s*\d|\d\s*[-./]\s*\d")  # noqa: RUF001
# Where nothing was read, the RETRY_LINES lines with the most digits (RETRY_MIN_DIGITS or more,
# as a time of day has) are read again from crops grown by each of RETRY_GROWTHS, with the
# RETRY_DATES line beside them that holds a part of a date (a date read unsure withdraws the time
# beside it): a date or time that every one of those reads gives alike is the reading.
RETRY_GROWTHS = (0.15, 0.30)
RETRY_LINES, RETRY_MIN_DIGITS, RETRY_DATES = 2, 6, 1


def decode_upright(data: bytes, imaging) -> Image.Image:
    """RGB, EXIF orientation applied, JPEG decoded DCT-scaled; ImageError for bad input.

    imaging.py (the classifier's preprocessing) decodes: its rules and limits, without the
    letterbox, at about DECODE_LONG_SIDE_PX.
    """
    image = imaging.decode_upright(data, (DECODE_LONG_SIDE_PX, DECODE_LONG_SIDE_PX))
    factor = max(image.size) // DECODE_LONG_SIDE_PX
    return image.reduce(factor) if factor >= 2 else image


def shrink(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Resize down to size: an integer box reduction first (cheap), then bilinear."""
    factor = min(image.width // size[0], image.height // size[1])
    if factor >= 2:
        image = image.reduce(factor)
    return image.resize(size, Image.Resampling.BILINEAR)


def detector_size(width: int, height: int) -> tuple[int, int]:
    """The detector's input size for an image: about DETECT_AREA_PX, sides multiples of 32."""
    scale = math.sqrt(DETECT_AREA_PX / (width * height))
    return tuple(  # type: ignore[return-value]
        max(DETECT_STRIDE, round(side * scale / DETECT_STRIDE) * DETECT_STRIDE)
        for side in (width, height)
    )


def to_model_input(image: Image.Image) -> np.ndarray:
    """HWC uint8 RGB -> CHW float32 in [-1, 1], the PP-OCR models' input."""
    pixels = np.asarray(image, dtype=np.float32)
    return np.ascontiguousarray((pixels / 127.5 - 1.0).transpose(2, 0, 1))


def to_line_batch(crops: Sequence[Image.Image]) -> np.ndarray:
    """Line crops (height 48) -> one (N, 3, 48, W) batch, right-padded with zeros."""
    width = max(c.width for c in crops)
    batch = np.zeros((len(crops), 3, LINE_HEIGHT_PX, width), dtype=np.float32)
    for i, crop in enumerate(crops):
        batch[i, :, :, : crop.width] = to_model_input(crop)
    return batch


def _could_hold_time(box: TextBox) -> bool:
    aspect = box.width / max(box.height, 1e-6)
    return MIN_ASPECT <= aspect <= MAX_ASPECT and box.height >= MIN_TEXT_HEIGHT_PX


def _likelihood(box: TextBox, image_width: float) -> float:
    """Order of reading: centred lines first (apps centre the clock over or under the code),
    then wider ones (a date and time is 3 to 14 times as wide as high; names and words less)."""
    off_centre = abs(box.center[0] - image_width / 2) / image_width  # 0 .. 0.5
    aspect = box.width / box.height
    return -20 * off_centre + 2 * min(aspect, 14) / 14 + (aspect >= 3)


class Page:
    def __init__(self, image: Image.Image) -> None:
        self.image = image
        size = detector_size(*image.size)
        self.detector_input = to_model_input(shrink(image, size))
        self._scale = (image.width / size[0], image.height / size[1])
        self._waiting: list[TextBox] = []
        self._reading: list[TextBox] = []
        self.lines: list[TextLine] = []
        self._line_boxes: list[TextBox] = []  # where each of self.lines was read
        self.rounds = 0
        self._blank_rounds = 0
        self.code: Box | None = None  # where the code is, in image pixels
        self._zoom: tuple[str, Bands] | None = None  # the look under way: its kind, its bands
        self._looked: set[str] = set()  # the second looks taken: "code", "line", "page"
        self._due: list[TextBox] = []  # boxes a line's or the page's look found: read them
        self.error: Exception | None = None  # set by a caller whose model call failed
        # Lines read again (_read_again): per crop growth, id of the line -> its new reading; and
        # the (growth, line) of each crop in the round under way.
        self._rereads: list[dict[int, TextLine]] | None = None
        self._rereading: list[tuple[int, TextLine]] = []

    @classmethod
    def from_bytes(cls, data: bytes, imaging) -> Page:
        return cls(decode_upright(data, imaging))

    def set_probability(self, probability: np.ndarray) -> None:
        """The detector's (H, W) map for detector_input: keep the boxes worth reading."""
        self.code = find_code(self.image, probability)
        boxes = [b.scaled(*self._scale) for b in boxes_from_probability(probability)]
        self._waiting = self._ordered(mark_runs_on(list(filter(_could_hold_time, boxes)), boxes))

    def _ordered(self, boxes: list[TextBox]) -> list[TextBox]:
        """Lines beside the code nearest first, then the rest by _likelihood."""

        def key(box: TextBox) -> tuple:
            gap = None if self.code is None else beside_code(box.center, box.height, self.code)
            return (gap is None, gap or 0.0, -_likelihood(box, self.image.width))

        return sorted(boxes, key=key)

    def _near_code(self, box: TextBox) -> bool:
        return self.code is not None and beside_code(box.center, box.height, self.code) is not None

    def zoom_input(self) -> np.ndarray | None:
        """A region to detect again, enlarged, when a second look is due: the bands around the
        code; else around a line holding a part of a date or time; else, with no code found, the
        whole page. Each is taken once."""
        if self._first_reading() is not None:
            return None
        for kind, look in (
            ("code", self._code_look),
            ("line", self._line_look),
            ("page", self._page_look),
        ):
            if kind not in self._looked and (zoom := look()) is not None:
                self._looked.add(kind)
                self._zoom = (kind, zoom)
                return to_model_input(zoom.image)
        return None

    def _code_look(self) -> Bands | None:
        if self.code is None:
            return None
        side = max(self.code[2] - self.code[0], self.code[3] - self.code[1])
        bands = time_bands(self.code, *self.image.size)
        area = sum((b[2] - b[0]) * (b[3] - b[1]) for b in bands)
        if not bands:
            return None
        scale = min(ZOOM_CODE_PX / side, ZOOM_MAX_UPSCALE, math.sqrt(ZOOM_AREA_PX / area))
        at_once = side / self._scale[0] < ZOOM_AT_ONCE_BELOW_PX
        # Read the lines beside the code first; but a page whose whole-page pass found nothing to
        # read at all (faint, noisy text) has no first round to wait for: its look is due now.
        first_round_due = self._rounds_read == 0 and bool(self._waiting)
        if not at_once and (first_round_due or any(map(self._near_code, self._waiting))):
            return None
        return self._look_at(bands, scale)

    def _line_look(self) -> Bands | None:
        """Around the line with the most digits of those holding a part of a date or time, once
        the boxes beside them are read and the rounds have ended with nothing read."""
        if "page" in self._looked:
            return None  # it saw the lines at a scale near a line's look
        parts = [(x, b) for x, b in self._boxes_of_lines() if _part(x)]
        if not parts or any(_beside(b, x) for b in self._waiting for x, _ in parts):
            return None
        if self._waiting and self._rounds_read < MAX_ROUNDS:
            return None  # the rounds first: a look's lines would take the place of theirs
        box = max(parts, key=lambda p: sum(c.isdigit() for c in p[0].text))[1]
        (x0, y0), (x1, y1) = box.corners.min(axis=0), box.corners.max(axis=0)
        along, across = LINE_ZOOM_ALONG * box.height, LINE_ZOOM_ACROSS * box.height
        width, height = self.image.size
        region = (max(0.0, x0 - along), max(0.0, y0 - across))
        region += (min(width, x1 + along), min(height, y1 + across))
        area = (region[2] - region[0]) * (region[3] - region[1])
        scale = min(LINE_ZOOM_PX / box.height, ZOOM_MAX_UPSCALE, math.sqrt(ZOOM_AREA_PX / area))
        return self._look_at([region], scale)

    def _page_look(self) -> Bands | None:
        """The whole page, where no code was found and every box found was read."""
        if self.code is not None or self._waiting:
            return None
        width, height = self.image.size
        scale = min(ZOOM_MAX_UPSCALE, math.sqrt(PAGE_ZOOM_AREA_PX / (width * height)))
        return self._look_at([(0.0, 0.0, width, height)], scale)

    def _look_at(self, regions: list[Box], scale: float) -> Bands | None:
        """The regions at `scale`, if that is enough sharper than the whole-page pass."""
        return (
            Bands(self.image, regions, scale) if scale >= ZOOM_MIN_GAIN / self._scale[0] else None
        )

    def set_zoom_probability(self, probability: np.ndarray) -> None:
        """The detector's map for zoom_input(): its boxes replace those inside the bands."""
        if self._zoom is None:
            return
        kind, zoom = self._zoom
        found = self._ordered(list(filter(_could_hold_time, zoom.boxes(probability))))
        if kind != "code":
            if not found:
                return  # nothing seen there: the lines read stand
            self._due = found[:LOOK_LINES]
        self._waiting = found + [b for b in self._waiting if not zoom.covers(b)]
        # Lines the whole-page pass read there are read again from the sharper boxes.
        kept = [i for i, b in enumerate(self._line_boxes) if not zoom.covers(b)]
        self.lines = [self.lines[i] for i in kept]
        self._line_boxes = [self._line_boxes[i] for i in kept]

    def next_boxes(self) -> list[TextBox]:
        """The boxes to recognise next; none when the reading is settled (and read again)."""
        self._rereading = []
        found = self._first_reading()
        if found is not None and found.has_date:
            return self._second_read(found)  # a date and a time: the most a page shows
        # What lies beside a part of a reading (a time alone, a date alone) can complete it, or
        # withdraw it (a date that cannot be read), so it is read whatever the rounds so far.
        parts = (
            found.lines if found is not None else [x for x in self.lines if shows_date_or_time(x)]
        )
        chosen = [
            b
            for b in self._waiting
            if any(_beside(b, x) for x in parts) or any(b is d for d in self._due)
        ]
        if not chosen and found is None and self._rounds_read < MAX_ROUNDS:
            chosen = self._waiting  # nothing yet: the likeliest next
        chosen = chosen[:LINES_PER_ROUND]
        if not chosen:
            return self._second_read(found) if found is not None else self._retry()
        self._waiting = [b for b in self._waiting if not any(b is c for c in chosen)]
        self._reading = chosen
        self.rounds += 1
        return chosen

    def _second_read(self, found: Reading) -> list[TextBox]:
        """The boxes of the reading's lines, SECOND_READ_GROWTH taller, where a digit on them was
        read below SECOND_READ_BELOW; reaching past their end where the time has no seconds."""
        sure = all(
            p >= SECOND_READ_BELOW
            for line in found.lines
            for c, p in zip(line.text, line.probabilities, strict=False)
            if c.isdigit()
        )
        reach = SECONDS_REACH if _NO_SECONDS.search(found.value) else 0.0
        if sure and not reach:
            return []
        return self._read_again(
            [x for x in self.lines if any(x is y for y in found.lines)],
            (SECOND_READ_GROWTH,),
            reach,
        )

    def _retry(self) -> list[TextBox]:
        """The boxes of the lines likeliest to hold an unread time, grown by RETRY_GROWTHS."""
        digits = {id(x): sum(c.isdigit() for c in x.text) for x in self.lines}
        lines = [x for x in self.lines if digits[id(x)] >= RETRY_MIN_DIGITS]
        lines = sorted(lines, key=lambda x: -digits[id(x)])[:RETRY_LINES]
        # And a part of a date beside them: read unsure, it withdrew the time beside it.
        beside = [
            x
            for x, box in self._boxes_of_lines()
            if _part(x) and not any(x is y for y in lines) and any(_beside(box, y) for y in lines)
        ]
        lines += beside[:RETRY_DATES]
        return self._read_again(lines, RETRY_GROWTHS) if lines else []

    def _read_again(
        self, lines: list[TextLine], growths: tuple[float, ...], reach: float = 0.0
    ) -> list[TextBox]:
        """Boxes of the lines, grown by each of growths (and `reach` line heights past their
        end), for one round; a page reads again once."""
        if self._rereads is not None:
            return []
        self._rereads = [{} for _ in growths]
        self._rereading = [(k, x) for k in range(len(growths)) for x in lines]
        boxes = {id(x): b for x, b in self._boxes_of_lines()}
        self._reading = [
            _longer(_taller(boxes[id(x)], growths[k]), reach) for k, x in self._rereading
        ]
        return self._reading

    def _boxes_of_lines(self) -> list[tuple[TextLine, TextBox]]:
        """Each line read, with the box it was read from."""
        return list(zip(self.lines, self._line_boxes, strict=True))

    def next_crops(self) -> list[Image.Image]:
        """Crops of next_boxes(), upright, LINE_HEIGHT_PX high."""
        return [
            crop_line(self.image, b, LINE_HEIGHT_PX, MAX_LINE_WIDTH_PX) for b in self.next_boxes()
        ]

    def add_lines(self, lines: Sequence[Line]) -> None:
        """The recognised text of the crops next_crops() gave, in the same order."""
        if self._rereading and self._rereads is not None:  # lines read again
            for (k, first), line in zip(self._rereading, lines, strict=True):
                self._rereads[k][id(first)] = first._replace(
                    text=line.text, probabilities=line.probabilities
                )
            return
        for box, line in zip(self._reading, lines, strict=True):
            x, y = box.center
            along = box.corners[1] - box.corners[0]
            slope = float(along[1] / along[0]) if along[0] > 0 else 0.0
            self.lines.append(
                TextLine(line.text, line.probabilities, x, y, box.height, box.runs_on, slope)
            )
            self._line_boxes.append(box)
        if all(len(line.text.strip()) < BLANK_CHARS for line in lines):
            self._blank_rounds += 1

    @property
    def _rounds_read(self) -> int:
        """Rounds that count against MAX_ROUNDS: all but up to MAX_ROUNDS of the blank ones."""
        return self.rounds - min(self._blank_rounds, MAX_ROUNDS)

    def _first_reading(self) -> Reading | None:
        return read_shown_time(self.lines)

    def reading(self) -> Reading | None:
        """What the lines show, unless a read again shows another date or time (one unsure of a
        digit contradicts nothing) or completes it with seconds; where they showed nothing, what
        every read again shows."""
        found = self._first_reading()
        if not self._rereads:
            return found
        again = [read_shown_time([r.get(id(x), x) for x in self.lines]) for r in self._rereads]
        if found is not None:
            other = {a.value: a for a in again if a is not None and a.value != found.value}
            if not other:
                return found
            # Seconds where the first read ended at the minute: the same reading, completed.
            completed = [a for value, a in other.items() if value.startswith(found.value + ":")]
            return completed[0] if len(other) == 1 and completed else None
        values = {None if a is None else a.value for a in again}
        return again[0] if len(values) == 1 else None


def _taller(box: TextBox, growth: float) -> TextBox:
    """The box grown by `growth` of its height, half above and half below."""
    across = (box.corners[3] - box.corners[0]) * (growth / 2)
    corners = box.corners + np.array([-across, -across, across, across], dtype=np.float32)
    return TextBox(corners, box.score, box.runs_on)


def _longer(box: TextBox, reach: float) -> TextBox:
    """The box reaching `reach` of its height further past its end (its right side)."""
    along = box.corners[1] - box.corners[0]
    corners = box.corners.copy()
    corners[1:3] += along / max(float(np.linalg.norm(along)), 1e-6) * (reach * box.height)
    return TextBox(corners, box.score, box.runs_on)


def _part(line: TextLine) -> bool:
    """Whether the line may hold a part of a date or time: digits beside a date's or a time's
    separator ("月25", "0425 22:52"); not a masked ID number ("3130**********6539")."""
    return "*" not in line.text and bool(_PART.search(line.text))


def _beside(box: TextBox, line: TextLine) -> bool:
    x, y = box.center
    size = max(box.height, line.height)
    return abs(y - line.center_y) <= 3 * size and abs(x - line.center_x) <= 12 * size
