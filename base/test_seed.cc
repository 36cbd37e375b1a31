#include "base/test_seed.h"

#include <cstdio>
#include <cstdlib>
#include <random>

namespace hecate {

uint64_t TestSeed() {
  const char* env = std::getenv("HECATE_TEST_SEED");
  uint64_t seed = 0;
  if (env != nullptr && *env != '\0') {
    seed = std::strtoull(env, nullptr, 10);
  } else {
    std::random_device device;
    seed = (static_cast<uint64_t>(device()) << 32) | device();
  }
  std::printf("HECATE_TEST_SEED=%llu\n", static_cast<unsigned long long>(seed));
  std::fflush(stdout);
  return seed;
}

}  // namespace hecate
