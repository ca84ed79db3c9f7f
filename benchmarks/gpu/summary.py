"""results.json of the GPU run as a page people read (summary.md)."""

from __future__ import annotations

GROUPS = ("gateway", "tritonserver", "preprocess stubs", "classifier stubs", "load generator")


def _cell(value: object) -> str:
    return "-" if value is None else str(value)


def levels_table(levels: list[dict]) -> list[str]:
    head = [
        "c",
        "payload",
        "req/s",
        "non-2xx+failed",
        "p50 ms",
        "p99 ms",
        "GPU util % (mean/max)",
        "GPU MiB",
        "CPU %",
        *[f"CPU-ms/req {g}" for g in GROUPS],
        "batch preprocess",
        "batch classifier",
        "routes",
    ]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for level in levels:
        load, gpu, models = level["load"], level["gpu"], level["triton"]["models"]
        batch = {m.split("_")[-1]: v["average_batch"] for m, v in models.items()}
        routes = level["triton"]["preprocess_routes"]
        routes = ", ".join(f"{k} {v}" for k, v in sorted(routes.items()))
        cells = [
            level["concurrency"],
            level["payload"],
            load["requests_per_s"],
            load["non_2xx"] + load["failed"],
            load["latency_ms"]["p50"],
            load["latency_ms"]["p99"],
            f"{gpu.get('util_mean_pct', '-')}/{gpu.get('util_max_pct', '-')}",
            gpu.get("memory_max_mib"),
            level["machine_cpu_util_pct"],
            *[level["cpu_ms_per_request"].get(g) for g in GROUPS],
            batch.get("preprocess"),
            batch.get("classifier"),
            routes or None,
        ]
        rows.append("| " + " | ".join(map(_cell, cells)) + " |")
    return rows


def markdown(results: dict) -> str:
    machine = results.get("machine", {})
    lines = [
        f"# GPU run: mode {results.get('mode')}",
        "",
        f"Machine: {machine.get('cpus')} CPUs ({machine.get('cpu')}); "
        f"GPUs: {', '.join(machine.get('gpus', [])) or 'none'}; Python {machine.get('python')}.",
        f"Plan: {results.get('plan')}",
        "",
    ]
    if preflight := results.get("preflight"):
        lines += [
            f"Preflight: ok={preflight.get('ok')}, stub imports "
            f"{preflight.get('stub_imports')}, missing libraries "
            f"{preflight.get('missing_libraries') or 'none'}.",
            "",
        ]
    if bench := results.get("decode_bench"):
        lines += ["## The decoder alone (decode_bench)", "", "```", *_pairs(bench), "```", ""]
    if "triton_ready_s" in results:
        lines += [
            f"Triton ready in {results['triton_ready_s']} s; gateway in "
            f"{results.get('gateway_ready_s')} s.",
            "",
        ]
    if parity := results.get("parity"):
        s = parity["summary"]
        lines += [
            f"## Parity with the CPU path (tolerance {parity['score_tolerance']})",
            "",
            f"Passed: **{s['passed']}**: {s['agree']}/{s['images']} agree; disagree: "
            f"{s['disagree'] or 'none'}. Largest score difference {s['max_score_difference']}; "
            f"pixels {s['pixels_mean_difference']} levels apart on average, at most "
            f"{s['pixels_max_difference']}. Accuracy against the rendered labels: CPU "
            f"{s['accuracy_cpu']}, Triton {s['accuracy_triton']}. Damaged JPEG: {s['damaged']}.",
            "",
        ]
    if results.get("levels"):
        lines += [
            "## Load through the gateway (closed loop, raw image bodies)",
            "",
            *levels_table(results["levels"]),
            "",
        ]
    if results.get("error"):
        lines += [f"**Stopped:** {results['error']}", ""]
    if results.get("skipped"):
        lines += [f"Skipped: {results['skipped']}", ""]
    return "\n".join(lines)


def _pairs(values: dict, prefix: str = "") -> list[str]:
    out = []
    for key, value in values.items():
        if isinstance(value, dict):
            out += _pairs(value, f"{prefix}{key}.")
        else:
            out.append(f"{prefix}{key}: {value}")
    return out
