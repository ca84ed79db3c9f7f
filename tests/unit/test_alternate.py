"""benchmarks/alternate.py: how systems are named on its command line, its medians, and the
report of wrk, its load with --keep-alive."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.alternate import medians, parse_system, table
from benchmarks.systems import REPO, parse_wrk


def test_a_serve_system_takes_a_tree_settings_tracing_and_raw_bodies(tmp_path: Path) -> None:
    system = parse_system(f"old=serve@{tmp_path}+HEALTHCODE_DECODE=triton+A=b=c+trace+raw")
    assert system.name == "old"
    assert system.tree == tmp_path.resolve()
    assert system.env == {"HEALTHCODE_DECODE": "triton", "A": "b=c"}
    assert system.trace is True and system.raw is True
    assert system.peer_workers == 0


def test_plain_serve_is_this_checkout_untraced() -> None:
    system = parse_system("after=serve")
    assert (system.tree, system.env, system.trace, system.raw, system.peer_workers) == (
        REPO, {}, False, False, 0)  # fmt: skip


def test_a_peer_is_named_by_its_worker_count() -> None:
    assert parse_system("p=peer:2").peer_workers == 2


@pytest.mark.parametrize(
    "text", ["serve", "=serve", "x=ab", "x=peer:0", "x=serve+oops", "x=servex@here"]
)
def test_a_malformed_system_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_system(text)


def _run(system: str, rps: float, p99: float, web: float, failed: float = 0.0) -> dict:
    return {
        "system": system,
        "requests_per_s": rps,
        "failed": failed,
        "non_2xx": 0.0,
        "latency_ms": {"p99": p99},
        "cpu_ms_per_request": {"web": web, "all": web + 1},
    }


def test_medians_are_per_system_over_the_rounds_in_the_order_given() -> None:
    runs = [
        _run("b", 100, 50, 5.0),
        _run("a", 10, 500, 9.0),
        _run("b", 300, 70, 7.0, failed=2),
        _run("a", 30, 700, 8.0),
        _run("b", 200, 60, 6.0),
    ]
    summary = medians(runs)
    assert list(summary) == ["b", "a"]
    assert summary["b"] == {
        "rounds": 3,
        "failed": 2,
        "requests_per_s": 200,
        "p99_ms": 60,
        "cpu_ms_per_request": {"web": 6.0, "all": 7.0},
    }
    assert summary["a"]["requests_per_s"] == 20
    assert "| b | 200.0 | 60 | 2 | 6.00 | 7.00 |" in table(summary).splitlines()


WRK_REPORT = """Running 3s test @ http://127.0.0.1:40000/analysis/health-code
  1 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    21.11ms    9.27ms    1.20s    78.00%
  Latency Distribution
     50%  850.00us
     75%   23.60ms
     90%   32.97ms
     99%    1.20s
  932 requests in 3.02s, 356.09KB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:    308.61
Transfer/sec:    117.91KB
"""


def test_wrks_report_reads_as_abs_fields_in_milliseconds() -> None:
    result = parse_wrk(WRK_REPORT)
    assert result["complete"] == 932 and result["requests_per_s"] == 308.61
    assert (result["failed"], result["non_2xx"], result["elapsed_s"]) == (3, 4, 3.02)
    assert result["latency_ms"] == {"p50": 0.85, "p90": 32.97, "p99": 1200.0}


def test_a_wrk_run_without_a_result_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="no result"):
        parse_wrk("unable to connect to 127.0.0.1:40000 Connection refused\n")
