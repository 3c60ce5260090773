// JobManager::Job: one job as the job manager holds it. Private to daemon/jobs/.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/config.h"
#include "common/space.h"
#include "daemon/jobs/job_manager.h"
#include "daemon/knobs/knob_bindings.h"
#include "daemon/process/process.h"
#include "daemon/tuner/clock.h"
#include "daemon/tuner/live_probe.h"
#include "daemon/tuner/live_session.h"
#include "daemon/tuner/metric_source.h"
#include "daemon/tuner/tuning_session.h"

namespace hone {

struct JobManager::Job {
  JobRow row;
  JobRequest request;
  JobSpec spec;
  SearchSpace space;
  std::unique_ptr<TuningSession> session;
  // A live job's decisions (workload.kind: live), instead of `session`; the worker's
  // once session_ready, like the session.
  std::unique_ptr<LiveSession> live;
  std::unique_ptr<LiveProbe> probe;  // where a live job's samples come from
  ProcessGroups processes;
  std::unique_ptr<KnobBindings> bindings;  // its system knobs, once started
  std::unique_ptr<MetricSource> metric;    // where its samples come from, once started
  std::vector<std::string> notes;          // things the user should know (status)
  bool cancel_requested = false;
  // Set once `session` is built and only the worker touches it (running jobs).
  bool session_ready = false;
  // Reports being built for it on the worker: it is not deleted meanwhile.
  int busy = 0;
  // The session's counts as of the last step, computed on the worker, read here:
  // status and watchers never wait for the tuner, nor touch its state.
  nlohmann::json progress;
  uint64_t progress_revision = 0;  // bumped with each new `progress`
  std::string phase;
  // Clock::Monotonic() when the job's run time was 0 (earlier, for a resumed job).
  double started = 0;

  // What a status reply is made of, but for the parts that never change; equal
  // keys give the same reply. A field that Summary() starts to show, and that can
  // change while the job lives, must be added here, or status serves it stale.
  struct StatusKey {
    JobState state = JobState::kQueued;
    std::string message, stop_reason, phase;
    double started_at = 0, finished_at = 0;
    int64_t deciseconds = -1;  // elapsed time, as the reply rounds it
    uint64_t progress_revision = 0;
    size_t notes = 0, warnings = 0;
    bool has_report = false;
    int64_t resumes = 0;
    bool operator==(const StatusKey&) const = default;
  };
  // The last status reply, serialized, and its key.
  StatusKey status_key;
  std::shared_ptr<const std::string> status_text;

  // The system knobs the job changes while it runs (built-in and script knobs): its
  // lease. Application knobs are the job's own and are in nobody's way.
  std::vector<std::string> Lease() const {
    std::vector<std::string> names;
    for (const KnobSpec& knob : spec.knobs)
      if (knob.kind != KnobKind::kApplication) names.push_back(knob.name);
    return names;
  }

  // The job's run time: while it runs, since `started`; else as stored.
  double Elapsed(const Clock& clock) const {
    if (row.state == JobState::kRunning) return clock.Monotonic() - started;
    return row.RunSeconds();
  }
};

// A job's stored trials as the session keeps them; fails on a configuration outside
// `space` or a trial number outside 0..INT32_MAX (the state directory is not
// trusted).
Status TrialRecords(const SearchSpace& space, std::vector<StoredTrial> stored,
                    std::vector<TrialRecord>* trials);

// A session (without a strategy: for reports) over a job's stored space and trials,
// with `space` made from the stored one; *session stays null when the job never
// started. For the worker thread: it touches nothing but its arguments.
Status SessionFromStore(const nlohmann::json& stored_space, const Settings& settings,
                        const Target& target, std::vector<StoredTrial> stored,
                        SearchSpace* space, std::unique_ptr<TuningSession>* session);

// Marks a job as in use by the worker for as long as it lives.
struct JobManager::Busy {
  explicit Busy(Job* job) : job(job) { ++job->busy; }
  ~Busy() { --job->busy; }
  Job* job;
};

}  // namespace hone
