"""The README's tables are copies of facts whose home is the code: they must say the same."""

from __future__ import annotations

import re
from pathlib import Path

from gateway import errors
from gateway.settings import Settings

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def error_table() -> str:
    """The README's error table, as gateway.errors makes it."""
    rows = ["| status | codes |", "|---|---|"]
    for status, classes in errors.documented().items():
        headers = sorted({h for cls in classes for h in cls().response_headers()})
        extra = "".join(f" + `{h}`" for h in headers)
        codes = ", ".join(f"`{cls.code}`" for cls in classes)
        rows.append(f"| {status}{extra} | {codes} |")
    return "\n".join(rows)


def test_the_readme_error_table_is_the_one_gateway_errors_defines():
    expected = error_table()
    assert expected in README, f"README.md's error table should read:\n{expected}"


def test_every_setting_is_documented_in_the_readme_and_nothing_else_is():
    documented = set(re.findall(r"`HEALTHCODE_([A-Z0-9_]+)`", README))
    fields = {name.upper() for name in Settings.model_fields if name != "prometheus_multiproc_dir"}
    assert fields - documented == set(), "settings missing from README"
    assert documented - fields == set(), "README names settings that do not exist"
