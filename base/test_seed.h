// test_seed.h: the seed of a random test, printed so a failure can be replayed.
//
//   std::mt19937_64 rng(TestSeed());
//
// TestSeed() returns HECATE_TEST_SEED from the environment when it is set,
// else a fresh random seed; either way it prints "HECATE_TEST_SEED=N" once per
// call, so `HECATE_TEST_SEED=N bazel test ...` (or --test_env) replays the run.
#ifndef HECATE_BASE_TEST_SEED_H_
#define HECATE_BASE_TEST_SEED_H_

#include <cstdint>

namespace hecate {

uint64_t TestSeed();

}  // namespace hecate

#endif  // HECATE_BASE_TEST_SEED_H_
