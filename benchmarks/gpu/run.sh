#!/usr/bin/env bash
# The GPU run: Triton (the nvidia-pytriton wheel's, from the bundle) with the GPU configs, its
# answers checked against the CPU path, then load through the gateway; results into one folder.
#
#   benchmarks/gpu/run.sh [--mode auto|gpu|cpu] [--quick]        (benchmarks/gpu/README.md)
#
# Needs the bundle (`make gpu-bundle`: .device/healthcode-gpu-bundle.tar.xz, for this Python).
# PYTHON picks the interpreter (default python3), BUNDLE the tarball, OUT the results folder
# (set on the GPU machine; default benchmarks/results/gpu-<time>), WORK where it is unpacked.
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-python3}
BUNDLE=${BUNDLE:-.device/healthcode-gpu-bundle.tar.xz}
OUT=${OUT:-benchmarks/results/gpu-$(date -u +%Y%m%dT%H%M%SZ)}
WORK=${WORK:-/tmp/healthcode-gpu-bundle}
mkdir -p "$OUT"

version=$("$PYTHON" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
if [ ! -f "$BUNDLE" ]; then
    echo "no $BUNDLE: run \`make gpu-bundle GPU_PYTHON=$version\` first" | tee "$OUT/run.log" >&2
    exit 2
fi
# Unpacked once per bundle: a second run on the same machine skips it.
stamp="$(stat -c %s-%Y "$BUNDLE")"
if [ "$(cat "$WORK/.stamp" 2>/dev/null)" != "$stamp" ]; then
    rm -rf "$WORK" && mkdir -p "$WORK"
    "$PYTHON" - "$BUNDLE" "$WORK" <<'EOF'
import sys, tarfile
with tarfile.open(sys.argv[1]) as tar:
    kwargs = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
    tar.extractall(sys.argv[2], **kwargs)
EOF
    echo "$stamp" > "$WORK/.stamp"
fi
stubs="$WORK/site/pytriton/tritonserver/python_backend_stubs"
if [ ! -d "$stubs/$version" ]; then
    echo "the bundle has no stub for Python $version (it has $(ls "$stubs")):" \
        "\`make gpu-bundle GPU_PYTHON=$version\`" | tee "$OUT/run.log" >&2
    exit 2
fi

# A virtualenv of this Python whose site-packages lists the bundle's packages first, then this
# Python's own (torch, onnxruntime): Triton's python stubs ignore PYTHONPATH (an isolated
# interpreter) and find their packages through the virtualenv first on PATH, which the launcher
# (gateway/embedded/server.py) makes this one. The bundle's numpy 1.x must win there.
"$PYTHON" - "$WORK/python" "$WORK/site" "$PWD" <<'EOF'
import site, sys, venv
from pathlib import Path

home, bundle, repo = map(Path, sys.argv[1:])
venv.EnvBuilder(symlinks=True, with_pip=False, clear=True).create(home)  # ~1 s: every run
own = [p for p in site.getsitepackages() if Path(p).is_dir()]
lib = home / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages"
lines = [str(bundle), str(repo), f"import site; list(map(site.addsitedir, {own!r}))"]
(lib / "healthcode-gpu-run.pth").write_text("\n".join(lines) + "\n")
EOF
PYTHON="$WORK/python/bin/python"
export PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
# As deploy/triton.Dockerfile sets it for the preprocess stubs' PyTorch allocator.
export PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True
set +e
"$PYTHON" -m benchmarks.gpu.driver --bundle "$WORK" --out "$OUT" "$@" 2>&1 | tee -a "$OUT/run.log"
status=${PIPESTATUS[0]}
set -e
echo "results in $OUT (exit $status)"
exit "$status"
