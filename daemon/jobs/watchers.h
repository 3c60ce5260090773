// Watchers: who follows which job, and the Subscription each of them holds.
//
// A Subscription is owned by whoever watches (a connection's session). It ends in
// one of two ways, each exactly once: the watcher lets go of it (the connection
// closed: its destructor), or the job ends (the job manager publishes the job's
// last event, with `last` set, and forgets every watcher of that job). A sink may
// end any subscription, its own included, while an event is being published.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <vector>

#include <nlohmann/json.hpp>

namespace hone {

// Receives a job's events; `last` is set on the job's last one (its end).
using EventSink = std::function<void(const nlohmann::json& event, bool last)>;

class Watchers;

class Subscription {
 public:
  Subscription() = default;
  Subscription(Subscription&& other) noexcept { *this = std::move(other); }
  Subscription& operator=(Subscription&& other) noexcept;
  ~Subscription() { Cancel(); }
  // Stops the events (nothing happens when the job's end already did).
  void Cancel();
  // Whether events may still come.
  bool active() const;

 private:
  friend class Watchers;
  Subscription(std::weak_ptr<Watchers> watchers, uint64_t token)
      : watchers_(std::move(watchers)), token_(token) {}
  std::weak_ptr<Watchers> watchers_;
  uint64_t token_ = 0;
};

class Watchers : public std::enable_shared_from_this<Watchers> {
 public:
  Subscription Add(int64_t job, EventSink sink);
  // Sends `event` to the job's watchers; with `last`, they are forgotten after it.
  void Publish(int64_t job, const nlohmann::json& event, bool last);
  // Forgets the job's watchers without telling them (the job is deleted).
  void Drop(int64_t job);
  size_t size() const { return sinks_.size(); }

 private:
  friend class Subscription;
  struct Watcher {
    int64_t job;
    EventSink sink;
  };
  std::map<uint64_t, Watcher> sinks_;
  uint64_t next_token_ = 1;
};

}  // namespace hone
