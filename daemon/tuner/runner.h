// Runner: runs one job's loop through a narrow context, the same for every kind of
// job. The job manager resolves the space, builds the session and lends the rest;
// the runner decides nothing itself (the session does) and owns nothing it is lent.
//
// SyncRunner (sync_runner.h) is the loop of a job that runs its workload once per
// sample. LiveRunner (live_runner.h), beside it, samples a service that runs on its
// own every sampling_interval, with the same metric sources, knobs and events, and
// its own decisions (LiveSession).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <nlohmann/json.hpp>

#include "common/config.h"
#include "common/space.h"
#include "daemon/knobs/knob_bindings.h"
#include "daemon/store/store.h"
#include "daemon/tuner/clock.h"
#include "daemon/tuner/live_session.h"
#include "daemon/tuner/metric_source.h"
#include "daemon/tuner/tuning_session.h"

namespace hone {

class LiveProbe;

// How a run ended: the job's final state and why.
struct Outcome {
  JobState state = JobState::kCompleted;
  std::string reason;
};

// Where a runner records each sample (the store) and reads back what an earlier
// run of the same job recorded (a resume).
class TrialLog {
 public:
  virtual ~TrialLog() = default;
  // One sample; with `new_trial`, the trial starts with it (one transaction).
  virtual Status AddSample(int64_t trial, int seq, const SampleResult& sample,
                           const Store::NewTrial* new_trial) = 0;
};

class StoreTrialLog : public TrialLog {
 public:
  StoreTrialLog(Store* store, int64_t job) : store_(store), job_(job) {}
  Status AddSample(int64_t trial, int seq, const SampleResult& sample,
                   const Store::NewTrial* new_trial) override {
    return store_->AddSample(job_, trial, seq, sample, new_trial);
  }

 private:
  Store* store_;
  int64_t job_;
};

// What a runner is lent. Every pointer and callback must outlive Run.
struct RunContext {
  int64_t job = 0;
  const JobSpec* spec = nullptr;
  const SearchSpace* space = nullptr;
  // The knob applier: the job's system knobs over the ledger (may be empty).
  KnobBindings* knobs = nullptr;
  MetricSource* metric = nullptr;  // a sync job's samples
  LiveProbe* probe = nullptr;      // a live job's
  TrialLog* log = nullptr;
  // The decisions; touched only on `worker`. A sync job has a session, a live job
  // a live session.
  TuningSession* session = nullptr;
  LiveSession* live = nullptr;
  boost::asio::thread_pool* worker = nullptr;
  const Clock* clock = nullptr;
  // The cancel token: set when the job must stop (cancelled, honed stopping); the
  // run then ends with this outcome at the next step.
  std::function<std::optional<Outcome>()> stop;
  // The job's run time so far, in seconds (budgets: max_minutes).
  std::function<double()> elapsed;
  // Events for the job's watchers, what it is doing, and what the user should know.
  std::function<void(const nlohmann::json& event)> publish;
  std::function<void(const char* phase)> phase;
  std::function<void(const std::string& note)> note;
  // Computed on the worker after each recorded sample (what status shows), then
  // handed to `progress` on the event loop.
  std::function<nlohmann::json()> counts;
  std::function<void(nlohmann::json counts)> progress;
  // Samples already recorded per trial: a resumed job's (empty for a new one).
  std::map<int64_t, int> taken;
  // A live job's state (LiveSession::SaveState) to keep durably; called on the event
  // loop after each decision that changes it.
  std::function<void(nlohmann::json state)> save_live;
};

// Sets `config`'s system knobs after looking for knobs that someone else changed;
// each change is logged with `what` ("trial 5"). A failed write is undone.
boost::asio::awaitable<Status> SetSystemKnobs(RunContext& context, const Config& config,
                                              const std::string& what);

class Runner {
 public:
  virtual ~Runner() = default;
  virtual boost::asio::awaitable<Outcome> Run(RunContext& context) = 0;
};

}  // namespace hone
