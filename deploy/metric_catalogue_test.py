"""Tests of deploy/metric_catalogue.py, the checker the alert and dashboard
tests rely on.

What it proves: the catalogue parsed from server/metrics/hecate_metrics.cc
matches what a running hecated really serves on /metrics (families, kinds,
label names), and check_expression accepts the series hecated exports
(histogram _bucket/_sum/_count with le, summary quantile) while rejecting
unknown series, unknown labels and groupings by labels no series carries.
"""

import os
import re
import subprocess
import tempfile
import time
import unittest
import urllib.request
from typing import Dict, Set, Tuple

from deploy_testing import workspace_path
from metric_catalogue import Metric, check_expression, load_catalogue, series_in

METRICS_CC = workspace_path("server/metrics/hecate_metrics.cc")
HECATED = workspace_path("server/hecated")
TARGET = {"namespace", "pod"}


def scrape_live_hecated() -> str:
    """/metrics of a hecated started on loopback with free ports."""
    with tempfile.TemporaryDirectory() as tmp:
        port_file, log = os.path.join(tmp, "ports"), os.path.join(tmp, "log")
        with open(log, "w", encoding="utf-8") as log_file:
            server = subprocess.Popen(
                [HECATED, "--model=random:tiny", "--listen=127.0.0.1:0", "--metrics_listen=127.0.0.1:0",
                 f"--state_dir={tmp}/state", f"--port_file={port_file}"],
                stdout=subprocess.DEVNULL, stderr=log_file)
        try:
            deadline = time.monotonic() + 30
            while not os.path.exists(port_file):
                if server.poll() is not None or time.monotonic() > deadline:
                    with open(log, encoding="utf-8") as f:
                        raise AssertionError(f"hecated did not start: {f.read()}")
                time.sleep(0.05)
            with open(port_file, encoding="utf-8") as f:
                http_port = int(f.read().split()[1])
            with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/metrics", timeout=10) as r:
                return r.read().decode("utf-8")
        finally:
            server.terminate()  # SIGTERM: the drain path, as in production
            server.wait(timeout=30)


def parse_exposition(text: str) -> Tuple[Dict[str, str], Dict[str, Set[str]]]:
    """({family: type} from # TYPE lines, {sample name: label names})."""
    types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))
    samples: Dict[str, Set[str]] = {}
    for name, labels in re.findall(r"^([a-zA-Z_:][\w:]*)(?:\{([^}]*)\})? ", text, re.M):
        samples.setdefault(name, set()).update(re.findall(r'(\w+)="', labels or ""))
    return types, samples


class CatalogueTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.catalogue = load_catalogue(METRICS_CC)

    def test_catalogue_matches_the_live_exposition(self):
        types, samples = parse_exposition(scrape_live_hecated())
        self.assertIn("hecate_build_info", types)
        for family, kind in types.items():
            self.assertIn(family, self.catalogue, f"/metrics serves {family}, the parser missed it")
            self.assertEqual(self.catalogue[family].kind, kind, family)
        for name, labels in samples.items():
            base = re.sub(r"_(bucket|sum|count)$", "", name)
            metric = self.catalogue.get(name) or self.catalogue[base]
            allowed = set(metric.labels) | {"le", "quantile"}
            self.assertLessEqual(labels, allowed, name)
        # Families whose children exist from the start must all be served;
        # labelled request/error/checkpoint families appear with their first call.
        for family, metric in self.catalogue.items():
            if not metric.labels or family in ("hecate_sessions", "hecate_state_bytes",
                                               "hecate_tokens_total", "hecate_build_info"):
                self.assertIn(family, types, f"{family} not on /metrics")

    def test_known_families_and_labels(self):
        self.assertEqual(self.catalogue["hecate_errors_total"], Metric("counter", ("method", "code")))
        self.assertEqual(self.catalogue["hecate_active_streams"], Metric("gauge", ()))
        self.assertEqual(self.catalogue["hecate_chunk_latency_seconds"], Metric("summary", ()))
        self.assertEqual(self.catalogue["hecate_checkpoint_duration_seconds"],
                         Metric("histogram", ("operation",)))

    def test_accepts_real_series(self):
        for expr in [
            'histogram_quantile(0.99, sum by (le, method) (rate(hecate_request_duration_seconds_bucket[5m])))',
            'sum(rate(hecate_batch_size_sum[5m])) / sum(rate(hecate_batch_size_count[5m]))',
            'max by (pod, quantile) (hecate_chunk_latency_seconds{quantile="0.99"})',
            'sum by (namespace, code) (rate(hecate_errors_total{code=~"A|B"}[5m]))'
            ' / ignoring (code) group_left sum by (namespace) (rate(hecate_request_duration_seconds_count[5m]))',
            'up{job="hecate"} == 0',
        ]:
            self.assertEqual(check_expression(expr, self.catalogue, TARGET), [], expr)

    def test_rejects_what_hecated_does_not_export(self):
        cases = {
            "rate(hecate_request_total[1m])": "not a series",
            "hecate_chunk_latency_seconds_bucket": "not a series",  # a summary has no buckets
            "hecate_active_streams_total": "not a series",
            'hecate_tokens_total{dir="in"}': "no label 'dir'",
            'hecate_sessions{quantile="0.5"}': "no label 'quantile'",
            "sum by (tier) (rate(hecate_errors_total[1m]))": "grouping by 'tier'",
            "sum by (le) (rate(hecate_request_duration_seconds_sum[1m]))": "grouping by 'le'",
            "1 + 1": "no series selector",
        }
        for expr, problem in cases.items():
            problems = check_expression(expr, self.catalogue, TARGET)
            self.assertTrue(any(problem in p for p in problems), f"{expr}: {problems}")

    def test_series_in_skips_functions_keywords_and_durations(self):
        self.assertEqual(series_in('rate(hecate_tokens_total{direction="out"}[5m] offset 1h)'),
                         [("hecate_tokens_total", ["direction"])])

    def test_load_refuses_a_file_without_registrations(self):
        with tempfile.NamedTemporaryFile("w", suffix=".cc") as cc:
            cc.write("int main() { return 0; }\n")
            cc.flush()
            with self.assertRaises(ValueError):
                load_catalogue(cc.name)


if __name__ == "__main__":
    unittest.main()
