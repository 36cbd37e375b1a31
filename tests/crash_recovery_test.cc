// kill -9 during offload, named export and drain, again and again, then
// restart: every session and named checkpoint the daemon acknowledged is
// intact, bit for bit, and continues; stray temporary files go at restart.
//
// One client works sequentially (one request in flight at a time, so which
// request a kill interrupted is known exactly) on a few sessions and a few
// checkpoint names that are overwritten again and again:
//   - offload rounds (--device_memory_budget=1: every idle session is written
//     to disk before its reply goes out, and read back on its next use):
//     chunks, exports and named exports until SIGKILL at a random moment.
//     Afterwards every session is at exactly its last acknowledged state
//     (export bytes equal), except that the request in flight may have been
//     applied whole; every name holds its last acknowledged checkpoint, or the
//     one in flight.
//   - drain rounds (default budget: touched sessions stay in memory): SIGTERM,
//     then SIGKILL a random moment into the drain. Sessions the round never
//     touched must be intact; a touched one's newest states were only in
//     memory, so it is found at one of the states acknowledged for it since
//     it was last on disk (the drain may or may not have saved the newest),
//     never lost: a session brought back from disk keeps its file until a
//     newer one replaces it.
// After each kill the restart must remove every temporary file the killed
// daemon left, at once (its pid is dead on this host), and those planted
// beside them for a dead writer of this host and an old-style name aged past
// 10 minutes; planted files of a live writer of this host and of another
// host's writer are young and must be kept (docs/CHECKPOINT_FORMAT.md). At the end a clean SIGTERM drain
// and restart find everything, and a session continues exactly as a copy
// restored from its acknowledged bytes does.
//
// The kill moments and operations come from TestSeed(); the outcome checked
// is the same whatever they are.
#include <signal.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/test_seed.h"
#include "sessions/checkpoint_file.h"
#include "tests/test_util/e2e.h"

namespace hecate::testing {
namespace {

constexpr int kSessions = 5;
constexpr int kNames = 3;
constexpr char kOffloadBudget[] = "--device_memory_budget=1";

// A checkpoint as acknowledged: pulse id and exact bytes.
struct Acked {
  uint64_t pulse = 0;
  std::string bytes;
  bool operator==(const Acked& o) const { return pulse == o.pulse && bytes == o.bytes; }
};

// What the client knows: each session's acknowledged state (and, for drain
// rounds, every state acknowledged since it was last known durable), each
// name's acknowledged checkpoint, and the request in flight when the daemon
// died.
struct Truth {
  std::vector<std::string> ids;
  std::vector<Acked> session;
  std::vector<std::vector<Acked>> history;  // per session, since last verified
  std::map<std::string, Acked> named;
  // In flight: a chunk to `session` of `input_bytes`, or a named export.
  int inflight_session = -1;
  uint64_t inflight_input_bytes = 0;
  std::string inflight_name;
};

class CrashRecoveryTest : public E2eTest {
 protected:
  CrashRecoveryTest() : rng_(TestSeed()) {}

  void Restart(bool offload) {
    daemon_.reset();
    StartDaemon(offload ? std::vector<std::string>{kOffloadBudget} : std::vector<std::string>{});
  }

  // The session's exported checkpoint, or its status.
  absl::StatusOr<Acked> Export(const std::string& id, const std::string& name = "") {
    absl::StatusOr<v1::ExportCheckpointResponse> e = alice_->ExportCheckpoint(id, name);
    if (!e.ok()) return e.status();
    return Acked{e->pulse_id(), e->checkpoint_data()};
  }

  // One request of the workload; false when the daemon is gone.
  bool Step(std::mt19937_64& rng, StreamSession& stream) {
    const int s = static_cast<int>(rng() % kSessions);
    const std::string& id = truth_.ids[s];
    if (rng() % 3 != 0) {  // a chunk, then its state
      const std::string input = Text(16 + rng() % 48, rng());
      truth_.inflight_session = s;
      truth_.inflight_input_bytes = input.size();
      absl::StatusOr<v1::StreamResponse> done = stream.Call(TopKRequest(id, input, 1));
      if (!done.ok() || done->has_error()) return false;
      EXPECT_EQ(done->pulse_id(), truth_.session[s].pulse + input.size());
      absl::StatusOr<Acked> state = Export(id);
      if (!state.ok()) {  // the chunk is acknowledged, its bytes are not known
        truth_.session[s].pulse = done->pulse_id();
        truth_.session[s].bytes.clear();
        truth_.inflight_session = -1;
        return false;
      }
      EXPECT_EQ(state->pulse, done->pulse_id());
      truth_.session[s] = *state;
      truth_.history[s].push_back(*state);
      truth_.inflight_session = -1;
    } else {  // a named export, overwriting an earlier one
      const std::string name = absl::StrCat("ck", rng() % kNames);
      truth_.inflight_name = name;
      truth_.inflight_session = s;
      truth_.inflight_input_bytes = 0;
      absl::StatusOr<Acked> saved = Export(id, name);
      if (!saved.ok()) return false;
      EXPECT_EQ(*saved, truth_.session[s]) << "export changed the session";
      truth_.named[name] = *saved;
      truth_.inflight_name.clear();
      truth_.inflight_session = -1;
    }
    return true;
  }

  // Runs the workload until the daemon dies; kills it after `delay`.
  void WorkUntilKilled(absl::Duration delay) {
    std::mt19937_64 rng(rng_());
    std::atomic<bool> gone{false};
    std::atomic<int> steps{0};
    std::thread worker([&] {
      std::unique_ptr<StreamSession> stream = *alice_->OpenStream(absl::Seconds(60));
      while (!gone.load() && Step(rng, *stream)) ++steps;
    });
    // The delay counts from the first acknowledged request: a restarted
    // daemon on a loaded machine may take longer than it to answer at all.
    const absl::Time first_deadline = absl::Now() + absl::Seconds(30);
    while (steps.load() == 0 && absl::Now() < first_deadline) {
      absl::SleepFor(absl::Milliseconds(5));
    }
    absl::SleepFor(delay);
    killed_pid_ = daemon_->pid();
    (void)daemon_->Stop(SIGKILL);
    gone.store(true);
    worker.join();
    std::cout << "killed after " << steps.load() << " requests" << std::endl;
    EXPECT_GT(steps.load(), 0);
  }

  // Every ".tmp-" file under the state directory.
  std::vector<std::filesystem::path> TempFiles() const {
    std::vector<std::filesystem::path> found;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(state_dir_)) {
      if (absl::StartsWith(entry.path().filename().string(), ".tmp-")) found.push_back(entry.path());
    }
    return found;
  }

  // Plants temporary files next to the sessions and the checkpoints: the
  // killed daemon's (young: it is dead on this host), an old-style name's
  // aged past the 10-minute rule, both to be removed by the restart; one of
  // a live writer of this host (this test) and one of another host's writer
  // (another token), both young, to be kept.
  void PlantTempFiles() {
    ASSERT_GT(killed_pid_, 0);
    const std::string token = TempWriterToken();
    ASSERT_NE(token, "unknown");
    std::cout << TempFiles().size() << " temporary files left by the kill" << std::endl;
    const std::filesystem::path user = std::filesystem::path(state_dir_) / "users" / "alice";
    const struct timeval old[2] = {{time(nullptr) - 11 * 60, 0}, {time(nullptr) - 11 * 60, 0}};
    for (const char* dir : {"sessions", "checkpoints"}) {
      std::filesystem::create_directories(user / dir);
      const std::filesystem::path aged = user / dir / ".tmp-planted-999999-1";
      std::ofstream(aged) << "torn";
      ASSERT_EQ(::utimes(aged.c_str(), old), 0) << aged;
      std::ofstream(user / dir / absl::StrCat(".tmp-dead-writer.ckpt-", token, "-", killed_pid_,
                                              "-7")) << "torn";
      for (const std::string& kept :
           {absl::StrCat(".tmp-live-writer.ckpt-", token, "-", ::getpid(), "-1"),
            absl::StrCat(".tmp-other-host.ckpt-0123456789abcdef-", killed_pid_, "-1")}) {
        std::ofstream(user / dir / kept) << "being written";
        survivors_.insert(user / dir / kept);
      }
    }
  }

  // After a kill and restart: sessions and names against the truth.
  // `rolled_back`: a session may be at any state acknowledged since the last
  // verification (its newest were only in memory).
  void Verify(bool rolled_back) {
    for (const std::filesystem::path& path : TempFiles()) {
      EXPECT_TRUE(survivors_.count(path) == 1) << path << " survived the restart";
    }
    for (const std::filesystem::path& path : survivors_) {
      EXPECT_TRUE(std::filesystem::exists(path)) << path << " was removed though its writer may run";
      std::filesystem::remove(path);
    }
    survivors_.clear();
    for (int s = 0; s < kSessions; ++s) {
      const std::string& id = truth_.ids[s];
      absl::StatusOr<Acked> found = Export(id);
      ASSERT_TRUE(found.ok()) << "session " << s << " lost: " << found.status();
      bool matches = *found == truth_.session[s] ||
                     (truth_.session[s].bytes.empty() && found->pulse == truth_.session[s].pulse);
      if (s == truth_.inflight_session && truth_.inflight_input_bytes > 0) {
        // The chunk in flight was applied whole or not at all.
        matches |= found->pulse == truth_.session[s].pulse + truth_.inflight_input_bytes;
      }
      if (rolled_back) {
        for (const Acked& earlier : truth_.history[s]) matches |= *found == earlier;
      }
      EXPECT_TRUE(matches) << "session " << s << " at pulse " << found->pulse
                           << ", acknowledged " << truth_.session[s].pulse;
      truth_.session[s] = *found;
      truth_.history[s] = {*found};
    }
    for (int n = 0; n < kNames; ++n) {
      const std::string name = absl::StrCat("ck", n);
      v1::RestoreCheckpointRequest restore;
      restore.set_checkpoint_name(name);
      absl::StatusOr<v1::Session> copy = alice_->RestoreCheckpoint(restore);
      const auto acked = truth_.named.find(name);
      if (!copy.ok()) {
        EXPECT_EQ(copy.status().code(), absl::StatusCode::kNotFound) << copy.status();
        EXPECT_TRUE(acked == truth_.named.end()) << name << " was acknowledged and is gone";
        continue;
      }
      absl::StatusOr<Acked> bytes = Export(copy->id());
      ASSERT_TRUE(bytes.ok()) << bytes.status();
      bool matches = acked != truth_.named.end() && *bytes == acked->second;
      if (name == truth_.inflight_name) {
        matches |= *bytes == truth_.session[truth_.inflight_session];
        for (const Acked& h : truth_.history[truth_.inflight_session]) matches |= *bytes == h;
      }
      EXPECT_TRUE(matches) << name << " holds pulse " << bytes->pulse << ", not what was acknowledged";
      truth_.named[name] = *bytes;
      EXPECT_TRUE(alice_->DeleteSession(copy->id()).ok());
    }
    truth_.inflight_session = -1;
    truth_.inflight_name.clear();
  }

  std::mt19937_64 rng_;
  Truth truth_;
  pid_t killed_pid_ = -1;
  std::set<std::filesystem::path> survivors_;  // planted temporary files to be kept
};

TEST_F(CrashRecoveryTest, KillNineDuringOffloadExportAndDrainLosesNothingAcknowledged) {
  StartDaemon({kOffloadBudget});
  for (int s = 0; s < kSessions; ++s) {
    absl::StatusOr<v1::Session> created = alice_->CreateSession();
    ASSERT_TRUE(created.ok()) << created.status();
    truth_.ids.push_back(created->id());
    absl::StatusOr<Acked> state = Export(created->id());
    ASSERT_TRUE(state.ok()) << state.status();
    truth_.session.push_back(*state);
    truth_.history.push_back({*state});
  }
  // o: offload round; d: drain round.
  for (char round : std::string("oodood")) {
    if (round == 'o') {
      WorkUntilKilled(absl::Milliseconds(300 + rng_() % 1200));
    } else {
      Restart(/*offload=*/false);
      std::mt19937_64 rng(rng_());
      std::unique_ptr<StreamSession> stream = *alice_->OpenStream(absl::Seconds(60));
      for (int i = 0; i < 8; ++i) ASSERT_TRUE(Step(rng, *stream));
      stream.reset();
      ASSERT_EQ(::kill(daemon_->pid(), SIGTERM), 0);
      absl::SleepFor(absl::Milliseconds(rng_() % 1500));
      killed_pid_ = daemon_->pid();
      (void)daemon_->Stop(SIGKILL);
    }
    PlantTempFiles();
    if (HasFatalFailure()) return;
    Restart(/*offload=*/true);
    Verify(/*rolled_back=*/round == 'd');
    if (HasFatalFailure()) return;
  }

  // A clean drain keeps everything, and a session continues exactly like a
  // copy restored from its acknowledged bytes.
  absl::StatusOr<int> exit_code = daemon_->Stop(SIGTERM);
  ASSERT_TRUE(exit_code.ok()) << exit_code.status();
  EXPECT_EQ(*exit_code, 0);
  Restart(/*offload=*/false);
  Verify(/*rolled_back=*/false);
  const int s = static_cast<int>(rng_() % kSessions);
  v1::RestoreCheckpointRequest twin;
  twin.set_checkpoint_data(truth_.session[s].bytes);
  twin.set_expected_pulse_id(truth_.session[s].pulse);
  absl::StatusOr<v1::Session> copy = alice_->RestoreCheckpoint(twin);
  ASSERT_TRUE(copy.ok()) << copy.status();
  std::unique_ptr<StreamSession> stream = *alice_->OpenStream(absl::Seconds(60));
  const std::string next = Text(50, rng_());
  absl::StatusOr<v1::StreamResponse> a = stream->Call(TopKRequest(truth_.ids[s], next, 256));
  absl::StatusOr<v1::StreamResponse> b = stream->Call(TopKRequest(copy->id(), next, 256));
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_TRUE(a->has_done() && b->has_done());
  EXPECT_EQ(a->pulse_id(), b->pulse_id());
  EXPECT_EQ(a->done().top_k_size(), 256);
  for (int i = 0; i < a->done().top_k_size(); ++i) {
    EXPECT_EQ(a->done().top_k(i).token(), b->done().top_k(i).token());
    EXPECT_EQ(a->done().top_k(i).logprob(), b->done().top_k(i).logprob());
  }
}

}  // namespace
}  // namespace hecate::testing
