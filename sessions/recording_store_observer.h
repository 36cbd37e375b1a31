// RecordingStoreObserver: a StoreObserver for tests that keeps everything it
// is told: the latest tier usage, evictions per (from, to), every
// checkpoint event in order, expiries per result and promotions in order.
// Thread-safe.
//
//   RecordingStoreObserver seen;
//   options.observer = &seen;
//   ... store calls ...
//   EXPECT_EQ(seen.Sessions(), 2u);
//   EXPECT_EQ(seen.Evictions(Residency::kDevice, Residency::kDisk), 1u);
#ifndef HECATE_SESSIONS_RECORDING_STORE_OBSERVER_H_
#define HECATE_SESSIONS_RECORDING_STORE_OBSERVER_H_

#include <cstddef>
#include <map>
#include <mutex>
#include <utility>
#include <vector>

#include "sessions/store_observer.h"

namespace hecate {

class RecordingStoreObserver : public StoreObserver {
 public:
  void OnTierUsage(const TierUsage& usage) override {
    std::lock_guard<std::mutex> lock(mu_);
    usage_ = usage;
    ++tier_updates_;
  }
  void OnEviction(Residency from, Residency to) override {
    std::lock_guard<std::mutex> lock(mu_);
    ++evictions_[{from, to}];
  }
  // Derived observers that override this call it to keep recording.
  void OnCheckpoint(const CheckpointEvent& event) override {
    std::lock_guard<std::mutex> lock(mu_);
    checkpoints_.push_back(event);
  }

  void OnExpiry(ExpiryResult result) override {
    std::lock_guard<std::mutex> lock(mu_);
    ++expiries_[result];
  }
  size_t Expiries(ExpiryResult result) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = expiries_.find(result);
    return it == expiries_.end() ? 0 : it->second;
  }
  size_t Pinned() const { return Usage().pinned_sessions; }

  void OnPromotion(Residency from, absl::Duration duration) override {
    std::lock_guard<std::mutex> lock(mu_);
    promotions_.push_back({from, duration});
  }
  // Every promotion reported, in order: (from, duration).
  std::vector<std::pair<Residency, absl::Duration>> Promotions() const {
    std::lock_guard<std::mutex> lock(mu_);
    return promotions_;
  }
  size_t Promotions(Residency from) const {
    size_t n = 0;
    for (const auto& [tier, duration] : Promotions()) n += tier == from;
    return n;
  }

  void OnSnapshot(const SnapshotEvent& event) override {
    std::lock_guard<std::mutex> lock(mu_);
    snapshots_.push_back(event);
  }
  // Every snapshot event reported, in order.
  std::vector<SnapshotEvent> Snapshots() const {
    std::lock_guard<std::mutex> lock(mu_);
    return snapshots_;
  }

  // Forgets everything recorded so far.
  void Clear() {
    std::lock_guard<std::mutex> lock(mu_);
    usage_ = TierUsage();
    tier_updates_ = 0;
    evictions_.clear();
    checkpoints_.clear();
    expiries_.clear();
    promotions_.clear();
    snapshots_.clear();
  }

  TierUsage Usage() const {
    std::lock_guard<std::mutex> lock(mu_);
    return usage_;
  }
  size_t Sessions(Residency tier) const { return Usage().sessions[static_cast<int>(tier)]; }
  size_t Bytes(Residency tier) const { return Usage().bytes[static_cast<int>(tier)]; }
  // All tiers.
  size_t Sessions() const {
    const TierUsage usage = Usage();
    size_t total = 0;
    for (size_t n : usage.sessions) total += n;
    return total;
  }
  size_t TierUpdates() const {
    std::lock_guard<std::mutex> lock(mu_);
    return tier_updates_;
  }
  size_t Evictions(Residency from, Residency to) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = evictions_.find({from, to});
    return it == evictions_.end() ? 0 : it->second;
  }
  std::vector<CheckpointEvent> Checkpoints() const {
    std::lock_guard<std::mutex> lock(mu_);
    return checkpoints_;
  }
  // Checkpoint events of this kind (and code, when given).
  size_t Count(CheckpointEvent::Kind kind) const {
    size_t n = 0;
    for (const CheckpointEvent& e : Checkpoints()) n += e.kind == kind;
    return n;
  }
  size_t Count(CheckpointEvent::Kind kind, absl::StatusCode code) const {
    size_t n = 0;
    for (const CheckpointEvent& e : Checkpoints()) n += e.kind == kind && e.code == code;
    return n;
  }

 private:
  // std::mutex, not absl::Mutex: Debian's absl is not built with TSan.
  mutable std::mutex mu_;
  TierUsage usage_;
  std::vector<SnapshotEvent> snapshots_;
  size_t tier_updates_ = 0;
  std::map<std::pair<Residency, Residency>, size_t> evictions_;
  std::map<ExpiryResult, size_t> expiries_;
  std::vector<CheckpointEvent> checkpoints_;
  std::vector<std::pair<Residency, absl::Duration>> promotions_;
};

}  // namespace hecate

#endif  // HECATE_SESSIONS_RECORDING_STORE_OBSERVER_H_
