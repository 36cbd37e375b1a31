// ParallelFor: splits [0, n) into fixed chunks run on a small shared pool.
//
// The split depends only on n and the grain, never on timing or thread
// count, and each index is handled by exactly one call: results that are
// computed per index are bitwise deterministic. Safe to call from many
// threads at once (each call waits only for its own chunks).
#ifndef HECATE_BASE_PARALLEL_H_
#define HECATE_BASE_PARALLEL_H_

#include <cstdint>
#include <functional>

namespace hecate {

// Runs fn(begin, end) over chunks of at least `grain` indices. A
// ParallelFor called from inside a chunk of one that has at least as many
// chunks as threads runs inline on its caller (the same results: the split
// never changes what an index computes).
void ParallelFor(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

// Threads the pool uses besides the caller (hardware threads - 1).
int PoolThreads();

// From now on every ParallelFor runs fn(0, n) on its caller's thread, as it
// does without pool threads (the same results, bit for bit). For harnesses
// that run everything on one thread (server/fuzz/stream_harness.h).
void RunParallelForInline();

}  // namespace hecate

#endif  // HECATE_BASE_PARALLEL_H_
