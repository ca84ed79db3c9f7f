"""Where the gateway finds Triton: one server, embedded replicas, or a name to re-resolve."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import ValidationError

from gateway.metrics import Metrics
from gateway.settings import Settings
from gateway.tracing import Tracer
from gateway.triton_client import TritonClient, channel_args


def test_one_embedded_replica_is_a_plain_address_and_several_a_balanced_list():
    assert Settings().triton_target == "127.0.0.1:8001"
    settings = Settings(triton_replicas=3, triton_port_stride=100)
    assert settings.triton_target == "ipv4:127.0.0.1:8001,127.0.0.1:8101,127.0.0.1:8201"
    assert settings.triton_ports(2) == (8200, 8201, 8202)


def test_an_external_triton_url_wins_and_replica_ports_must_exist():
    assert Settings(triton_url="dns:///triton:8001").triton_target == "dns:///triton:8001"
    with pytest.raises(ValidationError, match="65535"):
        Settings(triton_replicas=3, triton_port_stride=30_000)


def test_calls_are_balanced_round_robin_over_whatever_the_target_resolves_to():
    assert ("grpc.lb_policy_name", "round_robin") in channel_args()


class FakeClient:
    def __init__(self) -> None:
        self.closed = False

    async def close(self) -> None:
        self.closed = True


async def test_a_fresh_channel_replaces_the_old_one_which_closes_after_the_deadline():
    made: list[FakeClient] = []

    def factory() -> FakeClient:
        made.append(FakeClient())
        return made[-1]

    triton = TritonClient(Settings(request_timeout_s=0.05), Metrics(), Tracer(None))
    first = factory()
    triton.open(first)
    task = asyncio.create_task(triton.reresolve(factory, interval_s=0.01))
    try:
        while len(made) < 2:
            await asyncio.sleep(0.005)
        assert triton.client is made[1] and not first.closed  # calls in flight may still use it
        while not first.closed:
            await asyncio.sleep(0.01)
    finally:
        task.cancel()
