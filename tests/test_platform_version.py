"""A function deployed on an Appwrite older than the supported line says so once, at its cold start."""

from __future__ import annotations

import pytest
from chat_core.config import platform_warning
from conftest import _modules, execute, load_main


@pytest.mark.parametrize(("version", "warned"), [
    ("1.8.1", True), ("1.9.0", True), ("1.9.4", True), ("1.9.5", False), ("1.9.6", False), ("2.7.1", False),
    ("10.0.0", False), ("", False), ("unknown", False),
])
def test_the_warning_names_versions_below_1_9_5(version, warned):
    warning = platform_warning({"APPWRITE_VERSION": version})
    assert (warning is not None) is warned
    if warned:
        assert version in warning and "1.9.5" in warning and "lock" in warning


def test_a_function_on_1_8_1_logs_one_warning_at_its_cold_start_only(appwrite, monkeypatch):
    monkeypatch.setenv("APPWRITE_VERSION", "1.8.1")
    load_main("create-session")
    monkeypatch.setattr(_modules["create-session"].app, "platform_checked", False)  # a fresh instance
    first, second = execute("create-session", {}), execute("create-session", {})
    assert first.status == second.status == 201
    assert [e for e in first.context.errors if "1.8.1" in e and "1.9.5" in e] != []
    assert second.context.errors == []


def test_a_function_on_the_supported_line_logs_nothing(appwrite, monkeypatch):
    monkeypatch.setenv("APPWRITE_VERSION", "2.7.1")
    load_main("create-session")
    monkeypatch.setattr(_modules["create-session"].app, "platform_checked", False)
    assert execute("create-session", {}).context.errors == []
