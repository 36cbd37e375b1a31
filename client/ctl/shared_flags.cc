#include "client/ctl/shared_flags.h"

#include "absl/flags/flag.h"

ABSL_FLAG(int64_t, chunk_bytes, 4096,
          "stream, bench, eval: bytes per chunk (each chunk is one Stream request); eval's "
          "default is 65536, at most the server's --max_chunk_bytes");
ABSL_FLAG(int32_t, top_k, 0,
          "stream, bench: also return the K most likely next bytes with log-probs after each "
          "chunk (0: none); generate: sample only among the K most likely (0: no cut)");
ABSL_FLAG(uint64_t, seed, 0,
          "generate: sampler seed (same seed and pulse id, same tokens); bench: seed of the "
          "built-in pseudo-text");
ABSL_FLAG(std::string, expected_pulse_id, "",
          "stream: apply the first chunk only if the session is at this pulse id, each next "
          "one only where the previous one left it (FAILED_PRECONDITION naming the session's "
          "pulse id otherwise; nothing applied twice); generate: the prompt likewise");
ABSL_FLAG(std::string, name, "",
          "checkpoint: also store the checkpoint server-side under NAME; restore: restore the "
          "checkpoint stored as NAME");
