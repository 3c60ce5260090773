// What clients see of jobs: lists, status, reports, watches and their events.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include <spdlog/spdlog.h>

#include "common/limits.h"
#include "common/protocol.h"
#include "common/report.h"
#include "daemon/jobs/job.h"
#include "daemon/tuner/worker.h"

namespace hone {

namespace asio = boost::asio;
using nlohmann::json;

Status TrialRecords(const SearchSpace& space, std::vector<StoredTrial> stored,
                    std::vector<TrialRecord>* trials) {
  trials->clear();
  for (StoredTrial& t : stored) {
    // Numbered from 0, one more per trial; a resumed session numbers the next one
    // after the last, which must not overflow whatever the state directory holds.
    if (t.number < 0 || t.number > INT32_MAX)
      return Status::Internal("stored trial number " + std::to_string(t.number) +
                              " is out of range");
    TrialRecord record;
    record.number = t.number;
    record.baseline = t.baseline;
    record.reason = std::move(t.reason);
    for (SampleResult& sample : t.samples)
      (sample.SetAside() ? record.set_aside : record.samples)
          .push_back(std::move(sample));
    Status s = space.FromJson(t.config, &record.config);
    if (!s.ok()) return s.WithContext("stored trial " + std::to_string(t.number));
    trials->push_back(std::move(record));
  }
  return Status::OK();
}

namespace {

// A page's cursor and size from a request's args: each of `fields` that is given
// must be a whole number of 0 or more, and "limit" from 1 to `max_limit`.
Status PageArgs(const json& args,
                std::initializer_list<std::pair<const char*, int64_t*>> fields,
                int64_t* limit, size_t max_limit) {
  std::vector<std::pair<const char*, int64_t*>> all(fields);
  all.emplace_back("limit", limit);
  for (auto [name, field] : all) {
    auto it = args.find(name);
    if (it == args.end() || it->is_null()) continue;
    if (!it->is_number_integer() || it->get<int64_t>() < 0)
      return Status::InvalidArgument(std::string("\"") + name +
                                     "\" must be a number of 0 or more");
    *field = it->get<int64_t>();
  }
  if (*limit < 1 || *limit > static_cast<int64_t>(max_limit))
    return Status::InvalidArgument("\"limit\" must be from 1 to " +
                                   std::to_string(max_limit));
  return Status::OK();
}

}  // namespace

Status JobManager::List(const json& args, json* result) const {
  int64_t after = 0, before = INT64_MAX, limit = 100;
  bool newest_first = false;
  if (auto it = args.find("newest_first"); it != args.end()) {
    if (!it->is_boolean())
      return Status::InvalidArgument("\"newest_first\" must be true or false");
    newest_first = it->get<bool>();
  }
  Status s = PageArgs(args, {{"after", &after}, {"before", &before}}, &limit,
                      limits::kMaxListPage);
  if (!s.ok()) return s;
  json jobs = json::array();
  json next;
  auto add = [&](const Job& job) {
    if (static_cast<int64_t>(jobs.size()) == limit) {
      next = jobs.back()["job"];
      return false;
    }
    jobs.push_back(ListedSummary(job));
    return true;
  };
  if (newest_first) {
    for (auto it = jobs_.lower_bound(before); it != jobs_.begin();) {
      --it;
      if (it->first <= after) break;
      if (!add(*it->second)) break;
    }
  } else {
    for (auto it = jobs_.upper_bound(after); it != jobs_.end() && it->first < before; ++it)
      if (!add(*it->second)) break;
  }
  *result = {{"jobs", jobs}, {"next", next}};
  return Status::OK();
}

json JobManager::ListedSummary(const Job& job) const {
  json summary = Summary(job, job.Elapsed(*clock_));
  // A command line may be 128 KiB: a page of them must still fit in a reply.
  size_t bytes = 0;
  json shown = json::array();
  for (const std::string& arg : job.request.command) {
    if (bytes + arg.size() > limits::kMaxListedCommandBytes) {
      summary["command_truncated"] = true;
      break;
    }
    bytes += arg.size();
    shown.push_back(arg);
  }
  summary["command"] = shown;
  summary.erase("notes");
  return summary;
}

json JobManager::Summary(const Job& job, double elapsed) const {
  json summary = {{"job", job.row.id},
                  {"state", JobStateName(job.row.state)},
                  {"config_path", job.request.config_path},
                  {"command", job.request.command},
                  {"uid", job.row.uid},
                  {"submitted_at", job.row.submitted_at},
                  {"elapsed_s", Round(elapsed, 1)}};
  if (job.row.started_at > 0) summary["started_at"] = job.row.started_at;
  if (job.row.finished_at > 0) summary["finished_at"] = job.row.finished_at;
  if (!job.row.message.empty()) summary["message"] = job.row.message;
  if (!job.row.stop_reason.empty()) summary["stop_reason"] = job.row.stop_reason;
  if (!job.notes.empty()) summary["notes"] = job.notes;
  if (job.row.resumes > 0)
    summary["resumed"] = {{"times", job.row.resumes},
                          {"downtime_s", Round(job.row.downtime_s, 1)}};
  if (job.row.state == JobState::kRunning) {
    summary["phase"] = job.phase;
    if (!job.progress.is_null()) summary["progress"] = Progress(job, elapsed);
  }
  if (job.row.report.is_object()) {
    for (const char* key : {"best", "baseline", "improvement_pct", "improvement_ci95_pct",
                            "improvement_established", "configs_explored",
                            "configs_total", "configs_feasible"})
      if (job.row.report.contains(key)) summary[key] = job.row.report[key];
  }
  return summary;
}

Status JobManager::JobStatus(int64_t id, std::shared_ptr<const std::string>* text) const {
  Job* job = Find(id);
  if (!job) return Status::NotFound("no job " + std::to_string(id));
  // Rounded as the reply shows it, so that the reply depends on the key alone.
  const double elapsed = Round(job->Elapsed(*clock_), 1);
  Job::StatusKey key{job->row.state,
                     job->row.message,
                     job->row.stop_reason,
                     job->phase,
                     job->row.started_at,
                     job->row.finished_at,
                     std::llround(elapsed * 10),
                     job->progress_revision,
                     job->notes.size(),
                     job->spec.warnings.size(),
                     job->row.report.is_object(),
                     job->row.resumes};
  if (!job->status_text || !(key == job->status_key)) {
    json summary = Summary(*job, elapsed);
    summary["warnings"] = job->spec.warnings;
    job->status_text = std::make_shared<const std::string>(DumpResult(summary));
    job->status_key = std::move(key);
  }
  *text = job->status_text;
  return Status::OK();
}

json JobManager::ShortReport(const Job& job) const {
  json report = {{"job", job.row.id},
                 {"state", JobStateName(job.row.state)},
                 {"target",
                  {{"metric", job.spec.target.metric},
                   {"goal", GoalName(job.spec.target.goal)}}}};
  if (!job.row.message.empty()) report["message"] = job.row.message;
  return report;
}

ReportContext JobManager::Context(const Job& job, JobState state, double elapsed) const {
  ReportContext context;
  context.job = job.row.id;
  context.state = JobStateName(state);
  context.stop_reason = job.row.stop_reason;
  context.message = job.row.message;
  context.elapsed_s = elapsed;
  context.warm_start_job = job.request.warm_start_job;
  context.overrides = job.request.overrides;
  for (const KnobSpec& knob : job.spec.knobs)
    if (!knob.description.empty()) context.descriptions[knob.name] = knob.description;
  if (const JobRequest::Recheck& r = job.request.recheck; r.job > 0)
    context.recheck = {
        {"job", r.job}, {"trial", r.trial}, {"against", r.against}, {"rounds", r.rounds}};
  context.resumes = job.row.resumes;
  context.downtime_s = job.row.downtime_s;
  return context;
}

asio::awaitable<Status> JobManager::Report(int64_t id, json* result) {
  Job* job = Find(id);
  if (!job) co_return Status::NotFound("no job " + std::to_string(id));
  if (job->row.report.is_object() && job->row.state != JobState::kInterrupted) {
    *result = job->row.report;
    co_return Status::OK();
  }
  ReportContext context = Context(*job, job->row.state, job->Elapsed(*clock_));
  std::vector<Job*> running = Running();
  if (std::find(running.begin(), running.end(), job) != running.end() &&
      job->row.state == JobState::kRunning) {
    // Its session belongs to the worker while the job runs.
    if (!job->session_ready) {
      *result = ShortReport(*job);
      co_return Status::OK();
    }
    Busy busy(job);
    *result = co_await OnWorker(worker_, [&] { return SessionReport(*job, context); });
    co_return Status::OK();
  }
  if (job->spec.workload.live) {
    // A live job keeps no trials to rebuild a report from: its state says what it
    // learned, its report what it did.
    *result = ShortReport(*job);
    (*result)["kind"] = "live";
    co_return Status::OK();
  }
  // An ended job without a stored report (honed died while it ran), or a job queued
  // to resume: rebuilt from its stored trials, on the worker.
  std::vector<StoredTrial> stored;
  if (!job->row.space.is_null()) {
    Status s = store_->LoadTrials(job->row.id, &stored);
    if (!s.ok()) co_return s;
  }
  const json short_report = ShortReport(*job);
  if (!IsTerminal(job->row.state)) {
    // It may start running while the worker builds this: the worker reads copies
    // and builds a session of its own, never the job's.
    const json space = job->row.space;
    const Settings settings = job->spec.settings;
    const Target target = job->spec.target;
    co_return co_await OnWorker(worker_, [&] {
      SearchSpace local_space;
      std::unique_ptr<TuningSession> session;
      Status built = SessionFromStore(space, settings, target, std::move(stored),
                                      &local_space, &session);
      if (built.ok()) *result = session ? session->Report(context) : short_report;
      return built;
    });
  }
  // An ended job's session is kept: nothing else touches it any more.
  Busy busy(job);
  Status s = co_await OnWorker(worker_, [&] {
    Status built = Status::OK();
    if (!job->session)
      built = SessionFromStore(job->row.space, job->spec.settings, job->spec.target,
                               std::move(stored), &job->space, &job->session);
    if (built.ok()) *result = job->session ? job->session->Report(context) : short_report;
    return built;
  });
  co_return s;
}

asio::awaitable<Status> JobManager::Trials(int64_t id, const json& args, json* result) {
  Job* job = Find(id);
  if (!job) co_return Status::NotFound("no job " + std::to_string(id));
  if (job->spec.workload.live)
    co_return Status::FailedPrecondition(
        "job " + std::to_string(id) +
        " is a live job: it keeps epochs, not trials; `hone status " +
        std::to_string(id) + "` shows its incumbent, candidate and last changes");
  int64_t after = -1, limit = static_cast<int64_t>(limits::kMaxTrialsPage);
  Status valid = PageArgs(args, {{"after", &after}}, &limit, limits::kMaxTrialsPage);
  if (!valid.ok()) co_return valid;
  std::vector<StoredTrial> stored;
  if (!job->row.space.is_null()) {
    Status s = store_->LoadTrials(job->row.id, &stored);
    if (!s.ok()) co_return s;
  }
  std::optional<int64_t> best;
  const json& report = job->row.report;
  if (report.is_object() && report.contains("best") && report["best"].is_object() &&
      report["best"].contains("trial") && report["best"]["trial"].is_number_integer())
    best = report["best"]["trial"].get<int64_t>();
  // Built from copies, on the worker: the job may be running, its own session the
  // worker's.
  const json space = job->row.space;
  const Settings settings = job->spec.settings;
  const Target target = job->spec.target;
  json page;
  Status s = co_await OnWorker(worker_, [&] {
    SearchSpace local_space;
    std::unique_ptr<TuningSession> session;
    Status built = SessionFromStore(space, settings, target, std::move(stored),
                                    &local_space, &session);
    if (built.ok() && session)
      page = session->Trials(best, after, static_cast<size_t>(limit),
                             limits::kMaxTrialSamplesListed, limits::kMaxTrialsPageBytes);
    return built;
  });
  if (!s.ok()) co_return s;
  if (page.is_null())
    page = {{"target",
             {{"metric", job->spec.target.metric},
              {"goal", GoalName(job->spec.target.goal)}}},
            {"trials", json::array()},
            {"next", nullptr}};
  page["job"] = id;
  page["state"] = JobStateName(job->row.state);
  *result = std::move(page);
  co_return Status::OK();
}

Status JobManager::Watch(int64_t id, EventSink sink, Subscription* subscription,
                         json* result) {
  Job* job = Find(id);
  if (!job) return Status::NotFound("no job " + std::to_string(id));
  *result = Summary(*job, job->Elapsed(*clock_));
  *subscription = Subscription();
  if (IsTerminal(job->row.state)) {
    (*result)["report"] = job->row.report.is_object() ? job->row.report : ShortReport(*job);
    return Status::OK();
  }
  *subscription = watchers_->Add(id, std::move(sink));
  return Status::OK();
}

void JobManager::Publish(const Job& job, const json& event, bool last) {
  watchers_->Publish(job.row.id, event, last);
}

size_t JobManager::CountInState(JobState state) const {
  size_t n = 0;
  for (const auto& [id, job] : jobs_) n += job->row.state == state;
  return n;
}

std::string JobManager::StatusLine() const {
  std::vector<Job*> running = Running();
  if (running.empty()) {
    size_t queued = CountInState(JobState::kQueued);
    return queued ? std::to_string(queued) + " job(s) queued" : "idle";
  }
  std::string line;
  for (const Job* job : running) {
    if (!line.empty()) line += "; ";
    line += "job " + std::to_string(job->row.id) + ": " + job->phase;
    const json& progress = job->progress;
    if (progress.is_object() && progress.contains("live"))
      line += ", phase " + std::to_string(progress["live"].value("phase", 0)) + ", " +
              std::to_string(progress["live"].value("changes", int64_t{0})) + " changes";
    else if (progress.is_object())
      line += ", " + std::to_string(progress.value("configs_explored", 0)) + "/" +
              std::to_string(progress.value("configs_budget", 0)) + " configs";
  }
  return line;
}

json JobManager::SessionReport(const Job& job, const ReportContext& context) const {
  if (!job.live) return job.session->Report(context);
  json report = job.live->Report();
  report["job"] = context.job;
  report["state"] = context.state;
  report["kind"] = "live";
  report["target"] = {{"metric", job.spec.target.metric},
                      {"goal", GoalName(job.spec.target.goal)}};
  report["elapsed_s"] = Round(context.elapsed_s, 1);
  if (!context.stop_reason.empty()) report["stop_reason"] = context.stop_reason;
  if (!context.message.empty()) report["message"] = context.message;
  if (context.resumes > 0)
    report["resumed"] = {{"times", context.resumes},
                         {"downtime_s", Round(context.downtime_s, 1)}};
  return report;
}

json JobManager::ProgressCounts(const Job& job) const {
  if (job.live) return {{"live", job.live->Snapshot()}};
  const TuningSession& session = *job.session;
  json progress = {{"configs_explored", session.configs_explored()},
                   {"configs_budget", session.ConfigBudget()},
                   {"configs_total", job.space.Size()},
                   {"samples_valid", session.samples_valid()},
                   {"samples_invalid", session.samples_invalid()}};
  if (std::optional<uint64_t> feasible = session.configs_feasible())
    progress["configs_feasible"] = *feasible;
  if (const TrialRecord* baseline = session.Baseline(); baseline && baseline->Mean())
    progress["baseline_value"] = *baseline->Mean();
  // The best mean, not the report's recommendation: that one may refit the surface
  // model over every trial, which would make each sample cost more than the last.
  if (const TrialRecord* best = session.BestByMean()) {
    progress["best"] = {{"config", job.space.ToJson(best->config)},
                        {"value", *best->Mean()}};
    if (auto pct = session.ImprovementPct(*best->Mean()))
      progress["improvement_pct"] = Round(*pct, 2);
    // Its interval, from the means and the pooled noise (or the final comparison's
    // pairs): pure statistics, no model fit, so each sample's cost stays flat.
    if (auto improvement = session.history().ImprovementOf(*best)) {
      progress["improvement_ci95_pct"] = {Round(improvement->low_pct, 2),
                                          Round(improvement->high_pct, 2)};
      progress["improvement_established"] = improvement->low_pct > 0 && !best->baseline;
    }
  }
  return progress;
}

json JobManager::Progress(const Job& job, double elapsed) const {
  json progress = job.progress;
  progress["elapsed_s"] = Round(elapsed, 1);
  int64_t explored = progress.value("configs_explored", int64_t{0});
  int64_t budget = progress.value("configs_budget", int64_t{0});
  int64_t taken = progress.value("samples_valid", int64_t{0}) +
                  progress.value("samples_invalid", int64_t{0});
  if (explored > 0 && budget > explored)
    if (std::optional<double> eta =
            EstimateSecondsLeft(job.spec.settings, budget, taken, elapsed))
      progress["eta_s"] = std::round(*eta);
  return progress;
}

Status SessionFromStore(const json& stored_space, const Settings& settings,
                        const Target& target, std::vector<StoredTrial> stored,
                        SearchSpace* space, std::unique_ptr<TuningSession>* session) {
  if (stored_space.is_null()) return Status::OK();  // never started: nothing to report
  Status s = SpaceFromJson(stored_space, space);
  if (!s.ok()) return s;
  std::vector<TrialRecord> trials;
  s = TrialRecords(*space, std::move(stored), &trials);
  if (!s.ok()) return s;
  *session = std::make_unique<TuningSession>(settings, target, space, nullptr);
  (*session)->Restore(std::move(trials));
  return Status::OK();
}

}  // namespace hone
