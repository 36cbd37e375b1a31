"""A thin Python client for hecated (the hecate.v1 gRPC API).

    from hecate_client import HecateClient

    client = HecateClient("127.0.0.1:50051", api_key="k3y")
    session = client.create_session()
    for result in client.stream(session.id, [b"Hello, ", b"world"], top_k=5):
        print(result.pulse_id, result.top_k)
    print(client.generate(b"Once upon a time", max_tokens=32, seed=7).text)
    print(client.evaluate(open("text.txt", "rb").read()).bits_per_byte)
    data = client.export_checkpoint(session.id).checkpoint_data
    copy = client.restore_checkpoint(data=data, expected_pulse_id=session.pulse_id + 12)

Every failed call raises HecateError, carrying the gRPC status code and the
server's message (the same code whether the whole call failed or one chunk
of a stream did). Messages are the generated hecate.v1 protos.
"""

import concurrent.futures
import dataclasses
import math
import queue
import threading
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Tuple

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
class ScoreResult:
    """The log-likelihood of bytes under the model (hecate.v1 ChunkScore),
    for one chunk or summed over several."""

    # Natural log, summed over the scored bytes; <= 0.
    sum_logprob: float
    scored_bytes: int
    # Whether the first byte was scored (False for a fresh session: it has no
    # distribution before its first byte).
    first_byte_scored: bool
    # Each scored byte's log-probability, in order, when per_byte was asked.
    byte_logprobs: Optional[List[float]]

    @property
    def nats_per_byte(self) -> float:
        return -self.sum_logprob / self.scored_bytes if self.scored_bytes else float("nan")


@dataclasses.dataclass
class EvalResult:
    """The outcome of evaluate(): how well the model predicts a text."""

    bytes: int
    scored_bytes: int
    sum_logprob: float
    # window 0: one session carried its state through the whole text.
    window: int
    # With per_byte: {offset: log-probability} for every scored byte.
    byte_logprobs: Optional[Dict[int, float]]

    @property
    def nats_per_byte(self) -> float:
        return -self.sum_logprob / self.scored_bytes if self.scored_bytes else float("nan")

    @property
    def bits_per_byte(self) -> float:
        return self.nats_per_byte / math.log(2)


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
    # The chunk's own log-likelihood, when score was asked.
    score: Optional[ScoreResult] = None


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


def _score_result(score: hecate_pb2.ChunkScore, per_byte: bool) -> ScoreResult:
    return ScoreResult(sum_logprob=score.sum_logprob, scored_bytes=score.scored_bytes,
                       first_byte_scored=score.first_byte_scored,
                       byte_logprobs=list(score.byte_logprobs) if per_byte else None)


def eval_windows(size: int, window: int) -> List[Tuple[int, int]]:
    """The [begin, end) windows of `hecatectl eval --window`: window k is
    bytes [k*window, k*window + window + 1), its first byte context only, so
    every byte after byte 0 is scored exactly once."""
    return [(begin, min(size, begin + window + 1))
            for begin in range(0, max(size - 1, 0), window)]


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

    def list_checkpoints(self) -> hecate_pb2.ListCheckpointsResponse:
        """The checkpoints the caller stored by name (.checkpoints, by name: name,
        size_bytes, create_time, pulse_id) and its .used_bytes of .quota_bytes."""
        return self._unary(self._stub.ListCheckpoints, hecate_pb2.ListCheckpointsRequest())

    def delete_checkpoint(self, name: str) -> None:
        """Deletes the caller's checkpoint `name`, freeing its quota (NOT_FOUND
        when the caller has none by that name)."""
        self._unary(self._stub.DeleteCheckpoint, hecate_pb2.DeleteCheckpointRequest(name=name))

    # Streaming --------------------------------------------------------------

    def stream(self, session_id: str, chunks: Iterable[bytes], top_k: int = 0,
               sampling: Optional[hecate_pb2.SamplingParams] = None, score: bool = False,
               per_byte: bool = False) -> Iterator[ChunkResult]:
        """Streams chunks through one Stream call, one at a time (the next is
        sent when the previous one is done), yielding a ChunkResult per chunk.
        top_k > 0 asks for the next-token distribution after each chunk;
        sampling asks for a continuation after each chunk instead; score for
        the log-likelihood of each chunk's own bytes (per_byte: also each
        byte's log-probability). A failed chunk raises HecateError and ends
        the call; closing the generator early cancels it."""
        if sum([bool(top_k), sampling is not None, score]) > 1:
            raise ValueError("stream takes one of top_k, sampling and score")
        if per_byte and not score:
            raise ValueError("per_byte needs score=True")
        output = hecate_pb2.OutputSpec()
        if sampling is not None:
            output.sample.CopyFrom(sampling)
        elif top_k:
            output.top_k.k = top_k
        elif score:
            output.score.per_byte = per_byte
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
                        forward_seconds=response.done.forward_seconds,
                        score=(_score_result(response.done.score, per_byte)
                               if response.done.HasField("score") else None))
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

    # Scoring ----------------------------------------------------------------

    def score(self, session_id: str, chunks: Iterable[bytes],
              per_byte: bool = False) -> ScoreResult:
        """Streams chunks through the session with score output and returns
        the log-likelihood of all their bytes, each conditioned on everything
        the session saw before it. The session advances as with any chunk.
        The first byte is scored only when the session knows its next-byte
        distribution (not at pulse 0, not right after a restore)."""
        total = ScoreResult(sum_logprob=0.0, scored_bytes=0, first_byte_scored=False,
                            byte_logprobs=[] if per_byte else None)
        for number, result in enumerate(self.stream(session_id, chunks, score=True,
                                                    per_byte=per_byte)):
            if result.score is None:
                raise HecateError(grpc.StatusCode.INTERNAL,
                                  "the server answered a score request without a score")
            if number == 0:
                total.first_byte_scored = result.score.first_byte_scored
            total.sum_logprob += result.score.sum_logprob
            total.scored_bytes += result.score.scored_bytes
            if per_byte:
                total.byte_logprobs.extend(result.score.byte_logprobs)
        return total

    def evaluate(self, text: bytes, chunk_bytes: int = 65536, window: int = 0,
                 per_byte: bool = False, workers: int = 8) -> EvalResult:
        """What `hecatectl eval` measures. window 0: one fresh session reads
        the whole text in chunks of chunk_bytes, carrying its state, so every
        byte after the first is scored with all the text before it. window N:
        eval_windows(); each window through a fresh session, `workers` at a
        time. Every session is deleted at the end."""
        if len(text) < 2:
            raise ValueError("evaluate needs at least 2 bytes (a fresh session's first "
                             "byte is context only)")
        if chunk_bytes < 1 or window < 0 or workers < 1:
            raise ValueError("chunk_bytes and workers must be >= 1, window >= 0")
        spans = [(0, len(text))] if window == 0 else eval_windows(len(text), window)
        lock = threading.Lock()
        result = EvalResult(bytes=len(text), scored_bytes=0, sum_logprob=0.0, window=window,
                            byte_logprobs={} if per_byte else None)

        def run(span: Tuple[int, int]) -> None:
            begin, end = span
            session = self.create_session()
            try:
                pieces = [text[at:min(end, at + chunk_bytes)]
                          for at in range(begin, end, chunk_bytes)]
                scored = self.score(session.id, pieces, per_byte=per_byte)
            finally:
                self.delete_session(session.id)
            if scored.first_byte_scored:
                raise HecateError(grpc.StatusCode.INTERNAL,
                                  "a fresh session scored its first byte")
            with lock:
                result.sum_logprob += scored.sum_logprob
                result.scored_bytes += scored.scored_bytes
                if per_byte:
                    for offset, logprob in enumerate(scored.byte_logprobs, start=begin + 1):
                        result.byte_logprobs[offset] = logprob

        with concurrent.futures.ThreadPoolExecutor(max_workers=min(workers, len(spans))) as pool:
            for future in [pool.submit(run, span) for span in spans]:
                future.result()
        return result
