"""Coalescing: tensors that arrive while a call is in flight leave together in the next call."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from gateway import errors
from gateway.coalescing import Coalescer
from tests.support.fake_triton import URL, as_json, gateway
from tests.support.images import encode


class Calls:
    """A stand-in for the batched Triton call: records batch sizes; held while `gate` is set."""

    def __init__(self) -> None:
        self.sizes: list[int] = []
        self.gate: asyncio.Event | None = None
        self.error: Exception | None = None

    async def __call__(self, model: str, batch: np.ndarray) -> tuple[np.ndarray, str]:
        self.sizes.append(len(batch))
        if self.gate is not None:
            await self.gate.wait()
        if self.error is not None:
            raise self.error
        # each row says which image it answers: its first pixel
        return batch[:, 0, 0, :1].astype(np.float32), "7"


def tensor(value: int) -> np.ndarray:
    return np.full((3, 4, 4), value, np.uint8)


async def test_an_unloaded_request_goes_at_once_alone():
    calls = Calls()
    row, version = await Coalescer(calls, max_batch=16).scores("m", tensor(5))
    assert calls.sizes == [1] and row.tolist() == [5.0] and version == "7"


async def test_what_arrives_during_a_call_goes_together_in_the_next_in_order():
    calls = Calls()
    calls.gate = asyncio.Event()
    coalescer = Coalescer(calls, max_batch=4)
    first = asyncio.create_task(coalescer.scores("m", tensor(1)))
    await asyncio.sleep(0)  # the first call is in flight
    rest = [asyncio.create_task(coalescer.scores("m", tensor(v))) for v in range(2, 8)]
    await asyncio.sleep(0)
    calls.gate.set()
    answers = await asyncio.gather(first, *rest)
    assert calls.sizes == [1, 4, 2]  # max_batch caps a call
    assert [row.tolist() for row, _ in answers] == [[float(v)] for v in range(1, 8)]


async def test_a_failed_call_is_the_error_of_its_members_only():
    calls = Calls()
    calls.gate = asyncio.Event()
    coalescer = Coalescer(calls, max_batch=8)
    first = asyncio.create_task(coalescer.scores("m", tensor(1)))
    await asyncio.sleep(0)
    calls.error = errors.TritonUnavailable()
    second = asyncio.create_task(coalescer.scores("m", tensor(2)))
    calls.gate.set()
    with pytest.raises(errors.TritonUnavailable):
        await first
    with pytest.raises(errors.TritonUnavailable):
        await second
    calls.error = None
    assert (await coalescer.scores("m", tensor(3)))[0].tolist() == [3.0]  # and it recovers


async def test_a_member_whose_client_left_does_not_upset_the_others():
    calls = Calls()
    calls.gate = asyncio.Event()
    coalescer = Coalescer(calls, max_batch=8)
    first = asyncio.create_task(coalescer.scores("m", tensor(1)))
    await asyncio.sleep(0)
    gone = asyncio.create_task(coalescer.scores("m", tensor(2)))
    stays = asyncio.create_task(coalescer.scores("m", tensor(3)))
    await asyncio.sleep(0)
    gone.cancel()
    calls.gate.set()
    assert (await first)[0].tolist() == [1.0] and (await stays)[0].tolist() == [3.0]


async def test_concurrent_requests_reach_the_classifier_in_fewer_calls():
    async with gateway() as (http, fake):
        fake.gate = asyncio.Event()
        posts = [
            asyncio.create_task(http.post(URL, json=as_json(encode("JPEG")))) for _ in range(6)
        ]
        await fake.entered.wait()
        while len(fake.calls) < 1:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)  # the other five are decoded and waiting
        fake.gate.set()
        answers = await asyncio.gather(*posts)
    assert [a.status_code for a in answers] == [200] * 6
    sizes = [call.inputs[0].shape()[0] for call in fake.calls]
    assert sum(sizes) == 6 and len(sizes) < 6
