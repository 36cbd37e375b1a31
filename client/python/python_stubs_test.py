"""The generated hecate.v1 stubs and the client's pure parts, no daemon."""

import socket
import unittest

import grpc

from hecate.v1 import hecate_pb2
from hecate.v1 import hecate_pb2_grpc
import hecate_client
import live_daemon


class StubsTest(unittest.TestCase):

    def test_messages_round_trip(self):
        request = hecate_pb2.StreamRequest(
            request_id="c1", session_id="0" * 32, input=bytes(range(256)),
            output=hecate_pb2.OutputSpec(top_k=hecate_pb2.TopKRequest(k=5)))
        parsed = hecate_pb2.StreamRequest.FromString(request.SerializeToString())
        self.assertEqual(parsed, request)
        self.assertEqual(parsed.output.WhichOneof("kind"), "top_k")

    def test_optional_expected_pulse_has_presence(self):
        request = hecate_pb2.RestoreCheckpointRequest(checkpoint_name="x")
        self.assertFalse(request.HasField("expected_pulse_id"))
        request.expected_pulse_id = 0
        self.assertTrue(request.HasField("expected_pulse_id"))

    def test_service_has_every_rpc(self):
        service = hecate_pb2.DESCRIPTOR.services_by_name["Hecate"]
        self.assertEqual(
            sorted(method.name for method in service.methods),
            sorted(["CreateSession", "GetSession", "ListSessions", "DeleteSession", "Stream",
                    "Generate", "ExportCheckpoint", "RestoreCheckpoint", "ListCheckpoints",
                    "DeleteCheckpoint", "GetModelInfo", "ReadTranscript", "ForkSession",
                    "RewindSession", "UpdateSession"]))
        self.assertTrue(hasattr(hecate_pb2_grpc, "HecateStub"))


class ClientPartsTest(unittest.TestCase):

    def test_status_codes_from_numbers(self):
        self.assertEqual(hecate_client.status_code_from_number(5), grpc.StatusCode.NOT_FOUND)
        self.assertEqual(hecate_client.status_code_from_number(9),
                         grpc.StatusCode.FAILED_PRECONDITION)
        for number in (0, -1, 17, 99):
            self.assertEqual(hecate_client.status_code_from_number(number),
                             grpc.StatusCode.UNKNOWN)

    def test_sampling_params_carry_every_field(self):
        params = hecate_client.sampling_params(max_tokens=7, temperature=0.5, top_k=3,
                                               top_p=0.75, seed=11, stop=b"\n")
        self.assertEqual((params.max_tokens, params.top_k, params.seed, params.stop_bytes),
                         (7, 3, 11, b"\n"))
        self.assertAlmostEqual(params.temperature, 0.5)
        self.assertAlmostEqual(params.top_p, 0.75)

    def test_restore_needs_exactly_one_source(self):
        client = hecate_client.HecateClient("127.0.0.1:1")
        with self.assertRaises(ValueError):
            client.restore_checkpoint()
        with self.assertRaises(ValueError):
            client.restore_checkpoint(data=b"x", name="y")
        client.close()

    def test_eval_windows_score_every_byte_after_the_first_once(self):
        for size in range(0, 30):
            for window in range(1, 9):
                scored = [0] * size
                windows = hecate_client.eval_windows(size, window)
                for k, (begin, end) in enumerate(windows):
                    self.assertEqual(begin, k * window)
                    self.assertLessEqual(end - begin, window + 1)
                    self.assertGreaterEqual(end - begin, 2)
                    for i in range(begin + 1, end):
                        scored[i] += 1
                self.assertEqual(scored, [0] + [1] * (size - 1) if size else [], (size, window))
        self.assertEqual(hecate_client.eval_windows(10, 4), [(0, 5), (4, 9), (8, 10)])

    def test_score_arguments_are_checked(self):
        client = hecate_client.HecateClient("127.0.0.1:1")
        with self.assertRaises(ValueError):
            list(client.stream("0" * 32, [b"x"], top_k=3, score=True))
        with self.assertRaises(ValueError):
            list(client.stream("0" * 32, [b"x"], per_byte=True))
        with self.assertRaises(ValueError):
            client.evaluate(b"x")
        with self.assertRaises(ValueError):
            client.evaluate(b"xyz", window=-1)
        client.close()

    def test_refused_connection_is_unavailable(self):
        # A bound but non-listening port refuses connections.
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
            with hecate_client.HecateClient(f"127.0.0.1:{port}", api_key="k",
                                            timeout=10) as client:
                with self.assertRaises(hecate_client.HecateError) as raised:
                    client.create_session()
                self.assertEqual(raised.exception.code, grpc.StatusCode.UNAVAILABLE)
                with self.assertRaises(hecate_client.HecateError) as raised:
                    list(client.stream("0" * 32, [b"abc"]))
                self.assertEqual(raised.exception.code, grpc.StatusCode.UNAVAILABLE)


class PortFileTest(unittest.TestCase):

    def test_port_or_address_per_line(self):
        self.assertEqual(live_daemon.parse_port_file("43215\n"), ["127.0.0.1:43215", None])
        self.assertEqual(live_daemon.parse_port_file("[::1]:5\n127.0.0.1:9464\n"),
                         ["[::1]:5", "127.0.0.1:9464"])
        self.assertEqual(live_daemon.parse_port_file("43215\n9464\n"),
                         ["127.0.0.1:43215", "127.0.0.1:9464"])

    def test_incomplete_or_bad_files_are_not_read(self):
        for text in ("", "432", "0\n", "port\n", "\n"):
            self.assertEqual(live_daemon.parse_port_file(text), [], repr(text))


if __name__ == "__main__":
    unittest.main()
