"""The healthcode SDK: clients of the REST API and the load-testing tools.

from clients import HealthCodeClient, SyncHealthCodeClient
"""

from clients.client import (
    Analysis,
    HealthCodeClient,
    HealthCodeError,
    RetryPolicy,
    SyncHealthCodeClient,
)

__all__ = ["Analysis", "HealthCodeClient", "HealthCodeError", "RetryPolicy", "SyncHealthCodeClient"]
