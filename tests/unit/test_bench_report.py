"""The benchmark report: tables, the targets with their measured ratios, and the plots."""

from __future__ import annotations

from benchmarks import report
from benchmarks.report import GATEWAY, GATEWAY_TRITON_DECODE, PEER


def ab(rps: float, p50: float, p99: float, cpu: float = 0.0) -> dict:
    latency = {"p50": p50, "p90": p99, "p99": p99, "max": p99}
    return {
        "requests_per_s": rps,
        "failed": 0.0,
        "non_2xx": 0.0,
        "latency_ms": latency,
        "cpu_ms_per_request": {"web": cpu, "all": cpu},
    }


def point(concurrency: int, ok_per_s: float) -> dict:
    return {
        "concurrency": concurrency,
        "ok_per_s": ok_per_s,
        "failed": 0,
        "non_2xx": 0,
        "latency_ms": {"p50": 10.0, "p99": 20.0},
    }


def results() -> dict:
    return {
        "quick": True,
        "machine": {"cpu": "test cpu", "cores": 2, "python": "3.11", "platform": "linux"},
        "payload": {"size": "1440x3200", "jpeg_bytes": 273_000, "json_bytes": 364_000},
        "ceiling": {
            "decode_images_per_s": 400.0,
            "full_decode_images_per_s_one_core": 17.0,
            "decode_ms_one_core": 5.0,
        },
        "ab": {
            "old-async x1": ab(10.0, 2000, 2800),
            "old-sync x1": ab(20.0, 1000, 1300),
            "old-sync x2": ab(25.0, 900, 1400),
            f"{PEER} x1": ab(150.0, 100, 150, 9.0),
            f"{PEER} x2": ab(200.0, 80, 160, 8.0),
            GATEWAY: ab(150.0, 120, 190, 10.0),
            GATEWAY_TRITON_DECODE: {
                **ab(160.0, 110, 180),
                "cpu_ms_per_request": {"web": 2.0, "tritonserver": 1.0, "python stubs": 5.0},
            },
        },
        "ab_c1": {name: ab(1.0, 12.0, 15.0) for name in (f"{PEER} x2", GATEWAY)},
        "sweep": {
            GATEWAY: [point(1, 60.0), point(16, 160.0), point(64, 230.0)],
            f"{PEER} x2": [point(16, 210.0), point(64, 200.0)],
        },
        "open_loop": {},
        "profiles": ["run-gateway-decode-web-1.svg"],
    }


def test_targets_compare_the_gateway_with_the_right_peers():
    lines = "\n".join(report.targets(results()))
    assert "vs old async x1: 15.0x" in lines
    assert "vs best old sync (old-sync x2): 6.0x" in lines  # the faster sync configuration
    assert f"vs best in-process peer ({PEER} x2), ab c=20: 0.75x" in lines
    assert f"vs {PEER} x2, sweep c=64: 1.15x" in lines
    assert "p99 190 ms vs the old apps' best p50 900 ms" in lines
    assert "230 ok/s = 58% of the decode-only ceiling" in lines
    assert "c=1 latency, peer p50 / gateway p50: 1.00" in lines
    assert "CPU per request, all processes: 10.00 ms" in lines
    assert "the gateway's own CPU per request, Triton decoding: 2.00 ms" in lines


def test_capacity_figures_come_from_the_triton_decoding_run():
    lines = "\n".join(report.capacity(results()))
    assert "G, gateway requests/s per core: 1000 / 2.00 CPU-ms = 500" in lines
    assert "C, requests/s of a Triton on 3 CPU cores: 3 x 1000 / 6.00 CPU-ms = 500" in lines


def test_the_markdown_has_every_table_and_names_the_profiles():
    md = report.markdown(results(), "20260101T000000")
    for heading in ("## Seed workload", "## Unloaded latency", "## CPU per request", "## Targets"):
        assert heading in md
    assert f"| {GATEWAY} | 150.0 | 0 | 0 | 120 |" in md
    assert "run-gateway-decode-web-1.svg" in md


def test_the_plots_are_written(tmp_path):
    written = report.plots(results(), tmp_path / "run")
    assert [p.name for p in written] == ["run-throughput.png", "run-latency.png"]
    assert all(p.stat().st_size > 1000 for p in written)
