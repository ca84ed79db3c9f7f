"""Triton python backend (BLS): image bytes -> the date and time the health-code page shows.

A batch of requests goes through the stages of page_reading.Page together: each image is decoded
here; the text detector (`ocr_text_detector`) runs once per distinct input size on all the pages
of that size; the text recogniser (`ocr_text_recognizer`) reads the chosen line crops of all pages
at once, crops of similar width batched together (padding is paid for on a CPU), round by
round. BLS rather than an ensemble: what the recogniser reads depends on what the detector found
and on what the first round read, and a page may ask for a second, enlarged look (around its
code, around a part of a date, or at the whole page: page_reading.Page.zoom_input), detected
between two rounds.

Outputs per request: TEXT (the date and time as read), READING (partial ISO 8601 local time, see
shown_time.py; empty when the page shows none) and LINES (every line read, for diagnosis). A bad
image fails its own request ("[code] message"), never the batch.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import triton_python_backend_utils as pb_utils


def _newest_version(folder: Path) -> Path:
    versions = [int(p.name) for p in folder.iterdir() if p.name.isdigit() and p.is_dir()]
    if not versions:
        raise FileNotFoundError(f"{folder} has no version folder")
    return folder / str(max(versions))


# imaging.py (the decoding rules and image limits) and code_locator.py (where the code is) have
# one home, the preprocess model's folder; Triton runs this file from <repository>/<model>/<n>/.
_REPOSITORY = Path(__file__).resolve().parents[2]
sys.path.append(str(_newest_version(_REPOSITORY / "health_code_preprocess")))
import imaging  # noqa: E402
from ctc_decoding import CtcDecoder  # noqa: E402
from page_reading import MAX_LINES_PER_CALL, Page, to_line_batch  # noqa: E402

# The OCR models' output names (gateway/ocr_models.py: PP-OCRv4's detector, PP-OCRv6's
# recogniser; the input of both is "x").
PROBABILITY_MAP, RECOGNISED = "sigmoid_0.tmp_0", "fetch_name_0"
# Crops batched together differ in width by at most this factor (the rest is padding).
WIDTH_SPREAD = 1.3


class TritonPythonModel:
    def initialize(self, args: dict) -> None:
        self.logger = pb_utils.Logger
        config = json.loads(args["model_config"])
        params = {k: v["string_value"] for k, v in config.get("parameters", {}).items()}
        self.detector = params.get("detector", "ocr_text_detector")
        self.recogniser = params.get("recogniser", "ocr_text_recognizer")
        self.repository = Path(args["model_repository"]).parent
        self.imaging = imaging
        self.decoder = self._read_alphabet()

    def _read_alphabet(self) -> CtcDecoder:
        """The recogniser's alphabet, beside its model.onnx (gateway/ocr_models.py writes it)."""
        keys = _newest_version(self.repository / self.recogniser) / "keys.txt"
        return CtcDecoder.from_file(os.fspath(keys))

    def _decode(self, probabilities: np.ndarray) -> list:
        """CTC-decode the recogniser's output. A polling Triton reloads a recogniser replaced by
        one with another alphabet (`make install` after a pin changed) but not this model: the
        class count tells, and the new alphabet is read again."""
        if probabilities.shape[-1] != len(self.decoder.classes):
            self.decoder = self._read_alphabet()
        return self.decoder.decode(probabilities)

    def execute(self, requests: list) -> list:
        pages: list = []
        for request in requests:
            images = pb_utils.get_input_tensor_by_name(request, "IMAGE").as_numpy().reshape(-1)
            pages.append(self._page(images))
        self._detect([p for p in pages if isinstance(p, Page)])
        self._recognise([p for p in pages if isinstance(p, Page)])
        return [self._response(page) for page in pages]

    def _page(self, images: np.ndarray):
        if len(images) != 1:
            return self.imaging.ImageError("not_an_image", "send exactly one image per request")
        data = images[0]
        data = data if isinstance(data, bytes) else bytes(data, "latin-1", "replace")
        try:
            return Page.from_bytes(data, self.imaging)
        except Exception as e:  # never let one odd image take the batch down
            return e

    def _detect(self, pages: list, inputs: list | None = None, zoom: bool = False) -> None:
        """One detector call per input size: each page's detector_input, or the given inputs."""
        by_size: dict[tuple, list] = {}
        for page, tensor in zip(pages, inputs or [p.detector_input for p in pages], strict=True):
            by_size.setdefault(tensor.shape, []).append((page, tensor))
        for group in by_size.values():
            batch = np.stack([tensor for _, tensor in group])
            try:
                maps = self._infer(self.detector, batch, PROBABILITY_MAP)
            except RuntimeError as e:
                for page, _ in group:
                    page.error = e
                continue
            for (page, _), probability in zip(group, maps, strict=True):
                step = page.set_zoom_probability if zoom else page.set_probability
                _guarded(page, step, probability[0])

    def _zoom(self, pages: list) -> None:
        """A second detection, enlarged, for the pages that want one (Page.zoom_input)."""
        wanted = [(p, _guarded(p, p.zoom_input)) for p in pages if p.error is None]
        wanted = [(p, z) for p, z in wanted if z is not None]
        if wanted:
            self._detect([p for p, _ in wanted], [z for _, z in wanted], zoom=True)

    def _recognise(self, pages: list) -> None:
        while True:
            self._zoom(pages)
            crops = {id(p): _guarded(p, p.next_crops) or [] for p in pages if p.error is None}
            work = [
                (page, i, crop) for page in pages for i, crop in enumerate(crops.get(id(page), []))
            ]
            if not work:
                return
            lines = {key: [None] * len(found) for key, found in crops.items()}
            for chunk in _chunks(sorted(work, key=lambda w: w[2].width)):
                try:
                    batch = to_line_batch([crop for *_, crop in chunk])
                    decoded = self._decode(self._infer(self.recogniser, batch, RECOGNISED))
                except (RuntimeError, ValueError) as e:
                    for page, _, _ in chunk:
                        page.error = e
                    continue
                for (page, i, _), line in zip(chunk, decoded, strict=True):
                    lines[id(page)][i] = line
            for page in pages:
                if page.error is None and crops.get(id(page)):
                    _guarded(page, page.add_lines, lines[id(page)])

    def _infer(self, model: str, batch: np.ndarray, output: str) -> np.ndarray:
        request = pb_utils.InferenceRequest(
            model_name=model,
            inputs=[pb_utils.Tensor("x", batch)],
            requested_output_names=[output],
            **_cpu_outputs(),
        )
        response = request.exec()
        if response.has_error():
            raise RuntimeError(f"{model}: {response.error().message()}")
        return pb_utils.get_output_tensor_by_name(response, output).as_numpy()

    def _response(self, page):
        if isinstance(page, self.imaging.ImageError):
            error = pb_utils.TritonError(str(page), pb_utils.TritonError.INVALID_ARG)
            return pb_utils.InferenceResponse(error=error)
        if isinstance(page, Exception) or page.error is not None:
            failure = page if isinstance(page, Exception) else page.error
            self.logger.log_error(f"time reading failed: {type(failure).__name__}: {failure}")
            message = f"[inference_failed] time reading failed ({type(failure).__name__})"
            return pb_utils.InferenceResponse(error=pb_utils.TritonError(message))
        reading = _guarded(page, page.reading)
        if page.error is not None:
            return self._response(page.error)
        outputs = {
            "TEXT": "" if reading is None else reading.text,
            "READING": "" if reading is None else reading.value,
            "LINES": "\n".join(line.text for line in page.lines),
        }
        return pb_utils.InferenceResponse(
            output_tensors=[
                pb_utils.Tensor(name, np.array([[value.encode()]], dtype=np.object_))
                for name, value in outputs.items()
            ]
        )


def _guarded(page: Page, step, *args):
    """Run one page's step; an unexpected failure fails that page's request only."""
    try:
        return step(*args)
    except Exception as e:  # a bug met by one odd page must not fail the batch
        page.error = e
        return None


def _chunks(work: list) -> list[list]:
    """Consecutive runs of width-sorted crops whose widths stay within WIDTH_SPREAD."""
    chunks: list[list] = []
    for item in work:
        if chunks and (
            item[2].width <= chunks[-1][0][2].width * WIDTH_SPREAD
            and len(chunks[-1]) < MAX_LINES_PER_CALL
        ):
            chunks[-1].append(item)
        else:
            chunks.append([item])
    return chunks


def _cpu_outputs() -> dict:
    """Ask for outputs in CPU memory (a GPU instance's would not convert to numpy)."""
    if hasattr(pb_utils, "PreferredMemory"):
        return {"preferred_memory": pb_utils.PreferredMemory(pb_utils.TRITONSERVER_MEMORY_CPU, 0)}
    return {}
