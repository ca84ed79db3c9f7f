"""The ports a local service is started on: free, and never one port for two listeners."""

from __future__ import annotations

import socket

from gateway.local_service import PORTS, distinct_free_ports, free_ports


def test_distinct_free_ports_are_distinct_and_bindable() -> None:
    ports = distinct_free_ports(64)
    assert len(set(ports)) == 64
    for port in ports[:8]:
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))


def test_free_ports_give_every_listener_of_every_replica_its_own_port() -> None:
    for _ in range(20):
        ports, stride = free_ports(3)
        assert set(ports) == set(PORTS)
        triton = [ports[name] for name in PORTS[1:]]
        every = [ports["PORT"], *(p + stride * i for p in triton for i in range(3))]
        assert len(set(every)) == len(every), (ports, stride)
