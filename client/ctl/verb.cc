#include "client/ctl/verb.h"

namespace hecate {

const std::vector<Verb>& AllVerbs() {
  static const std::vector<Verb>* verbs = new std::vector<Verb>{
      {"create", "",
       "create an empty session (pulse 0); --keep_on_expiry: stored as checkpoint "
       "expired-<id> when it expires; --pinned: never moved below host memory",
       {"keep_on_expiry", "pinned"}, RunCreate},
      {"list", "", "list your sessions, oldest first", {}, RunList},
      {"get", "ID", "show one session", {}, RunGet},
      {"delete", "ID", "delete a session", {}, RunDelete},
      {"pin", "ID",
       "pin the session: never moved below host memory (within the server's pin quota)", {},
       RunPin},
      {"unpin", "ID", "unpin the session, freeing its place in your pin quota", {}, RunUnpin},
      {"update", "ID",
       "change the session's flags: --pinned=true|false, --keep_on_expiry=true|false (only "
       "those given change)",
       {"pinned", "keep_on_expiry"}, RunUpdate},
      {"info", "", "describe the served model", {}, RunInfo},
      {"stream", "ID [FILE|-]",
       "stream a file (or stdin) through the session in chunks; print the pulse id "
       "reached per chunk (and the top-k next bytes with --top_k)",
       {"chunk_bytes", "top_k", "expected_pulse_id"}, RunStream},
      {"eval", "[FILE|-]",
       "score a file (or stdin) with the model through a fresh session (or fresh windows "
       "with --window=N) and print nats/byte and bits/byte (--chunk_bytes defaults to 65536 "
       "here)",
       {"chunk_bytes", "window", "per_byte_out"}, RunEval},
      {"generate", "[ID]",
       "feed --prompt and print a sampled continuation as it streams (no ID: a "
       "temporary session)",
       {"prompt", "max_tokens", "temperature", "top_k", "top_p", "seed", "stop",
        "stop_sequences", "alternatives", "expected_pulse_id"},
       RunGenerate},
      {"checkpoint", "ID",
       "export a checkpoint to a local file (--out) and/or store it server-side (--name)",
       {"out", "name"}, RunCheckpoint},
      {"restore", "",
       "restore a checkpoint from a local file (--in) or a stored name (--name) into a "
       "new session, or over --session",
       {"in", "name", "session", "expect_pulse", "expect_digest"}, RunRestore},
      {"checkpoints", "",
       "list the checkpoints you stored by name (pulse, size, time) and your quota",
       {}, RunCheckpoints},
      {"delete-checkpoint", "NAME", "delete a checkpoint you stored by name, freeing quota",
       {}, RunDeleteCheckpoint},
      {"fork", "ID",
       "create a new session with a copy of session ID (state, transcript, digest), as it is "
       "or as it was at --at=N; both continue independently",
       {"at"}, RunFork},
      {"rewind", "ID",
       "put the session back to pulse --to=N (replayed from the server's snapshots; bit for "
       "bit what feeding it the first N bytes gave)",
       {"to"}, RunRewind},
      {"transcript", "ID",
       "print the bytes the session consumed (its journal) from --from on, or write them to "
       "--out",
       {"from", "out"}, RunTranscript},
      {"bench", "",
       "N concurrent fresh sessions stream chunks of text; print throughput and chunk "
       "latency p50/p90/p99/max; exit 1 if any request failed",
       {"sessions", "chunk_bytes", "duration", "tokens", "requests_per_session", "mode",
        "max_tokens", "top_k", "text", "seed"},
       RunBench},
  };
  return *verbs;
}

}  // namespace hecate
