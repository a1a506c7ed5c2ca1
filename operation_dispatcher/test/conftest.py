"""Fixtures for the core tests."""

import pytest
from dispatcher_testing import EventRecorder


@pytest.fixture
def recorder() -> EventRecorder:
    return EventRecorder()
