"""The fast tests' fixtures, imported by name into each fast test module (not a conftest: the autouse no-backoff
must not reach the stack tests, where a lost race's backoff is part of what they measure)."""

from __future__ import annotations

import pytest
from chat_core.ops import consistency

from fakes.world import World


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch):
    """A lost race retries at once: the fake has no other writer to wait for."""
    monkeypatch.setattr(consistency.time, "sleep", lambda seconds: None)


@pytest.fixture
def world() -> World:
    return World()
