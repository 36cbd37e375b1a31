"""Three hecated replicas behind a real nginx (deploy/nginx/hecate.conf), live.

Starts 3 replicas sharing one checkpoint store (--replica_id, --checkpoint_dir,
--checkpoint_interval, --session_lease), listening on Unix sockets, and nginx
on loopback serving the shipped config (only the replicas' addresses, ports
and temp paths replaced), then shows:

  1. 100 sessions created through the proxy spread with no replica holding
     more than half of them;
  2. every call of a session lands on one replica (nginx's access log names
     the upstream of each call; ListSessions on each replica agrees);
  3. SIGTERM one replica: each of its sessions is served by another at the
     same pulse id with the identical next-byte distribution, the client is
     told the pulse it resumed at (x-hecate-resumed-pulse), and another
     user's request for it stays NOT_FOUND;
  4. kill -9 another: its sessions come back on the last one at their last
     checkpoint's pulse id, which the client is told; resending the bytes
     after it continues exactly as a session that never moved.

The same commands by hand: deploy/README.md, "Several machines". Needs
Debian's nginx (./hecate's PACKAGES); without it the test says SKIPPED.
Outside Bazel:
  HECATED=bazel-bin/server/hecated PYTHONPATH=bazel-bin/client/python:client/python \\
      python3 deploy/replicas_live_test.py
"""

import hashlib
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

import grpc

import hecate_client
from hecate_client import HecateClient, HecateError
from live_daemon import LiveDaemon

HERE = os.path.dirname(os.path.abspath(__file__))
SESSIONS = 100
STREAMED = 24            # sessions that also stream text (2 cores: keep it small)
CHECKPOINT_INTERVAL = "1s"
LEASE = "4s"
READY_SECONDS = 60       # generous: CI machines are shared
RETRY_SECONDS = 60
TOP_K = 256              # the whole next-byte distribution
KEYS = {"alice": "alice-key-0123456789abcdef", "bob": "bob-key-0123456789abcdef0"}
# The spread is a property of the hash ring and the ids, so both are fixed:
# the replicas listen on Unix sockets that nginx names by relative paths
# (r0.sock..., its ring hashes those names, not a port that changes every
# run), and the clients propose these ids. Any run spreads them the same way.
SESSION_IDS = [hashlib.sha256(f"replicas_live_test {n}".encode()).hexdigest()[:32]
               for n in range(SESSIONS)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def shipped_conf_path() -> str:
    runfiles = os.environ.get("TEST_SRCDIR")
    if runfiles:
        return os.path.join(runfiles, "hecate", "deploy", "nginx", "hecate.conf")
    return os.path.join(HERE, "nginx", "hecate.conf")


def nginx_conf(prefix: str, replicas, listen_port: int, health_port: int) -> str:
    """deploy/nginx/hecate.conf inside a minimal main context, with the
    replicas' addresses for the per-pod Service names."""
    with open(shipped_conf_path()) as f:
        snippet = f.read()
    servers = re.findall(r"^\s*server hecate-(\d+):50051([^;]*);", snippet, re.M)
    assert len(servers) == len(replicas), servers
    for index, params in servers:
        snippet = snippet.replace(f"server hecate-{index}:50051{params};",
                                  f"server {replicas[int(index)]}{params};")
    snippet = snippet.replace("listen 50051 http2;", f"listen 127.0.0.1:{listen_port} http2;")
    snippet = snippet.replace("listen 8080;", f"listen 127.0.0.1:{health_port};")
    user = "user root root;\n" if os.geteuid() == 0 else ""
    temp = os.path.join(prefix, "tmp")
    os.makedirs(temp, exist_ok=True)
    return f"""{user}worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log info;
events {{ worker_connections 1024; }}
http {{
    log_format routing '$http_x_hecate_session $upstream_addr $status';
    access_log {prefix}/access.log routing;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
{snippet}
}}
"""


def retrying(fn, timeout: float = RETRY_SECONDS):
    """fn(), retried while the answer is UNAVAILABLE (a replica draining, gone
    or still leased) or ABORTED."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return fn()
        except HecateError as error:
            if (error.code not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.ABORTED)
                    or time.monotonic() > deadline):
                raise
        time.sleep(0.1)


def distribution(client: HecateClient, session_id: str, text: bytes):
    """(pulse id, the next-byte distribution) after streaming `text`."""
    results = list(client.stream(session_id, [text], top_k=TOP_K))
    return results[-1].pulse_id, dict(results[-1].top_k)


@unittest.skipUnless(shutil.which("nginx") or os.path.exists("/usr/sbin/nginx"),
                     "nginx is not installed")
class ReplicasBehindNginxTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.replicas, cls.nginx, cls.sockets = [], None, None
        try:
            cls.start()
        except BaseException:
            cls.tearDownClass()  # unittest does not when setUpClass fails
            raise

    @classmethod
    def start(cls):
        seed = int(os.environ.get("HECATE_TEST_SEED") or int.from_bytes(os.urandom(8), "little"))
        print(f"HECATE_TEST_SEED={seed}", file=sys.stderr)
        cls.rng = random.Random(seed)
        cls.tmp = tempfile.mkdtemp(dir=os.environ.get("TEST_TMPDIR"))
        shared = os.path.join(cls.tmp, "shared")
        keys = os.path.join(cls.tmp, "api_keys")
        with open(keys, "w") as f:
            f.writelines(f"{user}:{key}\n" for user, key in KEYS.items())
        os.chmod(keys, 0o600)
        # Short: a Unix socket path has at most 107 bytes.
        cls.sockets = tempfile.mkdtemp(prefix="hecate-replicas-", dir="/tmp")
        cls.replicas = []
        for i in range(3):
            socket_path = os.path.join(cls.sockets, f"r{i}.sock")
            cls.replicas.append(LiveDaemon(os.path.join(cls.tmp, f"r{i}"), [
                f"--listen=unix:{socket_path}",
                f"--replica_id=r{i}", f"--checkpoint_dir={shared}",
                f"--checkpoint_interval={CHECKPOINT_INTERVAL}", f"--session_lease={LEASE}",
                f"--api_keys={keys}", "--max_sessions_per_user=200", "--drain_timeout=5s",
                "--worker_threads=2"]))
            cls.replicas[-1].target = f"unix:{socket_path}"
        cls.nginx_dir = os.path.join(cls.tmp, "nginx")
        os.makedirs(cls.nginx_dir)
        cls.nginx = None
        for _ in range(5):  # a port taken between free_port() and nginx: try others
            port, health = free_port(), free_port()
            with open(os.path.join(cls.nginx_dir, "nginx.conf"), "w") as f:
                f.write(nginx_conf(cls.nginx_dir, [f"unix:r{i}.sock" for i in range(3)],
                                   port, health))
            nginx = shutil.which("nginx") or "/usr/sbin/nginx"
            cls.nginx = subprocess.Popen(
                [nginx, "-p", cls.nginx_dir, "-e", os.path.join(cls.nginx_dir, "error.log"),
                 "-c", os.path.join(cls.nginx_dir, "nginx.conf"), "-g", "daemon off;"],
                stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                cwd=cls.sockets)  # where the relative socket names resolve
            cls.proxy = f"127.0.0.1:{port}"
            if cls.wait_for_proxy():
                break
            cls.nginx.kill()
            cls.nginx.wait()
            cls.nginx = None
        if cls.nginx is None:
            raise RuntimeError("nginx did not serve:\n" + cls.nginx_log())
        cls.alice = HecateClient(cls.proxy, api_key=KEYS["alice"], timeout=60)
        cls.bob = HecateClient(cls.proxy, api_key=KEYS["bob"], timeout=60)

    @classmethod
    def wait_for_proxy(cls) -> bool:
        deadline = time.monotonic() + READY_SECONDS
        while time.monotonic() < deadline and cls.nginx.poll() is None:
            with HecateClient(cls.proxy, api_key=KEYS["alice"], timeout=5) as probe:
                try:
                    probe.get_model_info()
                    return True
                except HecateError:
                    time.sleep(0.1)
        return False

    @classmethod
    def nginx_log(cls) -> str:
        try:
            with open(os.path.join(cls.nginx_dir, "error.log")) as f:
                return f.read()[-4000:]
        except OSError:
            return "(no error log)"

    @classmethod
    def tearDownClass(cls):
        for client in (getattr(cls, "alice", None), getattr(cls, "bob", None)):
            if client is not None:
                client.close()
        if getattr(cls, "nginx", None) is not None and cls.nginx.poll() is None:
            cls.nginx.send_signal(signal.SIGQUIT)
            try:
                cls.nginx.wait(30)
            except subprocess.TimeoutExpired:
                cls.nginx.kill()
        for replica in cls.replicas:
            if replica.process.poll() is None:
                replica.stop()
        for path in (getattr(cls, "tmp", None), cls.sockets):
            if path:
                shutil.rmtree(path, ignore_errors=True)

    def held(self, replica) -> dict:
        """session id -> pulse id of alice's sessions held by `replica`."""
        with HecateClient(replica.target, api_key=KEYS["alice"], timeout=60) as direct:
            return {s.id: s.pulse_id for s in direct.list_sessions()}

    def routed(self) -> dict:
        """session id -> the set of upstreams nginx sent its calls to."""
        routes = {}
        with open(os.path.join(self.nginx_dir, "access.log")) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 2 and parts[0] != "-":
                    routes.setdefault(parts[0], set()).add(parts[1])
        return routes

    def test_replicas(self):
        replicas = self.replicas
        alice, bob = self.alice, self.bob

        # 1. Spread: the client proposes each id, nginx hashes it.
        ids = [alice.create_session(session_id).id for session_id in SESSION_IDS]
        self.assertEqual(ids, SESSION_IDS)
        holders = [self.held(r) for r in replicas]
        counts = [len(h) for h in holders]
        print(f"sessions per replica after {SESSIONS} creates: {counts}", file=sys.stderr)
        self.assertEqual(sorted(i for h in holders for i in h), sorted(ids))
        self.assertLessEqual(max(counts), SESSIONS // 2, counts)
        home = {i: n for n, h in enumerate(holders) for i in h}

        # 2. Calls of a session stay on its replica.
        streamed = self.rng.sample(ids, STREAMED)
        before = {}
        for i in streamed:
            text = bytes(self.rng.randrange(32, 127) for _ in range(self.rng.randint(1, 200)))
            before[i] = distribution(alice, i, text)
            self.assertEqual(alice.get_session(i).pulse_id, len(text))
        holders = [self.held(r) for r in replicas]
        for i in ids:
            self.assertIn(i, holders[home[i]], "a session moved between replicas")
        routes = self.routed()
        for i in ids:
            self.assertEqual(len(routes.get(i, ())), 1, (i, routes.get(i)))
        self.assertEqual(alice.resumed_pulses, {})  # no adoption so far

        # 3. SIGTERM: drained sessions move, nothing lost.
        victim = home[streamed[0]]
        moved = sorted(holders[victim])
        pulses = dict(holders[victim])
        self.assertEqual(replicas[victim].stop(), 0, replicas[victim].log_tail())
        for i in moved:
            self.assertEqual(retrying(lambda: alice.get_session(i)).pulse_id, pulses[i])
            self.assertEqual(alice.resumed_pulses.get(i), pulses[i], i)
            if i in before:
                # The adopted session kept its next-byte logits: a probe
                # byte is scored exactly as the drained replica would have.
                probe = self.rng.randrange(256)
                scored = list(alice.stream(i, [bytes([probe])], score=True, per_byte=True))[-1]
                self.assertTrue(scored.score.first_byte_scored, i)
                self.assertEqual(scored.score.byte_logprobs[0], before[i][1][probe], i)
                self.assertEqual(scored.pulse_id, pulses[i] + 1)
            with self.assertRaises(HecateError) as refused:
                bob.get_session(i)
            self.assertEqual(refused.exception.code, grpc.StatusCode.NOT_FOUND)
        survivors = [n for n in range(3) if n != victim]
        holders = {n: self.held(replicas[n]) for n in survivors}
        self.assertEqual(sorted(i for h in holders.values() for i in h), sorted(ids))
        print(f"after SIGTERM of r{victim}: {len(moved)} sessions adopted, per replica "
              f"{ {n: len(h) for n, h in holders.items()} }", file=sys.stderr)

        # 4. kill -9: sessions resume at their last checkpoint.
        crashed = max(survivors, key=lambda n: len(holders[n]))
        last = [n for n in survivors if n != crashed][0]
        probes = sorted(holders[crashed])[:6]
        texts = {}
        for i in probes:
            start = alice.get_session(i).pulse_id
            first = bytes(self.rng.randrange(32, 127) for _ in range(40))
            second = bytes(self.rng.randrange(32, 127) for _ in range(40))
            list(alice.stream(i, [first]))
            texts[i] = (start, first, second)
        # Let a checkpoint take the first texts, then send the second ones
        # and crash at once: a crash loses at most one interval.
        time.sleep(3)
        for i in probes:
            list(alice.stream(i, [texts[i][2]]))
        replicas[crashed].process.kill()
        replicas[crashed].process.wait()
        # A session that never moved, fed the same bytes, is the reference.
        with HecateClient(replicas[last].target, api_key=KEYS["alice"], timeout=60) as direct:
            for i in probes:
                start, first, second = texts[i]
                resumed = retrying(lambda: alice.get_session(i)).pulse_id
                self.assertEqual(alice.resumed_pulses.get(i), resumed, i)
                # A checkpoint is always at a chunk boundary: normally after
                # the first text (the second one lost with the replica), or
                # after the second (a tick came before the kill), or, on a
                # machine too slow to tick in 3 s, before both.
                boundaries = (start, start + len(first), start + len(first) + len(second))
                self.assertIn(resumed, boundaries)
                sent = boundaries[-1] - resumed
                unsent = [text for text, end in ((first, boundaries[1]), (second, boundaries[2]))
                          if end > resumed]
                for text in unsent:  # exactly once: each applied only where expected
                    list(alice.stream(i, [text],
                                      expected_pulse_id=alice.get_session(i).pulse_id))
                tail = b"!\n"
                pulse, got = distribution(alice, i, tail)
                self.assertEqual(pulse, start + len(first) + len(second) + len(tail))
                print(f"session {i}: resumed at pulse {resumed}, resent {sent} bytes",
                      file=sys.stderr)
                self.assertIn(i, self.held(replicas[last]))
                if start == 0:
                    reference = direct.create_session().id
                    list(direct.stream(reference, [first]))
                    list(direct.stream(reference, [second]))
                    _, want = distribution(direct, reference, tail)
                    self.assertEqual(got.keys(), want.keys())
                    for byte, logprob in want.items():
                        self.assertAlmostEqual(got[byte], logprob, delta=1e-5)
        # Every session of the crashed replica is adoptable, by the last one.
        for i in sorted(holders[crashed]):
            retrying(lambda: alice.get_session(i))
        self.assertLessEqual(set(ids), set(self.held(replicas[last])))


if __name__ == "__main__":
    unittest.main()
