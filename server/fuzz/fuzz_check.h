// FUZZ_CHECK: the one way a Hecate fuzz target reports a broken invariant.
// It prints the condition and a message to stderr and aborts, which libFuzzer
// records as a crash (with the input) and the corpus-replay tests as a
// failure. Unlike assert it is never compiled out.
#ifndef HECATE_SERVER_FUZZ_FUZZ_CHECK_H_
#define HECATE_SERVER_FUZZ_FUZZ_CHECK_H_

#include <cstdio>
#include <cstdlib>
#include <string>

#define FUZZ_CHECK(condition, message)                                              \
  do {                                                                              \
    if (!(condition)) {                                                             \
      std::fprintf(stderr, "%s:%d: FUZZ_CHECK(%s) failed: %s\n", __FILE__, __LINE__, \
                   #condition, std::string(message).c_str());                       \
      std::abort();                                                                 \
    }                                                                               \
  } while (false)

#endif  // HECATE_SERVER_FUZZ_FUZZ_CHECK_H_
