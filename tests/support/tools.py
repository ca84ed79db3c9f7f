"""System tools the Makefile installs from Debian (chromium, ab): where one is missing, a test that
needs it is skipped on a developer's machine and fails in CI, where `make test` installs it."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def missing(tool: str, make_target: str) -> NoReturn:
    if os.environ.get("CI"):
        pytest.fail(f"no {tool} in CI: `make test` installs it through `make {make_target}`")
    pytest.skip(
        f"no {tool} here: `make {make_target}` installs it from Debian (needs apt-get and root)"
    )
