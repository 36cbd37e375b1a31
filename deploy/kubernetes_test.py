"""Checks of deploy/kubernetes/ (no cluster here).

What it proves: every manifest parses and names its namespace; the
kustomization lists every file but the example Secret; `kubectl kustomize`
renders the base and the gpu overlay; in each rendering, hecated's command
line (the image's ENTRYPOINT from deploy/docker/Dockerfile plus the
container's args) uses only flags `hecated --help` lists, with values
hecated's own parser accepts (--only_check_args); the container ports are the
ports of --listen and --metrics_listen; startup and liveness probes hit
/healthz on the metrics port, readiness is gRPC health on the gRPC port;
preStop drains hecated; each pod's --replica_id is its name (downward API)
and the lease outlasts the checkpoint interval; the grace period outlasts --drain_timeout; the state volume
is mounted at --state_dir, the key Secret where --api_keys points and the
checkpoint key Secret where --checkpoint_key_file points (not readable by
others, a placeholder hecated refuses); the pod
runs as the image's uid; the Services select the StatefulSet's pods (one
per-pod Service per replica, the ones nginx routes to) and the router's.
What it cannot prove: that a cluster schedules it, or that the image builds.
"""

import glob
import os
import re
import shutil
import subprocess
import tempfile
import unittest
from typing import Any, Dict, List

import yaml

from deploy_testing import (dockerfile_entrypoint, duration_seconds, find_tool, flag_value,
                            hecated_flags, hecated_rejects, load_yaml_documents, port_of, skip,
                            workspace_path)

K8S = workspace_path("deploy/kubernetes")
BASE = os.path.join(K8S, "base")
DOCKERFILE = workspace_path("deploy/docker/Dockerfile")
HECATED = workspace_path("server/hecated")
# Time the drain needs after --drain_timeout: the gRPC shutdown (1 s) and one
# fsync'd checkpoint per live session still in memory.
CHECKPOINT_MARGIN_SECONDS = 30
NAMESPACED = {"Deployment", "StatefulSet", "Service", "Secret", "ConfigMap",
              "PodDisruptionBudget"}


def base_documents() -> List[Dict[str, Any]]:
    """Every document of every YAML file in base/ but the kustomization."""
    docs = []
    for path in sorted(glob.glob(os.path.join(BASE, "*.yaml"))):
        if not path.endswith("kustomization.yaml"):
            docs += load_yaml_documents(path)
    return docs


def one(docs: List[Dict[str, Any]], kind: str, name: str) -> Dict[str, Any]:
    """The single object of `kind` named `name` in `docs`."""
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"{len(found)} {kind} objects named {name}"
    return found[0]


def container(pod_spec: Dict[str, Any], name: str) -> Dict[str, Any]:
    """The container `name` of a pod spec."""
    found = [c for c in pod_spec["containers"] if c["name"] == name]
    assert len(found) == 1, f"{len(found)} containers named {name}"
    return found[0]


class KubernetesTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.flags = hecated_flags(HECATED)
        cls.entrypoint = dockerfile_entrypoint(DOCKERFILE)

    def check_hecated(self, docs: List[Dict[str, Any]], gpu: bool) -> None:
        """The StatefulSet of one rendering against hecated and the image."""
        statefulset = one(docs, "StatefulSet", "hecate")
        pod = statefulset["spec"]["template"]["spec"]
        hecated = container(pod, "hecated")
        self.assertNotIn("command", hecated, "keep the image's ENTRYPOINT")
        self.assertEqual(self.entrypoint[0], "/usr/local/bin/hecated")
        # Kubernetes expands $(VAR) in args from the container's env; the
        # pod name comes from the downward API (here: the first pod's).
        env = {}
        for var in hecated.get("env", []):
            field = var.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
            env[var["name"]] = "hecate-0" if field == "metadata.name" else var.get("value", "")
        argv = self.entrypoint[1:] + [
            re.sub(r"\$\(([A-Z_0-9]+)\)", lambda m: env[m.group(1)], arg)
            for arg in hecated.get("args", [])]
        for arg in argv:
            self.assertRegex(arg, r"^--[a-z_0-9]+=", "flags as --name=value, one per item")
            self.assertIn(arg[2:].split("=", 1)[0], self.flags, f"hecated has no flag {arg}")
        self.assertEqual(hecated_rejects(HECATED, argv), "")
        if gpu:
            self.assertEqual(flag_value(argv, "backend"), "cuda")
            self.assertEqual(hecated["resources"]["limits"]["nvidia.com/gpu"], 1)
        else:
            self.assertIn(flag_value(argv, "backend", "auto"), ("auto", "cpu"))
            self.assertNotIn("nvidia.com/gpu", hecated["resources"].get("limits", {}))

        ports = {p["name"]: p["containerPort"] for p in hecated["ports"]}
        self.assertEqual(ports, {"grpc": port_of(flag_value(argv, "listen")),
                                 "metrics": port_of(flag_value(argv, "metrics_listen"))})
        for probe in ("startupProbe", "livenessProbe"):
            self.assertEqual(hecated[probe]["httpGet"], {"path": "/healthz", "port": "metrics"},
                             probe)
        # Readiness is gRPC health on the gRPC port (NOT_SERVING once draining).
        self.assertEqual(hecated["readinessProbe"]["grpc"],
                         {"port": port_of(flag_value(argv, "listen"))})
        # preStop drains hecated (PID 1, the image's exec-form ENTRYPOINT) and
        # waits for it to exit.
        pre_stop = " ".join(hecated["lifecycle"]["preStop"]["exec"]["command"])
        self.assertIn("kill -TERM 1", pre_stop)
        self.assertIn("kill -0 1", pre_stop)

        # Replicas share sessions: each pod's replica id is its own name, the
        # store is the ReadWriteMany --checkpoint_dir (checked below), and a
        # lease outlasts several checkpoint intervals (renewed every third).
        self.assertEqual(flag_value(argv, "replica_id"), "hecate-0")
        self.assertEqual(next(a for a in hecated["args"] if a.startswith("--replica_id=")),
                         "--replica_id=$(POD_NAME)")
        self.assertLess(duration_seconds(flag_value(argv, "checkpoint_interval")),
                        duration_seconds(flag_value(argv, "session_lease")))

        drain = duration_seconds(flag_value(argv, "drain_timeout", "30s"))
        self.assertGreaterEqual(pod["terminationGracePeriodSeconds"],
                                drain + CHECKPOINT_MARGIN_SECONDS)

        mounts = {m["name"]: m for m in hecated["volumeMounts"]}
        volumes = {v["name"]: v for v in pod["volumes"]}
        claims = {c["metadata"]["name"]: c for c in statefulset["spec"]["volumeClaimTemplates"]}
        state_mounts = [m for m in hecated["volumeMounts"]
                        if m["mountPath"] == flag_value(argv, "state_dir")]
        self.assertEqual(len(state_mounts), 1, "one volume at --state_dir")
        self.assertIn(state_mounts[0]["name"], claims, "--state_dir is on the pod's PVC")
        self.assertFalse(state_mounts[0].get("readOnly", False))
        self.assertNotIn(state_mounts[0]["name"], volumes)
        # Named checkpoints: one ReadWriteMany claim that every replica mounts.
        shared_mounts = [m for m in hecated["volumeMounts"]
                         if m["mountPath"] == flag_value(argv, "checkpoint_dir")]
        self.assertEqual(len(shared_mounts), 1, "one volume at --checkpoint_dir")
        self.assertFalse(shared_mounts[0].get("readOnly", False))
        claim_name = volumes[shared_mounts[0]["name"]]["persistentVolumeClaim"]["claimName"]
        claim = one(load_yaml_documents(os.path.join(BASE, "checkpoints.yaml")),
                    "PersistentVolumeClaim", claim_name)
        self.assertEqual(claim["spec"]["accessModes"], ["ReadWriteMany"])
        self.assertNotEqual(flag_value(argv, "checkpoint_dir"), flag_value(argv, "state_dir"))

        keys = flag_value(argv, "api_keys")
        key_mount = mounts["api-keys"]
        self.assertEqual(key_mount["mountPath"], os.path.dirname(keys))
        self.assertTrue(key_mount["readOnly"])
        self.assertNotIn("subPath", key_mount, "subPath mounts never see Secret updates (SIGHUP)")
        secret = volumes[key_mount["name"]]["secret"]
        items = {i["path"]: i["key"] for i in secret["items"]}
        example = one(load_yaml_documents(os.path.join(BASE, "secret.yaml")), "Secret",
                      secret["secretName"])
        self.assertIn(items[os.path.basename(keys)], example["stringData"])

        # One checkpoint key for every replica, from a Secret hecated accepts
        # the mode of; the example's placeholder is too short to be a key.
        key_file = flag_value(argv, "checkpoint_key_file")
        key_mounts = [m for m in hecated["volumeMounts"]
                      if m["mountPath"] == os.path.dirname(key_file)]
        self.assertEqual(len(key_mounts), 1, "one volume where --checkpoint_key_file points")
        self.assertTrue(key_mounts[0]["readOnly"])
        key_secret = volumes[key_mounts[0]["name"]]["secret"]
        self.assertEqual(key_secret["defaultMode"] & 0o006, 0,
                         "hecated refuses a key file other users can read or write")
        key_items = {i["path"]: i["key"] for i in key_secret["items"]}
        key_example = one(load_yaml_documents(os.path.join(BASE, "secret.yaml")), "Secret",
                          key_secret["secretName"])
        placeholder = key_example["stringData"][key_items[os.path.basename(key_file)]]
        self.assertLess(len(placeholder.encode()), 32, "the example must not be a usable key")

        security = pod["securityContext"]
        with open(DOCKERFILE, encoding="utf-8") as f:
            self.assertIn(f"--uid {security['runAsUser']} ", f.read())
        self.assertEqual(security["fsGroup"], security["runAsGroup"])

    def check_services(self, docs: List[Dict[str, Any]]) -> None:
        """Services select the pods they mean and name real container ports."""
        statefulset = one(docs, "StatefulSet", "hecate")
        template = statefulset["spec"]["template"]
        self.assertEqual(statefulset["spec"]["selector"]["matchLabels"].items()
                         - template["metadata"]["labels"].items(), set())
        hecated_ports = {p["name"] for p in container(template["spec"], "hecated")["ports"]}
        router = one(docs, "Deployment", "hecate-nginx")
        router_labels = router["spec"]["template"]["metadata"]["labels"]
        router_ports = {p["name"] for p in container(router["spec"]["template"]["spec"],
                                                     "nginx")["ports"]}
        headless = one(docs, "Service", statefulset["spec"]["serviceName"])
        self.assertEqual(headless["spec"]["clusterIP"], "None")
        per_pod = []
        for service in (d for d in docs if d["kind"] == "Service"):
            selector = service["spec"]["selector"]
            pod_name = selector.pop("statefulset.kubernetes.io/pod-name", None)
            if selector.items() <= router_labels.items():
                targets = router_ports
            else:
                self.assertLessEqual(selector.items(), template["metadata"]["labels"].items(),
                                     service["metadata"]["name"])
                targets = hecated_ports
                # Selecting the daemon but not only it would also pick the router.
                self.assertFalse(selector.items() <= router_labels.items())
            for port in service["spec"]["ports"]:
                self.assertIn(port["targetPort"], targets, service["metadata"]["name"])
            if pod_name is not None:
                self.assertEqual(service["metadata"]["name"], pod_name)
                per_pod.append(pod_name)
        replicas = statefulset["spec"]["replicas"]
        self.assertEqual(sorted(per_pod), [f"hecate-{i}" for i in range(replicas)])

    def test_manifests_parse_and_name_their_namespace(self):
        docs = base_documents()
        namespace = one(docs, "Namespace", "hecate")["metadata"]["name"]
        for doc in docs:
            self.assertIn("apiVersion", doc)
            if doc["kind"] in NAMESPACED:
                self.assertEqual(doc["metadata"].get("namespace"), namespace,
                                 f"{doc['kind']} {doc['metadata']['name']}")

    def test_kustomization_lists_every_file_but_the_secret(self):
        with open(os.path.join(BASE, "kustomization.yaml"), encoding="utf-8") as f:
            resources = yaml.safe_load(f)["resources"]
        files = {os.path.basename(p) for p in glob.glob(os.path.join(BASE, "*.yaml"))}
        # The Secret holds the real keys once created: `apply -k` must never
        # overwrite it with the placeholder.
        self.assertEqual(set(resources), files - {"kustomization.yaml", "secret.yaml"})

    def test_base_files_are_consistent(self):
        docs = base_documents()
        self.check_hecated(docs, gpu=False)
        self.check_services(docs)

    def test_nginx_router_mounts_the_config_map_and_probes_its_health_port(self):
        router = one(base_documents(), "Deployment", "hecate-nginx")
        pod = router["spec"]["template"]["spec"]
        nginx = container(pod, "nginx")
        self.assertEqual({m["mountPath"] for m in nginx["volumeMounts"]}, {"/etc/nginx/conf.d"})
        config = [v for v in pod["volumes"] if v["name"] == nginx["volumeMounts"][0]["name"]]
        self.assertEqual(config[0]["configMap"]["name"], "hecate-nginx")
        for probe in ("livenessProbe", "readinessProbe"):
            self.assertEqual(nginx[probe]["httpGet"], {"path": "/healthz", "port": "health"})

    def kustomize(self, relative: str) -> List[Dict[str, Any]]:
        kubectl = find_tool("kubectl", "/usr/bin/kubectl")
        if kubectl is None:
            skip(self, "kubectl not installed: kustomize renderings not checked")
        # Runfiles are symlinks out of the tree, which kustomize's load
        # restrictor refuses: render a real copy.
        with tempfile.TemporaryDirectory() as tmp:
            shutil.copytree(K8S, os.path.join(tmp, "kubernetes"), symlinks=False)
            result = subprocess.run([kubectl, "kustomize", os.path.join(tmp, "kubernetes", relative)],
                                    capture_output=True, text=True, timeout=60)
        self.assertEqual(result.returncode, 0, result.stderr)
        return [d for d in yaml.safe_load_all(result.stdout) if d]

    def test_kustomize_renders_the_base(self):
        docs = self.kustomize("base")
        self.assertEqual({d["kind"] for d in docs},
                         {"Namespace", "Service", "StatefulSet", "Deployment",
                          "PodDisruptionBudget", "PersistentVolumeClaim"})
        self.check_hecated(docs, gpu=False)
        self.check_services(docs)

    def test_kustomize_renders_the_gpu_overlay(self):
        docs = self.kustomize("overlays/gpu")
        self.check_hecated(docs, gpu=True)
        self.check_services(docs)
        pod = one(docs, "StatefulSet", "hecate")["spec"]["template"]["spec"]
        self.assertIn("nvidia.com/gpu", {t["key"] for t in pod.get("tolerations", [])})


if __name__ == "__main__":
    unittest.main()
