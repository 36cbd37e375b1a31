// test_temp_dir.h: fresh paths and directories for tests.
//
//   const std::string dir = TestTempDir("store");   // created, empty, unique
//   const std::string path = TestTempPath("keys");  // unique, nothing created
//
// Everything lies under TestTempRoot(): Bazel's per-test $TEST_TMPDIR (which
// Bazel removes), or /tmp outside Bazel. Names are unique per process and
// call and are not derived from the test seed, so a test replayed with
// HECATE_TEST_SEED never finds the files of another run or fixture.
#ifndef HECATE_BASE_TEST_TEMP_DIR_H_
#define HECATE_BASE_TEST_TEMP_DIR_H_

#include <string>

#include "absl/strings/string_view.h"

namespace hecate {

// $TEST_TMPDIR, or /tmp when it is not set.
std::string TestTempRoot();

// "<root>/<name>-<pid>-<n>-<random>", not created.
std::string TestTempPath(absl::string_view name);

// TestTempPath(name), created as an empty directory (aborts the test binary
// with a message if it cannot be: nothing meaningful can run without it).
std::string TestTempDir(absl::string_view name);

}  // namespace hecate

#endif  // HECATE_BASE_TEST_TEMP_DIR_H_
