"""bench.scale's cost table follows the code: its per-operation figures are what bench.requests_per_operation
measures now (issue 20, item 7)."""

from __future__ import annotations

import os

from chat_core.edge import http

from bench import requests_per_operation, scale


def test_the_scale_tables_figures_are_the_measured_ones(monkeypatch):
    monkeypatch.setattr(http, "utcnow", http.utcnow)  # measure() holds the clock still: put it back after
    saved = dict(os.environ)  # and its environment
    try:
        figures = requests_per_operation.measure()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    measured: dict[str, list[int]] = {}
    for name, requests in figures:
        measured.setdefault(name, []).append(requests)
    for label, figure in scale.MEASURED.items():
        assert label in measured, f"bench.requests_per_operation no longer measures {label!r}"
        assert set(measured[label]) == {figure}, (label, measured[label], figure)
    used = {label for _, labels, _, _ in scale.COSTS.values() for label in labels}
    assert used <= set(scale.MEASURED), used - set(scale.MEASURED)


def test_the_desk_on_paper():
    lines, realtime = scale.per_minute(scale.Model())
    assert realtime["connections"] == 10_300
    # Events never pause 100 ms at this desk: the max wait refreshes each console once every 5 s, no more
    assert 11 < realtime["console_refreshes_per_minute"] <= 12
    executions = sum(e for e, _ in lines.values())
    requests = sum(r for _, r in lines.values())
    assert 0 < executions < requests
    report = scale.report(scale.Model())
    assert "Binds first: Realtime concurrent connections" in report
    assert "not confirmed" in report
    polling = scale.per_minute(scale.Model(live_share=0.0))[0]
    assert sum(e for e, _ in polling.values()) > executions  # without sockets every widget checks
