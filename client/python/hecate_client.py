"""A thin Python client for hecated (the hecate.v1 gRPC API).

    from hecate_client import HecateClient

    client = HecateClient("127.0.0.1:50051", api_key="k3y")
    session = client.create_session()
    for result in client.stream(session.id, [b"Hello, ", b"world"], top_k=5):
        print(result.pulse_id, result.top_k)
    print(client.generate(b"Once upon a time", max_tokens=32, seed=7).text)
    data = client.export_checkpoint(session.id).checkpoint_data
    copy = client.restore_checkpoint(data=data, expected_pulse_id=session.pulse_id + 12)

Every failed call raises HecateError, carrying the gRPC status code and the
server's message (the same code whether the whole call failed or one chunk
of a stream did). Messages are the generated hecate.v1 protos.
"""

import dataclasses
import queue
from typing import Callable, Iterable, Iterator, List, Optional, Tuple

import grpc

from hecate.v1 import hecate_pb2
from hecate.v1 import hecate_pb2_grpc

DEFAULT_TARGET = "127.0.0.1:50051"

_CODES_BY_NUMBER = {code.value[0]: code for code in grpc.StatusCode}


class HecateError(Exception):
    """A call (or one request of a stream) failed with a gRPC status."""

    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message


def status_code_from_number(number: int) -> grpc.StatusCode:
    """google.rpc.Code number -> grpc.StatusCode; UNKNOWN for anything else
    (including 0, so a per-request error is never mistaken for OK)."""
    code = _CODES_BY_NUMBER.get(number)
    if code is None or code == grpc.StatusCode.OK:
        return grpc.StatusCode.UNKNOWN
    return code


@dataclasses.dataclass
class ChunkResult:
    """The outcome of one chunk sent through stream()."""

    request_id: str
    # The session's pulse id after the chunk (and any generated tokens).
    pulse_id: int
    # (token, log-probability) pairs, most likely first, when top_k was asked.
    top_k: List[Tuple[int, float]]
    # Bytes generated for this chunk, when sampling was asked.
    generated: bytes
    finish_reason: int
    forward_seconds: float


@dataclasses.dataclass
class GenerateResult:
    """The outcome of generate()."""

    text: bytes
    logprobs: List[float]
    finish_reason: int
    # Pulse id after the prompt and every generated token.
    pulse_id: int


def sampling_params(max_tokens: int = 64, temperature: float = 1.0, top_k: int = 0,
                    top_p: float = 0.0, seed: int = 0,
                    stop: bytes = b"") -> hecate_pb2.SamplingParams:
    """SamplingParams with hecatectl's defaults."""
    return hecate_pb2.SamplingParams(max_tokens=max_tokens, temperature=temperature,
                                     top_k=top_k, top_p=top_p, seed=seed, stop_bytes=stop)


def _error_from_rpc(error: grpc.RpcError) -> HecateError:
    return HecateError(error.code(), error.details() or "")


class HecateClient:
    """Synchronous client. Thread-safe: one instance may serve many threads."""

    def __init__(self, target: str = DEFAULT_TARGET, api_key: Optional[str] = None,
                 root_certificates: Optional[bytes] = None, timeout: Optional[float] = 30.0):
        """root_certificates: PEM bytes to connect with TLS (None: plaintext).
        timeout: seconds per unary call and per generate() (None: no deadline);
        stream() calls have no deadline."""
        # Checkpoints travel as single messages and outgrow the 4 MiB default.
        options = [("grpc.max_receive_message_length", -1),
                   ("grpc.max_send_message_length", -1)]
        if root_certificates is not None:
            credentials = grpc.ssl_channel_credentials(root_certificates=root_certificates)
            self._channel = grpc.secure_channel(target, credentials, options)
        else:
            self._channel = grpc.insecure_channel(target, options)
        self._stub = hecate_pb2_grpc.HecateStub(self._channel)
        self._metadata = (("authorization", f"Bearer {api_key}"),) if api_key else ()
        self._timeout = timeout

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> "HecateClient":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _unary(self, method, request):
        try:
            return method(request, metadata=self._metadata, timeout=self._timeout)
        except grpc.RpcError as error:
            raise _error_from_rpc(error) from None

    # Sessions ---------------------------------------------------------------

    def create_session(self) -> hecate_pb2.Session:
        return self._unary(self._stub.CreateSession, hecate_pb2.CreateSessionRequest())

    def get_session(self, session_id: str) -> hecate_pb2.Session:
        return self._unary(self._stub.GetSession,
                           hecate_pb2.GetSessionRequest(session_id=session_id))

    def list_sessions(self) -> List[hecate_pb2.Session]:
        """The caller's sessions, oldest first."""
        response = self._unary(self._stub.ListSessions, hecate_pb2.ListSessionsRequest())
        return list(response.sessions)

    def delete_session(self, session_id: str) -> None:
        self._unary(self._stub.DeleteSession,
                    hecate_pb2.DeleteSessionRequest(session_id=session_id))

    def get_model_info(self) -> hecate_pb2.ModelInfo:
        return self._unary(self._stub.GetModelInfo, hecate_pb2.GetModelInfoRequest())

    # Checkpoints ------------------------------------------------------------

    def export_checkpoint(self, session_id: str, name: str = "",
                          omit_data: bool = False) -> hecate_pb2.ExportCheckpointResponse:
        """name: also store it server-side; omit_data (with a name): return no bytes."""
        return self._unary(self._stub.ExportCheckpoint, hecate_pb2.ExportCheckpointRequest(
            session_id=session_id, name=name, omit_data=omit_data))

    def restore_checkpoint(self, data: Optional[bytes] = None, name: Optional[str] = None,
                           session_id: str = "",
                           expected_pulse_id: Optional[int] = None) -> hecate_pb2.Session:
        """Restores bytes (data) or a stored name into a new session, or over
        session_id. expected_pulse_id: refuse (FAILED_PRECONDITION) unless the
        checkpoint is at that pulse id."""
        if (data is None) == (name is None):
            raise ValueError("restore_checkpoint needs exactly one of data and name")
        request = hecate_pb2.RestoreCheckpointRequest(session_id=session_id)
        if data is not None:
            request.checkpoint_data = data
        else:
            request.checkpoint_name = name
        if expected_pulse_id is not None:
            request.expected_pulse_id = expected_pulse_id
        return self._unary(self._stub.RestoreCheckpoint, request)

    # Streaming --------------------------------------------------------------

    def stream(self, session_id: str, chunks: Iterable[bytes], top_k: int = 0,
               sampling: Optional[hecate_pb2.SamplingParams] = None) -> Iterator[ChunkResult]:
        """Streams chunks through one Stream call, one at a time (the next is
        sent when the previous one is done), yielding a ChunkResult per chunk.
        top_k > 0 asks for the next-token distribution after each chunk;
        sampling asks for a continuation after each chunk instead. A failed
        chunk raises HecateError and ends the call; closing the generator
        early cancels it."""
        if top_k and sampling is not None:
            raise ValueError("stream takes top_k or sampling, not both")
        output = hecate_pb2.OutputSpec()
        if sampling is not None:
            output.sample.CopyFrom(sampling)
        elif top_k:
            output.top_k.k = top_k
        else:
            output.none.SetInParent()

        outbox: "queue.Queue[Optional[hecate_pb2.StreamRequest]]" = queue.Queue()

        def requests():
            while True:
                request = outbox.get()
                if request is None:
                    return
                yield request

        call = self._stub.Stream(requests(), metadata=self._metadata)
        pending = iter(chunks)
        number = 0

        def send_next() -> Optional[hecate_pb2.StreamRequest]:
            nonlocal number
            chunk = next(pending, None)
            if chunk is None:
                outbox.put(None)  # half-close: no more requests
                return None
            number += 1
            request = hecate_pb2.StreamRequest(request_id=f"c{number}", session_id=session_id,
                                               input=bytes(chunk), output=output)
            outbox.put(request)
            return request

        try:
            request = send_next()
            generated = bytearray()
            while request is not None:
                try:
                    response = next(call)
                except StopIteration:
                    raise HecateError(grpc.StatusCode.UNKNOWN,
                                      f"stream ended before request {request.request_id} "
                                      "was done") from None
                if response.request_id != request.request_id:
                    continue  # not ours (cannot happen with one request in flight)
                event = response.WhichOneof("event")
                if event == "token":
                    generated.append(response.token.token)
                elif event == "error":
                    raise HecateError(status_code_from_number(response.error.code),
                                      response.error.message)
                elif event == "done":
                    yield ChunkResult(
                        request_id=response.request_id, pulse_id=response.pulse_id,
                        top_k=[(entry.token, entry.logprob) for entry in response.done.top_k],
                        generated=bytes(generated), finish_reason=response.done.finish_reason,
                        forward_seconds=response.done.forward_seconds)
                    generated = bytearray()
                    request = send_next()
            for _ in call:  # the server ends the call after our half-close
                pass
        except grpc.RpcError as error:
            raise _error_from_rpc(error) from None
        finally:
            outbox.put(None)
            call.cancel()  # no-op when the call already ended

    def generate(self, prompt: bytes = b"", session_id: str = "",
                 sampling: Optional[hecate_pb2.SamplingParams] = None,
                 on_token: Optional[Callable[[int, float], None]] = None,
                 **sampling_kwargs) -> GenerateResult:
        """Feeds prompt to session_id (or a temporary session when empty) and
        samples a continuation. Give sampling, or its fields as keywords
        (max_tokens, temperature, top_k, top_p, seed, stop). on_token(token,
        logprob) sees each token as it arrives."""
        if sampling is None:
            sampling = sampling_params(**sampling_kwargs)
        elif sampling_kwargs:
            raise ValueError("generate takes sampling or its fields as keywords, not both")
        request = hecate_pb2.GenerateRequest(session_id=session_id, prompt=prompt,
                                             sampling=sampling)
        text = bytearray()
        logprobs: List[float] = []
        done = None
        pulse_id = 0
        try:
            for response in self._stub.Generate(request, metadata=self._metadata,
                                                timeout=self._timeout):
                if response.HasField("token"):
                    text.append(response.token.token)
                    logprobs.append(response.token.logprob)
                    if on_token is not None:
                        on_token(response.token.token, response.token.logprob)
                elif response.HasField("done"):
                    done = response.done
                    pulse_id = response.pulse_id
        except grpc.RpcError as error:
            raise _error_from_rpc(error) from None
        if done is None:
            raise HecateError(grpc.StatusCode.INTERNAL,
                              "Generate ended without a final (done) response")
        return GenerateResult(text=bytes(text), logprobs=logprobs,
                              finish_reason=done.finish_reason, pulse_id=pulse_id)
