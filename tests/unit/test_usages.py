"""A usage's families in preference order: each request takes the first one Triton serves."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gateway.publish import publish_family
from gateway.repository import PROJECT_REPOSITORY, ModelFamily
from gateway.routing import RouteMaker, Usage
from gateway.settings import Settings

OLD, NEW = ModelFamily("health_code"), ModelFamily("health_code_next")


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    for model in (OLD.ensemble, OLD.preprocess, OLD.classifier):
        shutil.copytree(PROJECT_REPOSITORY / model, tmp_path / model)
    return tmp_path


def usage_over(repository: Path) -> Usage:
    routes = RouteMaker(Settings(model_repository=repository, decode="triton"))
    return Usage("health-code", [NEW, OLD], routes)


def all_of(family: ModelFamily) -> frozenset[str]:
    return frozenset({family.ensemble, family.preprocess, family.classifier})


def test_the_first_family_triton_serves_answers(repository):
    publish_family(PROJECT_REPOSITORY, OLD.ensemble, repository, NEW.ensemble)
    usage = usage_over(repository)
    assert usage.route(all_of(OLD)).family == OLD  # the new one is not loaded in Triton yet
    assert usage.route(all_of(OLD) | {NEW.classifier}).family == OLD  # nor all of it
    assert usage.route(all_of(OLD) | all_of(NEW)).family == NEW
    assert usage.route(None).family == NEW  # before Triton has said: the preferred one


def test_a_family_published_after_start_up_is_picked_up_when_triton_has_it(repository):
    usage = usage_over(repository)  # only the old family is there
    assert usage.route(None).family == OLD
    publish_family(PROJECT_REPOSITORY, OLD.ensemble, repository, NEW.ensemble)
    assert usage.route(all_of(OLD) | all_of(NEW)).family == NEW


def test_a_usage_none_of_whose_families_is_there_fails_start_up(tmp_path):
    with pytest.raises(FileNotFoundError, match="none of"):
        usage_over(tmp_path)
