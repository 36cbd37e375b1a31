"""Checks of deploy/nginx/hecate.conf, the gRPC router in front of hecated.

What it proves: the file parses (balanced blocks, terminated directives);
the upstream hashes, with `consistent`, on the per-session routing key the
Hecate clients really send (`x-hecate-session`, per client/hecate_client.cc,
client/python/hecate_client.py and server/routing.h); its servers are exactly
the per-pod Services of deploy/kubernetes on their gRPC port, skipped for a
while when they refuse connections; the gRPC server listens with HTTP/2 on the
router's container port and passes everything to that upstream, retrying the
next replica only when it cannot connect; the health server answers /healthz
on the port the router's probes use. Where nginx is installed, `nginx -t`
also accepts it (upstream host names replaced by loopback, which nginx must
resolve). Routing through a live nginx: deploy/replicas_live_test.py.
"""

import os
import re
import subprocess
import tempfile
import unittest
from typing import List, Tuple, Union

from deploy_testing import find_tool, load_yaml_documents, skip, workspace_path

CONF = workspace_path("deploy/nginx/hecate.conf")
SERVICES = workspace_path("deploy/kubernetes/base/services.yaml")
ROUTER = workspace_path("deploy/kubernetes/base/nginx.yaml")
STATEFULSET = workspace_path("deploy/kubernetes/base/statefulset.yaml")
CPP_CLIENT = workspace_path("client/hecate_client.cc")
PY_CLIENT = workspace_path("client/python/hecate_client.py")
SERVER_ROUTING = workspace_path("server/routing.h")

# (name, [arguments], children or None for a simple directive)
Directive = Tuple[str, List[str], Union[None, List["Directive"]]]


def tokens(text: str) -> List[str]:
    """nginx tokens: words, quoted strings (quotes dropped), `{`, `}`, `;`."""
    found = []
    for match in re.finditer(r'#[^\n]*|"((?:[^"\\]|\\.)*)"|\'([^\']*)\'|([{};])|([^\s{};"\'#]+)',
                             text):
        if match.group(0).startswith("#"):
            continue
        quoted = match.group(1) if match.group(1) is not None else match.group(2)
        found.append(quoted if quoted is not None else match.group(3) or match.group(4))
    return found


def parse(text: str) -> List[Directive]:
    """The directive tree of an nginx configuration; AssertionError when a
    directive is unterminated or a block unbalanced."""
    stack: List[List[Directive]] = [[]]
    words: List[str] = []
    for token in tokens(text):
        if token == ";":
            assert words, "empty directive"
            stack[-1].append((words[0], words[1:], None))
            words = []
        elif token == "{":
            assert words, "block without a name"
            block: List[Directive] = []
            stack[-1].append((words[0], words[1:], block))
            stack.append(block)
            words = []
        elif token == "}":
            assert not words, f"unterminated directive {words}"
            assert len(stack) > 1, "unbalanced }"
            stack.pop()
        else:
            words.append(token)
    assert not words, f"unterminated directive {words}"
    assert len(stack) == 1, "unclosed block"
    return stack[0]


def find(tree: List[Directive], name: str) -> List[Directive]:
    """Directives called `name` directly in `tree`."""
    return [d for d in tree if d[0] == name]


def single(tree: List[Directive], name: str) -> Directive:
    found = find(tree, name)
    assert len(found) == 1, f"{len(found)} {name} directives"
    return found[0]


class NginxConfigTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        with open(CONF, encoding="utf-8") as f:
            cls.text = f.read()
        cls.tree = parse(cls.text)
        cls.upstream = single(cls.tree, "upstream")
        router = next(d for d in load_yaml_documents(ROUTER) if d["kind"] == "Deployment")
        cls.router_ports = {p["name"]: p["containerPort"]
                            for p in router["spec"]["template"]["spec"]["containers"][0]["ports"]}

    def grpc_server(self) -> List[Directive]:
        servers = [d[2] for d in find(self.tree, "server")
                   if any("grpc_pass" in [x[0] for x in loc[2]] for loc in find(d[2], "location"))]
        self.assertEqual(len(servers), 1)
        return servers[0]

    def test_parser_rejects_broken_configs(self):
        for broken in ("upstream a { server b }", "server { listen 80; ", "}", "listen 80"):
            with self.assertRaises(AssertionError, msg=broken):
                parse(broken)
        self.assertEqual(parse('a "b c" {d;} # e;'), [("a", ["b c"], [("d", [], None)])])

    def test_hash_is_consistent_on_metadata_every_client_sends(self):
        key, = [args for name, args, _ in self.upstream[2] if name == "hash"]
        self.assertEqual(key[1:], ["consistent"])
        self.assertRegex(key[0], r"^\$http_[a-z0-9_]+$")
        metadata = key[0][len("$http_"):].replace("_", "-")
        # The per-session routing key, which both clients send on every call
        # about a session and hecated names the same way.
        self.assertEqual(metadata, "x-hecate-session")
        with open(CPP_CLIENT, encoding="utf-8") as f:
            cpp = f.read()
        self.assertIn(f'kSessionRoutingKey[] = "{metadata}"', cpp)
        self.assertIn("AddMetadata(kSessionRoutingKey, ", cpp)
        with open(PY_CLIENT, encoding="utf-8") as f:
            python = f.read()
        self.assertIn(f'ROUTING_KEY = "{metadata}"', python)
        self.assertIn("((ROUTING_KEY, session_id),)", python)
        with open(SERVER_ROUTING, encoding="utf-8") as f:
            self.assertIn(f'kSessionRoutingKey[] = "{metadata}"', f.read())

    def test_upstream_servers_are_the_per_pod_services(self):
        services = [d for d in load_yaml_documents(SERVICES) if d["kind"] == "Service"
                    and "statefulset.kubernetes.io/pod-name" in d["spec"]["selector"]]
        statefulset = next(d for d in load_yaml_documents(STATEFULSET) if d["kind"] == "StatefulSet")
        expected = []
        for i in range(statefulset["spec"]["replicas"]):
            service = next(s for s in services if s["metadata"]["name"] == f"hecate-{i}")
            port = next(p["port"] for p in service["spec"]["ports"] if p["name"] == "grpc")
            expected.append(f"hecate-{i}:{port}")
        servers = [args for name, args, _ in self.upstream[2] if name == "server"]
        self.assertEqual([args[0] for args in servers], expected)
        for args in servers:
            # A replica that refuses connections is skipped, so its
            # sessions' calls reach the next replica on the ring, which
            # adopts them from the shared store; no backup servers (they
            # would take every key at once).
            self.assertIn("max_fails=1", args[1:])
            self.assertTrue(any(a.startswith("fail_timeout=") for a in args[1:]), args)
            self.assertNotIn("backup", args[1:])

    def test_grpc_server_retries_elsewhere_only_on_connection_errors(self):
        server = self.grpc_server()
        listen = single(server, "listen")[1]
        self.assertEqual(listen[0], str(self.router_ports["grpc"]))
        self.assertTrue("http2" in listen or ("http2", ["on"], None) in server, "needs HTTP/2")
        self.assertEqual(single(server, "client_max_body_size")[1], ["0"])
        location = next(loc[2] for loc in find(server, "location") if find(loc[2], "grpc_pass"))
        self.assertEqual(single(location, "grpc_pass")[1], [f"grpc://{self.upstream[1][0]}"])
        # Only "error" (cannot connect): never "timeout" or "non_idempotent",
        # which could replay a chunk a replica already applied.
        self.assertEqual(single(location, "grpc_next_upstream")[1], ["error"])
        # Unreachable replica: a gRPC status, not an HTML error page.
        error_page = single(location, "error_page")[1]
        fallback = next(loc[2] for loc in find(server, "location") if loc[1] == [error_page[-1]])
        self.assertIn(("add_header", ["grpc-status", "14", "always"], None), fallback)

    def test_health_server_matches_the_router_probes(self):
        health = [d[2] for d in find(self.tree, "server")
                  if single(d[2], "listen")[1][0] == str(self.router_ports["health"])]
        self.assertEqual(len(health), 1)
        self.assertTrue(any(loc[1] == ["=", "/healthz"] for loc in find(health[0], "location")))

    def test_nginx_accepts_it(self):
        nginx = find_tool("nginx", "/usr/sbin/nginx")
        if nginx is None:
            skip(self, "nginx not installed: `nginx -t` not run (structure checked above)")
        # nginx -t resolves upstream host names; the per-pod Services exist
        # only in a cluster.
        local = re.sub(r"server hecate-\d+:", "server 127.0.0.1:", self.text)
        with tempfile.TemporaryDirectory() as tmp:
            with open(os.path.join(tmp, "hecate.conf"), "w", encoding="utf-8") as f:
                f.write(local)
            with open(os.path.join(tmp, "nginx.conf"), "w", encoding="utf-8") as f:
                f.write(f"pid {tmp}/nginx.pid;\nerror_log stderr;\nevents {{}}\n"
                        f"http {{\n access_log off;\n client_body_temp_path {tmp};\n"
                        f" include {tmp}/hecate.conf;\n}}\n")
            result = subprocess.run([nginx, "-t", "-p", tmp, "-c", f"{tmp}/nginx.conf"],
                                    capture_output=True, text=True, timeout=30)
        self.assertEqual(result.returncode, 0, result.stderr)


if __name__ == "__main__":
    unittest.main()
