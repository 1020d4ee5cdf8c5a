"""Engine tests need no database: every test gets a fresh in-memory store as the default store."""

import pytest

from workflows.engine import MemoryStore, persistence, set_default_store

from .helpers import Calls, FakeClock


@pytest.fixture(autouse=True)
def memory_store():
    """A fresh MemoryStore as the default store; the previous default comes back afterwards."""
    previous = persistence._default_store
    store = MemoryStore()
    set_default_store(store)
    yield store
    set_default_store(previous)


@pytest.fixture
def calls() -> Calls:
    return Calls()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
