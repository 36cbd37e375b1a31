// Flags that more than one hecatectl verb reads. Verb-only flags live in the
// verb's own file.
#ifndef HECATE_CLIENT_CTL_SHARED_FLAGS_H_
#define HECATE_CLIENT_CTL_SHARED_FLAGS_H_

#include <cstdint>
#include <string>

#include "absl/flags/declare.h"

ABSL_DECLARE_FLAG(int64_t, chunk_bytes);  // stream, bench, eval
ABSL_DECLARE_FLAG(int32_t, top_k);        // stream, bench (output); generate (sampling)
ABSL_DECLARE_FLAG(uint64_t, seed);        // generate (sampler), bench (pseudo-text)
ABSL_DECLARE_FLAG(std::string, name);     // checkpoint, restore
ABSL_DECLARE_FLAG(std::string, expected_pulse_id);  // stream, generate

#endif  // HECATE_CLIENT_CTL_SHARED_FLAGS_H_
