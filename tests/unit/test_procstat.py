"""The harness's per-process accounting: process trees, roles, CPU per request, batch sizes."""

from __future__ import annotations

import os
import subprocess
import sys

from benchmarks import procstat, systems


def test_a_child_process_is_in_the_tree_and_its_own_cpu_and_memory_are_counted():
    burn = (
        "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass\n"
        "print('burnt', flush=True)\ntime.sleep(30)"
    )
    child = subprocess.Popen([sys.executable, "-c", burn], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "burnt"
        assert child.pid in procstat.process_tree(os.getpid())
        cpu_s = procstat.cpu_s_by_role(child.pid)["web"]
        assert 0.29 <= cpu_s < 5  # its own burn (and start-up), not this test's CPU
        assert procstat.rss_mb_by_role(child.pid)["web"] > 1
    finally:
        child.kill()
        child.wait()
        child.stdout.close()


def test_roles_name_triton_its_stubs_and_the_web_processes():
    assert procstat.role("tritonserver") == "tritonserver"
    assert procstat.role("triton_python_b") == "python stubs"  # /proc cuts names at 15 chars
    assert procstat.role("python") == "web"


def test_cpu_per_request_divides_each_roles_cpu_by_the_requests_and_adds_them_up():
    before = {"web": 1.0, "tritonserver": 2.0}
    after = {"web": 1.5, "tritonserver": 2.2, "python stubs": 0.3}
    per_request = procstat.cpu_ms_per_request(before, after, 100)
    assert per_request == {"web": 5.0, "tritonserver": 2.0, "python stubs": 3.0, "all": 10.0}
    assert procstat.cpu_ms_per_request(before, after, 0) == {}


def test_average_batch_comes_from_triton_counts_and_skips_the_ensemble():
    before = {("health_code_classifier", "count"): 10, ("health_code_classifier", "exec_count"): 5}
    after = {
        ("health_code_classifier", "count"): 110,
        ("health_code_classifier", "exec_count"): 30,
        ("health_code", "count"): 100,
        ("health_code", "exec_count"): 100,
    }
    assert systems.average_batch(before, after) == {"health_code_classifier": 4.0}
