"""Checks of deploy/grafana/hecate-dashboard.json (no Grafana here).

What it proves: the file is valid JSON with the fields Grafana's import
needs; every panel and query uses the Prometheus data source through the
dashboard's ${datasource} variable (so it imports into any Grafana without a
fixed data source uid); panel ids and query refIds are unique and panels fit
the 24-column grid without overlapping; every query and template variable
names only series and labels hecated exports (metric_catalogue) plus the
scrape's namespace/pod; only defined variables are used; and every metric
family hecated exports is shown on at least one panel. What it cannot prove:
how Grafana renders it.
"""

import json
import re
import unittest
from typing import Any, Dict, Iterator, List

from deploy_testing import workspace_path
from metric_catalogue import check_expression, load_catalogue, series_in

DASHBOARD = workspace_path("deploy/grafana/hecate-dashboard.json")
METRICS_CC = workspace_path("server/metrics/hecate_metrics.cc")
TARGET_LABELS = {"namespace", "pod"}  # added by deploy/prometheus/prometheus.yml
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
BUILTIN_VARIABLES = {"__rate_interval", "__interval", "__range", "__all"}


def panels(dashboard: Dict[str, Any]) -> Iterator[Dict[str, Any]]:
    """Every panel, including those nested in collapsed rows."""
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


class GrafanaDashboardTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        with open(DASHBOARD, encoding="utf-8") as f:
            cls.dashboard = json.load(f)
        cls.catalogue = load_catalogue(METRICS_CC)
        cls.variables = {v["name"]: v for v in cls.dashboard["templating"]["list"]}

    def queries(self) -> List[str]:
        return [target["expr"] for panel in panels(self.dashboard)
                for target in panel.get("targets", [])]

    def test_top_level_fields(self):
        d = self.dashboard
        self.assertRegex(d["uid"], r"^[a-zA-Z0-9_-]{1,40}$")
        self.assertTrue(d["title"])
        self.assertIsInstance(d["schemaVersion"], int)
        self.assertNotIn("id", d, "an exported id makes import overwrite another dashboard")
        self.assertGreater(len(list(panels(d))), 5)

    def test_datasource_is_the_variable_everywhere(self):
        source = self.variables["datasource"]
        self.assertEqual((source["type"], source["query"]), ("datasource", "prometheus"))
        for name, variable in self.variables.items():
            if variable["type"] == "query":
                self.assertEqual(variable["datasource"], DATASOURCE, name)
        for panel in panels(self.dashboard):
            if panel["type"] == "row":
                self.assertNotIn("targets", panel)
                continue
            self.assertEqual(panel.get("datasource"), DATASOURCE, panel["title"])
            self.assertTrue(panel.get("targets"), f"{panel['title']} has no query")
            for target in panel["targets"]:
                self.assertEqual(target.get("datasource", DATASOURCE), DATASOURCE, panel["title"])

    def test_ids_ref_ids_and_grid(self):
        ids = [panel["id"] for panel in panels(self.dashboard)]
        self.assertEqual(len(ids), len(set(ids)), "duplicate panel id")
        cells = set()
        for panel in panels(self.dashboard):
            refs = [t["refId"] for t in panel.get("targets", [])]
            self.assertEqual(len(refs), len(set(refs)), f"duplicate refId in {panel['title']}")
            g = panel["gridPos"]
            self.assertTrue(0 <= g["x"] and g["w"] > 0 and g["x"] + g["w"] <= 24, panel["title"])
            self.assertTrue(g["y"] >= 0 and g["h"] > 0, panel["title"])
            mine = {(x, y) for x in range(g["x"], g["x"] + g["w"])
                    for y in range(g["y"], g["y"] + g["h"])}
            self.assertFalse(cells & mine, f"{panel['title']} overlaps another panel")
            cells |= mine

    def test_queries_name_only_exported_series_and_labels(self):
        problems = []
        for expr in self.queries():
            problems += check_expression(expr, self.catalogue, TARGET_LABELS)
        self.assertEqual(problems, [])

    def test_variable_queries_name_exported_series_and_labels(self):
        for name, variable in self.variables.items():
            if variable["type"] != "query":
                continue
            query = variable["query"]["query"] if isinstance(variable["query"], dict) \
                else variable["query"]
            self.assertEqual(variable.get("definition", query), query, name)
            match = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", query)
            self.assertIsNotNone(match, f"${name}: expected label_values(selector, label)")
            selector, label = match.groups()
            self.assertEqual(check_expression(selector, self.catalogue, TARGET_LABELS), [], name)
            (series, _), = series_in(selector)
            self.assertIn(label, set(self.catalogue[series].labels) | TARGET_LABELS, name)

    def test_only_defined_variables_are_used(self):
        text = json.dumps(self.dashboard["panels"]) + json.dumps(self.dashboard["templating"])
        used = set(re.findall(r"\$\{?(\w+)", text))
        self.assertEqual(used - set(self.variables) - BUILTIN_VARIABLES, set())
        # Every selector follows the Namespace and Replica pickers.
        for expr in self.queries():
            for series, labels in series_in(expr):
                self.assertLessEqual({"namespace", "pod"}, set(labels), f"{series} in {expr}")
            self.assertEqual(expr.count('namespace=~"$namespace"'), len(series_in(expr)), expr)
            self.assertEqual(expr.count('pod=~"$pod"'), len(series_in(expr)), expr)

    def test_every_exported_family_is_on_a_panel(self):
        shown = set()
        for expr in self.queries():
            for series, _ in series_in(expr):
                shown.add(re.sub(r"_(bucket|sum|count)$", "", series)
                          if series not in self.catalogue else series)
        self.assertEqual(set(self.catalogue) - shown, set())


if __name__ == "__main__":
    unittest.main()
