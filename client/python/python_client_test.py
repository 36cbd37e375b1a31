"""The Python client against a live hecated on loopback (live_daemon.py):
every RPC, checked against what hecate.proto promises. Outside Bazel:
HECATED=bazel-bin/server/hecated PYTHONPATH=bazel-bin/client/python:client/python \
    /usr/bin/python3 client/python/python_client_test.py
"""

import math
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
        # HECATE_TEST_SEED reproduces a run's texts.
        seed = int(os.environ.get("HECATE_TEST_SEED") or int.from_bytes(os.urandom(8), "little"))
        print(f"HECATE_TEST_SEED={seed}", file=sys.stderr)
        cls.rng = random.Random(seed)

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

    def test_create_with_keep_on_expiry_and_pinned(self):
        session = self.client.create_session(keep_on_expiry=True, pinned=True)
        self.addCleanup(self.delete_quietly, session.id)
        self.assertTrue(session.keep_on_expiry)
        self.assertTrue(session.pinned)
        got = self.client.get_session(session.id)
        self.assertTrue(got.keep_on_expiry)
        self.assertTrue(got.pinned)
        self.assertFalse(self.new_session().pinned)

    def test_update_session_changes_only_the_flags_given(self):
        session = self.new_session()
        pinned = self.client.update_session(session.id, pinned=True)
        self.assertTrue(pinned.pinned)
        self.assertFalse(pinned.keep_on_expiry)
        kept = self.client.update_session(session.id, keep_on_expiry=True)
        self.assertTrue(kept.pinned)
        self.assertTrue(kept.keep_on_expiry)
        self.assertTrue(self.client.get_session(session.id).keep_on_expiry)
        cleared = self.client.update_session(session.id, pinned=False, keep_on_expiry=False)
        self.assertFalse(cleared.pinned)
        self.assertFalse(cleared.keep_on_expiry)
        self.assertRaisesCode(grpc.StatusCode.NOT_FOUND, self.client.update_session,
                              "0" * 32, pinned=True)
        self.assertRaisesCode(grpc.StatusCode.INVALID_ARGUMENT, self.client.update_session,
                              "not-an-id", pinned=True)

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

    def test_a_lost_reply_is_refused_on_resend_and_resumed_exactly_once(self):
        text = english_like(self.rng, self.rng.randint(300, 900))
        a = self.rng.randint(1, len(text) // 3)
        b = self.rng.randint(a + 1, 2 * len(text) // 3)
        session = self.new_session()
        [first] = list(self.client.stream(session.id, [text[:a]], expected_pulse_id=0))
        self.assertEqual(first.pulse_id, a)
        list(self.client.stream(session.id, [text[a:b]], expected_pulse_id=a))  # reply "lost"
        # Resent as it was: refused, nothing applied twice, the pulse id told.
        error = self.assertRaisesCode(grpc.StatusCode.FAILED_PRECONDITION, self.client.stream,
                                      session.id, [text[a:b]], expected_pulse_id=a)
        self.assertEqual(error.pulse_id, b)
        self.assertIn(f"pulse id {b}", error.message)
        self.assertEqual(self.client.get_session(session.id).pulse_id, b)
        # resume() from a stale belief: one refusal, then exactly the rest.
        resumed = self.client.resume(session.id, text, start_pulse=0,
                                     chunk_bytes=self.rng.randint(1, 200), assumed_pulse=a)
        self.assertEqual((resumed.pulse_id, resumed.bytes_sent, resumed.refusals),
                         (len(text), len(text) - b, 1))
        again = self.client.resume(session.id, text, start_pulse=0)
        self.assertEqual((again.pulse_id, again.bytes_sent), (len(text), 0))
        self.assertRaisesCode(grpc.StatusCode.FAILED_PRECONDITION, self.client.resume,
                              session.id, text, start_pulse=len(text) + 1)
        # The same state as a twin fed the text once.
        twin = self.new_session()
        list(self.client.stream(twin.id, [text]))
        [ours] = list(self.client.stream(session.id, [b"\n"], top_k=256))
        [theirs] = list(self.client.stream(twin.id, [b"\n"], top_k=256))
        self.assertEqual(ours.pulse_id, theirs.pulse_id)
        expected = distribution(theirs)
        for token, logprob in ours.top_k:
            self.assertAlmostEqual(logprob, expected[token], delta=CHUNKING_TOLERANCE)
        # Generate: the pulse id comes back in the x-hecate-pulse-id trailer.
        error = self.assertRaisesCode(grpc.StatusCode.FAILED_PRECONDITION, self.client.generate,
                                      b"x", session_id=session.id, max_tokens=2,
                                      expected_pulse_id=0)
        self.assertEqual(error.pulse_id, len(text) + 1)
        done = self.client.generate(b"x", session_id=session.id, max_tokens=2,
                                    expected_pulse_id=len(text) + 1)
        self.assertEqual(done.pulse_id, len(text) + 4)

    def test_stop_sequences_and_alternatives(self):
        prompt = english_like(self.rng, 50)
        seed = self.rng.getrandbits(63)
        free = self.client.generate(prompt, max_tokens=40, temperature=1.0, seed=seed)
        at = self.rng.randint(0, 30)
        sequence = free.text[at:at + 3]
        stop = free.text.find(sequence) + len(sequence)
        stopped = self.client.generate(prompt, max_tokens=40, temperature=1.0, seed=seed,
                                       stop_sequences=[b"\xff\xfe never", sequence])
        self.assertEqual(stopped.finish_reason, hecate_pb2.FINISH_REASON_STOP_SEQUENCE)
        self.assertEqual(stopped.text, free.text[:stop], "stops after the sequence, included")
        self.assertEqual(stopped.pulse_id, len(prompt) + stop)

        session = self.new_session()
        result = self.client.generate(prompt, session_id=session.id, max_tokens=10,
                                      temperature=0.8, seed=seed, top_k_alternatives=4)
        twin = self.new_session()
        scored = self.client.score(twin.id, [prompt + result.text], per_byte=True)
        for i, token in enumerate(result.text):
            want = scored.byte_logprobs[len(prompt) + i - 1]
            self.assertAlmostEqual(result.logprobs[i], want, delta=CHUNKING_TOLERANCE)
            self.assertEqual(len(result.alternatives[i]), 4)
            logprobs = [lp for _, lp in result.alternatives[i]]
            self.assertEqual(logprobs, sorted(logprobs, reverse=True))
            for alternative, logprob in result.alternatives[i]:
                if alternative == token:
                    self.assertAlmostEqual(logprob, want, delta=CHUNKING_TOLERANCE)
        self.assertRaisesCode(grpc.StatusCode.INVALID_ARGUMENT, self.client.generate, b"abc",
                              max_tokens=3, stop_sequences=[b"s%d" % i for i in range(17)])
        self.assertRaisesCode(grpc.StatusCode.INVALID_ARGUMENT, self.client.generate, b"abc",
                              max_tokens=3, top_k_alternatives=21)

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

    def test_transcript_fork_and_rewind(self):
        session = self.new_session()
        text = english_like(self.rng, self.rng.randint(200, 500))
        chunks = [text[i:i + 50] for i in range(0, len(text), 50)]
        results = list(self.client.stream(session.id, chunks))
        digest = self.client.get_session(session.id).transcript_digest
        self.assertEqual(results[-1].transcript_digest, digest)
        self.assertEqual(self.client.transcript(session.id), text)
        self.assertEqual(self.client.read_transcript(session.id, 3, 4).data, text[3:7])
        self.assertRaisesCode(grpc.StatusCode.OUT_OF_RANGE, self.client.read_transcript,
                              session.id, len(text) + 1)

        # A twin fed the same bytes in other chunks has the same digest.
        twin = self.new_session()
        list(self.client.stream(twin.id, [text]))
        self.assertEqual(self.client.get_session(twin.id).transcript_digest, digest)

        # Fork at 100 (a chunk boundary) equals a fresh session fed 100 bytes.
        fork = self.client.fork_session(session.id, at_pulse=100)
        self.addCleanup(self.delete_quietly, fork.id)
        fresh = self.new_session()
        list(self.client.stream(fresh.id, chunks[:2]))
        more = english_like(self.rng, 60)
        [a] = list(self.client.stream(fork.id, [more], top_k=256))
        [b] = list(self.client.stream(fresh.id, [more], top_k=256))
        self.assertEqual(a.top_k, b.top_k)
        self.assertEqual(a.transcript_digest, b.transcript_digest)
        self.assertEqual(self.client.get_session(session.id).pulse_id, len(text))

        # Rewind the original there too.
        rewound = self.client.rewind_session(session.id, 100)
        self.assertEqual(rewound.pulse_id, 100)
        [c] = list(self.client.stream(session.id, [more], top_k=256))
        self.assertEqual(c.top_k, a.top_k)
        self.assertEqual(c.transcript_digest, a.transcript_digest)

        # Restore with the digest it must have.
        checkpoint = self.client.export_checkpoint(session.id)
        restored = self.client.restore_checkpoint(data=checkpoint.checkpoint_data,
                                                  expected_digest=c.transcript_digest)
        self.addCleanup(self.delete_quietly, restored.id)
        self.assertEqual(restored.transcript_digest, c.transcript_digest)
        error = self.assertRaisesCode(grpc.StatusCode.FAILED_PRECONDITION,
                                      self.client.restore_checkpoint,
                                      data=checkpoint.checkpoint_data, expected_digest=digest)
        self.assertIn(digest, error.message)

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

        listed = {c.name: c for c in self.client.list_checkpoints().checkpoints}
        self.assertIn(name, listed)
        self.assertEqual(listed[name].pulse_id, 200)
        self.assertEqual(listed[name].size_bytes, stored.size_bytes)
        self.client.delete_checkpoint(name)
        self.assertNotIn(name, {c.name for c in self.client.list_checkpoints().checkpoints})
        self.assertRaisesCode(grpc.StatusCode.NOT_FOUND, self.client.delete_checkpoint, name)

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

    # Scoring ----------------------------------------------------------------

    def test_score_follows_the_distribution_before_each_byte(self):
        text = english_like(self.rng, self.rng.randint(200, 600))
        cut = self.rng.randint(1, len(text) - 2)
        session = self.new_session()
        # The distribution after the head (top-256: all of it) must be what
        # the tail's first byte is scored with.
        [head] = list(self.client.stream(session.id, [text[:cut]], top_k=256))
        tail = self.client.score(session.id, [text[cut:]], per_byte=True)
        self.assertTrue(tail.first_byte_scored)
        self.assertEqual(tail.scored_bytes, len(text) - cut)
        self.assertEqual(len(tail.byte_logprobs), len(text) - cut)
        self.assertAlmostEqual(tail.byte_logprobs[0], distribution(head)[text[cut]], delta=1e-5)
        self.assertAlmostEqual(tail.sum_logprob, sum(tail.byte_logprobs),
                               delta=1e-4 * abs(tail.sum_logprob))
        self.assertTrue(all(lp <= 0 for lp in tail.byte_logprobs))
        self.assertEqual(self.client.get_session(session.id).pulse_id, len(text),
                         "a scored chunk advances the session as any chunk")

    def test_score_is_the_same_in_one_chunk_or_many(self):
        text = english_like(self.rng, self.rng.randint(300, 1500))
        whole = self.client.score(self.new_session().id, [text], per_byte=True)
        self.assertFalse(whole.first_byte_scored, "a fresh session has no distribution yet")
        self.assertEqual(whole.scored_bytes, len(text) - 1)
        cuts = sorted(self.rng.sample(range(1, len(text)), 9))
        pieces = [text[a:b] for a, b in zip([0] + cuts, cuts + [len(text)])]
        chunked = self.new_session()
        results = list(self.client.stream(chunked.id, pieces, score=True, per_byte=True))
        self.assertFalse(results[0].score.first_byte_scored)
        self.assertTrue(all(r.score.first_byte_scored for r in results[1:]),
                        "the session keeps the last distribution between chunks")
        self.assertEqual(sum(r.score.scored_bytes for r in results), len(text) - 1)
        total = sum(r.score.sum_logprob for r in results)
        self.assertAlmostEqual(total, whole.sum_logprob,
                               delta=CHUNKING_TOLERANCE * abs(whole.sum_logprob))
        per_byte = [lp for r in results for lp in r.score.byte_logprobs]
        for got, want in zip(per_byte, whole.byte_logprobs):
            self.assertAlmostEqual(got, want, delta=CHUNKING_TOLERANCE * max(1, abs(want)))

    def test_score_errors_change_nothing(self):
        session = self.new_session()
        list(self.client.stream(session.id, [b"some context"]))
        data = self.client.export_checkpoint(session.id).checkpoint_data
        error = self.assertRaisesCode(grpc.StatusCode.INVALID_ARGUMENT, self.client.score,
                                      session.id, [b""])
        self.assertIn("score", error.message)
        unknown = "%032x" % self.rng.getrandbits(128)
        self.assertRaisesCode(grpc.StatusCode.NOT_FOUND, self.client.score, unknown, [b"abc"])
        self.assertEqual(self.client.export_checkpoint(session.id).checkpoint_data, data)
        self.assertTrue(self.client.score(session.id, [b"x"]).first_byte_scored)
        with self.assertRaises(ValueError):
            list(self.client.stream(session.id, [b"x"], top_k=3, score=True))

    def test_a_restored_session_does_not_score_its_first_byte(self):
        session = self.new_session()
        list(self.client.stream(session.id, [english_like(self.rng, 100)]))
        data = self.client.export_checkpoint(session.id).checkpoint_data
        restored = self.client.restore_checkpoint(data=data)
        self.addCleanup(self.delete_quietly, restored.id)
        result = self.client.score(restored.id, [b"abc"])
        self.assertFalse(result.first_byte_scored)
        self.assertEqual(result.scored_bytes, 2)

    def test_evaluate_carried_and_in_windows(self):
        text = english_like(self.rng, self.rng.randint(400, 900))
        before = {s.id for s in self.client.list_sessions()}
        carried = self.client.evaluate(text, chunk_bytes=self.rng.randint(50, 300), per_byte=True)
        self.assertEqual(carried.scored_bytes, len(text) - 1)
        self.assertEqual(sorted(carried.byte_logprobs), list(range(1, len(text))))
        reference = self.client.score(self.new_session().id, [text])
        self.assertAlmostEqual(carried.sum_logprob, reference.sum_logprob,
                               delta=CHUNKING_TOLERANCE * abs(reference.sum_logprob))
        self.assertAlmostEqual(carried.bits_per_byte, carried.nats_per_byte / math.log(2))

        window = self.rng.randint(20, 90)
        windows = self.client.evaluate(text, window=window, chunk_bytes=33, per_byte=True)
        self.assertEqual(windows.scored_bytes, len(text) - 1)
        self.assertEqual(sorted(windows.byte_logprobs), list(range(1, len(text))))
        # Window k is a fresh session over bytes [k*window, k*window + window + 1).
        k = self.rng.randrange(len(hecate_client.eval_windows(len(text), window)))
        begin, end = hecate_client.eval_windows(len(text), window)[k]
        self.assertEqual(begin, k * window)
        alone = self.client.score(self.new_session().id, [text[begin:end]], per_byte=True)
        for offset, logprob in enumerate(alone.byte_logprobs, start=begin + 1):
            self.assertAlmostEqual(windows.byte_logprobs[offset], logprob,
                                   delta=CHUNKING_TOLERANCE * max(1, abs(logprob)))
        leftover = {s.id for s in self.client.list_sessions()} - before
        self.assertEqual(len(leftover), 2, "evaluate deletes its sessions (2 are this test's)")


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1])
