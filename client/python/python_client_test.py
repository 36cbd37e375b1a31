"""The Python client against a live hecated on loopback (live_daemon.py):
every RPC, checked against what hecate.proto promises. Outside Bazel:
HECATED=bazel-bin/server/hecated PYTHONPATH=bazel-bin/client/python:client/python \
    /usr/bin/python3 client/python/python_client_test.py
"""

import os
import random
import sys
import tempfile
import unittest

import grpc

from hecate.v1 import hecate_pb2
import hecate_client
from hecate_client import HecateClient, HecateError
from live_daemon import LiveDaemon

# Chunking changes results only by float rounding (docs/MODEL.md section 3);
# the CPU reference is checked to 1e-4 elsewhere, so this is generous.
CHUNKING_TOLERANCE = 1e-4


def english_like(rng, size):
    words = ("the model reads every byte and its state changes with each pulse while "
             "sessions stream chunks of text through one long lived call").split()
    out = []
    length = 0
    while length <= size:
        word = rng.choice(words)
        out.append(word)
        length += len(word) + 1
    return (" ".join(out)).encode()[:size]


def distribution(result):
    return dict(result.top_k)


class LiveDaemonTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = os.environ.get("TEST_TMPDIR") or tempfile.mkdtemp()
        cls.daemon = LiveDaemon(cls.tmp)
        cls.client = HecateClient(cls.daemon.target, timeout=60)
        cls.rng = random.Random(int.from_bytes(os.urandom(8), "little"))

    @classmethod
    def tearDownClass(cls):
        cls.client.close()
        code = cls.daemon.stop()
        if code != 0:
            raise AssertionError(f"hecated exited with {code} after SIGTERM:\n"
                                 + cls.daemon.log_tail())

    def assertRaisesCode(self, code, function, *args, **kwargs):
        with self.assertRaises(HecateError) as raised:
            result = function(*args, **kwargs)
            if hasattr(result, "__next__"):
                list(result)
        self.assertEqual(raised.exception.code, code, raised.exception.message)
        self.assertTrue(raised.exception.message, "errors must say what went wrong")
        return raised.exception

    def new_session(self):
        session = self.client.create_session()
        self.addCleanup(self.delete_quietly, session.id)
        return session

    def delete_quietly(self, session_id):
        try:
            self.client.delete_session(session_id)
        except HecateError:
            pass

    # -------------------------------------------------------------------------

    def test_create_get_list_delete(self):
        session = self.new_session()
        self.assertRegex(session.id, r"^[0-9a-f]{32}$")
        self.assertEqual(session.pulse_id, 0)
        self.assertGreater(session.state_bytes, 0)
        got = self.client.get_session(session.id)
        self.assertEqual(got.id, session.id)
        self.assertEqual(got.model_fingerprint, session.model_fingerprint)
        self.assertIn(session.id, [s.id for s in self.client.list_sessions()])
        self.client.delete_session(session.id)
        self.assertRaisesCode(grpc.StatusCode.NOT_FOUND, self.client.get_session, session.id)
        self.assertRaisesCode(grpc.StatusCode.NOT_FOUND, self.client.delete_session, session.id)
        self.assertNotIn(session.id, [s.id for s in self.client.list_sessions()])

    def test_model_info_matches_sessions(self):
        info = self.client.get_model_info()
        session = self.new_session()
        self.assertEqual(info.vocab_size, 256)
        self.assertEqual(info.fingerprint, session.model_fingerprint)
        self.assertEqual(info.state_bytes_per_session, session.state_bytes)
        self.assertIn(info.backend, ("cpu", "cuda"))

    def test_chunked_stream_equals_one_shot(self):
        text = english_like(self.rng, self.rng.randint(300, 1500))
        whole = self.new_session()
        chunked = self.new_session()
        [one] = list(self.client.stream(whole.id, [text], top_k=256))
        cuts = sorted(self.rng.sample(range(1, len(text)), 7))
        pieces = [text[a:b] for a, b in zip([0] + cuts, cuts + [len(text)])]
        results = list(self.client.stream(chunked.id, pieces, top_k=256))
        self.assertEqual([r.pulse_id for r in results], cuts + [len(text)])
        self.assertEqual(one.pulse_id, len(text))
        self.assertEqual(len(one.top_k), 256)
        expected, got = distribution(one), distribution(results[-1])
        self.assertEqual(sorted(expected), list(range(256)))
        self.assertEqual(sorted(got), list(range(256)))
        for token in range(256):
            self.assertAlmostEqual(expected[token], got[token], delta=CHUNKING_TOLERANCE)
        logprobs = [lp for _, lp in one.top_k]
        self.assertEqual(logprobs, sorted(logprobs, reverse=True), "top-k is most likely first")
        self.assertEqual(self.client.get_session(chunked.id).pulse_id, len(text))

    def test_stream_errors_name_the_problem(self):
        session = self.new_session()
        unknown = "%032x" % self.rng.getrandbits(128)
        self.assertRaisesCode(grpc.StatusCode.NOT_FOUND, self.client.stream, unknown, [b"abc"])
        self.assertRaisesCode(grpc.StatusCode.INVALID_ARGUMENT, self.client.stream,
                              session.id, [b"abc"], top_k=257)
        self.assertRaisesCode(grpc.StatusCode.INVALID_ARGUMENT, self.client.stream,
                              "not-an-id", [b"abc"])
        self.assertEqual(self.client.get_session(session.id).pulse_id, 0,
                         "a rejected request changes nothing")

    def test_generate_is_deterministic_and_advances_the_session(self):
        prompt = english_like(self.rng, 40)
        seed = self.rng.getrandbits(63)
        first = self.client.generate(prompt, max_tokens=24, temperature=0.9, seed=seed)
        second = self.client.generate(prompt, max_tokens=24, temperature=0.9, seed=seed)
        self.assertEqual(first.text, second.text)
        self.assertEqual(len(first.text), 24)
        self.assertEqual(first.finish_reason, hecate_pb2.FINISH_REASON_MAX_TOKENS)
        self.assertTrue(all(lp <= 0 for lp in first.logprobs))

        session = self.new_session()
        seen = []
        result = self.client.generate(prompt, session_id=session.id, max_tokens=24,
                                      temperature=0.9, seed=seed,
                                      on_token=lambda token, lp: seen.append(token))
        self.assertEqual(result.text, first.text, "temporary and named sessions agree")
        self.assertEqual(bytes(seen), result.text)
        self.assertEqual(result.pulse_id, len(prompt) + 24)
        self.assertEqual(self.client.get_session(session.id).pulse_id, len(prompt) + 24)

    def test_generate_stops_on_a_stop_byte(self):
        # Greedy decoding, stopping at any byte: the first token stops it.
        result = self.client.generate(b"abc", max_tokens=50, temperature=0,
                                      stop=bytes(range(256)))
        self.assertEqual(len(result.text), 1)
        self.assertEqual(result.finish_reason, hecate_pb2.FINISH_REASON_STOP_BYTE)
        self.assertRaisesCode(grpc.StatusCode.INVALID_ARGUMENT, self.client.generate, b"abc",
                              max_tokens=0)

    def test_stream_sampling_matches_generate(self):
        prompt = english_like(self.rng, 64)
        seed = self.rng.getrandbits(63)
        params = hecate_client.sampling_params(max_tokens=16, temperature=0.7, seed=seed)
        session = self.new_session()
        [result] = list(self.client.stream(session.id, [prompt], sampling=params))
        expected = self.client.generate(prompt, sampling=params)
        self.assertEqual(result.generated, expected.text)
        self.assertEqual(result.pulse_id, len(prompt) + 16)

    def test_checkpoint_restore_round_trip(self):
        session = self.new_session()
        text = english_like(self.rng, self.rng.randint(100, 700))
        list(self.client.stream(session.id, [text]))
        checkpoint = self.client.export_checkpoint(session.id)
        self.assertEqual(checkpoint.pulse_id, len(text))
        self.assertEqual(checkpoint.size_bytes, len(checkpoint.checkpoint_data))
        self.assertEqual(checkpoint.model_fingerprint, session.model_fingerprint)

        before = len(self.client.list_sessions())
        error = self.assertRaisesCode(grpc.StatusCode.FAILED_PRECONDITION,
                                      self.client.restore_checkpoint,
                                      data=checkpoint.checkpoint_data,
                                      expected_pulse_id=len(text) + 1)
        self.assertIn(str(len(text)), error.message, "names the checkpoint's pulse id")
        self.assertEqual(len(self.client.list_sessions()), before, "refused restore adds nothing")

        restored = self.client.restore_checkpoint(data=checkpoint.checkpoint_data,
                                                  expected_pulse_id=len(text))
        self.addCleanup(self.delete_quietly, restored.id)
        self.assertNotEqual(restored.id, session.id)
        self.assertEqual(restored.pulse_id, len(text))

        # Same backend: the restored session continues bit for bit.
        more = english_like(self.rng, 97)
        [original] = list(self.client.stream(session.id, [more], top_k=256))
        [copy] = list(self.client.stream(restored.id, [more], top_k=256))
        self.assertEqual(original.top_k, copy.top_k)
        self.assertEqual(original.pulse_id, copy.pulse_id)

    def test_named_checkpoint_and_restore_over_a_session(self):
        session = self.new_session()
        list(self.client.stream(session.id, [english_like(self.rng, 200)]))
        name = f"py-test.{self.rng.getrandbits(32):08x}"
        stored = self.client.export_checkpoint(session.id, name=name, omit_data=True)
        self.assertEqual(stored.checkpoint_data, b"")
        self.assertEqual(stored.name, name)
        self.assertEqual(stored.pulse_id, 200)

        other = self.new_session()
        list(self.client.stream(other.id, [b"something else entirely"]))
        over = self.client.restore_checkpoint(name=name, session_id=other.id,
                                              expected_pulse_id=200)
        self.assertEqual(over.id, other.id)
        self.assertEqual(self.client.get_session(other.id).pulse_id, 200)
        self.assertRaisesCode(grpc.StatusCode.NOT_FOUND, self.client.restore_checkpoint,
                              name=f"{name}-missing")
        self.assertRaisesCode(grpc.StatusCode.INVALID_ARGUMENT, self.client.export_checkpoint,
                              session.id, name=".hidden")

    def test_damaged_checkpoints_are_data_loss(self):
        session = self.new_session()
        list(self.client.stream(session.id, [english_like(self.rng, 150)]))
        data = self.client.export_checkpoint(session.id).checkpoint_data
        before = len(self.client.list_sessions())
        truncated = data[:self.rng.randrange(1, len(data))]
        self.assertRaisesCode(grpc.StatusCode.DATA_LOSS, self.client.restore_checkpoint,
                              data=truncated)
        # Flip one bit past the header, inside the checksummed state.
        flipped = bytearray(data)
        position = self.rng.randrange(len(data) // 2, len(data))
        flipped[position] ^= 1 << self.rng.randrange(8)
        self.assertRaisesCode(grpc.StatusCode.DATA_LOSS, self.client.restore_checkpoint,
                              data=bytes(flipped))
        self.assertEqual(len(self.client.list_sessions()), before)
        self.assertEqual(self.client.get_session(session.id).pulse_id, 150)


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1])
