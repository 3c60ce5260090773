// The job lifecycle: recovery at start, submit, cancel, delete, retention, the end
// of a job, and the requests that change knobs outside jobs.
#include "daemon/jobs/job_manager.h"

#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "common/limits.h"
#include "common/report.h"
#include "daemon/crash_point.h"
#include "daemon/jobs/job.h"
#include "daemon/knobs/knob_commands.h"
#include "daemon/tuner/space_resolver.h"
#include "daemon/tuner/worker.h"

namespace hone {

namespace asio = boost::asio;
using nlohmann::json;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
// How much nicer than honed the tuner's worker thread runs (setpriority).
constexpr int kWorkerNice = 10;
// A job running at this many deaths of honed in a row is failed, not resumed again.
constexpr int64_t kMaxCrashes = 2;
// `hone check` counts the feasible configurations of spaces up to this size (on the
// event loop: each costs a constraint evaluation, about a microsecond).
constexpr uint64_t kCheckCountLimit = 200'000;

}  // namespace

JobManager::JobManager(asio::any_io_executor executor, Store* store,
                       JobManagerOptions options)
    : executor_(executor),
      store_(store),
      options_(std::move(options)),
      policy_(options_.admin_gid, geteuid(), options_.admin_group),
      processes_(options_.processes ? options_.processes : ProcessRunner::System()),
      clock_(options_.clock ? options_.clock : Clock::System()),
      wake_(executor),
      runner_done_(executor),
      sentinel_(options_.sentinel_path) {
  // The worker's fits yield to the event loop: a client's `status` or a signal is
  // served at once rather than after the current fit's time slice. Workloads are
  // started from the loop's thread, so they keep honed's own priority.
  asio::post(worker_, [] {
    const pid_t tid = gettid();
    errno = 0;
    int nice = getpriority(PRIO_PROCESS, tid);
    if (errno == 0)
      nice = std::min(nice + kWorkerNice, 19);
    if (errno != 0 || setpriority(PRIO_PROCESS, tid, nice) != 0)
      spdlog::debug("cannot lower the tuner worker's priority: {}", std::strerror(errno));
  });
}

JobManager::~JobManager() { worker_.join(); }

JobManager::Job* JobManager::Find(int64_t id) const {
  auto it = jobs_.find(id);
  return it == jobs_.end() ? nullptr : it->second.get();
}

Status JobManager::Recover() {
  // Workloads of a honed that died: their leaders died with it (PDEATHSIG), but
  // what they started may live on in their process groups.
  std::vector<std::pair<pid_t, uint64_t>> groups;
  if (store_->LoadProcessGroups(&groups).ok()) {
    for (const auto& [pgid, started] : groups) {
      int killed = KillGroupSince(pgid, started);
      if (killed > 0)
        spdlog::warn("killed {} leftover process(es) of workload process group {}",
                     killed, pgid);
      store_->ForgetProcessGroup(pgid);
    }
  }
  // And what they started in their cgroups, wherever it went.
  if (options_.cgroups) {
    int killed = 0;
    if (int removed =
            options_.cgroups->RemoveLeftovers(std::chrono::seconds(10), &killed))
      spdlog::warn("removed {} leftover workload cgroup(s), killing {} process(es)",
                   removed, killed);
  }
  // Jobs that were running when honed died: interrupted, with their run time up to
  // their last recorded sample; LoadJob decides whether they resume.
  std::vector<int64_t> crashed;
  Status s = store_->MarkRunningInterrupted(Now(), &crashed);
  if (!s.ok()) return s;
  std::vector<JobRow> rows;
  s = store_->LoadJobs(&rows);
  if (!s.ok()) return s;
  for (JobRow& row : rows) LoadJob(std::move(row), crashed);
  sentinel_.Clear();
  return Status::OK();
}

void JobManager::LoadJob(JobRow row, const std::vector<int64_t>& crashed) {
  auto job = std::make_unique<Job>();
  job->row = std::move(row);
  const int64_t id = job->row.id;
  // A job that crashed honed while it was being loaded is not loaded again.
  if (sentinel_.left_action() == "load" && id == sentinel_.left_job()) {
    spdlog::error("job {}: honed died while loading it at its last start; it is kept "
                  "but not loaded again",
                  id);
    if (!IsTerminal(job->row.state)) job->row.state = JobState::kFailed;
    job->row.message = "honed died while loading this job at its last start; it is "
                       "kept but not loaded again";
    job->row.resume = false;
    Persist(*job);
    jobs_[id] = std::move(job);
    return;
  }
  sentinel_.Set("load", id);
  CrashPoint("load-job");
  Status parsed = JobRequest::FromStored(job->row.request, &job->request);
  if (parsed.ok()) parsed = ParseSpec(*job);
  const bool died = std::find(crashed.begin(), crashed.end(), id) != crashed.end();
  if (died) ++job->row.crashes;
  if (died || (job->row.state == JobState::kInterrupted && job->row.resume)) {
    job->row.resume = false;
    if (!options_.resume) {
      job->row.message = died ? "honed stopped while the job was running; not resumed "
                                "(honed --no-resume)"
                              : "honed was stopped; not resumed (honed --no-resume)";
      spdlog::warn("job {}: was running when honed stopped; not resumed (--no-resume)",
                   id);
    } else if (!parsed.ok()) {
      job->row.state = JobState::kFailed;
      job->row.message = "cannot resume the job: " + parsed.message();
    } else if (job->row.crashes >= kMaxCrashes) {
      job->row.state = JobState::kFailed;
      job->row.message = "honed died while this job was running, " +
                         std::to_string(job->row.crashes) +
                         " times in a row; it is not resumed again";
      spdlog::error("job {}: {}", id, job->row.message);
    } else {
      // Queued again ahead of later jobs; RunJob continues it from its trials.
      job->row.state = JobState::kQueued;
      job->row.message.clear();
      job->row.stop_reason.clear();
      job->row.report = nullptr;
      ++job->row.resumes;
      spdlog::warn("job {}: was running when honed {}; it resumes", id,
                   died ? "died" : "stopped");
    }
    Persist(*job);
  }
  if (!parsed.ok() && job->row.state == JobState::kQueued) {
    job->row.state = JobState::kFailed;
    job->row.message = "cannot reload the queued job: " + parsed.message();
    Persist(*job);
  }
  jobs_[id] = std::move(job);
}

Status JobManager::ParseSpec(Job& job) const {
  Status s = ParseConfig(job.request.config_text, job.request.config_path, &job.spec);
  if (s.ok()) s = ApplyOverrides(job.request.overrides, &job.spec);
  if (s.ok() && !job.request.allow_unknown) s = UnknownKeysError(job.spec);
  if (s.ok()) s = CompleteSpec(job.request.command, &job.spec);
  if (s.ok() && job.request.recheck.job > 0) {
    // A re-check: its baseline (the space's default, set at start) and one other
    // configuration, measured once each, then interleaved for exactly `rounds`
    // rounds of the final comparison; nothing searched, no budget but the rounds.
    Settings& set = job.spec.settings;
    set.recheck_rounds = job.request.recheck.rounds;
    set.max_configs = 2;
    set.min_baseline_samples = 1;
    set.min_samples_per_config = 1;
    set.confirm_samples = 1;
    set.race_pct = std::max(set.race_pct, 25);
    set.max_samples = 0;
    set.max_minutes = 0;
    set.early_stop_pct = 0;
    set.target_improvement_pct = 0;
    set.converge_after = 0;
    job.spec.warm_start = {job.request.recheck.config};
  }
  if (s.ok()) s = ResolveBuiltins(options_.catalog, &job.spec);
  return s;
}

void JobManager::Reconfigure(std::optional<gid_t> admin_gid,
                             const std::string& admin_group, size_t retain_jobs,
                             bool resume) {
  options_.admin_gid = admin_gid;
  options_.admin_group = admin_group;
  options_.retain_jobs = retain_jobs;
  options_.resume = resume;
  policy_ = AccessPolicy(admin_gid, geteuid(), admin_group);
}

void JobManager::Start() {
  Prune();
  running_ = true;
  runner_done_.expires_at(asio::steady_timer::time_point::max());
  asio::co_spawn(executor_, RunQueue(), asio::detached);
}

asio::awaitable<void> JobManager::Stop() {
  stopping_ = true;
  for (Job* job : Running()) job->processes.KillAll();
  wake_.cancel();
  if (running_) co_await runner_done_.async_wait(use_tuple);
}

Status JobManager::Submit(const Peer& peer, const json& args, json* result) {
  if (stopping_) return Status::Unavailable("honed is shutting down");
  auto job = std::make_unique<Job>();
  Status s = JobRequest::FromJson(args, &job->request);
  if (!s.ok()) return s;
  job->request.user = {peer.uid, peer.gid, peer.groups};
  s = policy_.MayRunAs(peer);
  if (!s.ok()) return s;
  size_t queued = 0;
  for (const auto& [id, other] : jobs_)
    queued += other->row.state == JobState::kQueued && other->row.uid == peer.uid;
  if (queued >= limits::kMaxQueuedJobsPerUser)
    return Status::Unavailable("uid " + std::to_string(peer.uid) + " has " +
                               std::to_string(queued) + " jobs queued, the limit; " +
                               "submit more once some have run (or cancel some)");
  s = ParseSpec(*job);
  if (s.ok()) s = policy_.MaySubmit(peer, job->spec);
  if (s.ok() && job->request.warm_start_job) {
    const Job* earlier = Find(job->request.warm_start_job);
    std::string what = "warm start: job " + std::to_string(job->request.warm_start_job);
    if (!earlier)
      s = Status::NotFound(what + " does not exist (hone list shows the jobs)");
    else if (earlier->row.space.is_null())
      s = Status::FailedPrecondition(what + " has not started; it has no measurements yet");
  }
  if (!s.ok()) return s;
  return Enqueue(peer, std::move(job), result);
}

Status JobManager::Enqueue(const Peer& peer, std::unique_ptr<Job> job, json* result) {
  job->row.state = JobState::kQueued;
  job->row.submitted_at = Now();
  job->row.uid = peer.uid;
  job->row.request = job->request.ToJson();
  Status s = store_->InsertJob(&job->row);
  if (!s.ok()) return s;
  int64_t id = job->row.id;
  spdlog::info("job {}: submitted by uid {} (pid {}): {}", id, peer.uid, peer.pid,
               job->request.config_path);
  *result = {{"job", id}, {"state", "queued"}, {"warnings", job->spec.warnings}};
  jobs_[id] = std::move(job);
  wake_.cancel();
  return Status::OK();
}

asio::awaitable<Status> JobManager::Recheck(const Peer& peer, const json& args,
                                            json* result) {
  if (stopping_) co_return Status::Unavailable("honed is shutting down");
  int64_t id = 0, rounds = 10, trial = -1, against = 0;
  for (auto [name, field, low, high] :
       {std::tuple{"job", &id, int64_t{1}, INT64_MAX},
        std::tuple{"rounds", &rounds, int64_t{2}, limits::kMaxRecheckRounds},
        std::tuple{"trial", &trial, int64_t{0}, int64_t{INT32_MAX}},
        std::tuple{"against", &against, int64_t{0}, int64_t{INT32_MAX}}}) {
    auto it = args.find(name);
    if (it == args.end() || it->is_null()) continue;
    if (!it->is_number_integer() || it->get<int64_t>() < low || it->get<int64_t>() > high)
      co_return Status::InvalidArgument(
          std::string("\"") + name + "\" must be a number from " + std::to_string(low) +
          " to " + std::to_string(high));
    *field = it->get<int64_t>();
  }
  const Job* original = Find(id);
  if (!original) co_return Status::NotFound("no job " + std::to_string(id));
  Status s = policy_.MayActOnJob(peer, id, original->row.uid, "re-check");
  if (!s.ok()) co_return s;
  if (original->spec.workload.live)
    co_return Status::FailedPrecondition("job " + std::to_string(id) +
                                         " is a live job; a re-check measures a sync "
                                         "job's configurations");
  if (original->row.space.is_null())
    co_return Status::FailedPrecondition("job " + std::to_string(id) +
                                         " has not started; it has nothing to re-check");
  const json& report = original->row.report;
  if (trial < 0) {
    if (!report.is_object() || !report.contains("best") || !report["best"].is_object() ||
        !report["best"].contains("trial") || !report["best"]["trial"].is_number_integer())
      co_return Status::FailedPrecondition("job " + std::to_string(id) +
                                           " has no best configuration yet; name one "
                                           "with --trial (hone trials shows them)");
    trial = report["best"]["trial"].get<int64_t>();
  }
  if (trial == against)
    co_return Status::InvalidArgument("a re-check needs two different trials, not " +
                                      std::to_string(trial) + " twice");
  std::vector<StoredTrial> stored;
  s = store_->LoadTrials(id, &stored);
  if (!s.ok()) co_return s;
  json config, against_config;
  for (const StoredTrial& t : stored) {
    if (t.number == trial) config = t.config;
    if (t.number == against) against_config = t.config;
  }
  for (auto [number, found] :
       {std::pair{trial, &config}, std::pair{against, &against_config}})
    if (!found->is_object())
      co_return Status::NotFound("job " + std::to_string(id) + " has no trial " +
                                 std::to_string(number) + " (hone trials " +
                                 std::to_string(id) + " lists them)");
  auto job = std::make_unique<Job>();
  job->request = original->request;
  job->request.allow_unknown = true;  // it was accepted once
  job->request.warm_start_job = 0;
  job->request.recheck = {id,     trial,         against, static_cast<int>(rounds),
                          config, against_config};
  // The workload runs as it did for the original job: as its submitter.
  s = ParseSpec(*job);
  if (s.ok()) s = policy_.MaySubmit(peer, job->spec);
  if (!s.ok()) co_return s;
  co_return Enqueue(peer, std::move(job), result);
}

Status JobManager::Check(const Peer& peer, const json& args, json* result) const {
  JobRequest request;
  Status s = JobRequest::FromJson(args, &request);
  if (!s.ok()) return s;
  JobSpec spec;
  // A file that does not parse: nothing more can be said.
  s = ParseConfig(request.config_text, request.config_path, &spec);
  if (s.ok()) s = ApplyOverrides(request.overrides, &spec);
  if (!s.ok()) return s;
  json errors = json::array();
  auto error = [&](const Status& status) {
    if (!status.ok()) errors.push_back(status.message());
  };
  if (!request.allow_unknown) error(UnknownKeysError(spec));
  error(CompleteSpec(request.command, &spec));
  Status resolved = ResolveBuiltins(options_.catalog, &spec);
  error(resolved);

  json privileges;
  bool script = spec.HasKind(KnobKind::kScript),
       builtin = spec.HasKind(KnobKind::kBuiltin);
  privileges["needs"] =
      script    ? "root (script knobs run their scripts as root)"
      : builtin ? "root or honed's admin group '" + options_.admin_group +
                      "' (built-in system knobs change the machine)"
                : std::string("a member of honed's group (application knobs only)");
  Status allowed = policy_.MayRunAs(peer);
  if (allowed.ok()) allowed = policy_.MaySubmit(peer, spec);
  privileges["you_may"] = allowed.ok();
  error(allowed);

  json knobs = json::array();
  std::optional<SearchSpace> space;
  if (resolved.ok()) error(PreviewSpace(spec, options_.catalog, &knobs, &space));
  json space_view = {{"knobs", spec.knobs.size()},
                     {"constraints", spec.constraints.size()}};
  std::optional<uint64_t> feasible;
  if (space) {
    space_view["size"] = space->Size();
    feasible = space->CountFeasible(kCheckCountLimit);
    if (feasible) {
      space_view["feasible"] = *feasible;
      if (space->Size() > 0)
        space_view["feasible_pct"] = Round(
            100.0 * static_cast<double>(*feasible) / static_cast<double>(space->Size()),
            2);
    }
    if (!builtin && !script)
      if (Status baseline = BaselineFeasible(*space); !baseline.ok())
        errors.push_back(baseline.message());
  } else {
    space_view["size"] = nullptr;  // an options_script's values come at start
  }
  const Settings& set = spec.settings;
  json budget = {{"strategy", set.strategy},
                 {"seed", set.seed},
                 {"max_configs", set.max_configs},
                 {"min_baseline_samples", set.min_baseline_samples},
                 {"min_samples_per_config", set.min_samples_per_config},
                 {"confirm_samples", set.confirm_samples},
                 {"race_pct", set.race_pct}};
  if (set.max_samples > 0) budget["max_samples"] = set.max_samples;
  if (set.max_minutes > 0) budget["max_minutes"] = set.max_minutes;
  uint64_t reachable = feasible ? *feasible : space ? space->Size() : UINT64_MAX;
  budget["configs_budget"] = std::min<uint64_t>(
      static_cast<uint64_t>(std::max<int64_t>(set.max_configs, 0)), reachable);
  json workload = {{"kind", spec.workload.live ? "live" : "sync"},
                   {"timeout_s", spec.workload.timeout_s}};
  if (!spec.workload.argv.empty()) workload["command"] = spec.workload.argv;
  if (!spec.workload.shell.empty()) workload["shell"] = spec.workload.shell;
  json metrics = json::array();
  for (const MetricSpec& m : spec.metrics) metrics.push_back(m.name);
  *result = {
      {"ok", errors.empty()},
      {"errors", errors},
      {"warnings", spec.warnings},
      {"config_path", request.config_path},
      {"overrides", request.overrides},
      {"target", {{"metric", spec.target.metric}, {"goal", GoalName(spec.target.goal)}}},
      {"metrics", metrics},
      {"knobs", knobs},
      {"space", space_view},
      {"budget", budget},
      {"workload", workload},
      {"privileges", privileges}};
  return Status::OK();
}

Status JobManager::Delete(const Peer& peer, int64_t id, json* result) {
  Job* job = Find(id);
  if (!job) return Status::NotFound("no job " + std::to_string(id));
  Status s = policy_.MayActOnJob(peer, id, job->row.uid, "delete");
  if (!s.ok()) return s;
  if (!IsTerminal(job->row.state))
    return Status::FailedPrecondition("job " + std::to_string(id) + " is " +
                                      JobStateName(job->row.state) + "; cancel it first (hone cancel " +
                                      std::to_string(id) + ")");
  if (job->busy)
    return Status::Unavailable("job " + std::to_string(id) +
                               "'s report is being built; try again in a moment");
  s = Forget(*job);
  if (!s.ok()) return s;
  spdlog::info("job {}: deleted by uid {}", id, peer.uid);
  *result = {{"job", id}, {"deleted", true}};
  return Status::OK();
}

Status JobManager::Forget(Job& job) {
  int64_t id = job.row.id;
  Status s = store_->DeleteJob(id);
  if (!s.ok()) return s;
  if (!options_.results_dir.empty())
    unlink((options_.results_dir + "/job-" + std::to_string(id) + ".env").c_str());
  watchers_->Drop(id);
  jobs_.erase(id);
  return Status::OK();
}

void JobManager::Prune() {
  if (options_.retain_jobs == 0) return;
  size_t ended = 0;
  for (const auto& [id, job] : jobs_) ended += IsTerminal(job->row.state);
  for (auto it = jobs_.begin(); ended > options_.retain_jobs && it != jobs_.end();) {
    Job& job = *it++->second;  // Forget erases it
    if (!IsTerminal(job.row.state) || job.busy) continue;
    int64_t id = job.row.id;
    Status s = Forget(job);
    if (!s.ok()) {
      spdlog::error("job {}: cannot delete it past the retention of {} jobs: {}", id,
                    options_.retain_jobs, s.message());
      return;
    }
    spdlog::info("job {}: deleted, past the retention of {} ended jobs", id,
                 options_.retain_jobs);
    --ended;
  }
}

Status JobManager::Cancel(const Peer& peer, int64_t id, json* result) {
  Job* job = Find(id);
  if (!job) return Status::NotFound("no job " + std::to_string(id));
  Status owner = policy_.MayActOnJob(peer, id, job->row.uid, "cancel");
  if (!owner.ok()) return owner;
  if (IsTerminal(job->row.state))
    return Status::FailedPrecondition("job " + std::to_string(id) +
                                      " has already ended (" +
                                      JobStateName(job->row.state) + ")");
  spdlog::info("job {}: cancel requested by uid {}", id, peer.uid);
  if (job->row.state == JobState::kQueued) {
    Finish(*job, JobState::kCancelled, "cancelled before it started", Now(), json());
  } else {
    job->cancel_requested = true;
    job->processes.KillAll();
  }
  *result = {{"job", id}, {"state", JobStateName(job->row.state)}};
  return Status::OK();
}

Status JobManager::Push(const Peer& peer, int64_t id, const std::string& metric,
                        double value, json* result) {
  Job* job = Find(id);
  if (!job) return Status::NotFound("no job " + std::to_string(id));
  Status s = policy_.MayActOnJob(peer, id, job->row.uid, "push values to");
  if (!s.ok()) return s;
  if (!job->spec.workload.live)
    return Status::FailedPrecondition(
        "job " + std::to_string(id) +
        " is not a live job; only live jobs take pushed values");
  if (job->row.state != JobState::kRunning || !job->probe)
    return Status::FailedPrecondition("job " + std::to_string(id) + " is not running (" +
                                      JobStateName(job->row.state) + ")");
  s = job->probe->Push(metric, value);
  if (!s.ok()) return s.WithContext("job " + std::to_string(id));
  *result = {{"job", id}, {"metric", metric}, {"value", value}};
  return Status::OK();
}

Status JobManager::PushStatsd(const Peer& peer, const StatsdValue& value) {
  double number = value.value;
  if (value.type == 'c') number /= value.sample_rate;  // a sampled counter counts more
  size_t took = 0;
  Status last = Status::OK();
  for (Job* job : live_running_) {
    if (!job->probe || !policy_.MayActOnJob(peer, job->row.id, job->row.uid, "push to").ok())
      continue;
    Status s = job->probe->Push(value.name, number, value.type, value.relative);
    if (s.ok()) {
      ++took;
    } else if (s.code() != Status::Code::kNotFound) {
      last = s.WithContext("job " + std::to_string(job->row.id));
    }
  }
  if (took > 0) return Status::OK();
  if (!last.ok()) return last;
  return Status::NotFound("'" + value.name + "': no running live job of uid " +
                          std::to_string(peer.uid) + " has a push metric of that name");
}

asio::awaitable<Status> JobManager::Accept(const Peer& peer, int64_t id, json* result) {
  Job* job = Find(id);
  if (!job) co_return Status::NotFound("no job " + std::to_string(id));
  Status s = policy_.MayActOnJob(peer, id, job->row.uid, "accept");
  if (!s.ok()) co_return s;
  if (!job->spec.workload.live)
    co_return Status::FailedPrecondition("job " + std::to_string(id) +
                                         " is not a live job; only a live job in mode "
                                         "recommend proposes steps to accept");
  if (job->row.state != JobState::kRunning || !job->session_ready || !job->live)
    co_return Status::FailedPrecondition("job " + std::to_string(id) +
                                         " is not running (" +
                                         JobStateName(job->row.state) + ")");
  json proposal;
  Busy busy(job);
  s = co_await OnWorker(worker_, [&] {
    if (job->live->proposal()) proposal = job->space.ToJson(*job->live->proposal());
    return job->live->Accept();
  });
  if (!s.ok()) co_return s.WithContext("job " + std::to_string(id));
  spdlog::info("job {}: uid {} accepted the proposal {}", id, peer.uid, proposal.dump());
  *result = {{"job", id}, {"accepted", proposal}};
  co_return Status::OK();
}

std::string JobManager::WriteSettings(const Job& job, const json& report) {
  if (options_.results_dir.empty() || !report.contains("best") ||
      report["best"].is_null())
    return "";
  const std::string& dir = options_.results_dir;
  if (mkdir(dir.c_str(), 0755) == 0) chmod(dir.c_str(), 0755);  // for the submitters
  Status s = CheckTrustedDirectory(dir, "results directory");
  std::string path = dir + "/job-" + std::to_string(job.row.id) + ".env";
  if (s.ok()) s = WriteFileAtomically(path, FormatReportEnv(report, /*shell=*/true), 0644);
  if (!s.ok()) {
    spdlog::error("job {}: cannot write its settings: {}", job.row.id, s.message());
    return "";
  }
  return path;
}

void JobManager::Finish(Job& job, JobState state, const std::string& reason,
                        double finished_at, json report) {
  bool ended_normally = state == JobState::kCompleted;
  job.row.state = state;
  job.row.finished_at = finished_at;
  if (ended_normally)
    job.row.stop_reason = reason;
  else
    job.row.message = reason;
  job.phase = JobStateName(state);
  // Stopped with honed (not crashed): it resumes at the next start. That it got
  // here means honed did not die while it ran.
  job.row.crashes = 0;
  job.row.resume = state == JobState::kInterrupted && stopping_ && options_.resume;
  if (job.row.resume) job.row.message = reason + "; the job resumes when honed starts again";
  if (report.is_object()) {
    if (state == JobState::kCompleted) {
      std::string file = WriteSettings(job, report);
      if (!file.empty()) report["settings_file"] = file;
    }
  } else {
    report = ShortReport(job);  // no session: it never measured anything
  }
  // What the user should know about how the job ran (a knob released because
  // someone else changed it, workloads contained by process groups only) stays
  // with its report.
  if (!job.notes.empty()) report["notes"] = job.notes;
  job.row.report = report;
  Persist(job);
  const char* name = JobStateName(state);
  if (state == JobState::kCompleted || state == JobState::kCancelled)
    spdlog::info("job {}: {} ({})", job.row.id, name, reason);
  else
    spdlog::warn("job {}: {}: {}", job.row.id, name, reason);
  Publish(job, {{"type", "end"}, {"job", job.row.id}, {"state", name}, {"report", report}},
          /*last=*/true);
}

void JobManager::Persist(const Job& job) {
  Status s = store_->UpdateJob(job.row);
  if (!s.ok())
    spdlog::error("job {}: cannot store its state: {}", job.row.id, s.message());
}

asio::awaitable<Status> JobManager::Knobs(json* result) {
  co_return co_await ListKnobs(options_.catalog, result);
}

// While alive, no queued job starts: a restore or apply owns the knobs.
class JobManager::ExclusiveKnobs {
 public:
  explicit ExclusiveKnobs(JobManager* jobs) : jobs_(jobs) { jobs_->exclusive_ = true; }
  ~ExclusiveKnobs() {
    jobs_->exclusive_ = false;
    jobs_->wake_.cancel();
  }

 private:
  JobManager* jobs_;
};

Status JobManager::KnobsFree(const std::vector<std::string>* knobs,
                             const char* then) const {
  for (const Job* job : Running()) {
    std::vector<std::string> held = job->Lease();
    if (knobs)
      std::erase_if(held, [&](const std::string& name) {
        return std::find(knobs->begin(), knobs->end(), name) == knobs->end();
      });
    if (held.empty()) continue;
    std::string list;
    for (const std::string& name : held) list += (list.empty() ? "" : ", ") + name;
    return Status::FailedPrecondition("job " + std::to_string(job->row.id) +
                                      " is running and holds " + list + "; " + then);
  }
  return Status::OK();
}

asio::awaitable<Status> JobManager::RestoreAll(const Peer& peer, json* result) {
  Status s = policy_.MayChangeKnobs(peer, "restore");
  if (!s.ok()) co_return s;
  if (!options_.ledger) co_return Status::FailedPrecondition("this honed has no ledger");
  s = KnobsFree(nullptr, "cancel it (its knobs are restored when it ends)");
  if (!s.ok()) co_return s;
  ExclusiveKnobs exclusive(this);
  co_return co_await RestoreAllKnobs(options_.ledger, result);
}

asio::awaitable<Status> JobManager::Export(const Peer& peer, int64_t id, json* result) {
  json report;
  Status s = co_await Report(id, &report);
  if (!s.ok()) co_return s;
  Job* job = Find(id);
  if (!job) co_return Status::NotFound("no job " + std::to_string(id));
  auto field = [](const json& object, const char* key) {
    return object.is_object() && object.contains(key) ? object[key] : json();
  };
  const json best = field(field(report, "best"), "config");
  if (!best.is_object())
    co_return Status::FailedPrecondition(
        "job " + std::to_string(id) + " has no best configuration to export yet (it is " +
        JobStateName(job->row.state) + ")");
  const json baseline = field(field(report, "baseline"), "config");
  bool with_scripts = policy_.MayActOnJob(peer, id, job->row.uid, "export").ok();
  *result = {{"job", id},
             {"state", JobStateName(job->row.state)},
             {"knobs", DescribeJobSettings(options_.catalog, job->spec, best, baseline,
                                           with_scripts)}};
  for (const char* key : {"target", "improvement_pct", "improvement_ci95_pct", "kind"})
    if (report.contains(key)) (*result)[key] = report[key];
  if (!with_scripts && job->spec.HasKind(KnobKind::kScript))
    (*result)["note"] =
        "script knobs' set_script left out: only the job's owner or root "
        "sees them";
  co_return Status::OK();
}

asio::awaitable<Status> JobManager::ApplyBest(const Peer& peer, int64_t id,
                                              json* result) {
  Status s = policy_.MayChangeKnobs(peer, "apply");
  if (!s.ok()) co_return s;
  Job* job = Find(id);
  if (!job) co_return Status::NotFound("no job " + std::to_string(id));
  if (job->row.state != JobState::kCompleted || !job->row.report.is_object() ||
      !job->row.report.value("best", json()).is_object())
    co_return Status::FailedPrecondition("job " + std::to_string(id) +
                                         " has no best configuration to apply (it is " +
                                         JobStateName(job->row.state) + ")");
  if (!options_.ledger) co_return Status::FailedPrecondition("this honed has no ledger");
  std::vector<std::string> knobs = job->Lease();
  s = KnobsFree(&knobs, "apply after it");
  if (!s.ok()) co_return s;
  ExclusiveKnobs exclusive(this);
  co_return co_await ApplyJobSettings(options_.ledger, options_.catalog, id, job->spec,
                                      job->row.space, job->row.report["best"]["config"],
                                      peer.uid == 0, result);
}

}  // namespace hone
