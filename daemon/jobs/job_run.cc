// Running a job: the queue's coroutine, a job's start and end, and what it lends
// its runner (tuner/runner.h).
#include <algorithm>
#include <cmath>

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "daemon/crash_point.h"
#include "daemon/jobs/job.h"
#include "daemon/knobs/other_tuners.h"
#include "daemon/tuner/live_runner.h"
#include "daemon/tuner/space_resolver.h"
#include "daemon/tuner/sync_runner.h"
#include "daemon/tuner/worker.h"

namespace hone {

namespace asio = boost::asio;
using nlohmann::json;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
// A warm start from an earlier job measures that many of its best configurations.
constexpr size_t kWarmStartRemeasured = 3;

}  // namespace

asio::awaitable<void> JobManager::RunQueue() {
  while (!stopping_) {
    if (!exclusive_) StartRunnable();
    wake_.expires_at(asio::steady_timer::time_point::max());
    co_await wake_.async_wait(use_tuple);
  }
  // Stopping: each running job sees it at its next step and ends.
  while (!Running().empty()) {
    wake_.expires_at(asio::steady_timer::time_point::max());
    co_await wake_.async_wait(use_tuple);
  }
  running_ = false;
  runner_done_.cancel();
}

std::vector<JobManager::Job*> JobManager::Running() const {
  std::vector<Job*> running = live_running_;
  if (current_) running.push_back(current_);
  return running;
}

void JobManager::StartRunnable() {
  bool sync_blocked = current_ != nullptr;
  for (auto& [id, owned] : jobs_) {
    Job* job = owned.get();
    if (job->row.state != JobState::kQueued) continue;
    std::vector<Job*> running = Running();
    if (std::find(running.begin(), running.end(), job) != running.end()) continue;
    const bool live = job->spec.workload.live;
    if (!live && sync_blocked) continue;
    // Two jobs never hold the same system knob.
    std::vector<std::string> lease = job->Lease();
    bool free = true;
    for (Job* other : running)
      for (const std::string& name : other->Lease())
        if (std::find(lease.begin(), lease.end(), name) != lease.end()) free = false;
    if (!free) {
      // Sync jobs run in the order they came; a live job waits for its knobs alone.
      if (!live) sync_blocked = true;
      continue;
    }
    if (live) {
      live_running_.push_back(job);
    } else {
      current_ = job;
      sync_blocked = true;
    }
    // RunJob sets the state to running before it first waits, so the next scan
    // does not start the job again.
    asio::co_spawn(executor_, RunOne(job), asio::detached);
  }
}

asio::awaitable<void> JobManager::RunOne(Job* job) {
  // Cancelled between the scan and now: it ended as it was.
  if (job->row.state == JobState::kQueued) co_await RunJob(*job);
  if (current_ == job) current_ = nullptr;
  std::erase(live_running_, job);
  wake_.cancel();
}

asio::awaitable<void> JobManager::RunJob(Job& job) {
  job.processes.observer = [this](pid_t pgid, bool started) {
    Status s = started ? store_->RecordProcessGroup(pgid, ProcessStartTime(pgid))
                       : store_->ForgetProcessGroup(pgid);
    if (!s.ok()) spdlog::error("cannot record process group {}: {}", pgid, s.message());
  };
  job.processes.set_cgroups(options_.cgroups);
  if (!job.processes.in_cgroups())
    job.notes.push_back("workloads are contained by " + job.processes.containment() +
                        ": a process that leaves its process group can outlive its run");
  // Another tuner may change a system knob under the job: a warning, not a refusal.
  if (options_.machine &&
      (job.spec.HasKind(KnobKind::kBuiltin) || job.spec.HasKind(KnobKind::kScript))) {
    for (const OtherTuner& tuner : FindOtherTuners(*options_.machine)) {
      std::string warning = OtherTunerWarning(tuner);
      spdlog::warn("job {}: {}", job.row.id, warning);
      if (std::find(job.notes.begin(), job.notes.end(), warning) == job.notes.end())
        job.notes.push_back(warning);
    }
  }
  const double now = Now();
  // A job that ran before (its space is stored) continues where it was: its run
  // time so far counts, the time honed was down does not.
  const bool resuming = !job.row.space.is_null();
  if (resuming) {
    double ran = job.row.RunSeconds();
    if (job.row.finished_at > 0) job.row.downtime_s += std::max(0.0, now - job.row.finished_at);
    job.row.finished_at = 0;
    job.started = clock_->Monotonic() - ran;
  } else {
    job.row.started_at = now;
    job.started = clock_->Monotonic();
  }
  job.row.state = JobState::kRunning;
  job.phase = resuming ? "resuming" : "resolving knobs";
  Persist(job);
  if (resuming)
    spdlog::info("job {}: resumed ({} time(s); honed was down {:.0f} s in all)",
                 job.row.id, job.row.resumes, job.row.downtime_s);
  else
    spdlog::info("job {}: started", job.row.id);
  Publish(job, {{"type", "state"}, {"job", job.row.id}, {"state", "running"}});

  // Whatever goes wrong inside the loop (an allocation that fails, a bug), the job
  // ends, its processes die, its knobs go back and the queue goes on.
  Outcome outcome;
  std::string internal_error;
  try {
    outcome = co_await RunTrials(job);
  } catch (const std::exception& e) {
    internal_error = e.what();
  }
  if (!internal_error.empty()) {
    spdlog::error("job {}: internal error: {}", job.row.id, internal_error);
    job.processes.KillAll();
    outcome = {JobState::kFailed, "internal error in honed: " + internal_error +
                                      "; the job was stopped and its knobs put back"};
  }
  job.phase = "ending";
  if (job.bindings && !job.bindings->empty()) {
    // Whatever happened, the machine goes back to how the job found it.
    job.phase = "restoring knobs";
    std::vector<std::string> done;
    // Every held entry: this job's, and any an earlier job could not put back.
    Status s = co_await options_.ledger->RestoreHeld(std::nullopt, &done);
    if (!s.ok()) {
      spdlog::error("job {}: {}; the ledger keeps it for the next start", job.row.id,
                    s.message());
      job.notes.push_back("restoring knobs failed: " + s.message());
    }
  }
  double finished_at = Now();
  json report;
  if (job.session_ready) {
    ReportContext context = Context(job, outcome.state, job.Elapsed(*clock_));
    if (outcome.state == JobState::kCompleted)
      context.stop_reason = outcome.reason;
    else
      context.message = outcome.reason;
    try {
      report = co_await OnWorker(worker_, [&] { return SessionReport(job, context); });
    } catch (const std::exception& e) {
      spdlog::error("job {}: cannot build its report: {}", job.row.id, e.what());
    }
  }
  Finish(job, outcome.state, outcome.reason, finished_at, std::move(report));
  Prune();
}

namespace {

// `stored` (a job's stored space) with each knob's default set to its value in
// `baseline`, a configuration of that space.
Status RecheckSpace(const json& stored, const json& baseline, SearchSpace* space) {
  json copy = stored;
  json* knobs = copy.is_array()                              ? &copy
                : copy.is_object() && copy.contains("knobs") ? &copy["knobs"]
                                                             : nullptr;
  if (!knobs || !knobs->is_array() || !baseline.is_object())
    return Status::InvalidArgument("the job's stored space is malformed");
  for (json& knob : *knobs) {
    if (!knob.is_object() || !knob.contains("name") || !knob["name"].is_string() ||
        !knob.contains("values") || !knob["values"].is_array())
      return Status::InvalidArgument("the job's stored space is malformed");
    const std::string name = knob["name"];
    const json& values = knob["values"];
    auto at = baseline.find(name);
    auto it = at == baseline.end() ? values.end()
                                   : std::find(values.begin(), values.end(), *at);
    if (it == values.end())
      return Status::InvalidArgument("knob '" + name +
                                     "' has no value of the trial to measure against");
    knob["default_index"] = static_cast<uint64_t>(it - values.begin());
  }
  return SpaceFromJson(copy, space);
}

}  // namespace

asio::awaitable<Outcome> JobManager::RunTrials(Job& job) {
  const bool resuming = !job.row.space.is_null();
  auto ended = [&](const Status& s) {
    return Outcome{job.cancel_requested ? JobState::kCancelled
                   : stopping_          ? JobState::kInterrupted
                                        : JobState::kFailed,
                   s.message()};
  };
  SpaceSources sources{job.row.id,         &job.spec,   &job.request,
                       options_.catalog,   options_.ledger, processes_,
                       &job.processes};
  Status s = co_await ResolveSpace(sources, &job.space, &job.bindings);
  if (!s.ok()) co_return ended(s);
  std::map<int64_t, int> taken;  // samples recorded per trial
  if (resuming) {
    // Resumed: the values it tuned, as stored (an options_script may print others
    // today), with the machine where it found it (its originals were put back).
    s = SpaceFromJson(job.row.space, &job.space);
    if (!s.ok()) co_return Outcome{JobState::kFailed, "cannot resume: " + s.message()};
  }
  if (!resuming && job.request.recheck.job > 0) {
    // A re-check measures the original job's values, with its `against` trial as
    // the baseline (the space's default).
    const Job* original = Find(job.request.recheck.job);
    if (!original)
      co_return Outcome{
          JobState::kFailed,
          "job " + std::to_string(job.request.recheck.job) + " to re-check was deleted"};
    s = RecheckSpace(original->row.space, job.request.recheck.against_config, &job.space);
    if (!s.ok()) co_return Outcome{JobState::kFailed, "cannot re-check: " + s.message()};
  }
  job.row.space = SpaceToJson(job.space);
  Persist(job);
  if (job.spec.workload.live) co_return co_await RunLive(job);
  std::unique_ptr<WorkloadMetricSource> metric;
  s = WorkloadMetricSource::Create(job.row.id, &job.spec, &job.request, &job.space,
                                   processes_, &job.processes, options_.machine, &metric);
  if (!s.ok()) co_return Outcome{JobState::kFailed, s.message()};
  job.metric = std::move(metric);
  // A re-check searches nothing: its two configurations are all it measures.
  job.session = std::make_unique<TuningSession>(
      job.spec.settings, job.spec.target, &job.space,
      job.request.recheck.job > 0
          ? nullptr
          : MakeStrategy(job.spec.settings.strategy, &job.space, job.spec.settings.seed,
                         job.spec.target.goal));
  job.session->SetGuards(job.spec.metrics);
  std::vector<Config> warm_start;
  for (size_t i = 0; i < job.spec.warm_start.size(); ++i) {
    Config config;
    s = job.space.FromJson(job.spec.warm_start[i], &config);
    if (s.ok())
      if (const Expression* violated = job.space.Violated(config))
        s = Status::InvalidArgument("it violates constraint '" + violated->text() + "'");
    if (!s.ok())
      co_return Outcome{JobState::kFailed,
                        s.WithContext("warm_start[" + std::to_string(i) + "]").message()};
    warm_start.push_back(std::move(config));
  }
  if (job.request.warm_start_job) {
    s = WarmStartFromJob(job, &warm_start);
    if (!s.ok()) co_return Outcome{JobState::kFailed, s.message()};
  }
  job.session->SetWarmStart(std::move(warm_start));
  if (resuming) {
    s = ResumeSession(job, &taken);
    if (!s.ok()) co_return Outcome{JobState::kFailed, "cannot resume: " + s.message()};
  }
  // From here on the session is the worker's: the model's fits and proposals run
  // there, so that the socket, signals and the watchdog are always served.
  job.session_ready = true;
  job.progress = co_await OnWorker(worker_, [&] { return ProgressCounts(job); });
  ++job.progress_revision;

  StoreTrialLog log(store_, job.row.id);
  RunContext context = MakeContext(job, &log);
  context.taken = std::move(taken);
  SyncRunner runner;
  co_return co_await runner.Run(context);
}

asio::awaitable<Outcome> JobManager::RunLive(Job& job) {
  Status made = LiveProbe::Create({job.row.id, &job.spec, &job.request, &job.space,
                                   processes_, &job.processes, options_.machine},
                                  &job.probe);
  if (!made.ok()) co_return Outcome{JobState::kFailed, made.message()};
  job.live = std::make_unique<LiveSession>(LiveSettings::From(job.spec, job.space),
                                           job.spec.target.goal, &job.space);
  // What it learned before honed restarted, or what an earlier live job learned
  // (--warm-start): its phases, their bests and the strategies' observations.
  const json* learned = nullptr;
  std::string from;
  if (!job.row.live_state.is_null()) {
    learned = &job.row.live_state;
    from = "its state before honed restarted";
  } else if (job.request.warm_start_job) {
    Job* earlier = Find(job.request.warm_start_job);
    if (!earlier || earlier->row.live_state.is_null())
      co_return Outcome{JobState::kFailed,
                        "warm start from job " +
                            std::to_string(job.request.warm_start_job) +
                            ": it is not a live job that learned anything"};
    learned = &earlier->row.live_state;
    from = "job " + std::to_string(job.request.warm_start_job);
  }
  if (learned) {
    Status s = job.live->LoadState(*learned);
    std::string note =
        s.ok() ? "learned from " + from
               : "could not use " + from + " (" + s.message() + "); starting afresh";
    spdlog::info("job {}: {}", job.row.id, note);
    job.notes.push_back(note);
    if (!s.ok())
      job.live = std::make_unique<LiveSession>(LiveSettings::From(job.spec, job.space),
                                               job.spec.target.goal, &job.space);
  }
  job.session_ready = true;
  job.progress = co_await OnWorker(worker_, [&] { return ProgressCounts(job); });
  ++job.progress_revision;
  StoreTrialLog log(store_, job.row.id);
  RunContext context = MakeContext(job, &log);
  context.live = job.live.get();
  context.probe = job.probe.get();
  context.save_live = [this, &job](json state) {
    Status s = store_->SaveLiveState(job.row.id, state);
    if (!s.ok())
      spdlog::error("job {}: cannot keep its live state: {}", job.row.id, s.message());
    job.row.live_state = std::move(state);
  };
  LiveRunner runner;
  co_return co_await runner.Run(context);
}

RunContext JobManager::MakeContext(Job& job, TrialLog* log) {
  RunContext context;
  context.job = job.row.id;
  context.spec = &job.spec;
  context.space = &job.space;
  context.knobs = job.bindings.get();
  context.metric = job.metric.get();
  context.log = log;
  context.session = job.session.get();
  context.worker = &worker_;
  context.clock = clock_;
  context.stop = [&]() -> std::optional<Outcome> {
    if (job.cancel_requested) return Outcome{JobState::kCancelled, "cancelled by request"};
    if (stopping_) return Outcome{JobState::kInterrupted, "honed was stopped"};
    return std::nullopt;
  };
  context.elapsed = [&] { return job.Elapsed(*clock_); };
  context.publish = [&](const json& event) { Publish(job, event); };
  context.phase = [&](const char* phase) { job.phase = phase; };
  context.note = [&](const std::string& note) {
    job.notes.push_back(note);
    Publish(job, {{"type", "note"}, {"job", job.row.id}, {"message", note}});
  };
  context.counts = [&] { return ProgressCounts(job); };
  context.progress = [&](json counts) {
    job.progress = std::move(counts);
    ++job.progress_revision;
    json progress = Progress(job, job.Elapsed(*clock_));
    progress["type"] = "progress";
    progress["job"] = job.row.id;
    Publish(job, progress);
  };
  return context;
}

Status JobManager::ResumeSession(Job& job, std::map<int64_t, int>* taken) {
  std::vector<StoredTrial> stored;
  Status s = store_->LoadTrials(job.row.id, &stored);
  if (!s.ok()) return s;
  std::vector<TrialRecord> trials;
  s = TrialRecords(job.space, std::move(stored), &trials);
  if (!s.ok()) return s;
  for (const TrialRecord& trial : trials) (*taken)[trial.number] = trial.recorded();
  std::string note = "resumed after honed restarted, from " +
                     std::to_string(trials.size()) + " recorded trial(s)";
  spdlog::info("job {}: {}", job.row.id, note);
  job.notes.push_back(note);
  job.session->Restore(std::move(trials));
  return Status::OK();
}

Status JobManager::WarmStartFromJob(Job& job, std::vector<Config>* measure_first) {
  int64_t source = job.request.warm_start_job;
  std::string what = "warm start from job " + std::to_string(source);
  Job* earlier = Find(source);
  if (!earlier || earlier->row.space.is_null())
    return Status::NotFound(what + ": it has no measurements");
  SearchSpace old_space;
  Status s = SpaceFromJson(earlier->row.space, &old_space);
  if (!s.ok()) return s.WithContext(what);
  auto names = [](const SearchSpace& space) {
    std::vector<std::string> list;
    for (const Knob& k : space.knobs()) list.push_back(k.name);
    std::sort(list.begin(), list.end());
    return list;
  };
  auto join = [](const std::vector<std::string>& list) {
    std::string text;
    for (const std::string& name : list) text += (text.empty() ? "" : ", ") + name;
    return text;
  };
  if (names(old_space) != names(job.space))
    return Status::FailedPrecondition(what + ": it tuned " + join(names(old_space)) +
                                      ", this job tunes " + join(names(job.space)) +
                                      "; a warm start needs the same knobs");
  std::vector<StoredTrial> stored;
  s = store_->LoadTrials(source, &stored);
  if (!s.ok()) return s.WithContext(what);
  std::vector<std::pair<Config, std::optional<double>>> prior;
  size_t skipped = 0;
  for (StoredTrial& t : stored) {
    TrialRecord record;
    for (SampleResult& sample : t.samples)
      if (!sample.SetAside()) record.samples.push_back(std::move(sample));
    // Values outside this job's options, or outside its constraints, teach nothing
    // the search can use.
    if (!job.space.FromJson(t.config, &record.config).ok() ||
        !job.space.Feasible(record.config)) {
      ++skipped;
      continue;
    }
    prior.emplace_back(record.config, record.Mean());
  }
  job.session->AddPrior(prior);
  // The earlier job's best configurations are measured again first: this job's
  // recommendation rests on its own samples only.
  std::vector<std::pair<Config, double>> best;
  for (const auto& [config, value] : prior)
    if (value && config != job.space.Default()) best.emplace_back(config, *value);
  bool max = job.spec.target.goal == Goal::kMax;
  std::sort(best.begin(), best.end(), [max](const auto& a, const auto& b) {
    return max ? a.second > b.second : a.second < b.second;
  });
  size_t added = 0;
  for (const auto& [config, value] : best) {
    if (added == kWarmStartRemeasured) break;
    if (std::find(measure_first->begin(), measure_first->end(), config) !=
        measure_first->end())
      continue;
    measure_first->push_back(config);
    ++added;
  }
  std::string note = what + ": learned from " + std::to_string(prior.size()) +
                     " configurations, measuring its best " + std::to_string(added) +
                     " again first";
  if (skipped)
    note += "; " + std::to_string(skipped) +
            " skipped (values outside this job's options or constraints)";
  spdlog::info("job {}: {}", job.row.id, note);
  job.notes.push_back(note);
  return Status::OK();
}

}  // namespace hone
