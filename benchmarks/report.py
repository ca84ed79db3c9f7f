"""Markdown table and PNG plots for a benchmarks/run.py result."""

from __future__ import annotations

from pathlib import Path

GATEWAY = "gateway+triton"  # HEALTHCODE_DECODE=gateway, the default
GATEWAY_TRITON_DECODE = "gateway+triton (triton decodes)"
PEER = "in-process"  # benchmarks/inprocess_service.py


def _best(ab: dict, prefix: str) -> tuple[str, dict]:
    """The fastest configuration (by ab requests/s) whose name starts with `prefix`."""
    name = max((n for n in ab if n.startswith(prefix)), key=lambda n: ab[n]["requests_per_s"])
    return name, ab[name]


def _sweep_at(r: dict, name: str, concurrency: int) -> float:
    return next(
        (p["ok_per_s"] for p in r["sweep"].get(name, []) if p["concurrency"] == concurrency), 0.0
    )


def targets(r: dict) -> list[str]:
    """The issues' targets (issue 18's for the peer and the CPU), each with its measured value."""
    ab, c1, gw = r["ab"], r["ab_c1"], r["ab"][GATEWAY]
    rps = gw["requests_per_s"]
    sync_name, sync = _best(ab, "old-sync")
    peer_name, peer = _best(ab, PEER)
    c1_ratio = c1[peer_name]["latency_ms"]["p50"] / max(c1[GATEWAY]["latency_ms"]["p50"], 0.5)
    cpu = gw.get("cpu_ms_per_request", {}).get("all", 0)
    old_p50 = min(a["latency_ms"]["p50"] for n, a in ab.items() if n.startswith("old"))
    best_sweep = max(p["ok_per_s"] for p in r["sweep"][GATEWAY])
    ceiling = r["ceiling"]["decode_images_per_s"]
    lines = [
        f"- vs old async x1: {rps / ab['old-async x1']['requests_per_s']:.1f}x (target >= 10x)",
        f"- vs best old sync ({sync_name}): {rps / sync['requests_per_s']:.1f}x (target >= 5x)",
        f"- p99 {gw['latency_ms']['p99']:.0f} ms vs the old apps' best p50 {old_p50:.0f} ms "
        "(target: below)",
        f"- vs best in-process peer ({peer_name}), ab c=20: {rps / peer['requests_per_s']:.2f}x "
        "(target >= 1.15x)",
    ]
    if peer_c64 := _sweep_at(r, f"{PEER} x2", 64):
        lines.append(
            f"- vs {PEER} x2, sweep c=64: {_sweep_at(r, GATEWAY, 64) / peer_c64:.2f}x "
            "(target >= 1.15x)"
        )
    lines += [
        f"- c=1 latency, peer p50 / gateway p50: {c1_ratio:.2f} (target >= 1.0)",
        f"- CPU per request, all processes: {cpu:.2f} ms (target <= 6.0)",
        f"- best sweep point {best_sweep:.0f} ok/s = {100 * best_sweep / ceiling:.0f}% "
        "of the decode-only ceiling (target >= 60%)",
    ]
    if triton_decodes := ab.get(GATEWAY_TRITON_DECODE):
        web = triton_decodes.get("cpu_ms_per_request", {}).get("web", 0)
        lines.append(
            f"- the gateway's own CPU per request, Triton decoding: {web:.2f} ms (target <= 0.8)"
        )
    lines.append(
        f"- failed requests: {sum(int(a['failed']) for a in ab.values())} across all ab runs"
    )
    return lines


def capacity(r: dict) -> list[str]:
    """deploy/k8s/README.md's G and C from the Triton-decoding system's CPU per request."""
    cpu = r["ab"].get(GATEWAY_TRITON_DECODE, {}).get("cpu_ms_per_request", {})
    triton = cpu.get("tritonserver", 0) + cpu.get("python stubs", 0)
    if not cpu.get("web") or not triton:
        return []
    return [
        "",
        "## Capacity figures (deploy/k8s/README.md), Triton decoding",
        "",
        f"- G, gateway requests/s per core: 1000 / {cpu['web']:.2f} CPU-ms = "
        f"{1000 / cpu['web']:.0f}",
        f"- C, requests/s of a Triton on 3 CPU cores: 3 x 1000 / {triton:.2f} CPU-ms = "
        f"{3000 / triton:.0f}",
    ]


def markdown(r: dict, stamp: str) -> str:
    m, ceiling = r["machine"], r["ceiling"]["decode_images_per_s"]
    gw = r["ab"].get(GATEWAY, {})
    lines = [
        f"# Benchmark {stamp}{' (quick)' if r['quick'] else ''}",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, Python {m['python']}, {m['platform']}. "
        f"Payload: {r['payload']['size']} JPEG, {r['payload']['jpeg_bytes'] / 1e3:.0f} KB "
        f"({r['payload']['json_bytes'] / 1e3:.0f} KB as base64 JSON).",
        f"Decode-only ceiling: {ceiling:.0f} images/s "
        f"(full-size Pillow decode: {r['ceiling']['full_decode_images_per_s_one_core']:.1f}/s "
        "per core).",
        "",
        "## Seed workload: `ab -n 200 -c 20 -p health.json -T application/json`",
        "",
        "| system | requests/s | failed | non-2xx | p50 ms | p90 ms | p99 ms | max ms "
        "| gateway speed-up | % of ceiling |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, a in r["ab"].items():
        lat = a["latency_ms"]
        speedup = gw.get("requests_per_s", 0) / a["requests_per_s"] if a["requests_per_s"] else 0
        lines.append(
            f"| {name} | {a['requests_per_s']:.1f} | {a['failed']:.0f} | {a['non_2xx']:.0f} "
            f"| {lat['p50']:.0f} | {lat['p90']:.0f} | {lat['p99']:.0f} | {lat['max']:.0f} "
            f"| {speedup:.1f}x | {100 * a['requests_per_s'] / ceiling:.0f}% |"
        )
    c1 = f"ab -n {20 if r['quick'] else 100} -c 1"
    lines += [
        "",
        f"## Unloaded latency: `{c1}`",
        "",
        "| system | p50 ms | p90 ms | p99 ms |",
        "|---|---:|---:|---:|",
    ]
    for name, a in r.get("ab_c1", {}).items():
        lat = a["latency_ms"]
        lines.append(f"| {name} | {lat['p50']:.0f} | {lat['p90']:.0f} | {lat['p99']:.0f} |")
    lines += [
        "",
        "## CPU per request in the seed workload (from /proc: user + system time of each process)",
        "",
        "| system | web ms | tritonserver ms | python stubs ms | all ms |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, a in r["ab"].items():
        cpu = a.get("cpu_ms_per_request", {})
        cells = " | ".join(f"{cpu.get(k, 0):.2f}" for k in ("web", "tritonserver", "python stubs"))
        lines.append(f"| {name} | {cells} | {cpu.get('all', 0):.2f} |")
    for name in (GATEWAY, GATEWAY_TRITON_DECODE):
        if batch := r["ab"].get(name, {}).get("triton_batch"):
            sizes = ", ".join(f"{model} {size:.1f}" for model, size in sorted(batch.items()))
            lines += ["", f"Average Triton batch size, {name}, ab run: {sizes}."]
    lines += ["", "## Closed-loop sweep (`healthcode bench`'s load generator, JSON body)", ""]
    lines += [
        "| system | concurrency | ok/s | failed | non-2xx | p50 ms | p99 ms | % of ceiling |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, points in r["sweep"].items():
        for s in points:
            lat = s["latency_ms"]
            lines.append(
                f"| {name} | {s['concurrency']} | {s['ok_per_s']:.1f} | {s['failed']} "
                f"| {s['non_2xx']} | {lat['p50']:.0f} | {lat['p99']:.0f} "
                f"| {100 * s['ok_per_s'] / ceiling:.0f}% |"
            )
    if r.get("profiles"):
        lines += ["", "Profiles (py-spy flame graphs, c=16): " + ", ".join(r["profiles"]) + "."]
    if GATEWAY in r["ab"] and r.get("ab_c1"):
        lines += ["", "## Targets", "", *targets(r)]
    lines += capacity(r)
    for name, s in r["open_loop"].items():
        lat = s["latency_ms"]
        lines += [
            "",
            f"## Open loop: {name} at {s['rate_target']:g} requests/s for {s['elapsed_s']:.0f} s",
            "",
            f"{s['complete']} answered ({s['ok']} ok), {s['failed']} failed, "
            f"{s['non_2xx']} non-2xx, {s['late_starts']} late starts; latency from the intended "
            f"send time: p50 {lat['p50']:.0f} ms, p90 {lat['p90']:.0f} ms, p99 {lat['p99']:.0f} "
            f"ms, p99.9 {lat['p99.9']:.0f} ms, max {lat['max']:.0f} ms.",
        ]
    return "\n".join(lines) + "\n"


def plots(r: dict, prefix: Path) -> list[Path]:
    """<prefix>-throughput.png (ok/s vs concurrency) and <prefix>-latency.png (ab percentiles)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ceiling = r["ceiling"]["decode_images_per_s"]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, points in r["sweep"].items():
        ax.plot(
            [p["concurrency"] for p in points], [p["ok_per_s"] for p in points], "o-", label=name
        )
    ax.axhline(ceiling, color="grey", linestyle="--", label="decode-only ceiling")
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="concurrent clients",
        ylabel="successful requests/s",
        title="Throughput vs concurrency",
    )
    ax.legend()
    ax.grid(True, which="both", alpha=0.3)
    throughput = prefix.with_name(prefix.name + "-throughput.png")
    fig.tight_layout()
    fig.savefig(throughput, dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(8, 4.5))
    names = list(r["ab"])
    keys = ("p50", "p90", "p99", "max")
    width = 0.8 / len(keys)
    for k, key in enumerate(keys):
        xs = [i + (k - 1.5) * width for i in range(len(names))]
        ax.bar(xs, [r["ab"][n]["latency_ms"][key] for n in names], width, label=key)
    ax.set_xticks(range(len(names)), names, rotation=20)
    ax.set(yscale="log", ylabel="latency, ms", title="ab -n 200 -c 20: latency percentiles")
    ax.legend()
    ax.grid(True, axis="y", which="both", alpha=0.3)
    latency = prefix.with_name(prefix.name + "-latency.png")
    fig.tight_layout()
    fig.savefig(latency, dpi=110)
    plt.close(fig)
    return [throughput, latency]
