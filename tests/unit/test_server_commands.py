"""`python -m gateway serve|publish`: a bad setting or repository is named, not a traceback."""

from __future__ import annotations

import pytest

from gateway.__main__ import main
from gateway.local_service import free_port


def test_a_setting_that_does_not_validate_is_named_with_its_value(monkeypatch, capsys):
    monkeypatch.setenv("HEALTHCODE_PORT", "abc")
    with pytest.raises(SystemExit) as stopped:
        main(["serve"])
    assert stopped.value.code == 2
    assert "HEALTHCODE_PORT='abc': Input should be a valid integer" in capsys.readouterr().err


def test_publish_names_a_bad_setting_too(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("HEALTHCODE_TRITON_REPLICAS", "0")
    with pytest.raises(SystemExit) as stopped:
        main(["publish", str(tmp_path / "model.onnx")])
    assert stopped.value.code == 2
    assert "HEALTHCODE_TRITON_REPLICAS='0'" in capsys.readouterr().err


def test_serve_without_a_model_repository_says_so_before_starting_triton(
    monkeypatch, capsys, tmp_path
):
    monkeypatch.setenv("HEALTHCODE_MODEL_REPOSITORY", str(tmp_path))
    monkeypatch.setenv("HEALTHCODE_PORT", str(free_port()))
    monkeypatch.setenv("HEALTHCODE_WORKERS", "1")
    assert main(["serve"]) == 1
    err = capsys.readouterr().err
    assert (
        f"healthcode cannot start: usage 'health-code': none of ['health_code'] is in {tmp_path}"
        in err
    )
