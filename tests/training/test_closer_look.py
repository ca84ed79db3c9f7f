"""The closer look on rendered images: the served answers and the rule chosen on calibration."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from training import closer_look
from training.dataset import load
from training.export import scores_of
from training.metrics import (
    CODE_CHECK_BAR,
    FINDER_BARS,
    FINDER_SHARPNESS_BAR,
    INVALID,
    Finders,
    choose_closer_rule,
    choose_finder_bar,
    choose_unseen_bar,
    closer_answers,
)

COMMITTED = Path(__file__).resolve().parents[2] / "model_repository/health_code_classifier"
NONE = [np.nan] * 4


def rows(*values) -> np.ndarray:
    return np.array(values, dtype=np.float32)


def test_only_a_refused_page_seen_in_colour_with_a_sure_view_changes_its_answer():
    first = rows(
        [0.97, 0.01, 0.01, 0.01],  # a sure green: answered at first, never looked at
        [0.60, 0.30, 0.05, 0.05],  # refused green: its view is sure
        [0.60, 0.30, 0.05, 0.05],  # refused green: its view is not sure enough
        [0.01, 0.00, 0.00, 0.99],  # invalid and no colour seen: not looked at
        [0.60, 0.30, 0.05, 0.05],  # refused, no code found: no view
    )
    views = rows(NONE, [0.01, 0.99, 0.0, 0.0], [0.97, 0.01, 0.01, 0.01], [0.99, 0, 0, 0.01], NONE)
    assert closer_answers(first, views, 0.9, None).tolist() == [0, INVALID, INVALID, INVALID, 3]
    assert closer_answers(first, views, 0.9, (0.98, 0.02)).tolist() == [0, 1, 3, 3, 3]


def test_an_unsure_colour_whose_page_has_no_code_is_withdrawn():
    first = rows(
        [0.97, 0.01, 0.01, 0.01],  # unsure green, no code found: withdrawn
        [0.97, 0.01, 0.01, 0.01],  # unsure green, a code found: kept
        [0.995, 0.003, 0.001, 0.001],  # green above the check: never withdrawn
        [0.60, 0.30, 0.05, 0.05],  # refused: the check is not about it
    )
    views = rows(NONE, [0.2, 0.1, 0.1, 0.6], NONE, NONE)
    assert closer_answers(first, views, 0.9, (0.98, 0.02), 0.99).tolist() == [3, 0, 0, 3]
    assert closer_answers(first, views, 0.9, (0.98, 0.02)).tolist() == [0, 0, 0, 3]


def test_a_colour_is_withdrawn_where_a_sharp_view_shows_no_finder_squares():
    green, refused = [0.9999, 0.0, 0.0, 0.0001], [0.60, 0.30, 0.05, 0.05]
    first = rows(green, green, green, [0.97, 0.01, 0.01, 0.01], refused, green, refused)
    views = rows(
        [1.0, 0, 0, 0],
        [1.0, 0, 0, 0],
        NONE,
        NONE,
        [0.999, 0, 0, 0.001],
        [1.0, 0, 0, 0],
        [1.0, 0, 0, 0],
    )
    finders = Finders(
        first=np.array([False, True, False, True, False, False, False]),  # squares at first
        finderless_view=np.array([True, False, False, False, True, True, True]),  # none after
        sharp_view=np.array([True, False, False, False, True, False, False]),
    )
    answers = closer_answers(first, views, 0.9, (0.98, 0.02), 0.99, finders=finders)
    # withdrawn; finder squares at first; no view; an unsure colour whose first look shows a QR
    # code needs no code check; a refused page's finderless view answers nothing; a colour whose
    # soft view shows none stands; a refused page's soft finderless view answers nothing either
    assert answers.tolist() == [INVALID, 0, 0, 0, INVALID, 0, INVALID]
    without = closer_answers(first, views, 0.9, (0.98, 0.02), 0.99)
    assert without.tolist() == [0, 0, 0, INVALID, 0, 0, 0]


def test_a_decoded_codes_ink_answers_a_refused_page_and_keeps_a_colour_as_served():
    green, refused, unseen = (
        [0.9999, 0.0, 0.0, 0.0001],
        [0.60, 0.30, 0.05, 0.05],
        [0.01, 0, 0, 0.99],
    )
    first = rows(green, refused, refused, refused, unseen, [0.05, 0.02, 0.03, 0.9])
    views = rows([1.0, 0, 0, 0], [0.5, 0, 0, 0.5], [0.5, 0, 0, 0.5], NONE, NONE, [0.2, 0, 0, 0.8])
    finders = Finders(
        first=np.zeros(6, bool),
        finderless_view=np.array([True, False, False, False, False, False]),
        sharp_view=np.array([True, False, False, False, False, False]),
        ink=np.array([0, 0, 1, 0, 0, -1]),
    )
    answers = closer_answers(first, views, 0.9, (0.98, 0.02), 0.99, finders=finders)
    # a green whose finderless view would withdraw it, but its code is green; a refused green
    # whose view refuses, its code green; its code yellow; no code located, but one decoded and
    # green; under the floor; no code decoded
    assert answers.tolist() == [0, 0, INVALID, 0, INVALID, INVALID]
    never = closer_answers(first, views, 0.9, (2.0, 0.02), 0.99, finders=finders)
    assert never.tolist() == [0, INVALID, INVALID, INVALID, INVALID, INVALID]  # no colour looks
    unread = Finders(finders.first, finders.finderless_view, finders.sharp_view)
    without = closer_answers(first, views, 0.9, (0.98, 0.02), 0.99, finders=unread)
    assert without.tolist() == [INVALID] * 6


def test_a_view_whose_code_shows_finder_squares_answers_a_refused_page_at_its_own_bar():
    refused, unseen = [0.60, 0.30, 0.05, 0.05], [0.01, 0, 0, 0.99]
    first = rows(refused, refused, refused, refused, unseen)
    views = rows(
        [0.95, 0, 0, 0.05], [0.95, 0, 0, 0.05], [0.85, 0, 0, 0.15], NONE, [0.95, 0, 0, 0.05]
    )
    finders = Finders(
        first=np.zeros(5, bool),
        finderless_view=np.array([False, True, False, False, False]),
        sharp_view=np.zeros(5, bool),
    )
    answers = closer_answers(
        first, views, 0.9, (0.98, 0.02), 0.99, finders=finders, with_finder=0.9
    )
    # finder squares seen, the view over the finder bar; none seen; under it; no view; the first
    # look saw less colour than the floor (the unseen bar holds)
    assert answers.tolist() == [0, INVALID, INVALID, INVALID, INVALID]
    without = closer_answers(first, views, 0.9, (0.98, 0.02), 0.99, finders=finders)
    assert without.tolist() == [INVALID] * 5
    off = closer_answers(first, views, 0.9, (2.0, 0.02), 0.99, finders=finders, with_finder=0.9)
    assert off.tolist() == [INVALID] * 5  # the rule's bar over 1: the closer look answers none


def test_a_page_seen_colourless_is_answered_where_its_codes_ink_confirms_its_view():
    unseen = [0.01, 0, 0, 0.99]
    first = rows(unseen, unseen, unseen, unseen, unseen, [0.60, 0.30, 0.05, 0.05])
    sure = [0.999, 0, 0, 0.001]  # the rule's bar, short of the unseen bar
    views = rows(sure, sure, sure, [0.001, 0.999, 0, 0], [0.99995, 0, 0, 0.00005], [0.5, 0, 0, 0.5])
    finders = Finders(
        first=np.zeros(6, bool),
        finderless_view=np.array([False, True, False, False, True, False]),
        sharp_view=np.zeros(6, bool),
        ink=np.array([0, 0, -1, 0, -1, 1]),
    )
    answers = closer_answers(first, views, 0.9, (0.99, 0.02), 0.99, 0.9999, finders)
    # a QR code (finder squares) inked in its view's green; no finder squares; no code decoded;
    # ink and view differ; over the unseen bar, but a finderless view answers nothing; a page
    # seen in colour whose view refuses: its ink answers only the colour its first look saw most
    assert answers.tolist() == [0, INVALID, INVALID, INVALID, INVALID, INVALID]
    no_look = closer_answers(first, views, 0.9, (0.99, 0.02), 0.99, None, finders)
    assert no_look.tolist() == [INVALID] * 6  # no unseen look: such pages get no look at all


def test_the_finder_bar_is_the_one_that_adds_right_answers_and_no_false_colour():
    refused = [0.60, 0.30, 0.05, 0.05]
    first = rows(refused, refused, refused)
    labels = np.array([0, 0, INVALID])
    views = rows([0.96, 0, 0, 0.04], [0.985, 0, 0, 0.015], [0.93, 0, 0, 0.07])
    finders = Finders(np.zeros(3, bool), np.zeros(3, bool), np.zeros(3, bool))
    chosen = choose_finder_bar(first, views, labels, 0.9, (0.995, 0.02), 0.99, None, finders)
    assert chosen == 0.95  # 0.9 also answers the invalid page green
    views[0], views[2] = [0.92, 0, 0, 0.08], [0.5, 0, 0, 0.5]  # now only 0.9 answers the first
    assert choose_finder_bar(first, views, labels, 0.9, (0.995, 0.02), 0.99, None, finders) == 0.9
    assert choose_finder_bar(first, views, labels, 0.9, None, 0.99, None, finders) is None
    views[:2] = [0.5, 0, 0, 0.5]  # nothing to gain: no bar of its own
    assert choose_finder_bar(first, views, labels, 0.9, (0.995, 0.02), 0.99, None, finders) is None


def test_a_blurred_code_keeps_a_colour_its_view_agrees_with_and_answers_no_refused_page():
    unsure, refused = [0.97, 0.01, 0.01, 0.01], [0.60, 0.30, 0.05, 0.05]
    first = rows(unsure, unsure, unsure, refused)
    views = rows([0.6, 0, 0, 0.4], [0.1, 0, 0, 0.9], [0.1, 0, 0, 0.9], [0.999, 0, 0, 0.001])
    blurred = np.array([True, True, False, True])
    finders = Finders(np.zeros(4, bool), np.zeros(4, bool), np.zeros(4, bool), blurred=blurred)
    answers = closer_answers(first, views, 0.9, (0.98, 0.02), 0.99, finders=finders)
    # its view sees green most; its view sees invalid (a photo's noise); a located code's view
    # does not matter; a blurred code's sure view answers no refused page
    assert answers.tolist() == [0, INVALID, 0, INVALID]
    located = Finders(finders.first, finders.finderless_view, finders.sharp_view)
    assert closer_answers(first, views, 0.9, (0.98, 0.02), 0.99, finders=located).tolist() == [
        0,
        0,
        0,
        0,
    ]


def test_a_page_with_almost_no_colour_seen_is_answered_only_from_a_near_certain_view():
    first = rows([0.02, 0.01, 0.01, 0.96], [0.02, 0.01, 0.01, 0.96])  # under the floor
    views = rows([0.99995, 0.00005, 0, 0], [0.998, 0.002, 0, 0])
    assert closer_answers(first, views, 0.9, (0.98, 0.05)).tolist() == [3, 3]  # no tier
    assert closer_answers(first, views, 0.9, (0.98, 0.05), unseen=0.9999).tolist() == [0, 3]
    assert closer_answers(first, views, 0.9, (0.98, 0.05), unseen=0.99).tolist() == [0, 0]


def test_the_unseen_bar_is_near_certainty_where_it_adds_no_false_colour():
    # Two colour pages and one invalid page, each refused with almost no colour seen.
    first = rows(*[[0.02, 0.01, 0.01, 0.96]] * 3)
    views = rows([0.99995, 0, 0, 0.00005], [0, 0.9995, 0, 0.0005], [0.9995, 0, 0, 0.0005])
    labels = np.array([0, 1, INVALID])
    # 0.9999 answers the first page green; a view at 0.9995 (the invalid page's, as status
    # badges' views were on independent pages) is not near-certain enough.
    assert choose_unseen_bar(first, views, labels, 0.9, (0.98, 0.05)) == 0.9999
    views[0] = [0.9995, 0, 0, 0.0005]  # no view clears the bar: the split is silent, the look stays
    assert choose_unseen_bar(first, views, labels, 0.9, (0.98, 0.05)) == 0.9999
    views[2] = [0.99995, 0, 0, 0.00005]  # now the invalid page's view would be a false green
    assert choose_unseen_bar(first, views, labels, 0.9, (0.98, 0.05)) is None
    assert choose_unseen_bar(first, views, labels, 0.9, None) is None


def test_the_rule_chosen_adds_no_false_colour_and_is_the_safest_of_equals():
    # Two refused colour pages and one invalid page whose view looks green at 0.993.
    first = rows([0.5, 0.1, 0.1, 0.3], [0.1, 0.4, 0.1, 0.4], [0.3, 0.0, 0.0, 0.7])
    views = rows([0.999, 0, 0, 0.001], [0.0, 0.996, 0.0, 0.004], [0.993, 0, 0, 0.007])
    labels = np.array([0, 1, INVALID])
    bar, floor = choose_closer_rule(first, views, labels, 0.9)
    answers = closer_answers(first, views, 0.9, (bar, floor))
    assert answers.tolist() == [0, 1, INVALID]  # both colours, no false one
    # 0.99 answers the invalid page green; of the floors that do as well, the highest.
    assert (bar, floor) == (0.995, 0.2)
    # No bar under 0.99, however many right answers it would add on the split.
    views[2] = [0.0, 0.0, 0.0, 1.0]
    views[1] = [0.0, 0.985, 0.0, 0.015]
    assert choose_closer_rule(first, views, labels, 0.9)[0] >= 0.99


def test_no_rule_is_chosen_when_every_view_that_helps_also_lies():
    first = rows([0.5, 0.1, 0.1, 0.3], [0.5, 0.1, 0.1, 0.3])
    views = rows([0.999, 0, 0, 0.001], [0.999, 0, 0, 0.001])
    assert choose_closer_rule(first, views, np.array([0, INVALID]), 0.9) is None


def test_the_rule_is_chosen_on_rendered_calibration_images_and_written(tmp_path):
    config = tmp_path / "config.pbtxt"
    shutil.copy(COMMITTED / "config.pbtxt", config)
    model = COMMITTED / "2" / "model.onnx"
    found, decide = closer_look.choose(model, [config, tmp_path / "absent.pbtxt"], 12, 0, 0.94, 1,
                                       cache=False, log=lambda line: None)  # fmt: skip
    calibration = found["calibration"]
    # the rule it returns answers the split's pages as its record says
    calib = load("calib", 12, 0, 1, cache=False)
    assert (decide(scores_of(model, calib.pixels)) == calib.labels).sum() == calibration["right"][1]
    assert calibration["answered_from_view"] <= calibration["refused"] <= 12
    bar, check = found["min_colour_probability"], found["check_colours_below"]
    assert check == (0.0 if bar == 1.0 else CODE_CHECK_BAR)  # no closer look: nothing to check
    finder_bar = found["min_sharpness_without_finder"]
    assert finder_bar == (None if bar == 1.0 else FINDER_SHARPNESS_BAR)
    written = config.read_text()
    assert f'"closer_look_min_colour_probability" value: {{ string_value: "{bar:g}" }}' in written
    assert f'"closer_look_check_colours_below" value: {{ string_value: "{check:g}" }}' in written
    sharpness = 2.0 if finder_bar is None else finder_bar
    assert (
        f'"closer_look_min_sharpness_without_finder" value: {{ string_value: "{sharpness:g}" }}'
        in written
    )
    with_finder = found["min_colour_probability_with_finder"]
    assert with_finder is None or (with_finder in FINDER_BARS and with_finder < bar)
    assert (
        '"closer_look_min_colour_probability_with_finder" value: '
        f'{{ string_value: "{2.0 if with_finder is None else with_finder:g}" }}' in written
    )
    assert not (tmp_path / "absent.pbtxt").exists()


@pytest.mark.parametrize("split", ["calib", "holdout/tabs"])
def test_views_are_scored_for_refused_pages_and_unsure_colours_only(split):
    model = COMMITTED / "2" / "model.onnx"
    first = rows(*([[0.9995, 0.0003, 0.0001, 0.0001]] * 3 + [[0.01, 0.01, 0.01, 0.97]] * 3))
    views, finders = closer_look.view_scores(model, split, 6, 0, first, 0.94, workers=1)
    assert finders is None  # no first-look finder check given: none made
    assert np.isnan(views[:3]).all()  # a colour at the code check's bar or above: no view
    looked = views[3:][~np.isnan(views[3:, 0])]
    np.testing.assert_allclose(looked.sum(axis=1), 1.0, atol=1e-5)


def test_a_sure_colour_whose_first_look_shows_no_finder_squares_is_looked_at():
    model = COMMITTED / "2" / "model.onnx"
    first = rows(*[[0.9995, 0.0003, 0.0001, 0.0001]] * 4)
    first_finder = np.array([True, True, False, False])
    views, finders = closer_look.view_scores(model, "test", 4, 0, first, 0.94, 1, first_finder)
    assert np.isnan(views[:2]).all()  # finder squares at first: no view
    assert finders is not None and (finders.first == first_finder).all()
    assert not finders.finderless_view[:2].any()


def test_a_located_box_shows_the_code_only_where_it_holds_most_of_it():
    code = np.zeros((100, 100), bool)
    code[20:40, 20:40] = True  # a 20 x 20 code
    assert closer_look._shows_code(np.array([0.18, 0.18, 0.42, 0.42]), code)  # around it
    assert not closer_look._shows_code(np.array([0.3, 0.3, 0.5, 0.5]), code)  # a quarter of it
    assert not closer_look._shows_code(np.array([0.0, 0.0, 1.0, 1.0]), code)  # the whole page
    assert not closer_look._shows_code(np.array([0.6, 0.6, 0.8, 0.8]), code)  # beside it
    assert not closer_look._shows_code(np.array([0.1, 0.1, 0.5, 0.5]), np.zeros_like(code))


def test_training_views_are_the_served_views_of_training_pages_labelled_as_their_page():
    views = closer_look.training_views(8, 0, workers=1, cache=False)
    assert 0 < len(views.labels) <= 8 and views.pixels.shape[0] == len(views.labels)
    for seed in closer_look.split_seeds("train", 8, closer_look.VIEW_SEED_OFFSET):
        found = closer_look._training_view((seed, "train"))
        if found is not None:  # the first page with a view is the set's first
            pixels, label, kind = found
            np.testing.assert_array_equal(views.pixels[0], pixels)
            assert views.labels[0] == label == seed % 4 and kind.startswith("view/")
            _, data = closer_look.render_task((seed, "train"))  # the same page as the train split
            np.testing.assert_array_equal(closer_look.look_closer(data)[0], pixels)
            break
