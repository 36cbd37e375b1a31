"""Checks of deploy/prometheus/: the scrape config, the alert rules and their
unit tests.

What it proves: promtool accepts prometheus.yml (and the rule file it loads)
and alerts.yml; every case of alerts_test.yml passes under `promtool test
rules`, and every alert has at least one case; every alert expression names
only series and labels hecated exports (server/metrics/hecate_metrics.cc) or
the scrape adds; the scrape keeps exactly the StatefulSet's annotated pods and
their metrics port; the disk-tier threshold is 80% of the PVC the StatefulSet
claims. What it cannot prove: that a real Prometheus discovers real pods.
"""

import os
import re
import shutil
import subprocess
import tempfile
import unittest
from typing import Any, Dict, List

import yaml

from deploy_testing import find_tool, load_yaml_documents, memory_bytes, skip, workspace_path
from metric_catalogue import check_expression, load_catalogue

PROMETHEUS_DIR = workspace_path("deploy/prometheus")
CONFIG = os.path.join(PROMETHEUS_DIR, "prometheus.yml")
ALERTS = os.path.join(PROMETHEUS_DIR, "alerts.yml")
ALERTS_TEST = os.path.join(PROMETHEUS_DIR, "alerts_test.yml")
STATEFULSET = workspace_path("deploy/kubernetes/base/statefulset.yaml")
METRICS_CC = workspace_path("server/metrics/hecate_metrics.cc")


def load_yaml(path: str) -> Any:
    """The single YAML document of `path`."""
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def alert_rules() -> List[Dict[str, Any]]:
    """Every alerting rule of alerts.yml, across groups."""
    return [rule for group in load_yaml(ALERTS)["groups"] for rule in group["rules"]
            if "alert" in rule]


def hecate_job() -> Dict[str, Any]:
    """The scrape config of prometheus.yml whose job is "hecate"."""
    jobs = [job for job in load_yaml(CONFIG)["scrape_configs"] if job["job_name"] == "hecate"]
    assert len(jobs) == 1, f"{len(jobs)} scrape configs named hecate"
    return jobs[0]


def target_labels() -> set:
    """Labels the hecate job's relabelling adds to every series it scrapes."""
    return {step["target_label"] for step in hecate_job()["relabel_configs"]
            if "target_label" in step and not step["target_label"].startswith("__")}


class PrometheusTest(unittest.TestCase):

    def promtool(self) -> str:
        tool = find_tool("promtool", "/usr/bin/promtool")
        if tool is None:
            skip(self, "promtool not installed (Debian package prometheus)")
        return tool

    def run_promtool(self, *args: str, cwd: str = PROMETHEUS_DIR) -> None:
        result = subprocess.run([self.promtool(), *args], cwd=cwd, capture_output=True,
                                text=True, timeout=60)
        self.assertEqual(result.returncode, 0,
                         f"promtool {' '.join(args)}:\n{result.stdout}\n{result.stderr}")

    def run_promtool_on_copy(self, edited: Any, edited_name: str, companion: str,
                             companion_name: str, *args: str) -> None:
        """promtool `args`, run in a scratch folder holding `edited` written as
        YAML to `edited_name` and a copy of the file `companion` as
        `companion_name` (the name the edited file refers to it by)."""
        with tempfile.TemporaryDirectory() as tmp:
            with open(os.path.join(tmp, edited_name), "w", encoding="utf-8") as f:
                yaml.safe_dump(edited, f)
            shutil.copy(companion, os.path.join(tmp, companion_name))
            self.run_promtool(*args, cwd=tmp)

    def test_promtool_check_config(self):
        result = subprocess.run([self.promtool(), "check", "config", CONFIG], cwd=PROMETHEUS_DIR,
                                capture_output=True, text=True, timeout=60)
        if "field kubernetes_sd_configs not found" not in result.stdout + result.stderr:
            self.assertEqual(result.returncode, 0, f"{result.stdout}\n{result.stderr}")
            return
        # Debian's promtool is built without Kubernetes service discovery, so
        # it cannot parse that one block (its fields are checked in Python by
        # test_config_loads_the_alerts_...); check the rest of the file.
        print("NOTE: this promtool lacks kubernetes_sd_configs; checking the config "
              "with it replaced by static_configs", flush=True)
        config = load_yaml(CONFIG)
        for job in config["scrape_configs"]:
            if job.pop("kubernetes_sd_configs", None) is not None:
                job["static_configs"] = [{"targets": ["127.0.0.1:9464"]}]
        self.run_promtool_on_copy(config, "prometheus.yml", ALERTS, "alerts.yml",
                                  "check", "config", "prometheus.yml")

    def test_promtool_check_rules(self):
        self.run_promtool("check", "rules", ALERTS)

    def test_promtool_test_rules(self):
        # promtool compares annotations too, and the annotations render live
        # values ($value | humanize...); the cases pin labels only, so they
        # run against a copy without annotations (`check rules` above still
        # parses the templates).
        self.promtool()
        rules = load_yaml(ALERTS)
        for group in rules["groups"]:
            for rule in group["rules"]:
                rule.pop("annotations", None)
        self.run_promtool_on_copy(rules, "alerts.yml", ALERTS_TEST, "alerts_test.yml",
                                  "test", "rules", "alerts_test.yml")

    def test_every_alert_has_a_unit_test_case(self):
        tests = load_yaml(ALERTS_TEST)
        self.assertEqual(tests["rule_files"], ["alerts.yml"])
        tested = {case["alertname"] for test in tests["tests"]
                  for case in test.get("alert_rule_test", [])}
        firing = {case["alertname"] for test in tests["tests"]
                  for case in test.get("alert_rule_test", []) if case.get("exp_alerts")}
        names = [rule["alert"] for rule in alert_rules()]
        self.assertEqual(len(names), len(set(names)), "an alert name is used twice")
        self.assertEqual(set(names) - firing, set(), "alerts never shown to fire")
        self.assertEqual(tested - set(names), set(), "cases for alerts that do not exist")

    def test_alert_expressions_name_only_exported_series(self):
        catalogue = load_catalogue(METRICS_CC)
        labels = target_labels()
        self.assertEqual(labels, {"namespace", "pod"})
        problems = []
        for rule in alert_rules():
            problems += [f"{rule['alert']}: {p}"
                         for p in check_expression(rule["expr"], catalogue, labels)]
            self.assertIn(rule["labels"]["severity"], ("page", "warning"), rule["alert"])
        self.assertEqual(problems, [])

    def test_alert_jobs_exist_in_the_scrape_config(self):
        jobs = {job["job_name"] for job in load_yaml(CONFIG)["scrape_configs"]}
        for rule in alert_rules():
            for job in re.findall(r'\bjob="([^"]*)"', rule["expr"]):
                self.assertIn(job, jobs, rule["alert"])

    def test_config_loads_the_alerts_and_keeps_the_statefulset_metrics_port(self):
        self.assertEqual(load_yaml(CONFIG)["rule_files"], ["alerts.yml"])
        job = hecate_job()
        statefulset = next(doc for doc in load_yaml_documents(STATEFULSET)
                           if doc["kind"] == "StatefulSet")
        template = statefulset["spec"]["template"]
        self.assertEqual(len(job["kubernetes_sd_configs"]), 1)
        discovery = job["kubernetes_sd_configs"][0]
        self.assertEqual(discovery["role"], "pod")
        namespaces = discovery["namespaces"]["names"]
        self.assertEqual(namespaces, [statefulset["metadata"]["namespace"]])
        keeps = {tuple(step["source_labels"]): step["regex"] for step in job["relabel_configs"]
                 if step.get("action") == "keep"}
        annotation = keeps[("__meta_kubernetes_pod_annotation_prometheus_io_scrape",)]
        self.assertEqual(template["metadata"]["annotations"]["prometheus.io/scrape"], annotation)
        port_name = keeps[("__meta_kubernetes_pod_container_port_name",)]
        ports = [port for container in template["spec"]["containers"]
                 for port in container["ports"] if port["name"] == port_name]
        self.assertEqual(len(ports), 1, f"container ports named {port_name}")
        self.assertEqual(str(ports[0]["containerPort"]),
                         template["metadata"]["annotations"]["prometheus.io/port"])

    def test_disk_tier_threshold_is_80_percent_of_the_pvc(self):
        rule = next(r for r in alert_rules() if r["alert"] == "HecateDiskTierFillingUp")
        threshold = eval(rule["expr"].rsplit(">", 1)[1], {"__builtins__": {}})  # arithmetic only
        statefulset = next(doc for doc in load_yaml_documents(STATEFULSET)
                           if doc["kind"] == "StatefulSet")
        claim = next(c for c in statefulset["spec"]["volumeClaimTemplates"]
                     if c["metadata"]["name"] == "state")
        pvc = memory_bytes(claim["spec"]["resources"]["requests"]["storage"])
        self.assertAlmostEqual(threshold, 0.8 * pvc)


if __name__ == "__main__":
    unittest.main()
