"""Fixtures for the pattern tests."""

from __future__ import annotations

import pytest

from .support import ENGINE_CLASSES, ENGINE_IDS, Recorder


@pytest.fixture(params=ENGINE_CLASSES, ids=ENGINE_IDS)
def engine_class(request: pytest.FixtureRequest) -> type:
    """Each test runs with the lean task loop and with the hooked one."""
    return request.param


@pytest.fixture
def rec() -> Recorder:
    """A fresh recorder of the tasks run."""
    return Recorder()
