"""`hecatectl eval` against a live hecated: the numbers it prints are the
Python client's (client/python/hecate_client.py evaluate(), which sums the
server's per-chunk scores itself), in both modes, from a file and from stdin;
--per_byte_out holds every scored byte; errors exit as for other verbs; no
session is left behind. Random texts: HECATE_TEST_SEED reproduces a run."""

import json
import math
import os
import random
import re
import subprocess
import sys
import tempfile
import unittest

from hecate_client import HecateClient
from live_daemon import LiveDaemon

# Same server, same chunks: the sums agree to float64 rounding.
EXACT = 1e-9
MAX_CHUNK_BYTES = 4096


def runfile(path):
    return os.path.join(os.environ["TEST_SRCDIR"], "hecate", path)


class HecatectlEvalTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        seed = int(os.environ.get("HECATE_TEST_SEED") or int.from_bytes(os.urandom(8), "little"))
        print(f"HECATE_TEST_SEED={seed}", file=sys.stderr)
        cls.rng = random.Random(seed)
        cls.tmp = os.environ.get("TEST_TMPDIR") or tempfile.mkdtemp()
        # A random model of its own (any model works; this one is cheap).
        cls.daemon = LiveDaemon(os.path.join(cls.tmp, "daemon"),
                                ["--model=random:tiny", f"--seed={seed % 1000 + 1}",
                                 f"--max_chunk_bytes={MAX_CHUNK_BYTES}"])
        cls.client = HecateClient(cls.daemon.target, timeout=120)
        words = ("to be or not that is the question whether tis nobler in the mind "
                 "suffer slings and arrows of outrageous fortune").split()
        text = " ".join(cls.rng.choice(words) for _ in range(2000)).encode()
        # Longer than one server chunk, so eval's default chunk size is refused.
        cls.text = text[:cls.rng.randint(MAX_CHUNK_BYTES + 1, 6000)] + bytes(range(256))
        cls.path = os.path.join(cls.tmp, "text.txt")
        with open(cls.path, "wb") as f:
            f.write(cls.text)

    @classmethod
    def tearDownClass(cls):
        cls.client.close()
        code = cls.daemon.stop()
        if code != 0:
            raise AssertionError(f"hecated exited with {code}:\n" + cls.daemon.log_tail())

    def hecatectl(self, *args, stdin=None):
        return subprocess.run([runfile("client/hecatectl"), f"--target={self.daemon.target}",
                               *args], input=stdin, capture_output=True, timeout=600)

    def eval_json(self, *args, stdin=None):
        run = self.hecatectl("eval", "--json", *args, stdin=stdin)
        self.assertEqual(run.returncode, 0, run.stderr.decode())
        return json.loads(run.stdout)

    def assertClose(self, got, want, tolerance=EXACT):
        self.assertLessEqual(abs(got - want), tolerance * abs(want), f"{got} vs {want}")

    def test_carried_equals_the_python_client(self):
        chunk = self.rng.randint(500, MAX_CHUNK_BYTES)
        before = self.client.list_sessions()
        got = self.eval_json(self.path, f"--chunk_bytes={chunk}")
        want = self.client.evaluate(self.text, chunk_bytes=chunk)
        self.assertEqual(got["bytes"], len(self.text))
        self.assertEqual(got["scored_bytes"], len(self.text) - 1)
        self.assertEqual(got["mode"], "carried")
        self.assertClose(got["sum_logprob"], want.sum_logprob)
        self.assertClose(got["nats_per_byte"], want.nats_per_byte)
        self.assertClose(got["bits_per_byte"], want.nats_per_byte / math.log(2))
        self.assertEqual(self.client.list_sessions(), before, "eval deletes its session")

    def test_text_line_shows_the_same_numbers(self):
        run = self.hecatectl("eval", self.path, "--chunk_bytes=2000")
        self.assertEqual(run.returncode, 0, run.stderr.decode())
        line = run.stdout.decode()
        match = re.fullmatch(r"eval: (\d+) bytes, (\d+) scored, ([\d.]+) nats/byte, "
                             r"([\d.]+) bits/byte, session state carried, [\d.]+ s, "
                             r"\d+ tokens/s\n", line)
        self.assertIsNotNone(match, line)
        want = self.client.evaluate(self.text, chunk_bytes=2000)
        self.assertEqual(int(match[1]), len(self.text))
        self.assertEqual(int(match[2]), len(self.text) - 1)
        self.assertEqual(match[3], f"{want.nats_per_byte:.4f}")
        self.assertEqual(match[4], f"{want.bits_per_byte:.4f}")

    def test_windows_equal_the_python_client_from_stdin(self):
        window = self.rng.randint(16, 300)
        chunk = self.rng.randint(7, 2 * window)  # windows split into chunks, or not
        before = self.client.list_sessions()
        got = self.eval_json("-", f"--window={window}", f"--chunk_bytes={chunk}",
                             stdin=self.text)
        want = self.client.evaluate(self.text, window=window, chunk_bytes=chunk)
        self.assertEqual(got["mode"], "windows")
        self.assertEqual(got["window"], window)
        self.assertEqual(got["scored_bytes"], len(self.text) - 1)
        windows = -(-(len(self.text) - 1) // window)
        self.assertEqual(got["tokens"], len(self.text) + windows - 1, "windows overlap by 1")
        # Windows finish in any order, so the sum's rounding may differ a hair.
        self.assertClose(got["sum_logprob"], want.sum_logprob, 1e-12 * windows + EXACT)
        self.assertEqual(self.client.list_sessions(), before, "eval deletes its sessions")
        run = self.hecatectl("eval", self.path, f"--window={window}", f"--chunk_bytes={chunk}")
        self.assertIn(f"fresh windows of {window}", run.stdout.decode())

    def test_per_byte_out_holds_every_scored_byte(self):
        for window in (0, self.rng.randint(30, 200)):
            out = os.path.join(self.tmp, f"per-byte-{window}.txt")
            got = self.eval_json(self.path, f"--window={window}", "--chunk_bytes=1000",
                                 f"--per_byte_out={out}")
            want = self.client.evaluate(self.text, window=window, chunk_bytes=1000,
                                        per_byte=True)
            with open(out) as f:
                lines = [line.split() for line in f]
            offsets = [int(offset) for offset, _ in lines]
            self.assertEqual(offsets, list(range(1, len(self.text))), window)
            values = [float(value) for _, value in lines]
            for offset, value in zip(offsets, values):
                self.assertAlmostEqual(value, want.byte_logprobs[offset], delta=1e-6)
            self.assertClose(sum(values), got["sum_logprob"], 1e-5)

    def test_errors_exit_as_for_other_verbs(self):
        # A chunk over the server's limit: the server's message, exit 1.
        run = self.hecatectl("eval", self.path)  # 65536-byte chunks by default
        self.assertEqual(run.returncode, 1)
        self.assertRegex(run.stderr.decode(), r"^hecatectl: INVALID_ARGUMENT: .*max_chunk_bytes")
        run = self.hecatectl("eval", os.path.join(self.tmp, "missing.txt"))
        self.assertEqual(run.returncode, 1)
        self.assertRegex(run.stderr.decode(), r"^hecatectl: NOT_FOUND: cannot open")
        run = self.hecatectl("eval", "-", stdin=b"x")
        self.assertEqual(run.returncode, 1)
        self.assertIn("INVALID_ARGUMENT", run.stderr.decode())
        run = self.hecatectl("eval", self.path, "--window=-3")
        self.assertEqual(run.returncode, 2)
        run = self.hecatectl("eval", self.path, "another.txt")
        self.assertEqual(run.returncode, 2)
        self.assertEqual(self.client.list_sessions(), [], "failed evals delete their sessions")


if __name__ == "__main__":
    unittest.main()
