"""The alert rules and the dashboard an operator imports name only series the app exports."""

import json
import re

from prometheus_client import REGISTRY

from accounts import metrics  # noqa: F401 - registers the series
from harness.servers import ROOT

# The names Prometheus stores, by the kind of series: a counter is only ever "_total", a gauge
# its own name.
SUFFIXES = {
    "counter": ("_total",),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum"),
}


def exported() -> set[str]:
    names = set()
    for collector in REGISTRY.collect():
        if collector.name.startswith("latchkey_"):
            names |= {collector.name + suffix for suffix in SUFFIXES[collector.type]}
    return names


def named_in(text: str) -> set[str]:
    return set(re.findall(r"\blatchkey_[a-z_]+", text)) - {"latchkey_funnel"}


def test_every_series_the_alert_rules_and_the_dashboard_use_exists():
    page = (ROOT / "docs/operations.md").read_text()
    dashboard = json.loads((ROOT / "docs/operations/latchkey-dashboard.json").read_text())
    expressions = " ".join(
        target["expr"] for panel in dashboard["panels"] for target in panel["targets"]
    )
    rules = page.split("```yaml", 1)[1].split("```", 1)[0]

    assert named_in(rules) and named_in(expressions)
    assert named_in(rules) - exported() == set()
    assert named_in(expressions) - exported() == set()
