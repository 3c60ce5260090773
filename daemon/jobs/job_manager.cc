#include "daemon/jobs/job_manager.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "common/limits.h"
#include "common/protocol.h"
#include "common/report.h"
#include "common/scan.h"
#include "daemon/crash_point.h"
#include "daemon/store/state_dir.h"

namespace hone {

namespace asio = boost::asio;
using nlohmann::json;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
// How much of a failing process's stderr goes into a sample's error.
constexpr size_t kErrorTail = 400;

double Now() {
  return std::chrono::duration<double>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string Tail(const std::string& text, size_t limit) {
  size_t end = text.find_last_not_of(" \n\t\r");
  if (end == std::string::npos) return "";
  std::string trimmed = text.substr(0, end + 1);
  if (trimmed.size() <= limit) return trimmed;
  return "..." + trimmed.substr(trimmed.size() - limit);
}

std::string WithOutput(std::string message, const std::string& err) {
  std::string tail = Tail(err, kErrorTail);
  if (!tail.empty()) message += ": " + tail;
  return message;
}

// How much nicer than honed the tuner's worker thread runs (setpriority).
constexpr int kWorkerNice = 10;

// Runs `work` on `pool` and resumes the calling coroutine on its own executor with
// the result; an exception thrown by `work` is rethrown in the caller.
template <typename F>
asio::awaitable<std::invoke_result_t<F&>> OnWorker(asio::thread_pool& pool, F work) {
  using R = std::invoke_result_t<F&>;
  if constexpr (std::is_void_v<R>) {
    co_await asio::co_spawn(
        pool, [&work]() -> asio::awaitable<void> { work(); co_return; },
        asio::use_awaitable);
  } else {
    co_return co_await asio::co_spawn(
        pool, [&work]() -> asio::awaitable<R> { co_return work(); }, asio::use_awaitable);
  }
}

bool IsTerminal(const std::string& state) {
  return state == "completed" || state == "failed" || state == "cancelled" ||
         state == "interrupted";
}

}  // namespace

struct JobManager::Job {
  JobRow row;
  JobRequest request;
  JobSpec spec;
  SearchSpace space;
  std::unique_ptr<TuningSession> session;
  ProcessGroups processes;
  std::unique_ptr<KnobBindings> bindings;  // its system knobs, once started
  std::vector<std::string> notes;          // things the user should know (status)
  bool cancel_requested = false;
  // Set once `session` is built and only the worker touches it (running jobs).
  bool session_ready = false;
  // Reports being built for it on the worker: it is not deleted meanwhile.
  int busy = 0;
  // The target's `pattern`, when it is a pattern metric: compiled once, at start.
  Pattern target_pattern;
  // The session's counts as of the last step, computed on the worker, read here:
  // status and watchers never wait for the tuner, nor touch its state.
  json progress;
  uint64_t progress_revision = 0;  // bumped with each new `progress`
  std::string phase;
  std::chrono::steady_clock::time_point started;

  // What a status reply is made of, but for the parts that never change; equal
  // keys give the same reply. A field that Summary() starts to show, and that can
  // change while the job lives, must be added here, or status serves it stale.
  struct StatusKey {
    std::string state, message, stop_reason, phase;
    double started_at = 0, finished_at = 0;
    int64_t deciseconds = -1;  // elapsed time, as the reply rounds it
    uint64_t progress_revision = 0;
    size_t notes = 0, warnings = 0;
    bool has_report = false;
    bool operator==(const StatusKey&) const = default;
  };
  // The last status reply, serialized, and its key.
  StatusKey status_key;
  std::shared_ptr<const std::string> status_text;

  double Elapsed() const {
    if (row.state == "running")
      return std::chrono::duration<double>(std::chrono::steady_clock::now() - started)
          .count();
    if (row.finished_at > 0 && row.started_at > 0)
      return row.finished_at - row.started_at;
    return 0;
  }
};

// ---- JobRequest -------------------------------------------------------------

Status JobRequest::FromJson(const json& args, JobRequest* request) {
  *request = JobRequest();
  auto text = args.find("config_text");
  if (text == args.end() || !text->is_string())
    return Status::InvalidArgument(
        "submit needs \"config_text\", the config file's contents");
  request->config_text = text->get<std::string>();
  request->config_path = args.value("config_path", std::string("config"));
  request->cwd = args.value("cwd", std::string("/"));
  if (request->cwd.empty() || request->cwd[0] != '/')
    return Status::InvalidArgument("\"cwd\" must be an absolute path");
  if (auto cmd = args.find("command"); cmd != args.end()) {
    if (!cmd->is_array())
      return Status::InvalidArgument("\"command\" must be a list of strings");
    for (const json& arg : *cmd) {
      if (!arg.is_string())
        return Status::InvalidArgument("\"command\" must be a list of strings");
      request->command.push_back(arg.get<std::string>());
    }
  }
  if (auto warm = args.find("warm_start_job"); warm != args.end() && !warm->is_null()) {
    if (!warm->is_number_integer() || warm->get<int64_t>() < 1)
      return Status::InvalidArgument("\"warm_start_job\" must be a job number");
    request->warm_start_job = warm->get<int64_t>();
  }
  if (auto env = args.find("env"); env != args.end()) {
    if (!env->is_object())
      return Status::InvalidArgument("\"env\" must be an object of strings");
    size_t bytes = 0;
    for (const auto& [key, value] : env->items()) {
      if (!value.is_string() || key.empty() || key.find('=') != std::string::npos)
        return Status::InvalidArgument("\"env\" must map variable names to strings");
      request->env[key] = value.get<std::string>();
      bytes += key.size() + 1 + request->env[key].size();
    }
    if (bytes > limits::kMaxEnvBytes)
      return Status::InvalidArgument("the environment is " + std::to_string(bytes) +
                                     " bytes; the limit is " +
                                     std::to_string(limits::kMaxEnvBytes));
  }
  size_t command_bytes = 0;
  for (const std::string& arg : request->command) command_bytes += arg.size() + 1;
  if (command_bytes > limits::kMaxCommandBytes)
    return Status::InvalidArgument("the workload's command line is " +
                                   std::to_string(command_bytes) +
                                   " bytes; the limit is " +
                                   std::to_string(limits::kMaxCommandBytes));
  for (auto [name, value] : {std::pair{"cwd", &request->cwd},
                             std::pair{"config_path", &request->config_path}})
    if (value->size() > limits::kMaxPathBytes)
      return Status::InvalidArgument(std::string("\"") + name + "\" is " +
                                     std::to_string(value->size()) +
                                     " bytes long; the limit is " +
                                     std::to_string(limits::kMaxPathBytes));
  return Status::OK();
}

json JobRequest::ToJson() const {
  return {{"config_text", config_text},
          {"config_path", config_path},
          {"command", command},
          {"cwd", cwd},
          {"env", env},
          {"warm_start_job", warm_start_job ? json(warm_start_job) : json(nullptr)},
          {"uid", user.uid},
          {"gid", user.gid},
          {"groups", user.groups}};
}

// ---- Space as JSON ----------------------------------------------------------

json SpaceToJson(const SearchSpace& space) {
  json knobs = json::array();
  for (const Knob& knob : space.knobs())
    knobs.push_back({{"name", knob.name},
                     {"values", knob.values},
                     {"default_index", knob.default_index},
                     {"type", KnobTypeName(knob.type)}});
  json constraints = json::array();
  for (const Expression& e : space.constraints()) constraints.push_back(e.text());
  return {{"knobs", knobs}, {"constraints", constraints}};
}

Status SpaceFromJson(const json& value, SearchSpace* space) {
  // Older stores hold the list of knobs alone.
  const json& list = value.is_object() ? value.value("knobs", json()) : value;
  if (!list.is_array()) return Status::Internal("stored search space is not a list");
  std::vector<Knob> knobs;
  for (const json& k : list) {
    if (!k.is_object() || !k.contains("name") || !k.contains("values"))
      return Status::Internal("stored search space is malformed");
    Knob knob;
    knob.name = k["name"].get<std::string>();
    knob.values = k["values"].get<std::vector<json>>();
    knob.default_index = k.value("default_index", 0u);
    if (!ParseKnobType(k.value("type", ""), &knob.type))
      knob.type = InferKnobType(knob.values);
    knobs.push_back(std::move(knob));
  }
  std::vector<std::string> constraints;
  if (value.is_object())
    for (const json& c : value.value("constraints", json::array()))
      if (c.is_string()) constraints.push_back(c.get<std::string>());
  return SearchSpace::Create(std::move(knobs), constraints, space);
}

namespace {

// A warm start from an earlier job measures that many of its best configurations.
constexpr size_t kWarmStartRemeasured = 3;

// A built-in knob's values: its whole domain, or the config's list when every value
// of it is in the domain.
Status NarrowDomain(const std::string& name, const std::vector<json>& domain,
                    std::vector<json>* values) {
  if (values->empty()) {
    *values = domain;
    return Status::OK();
  }
  for (const json& value : *values) {
    std::string text = ValueToString(value);
    bool found = std::any_of(domain.begin(), domain.end(),
                             [&](const json& d) { return ValueToString(d) == text; });
    if (!found) {
      std::string allowed;
      for (size_t i = 0; i < domain.size() && i < 12; ++i)
        allowed += (i ? ", " : "") + ValueToString(domain[i]);
      if (domain.size() > 12)
        allowed += ", ... (" + std::to_string(domain.size()) + " values)";
      return Status::InvalidArgument("knob '" + name + "': " + text +
                                     " is outside its domain: " + allowed);
    }
  }
  return Status::OK();
}

Status DefaultIndex(const Knob& knob, const json& value, uint32_t* index) {
  std::string text = ValueToString(value);
  for (uint32_t i = 0; i < knob.values.size(); ++i)
    if (ValueToString(knob.values[i]) == text ||
        (value.is_number() && knob.values[i].is_number() &&
         value.get<double>() == knob.values[i].get<double>())) {
      *index = i;
      return Status::OK();
    }
  return Status::InvalidArgument("knob '" + knob.name + "': default " + text +
                                 " is not one of its options");
}

}  // namespace

// ---- JobManager -------------------------------------------------------------

JobManager::JobManager(asio::any_io_executor executor, Store* store,
                       JobManagerOptions options)
    : executor_(executor),
      store_(store),
      options_(std::move(options)),
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
  std::vector<int64_t> interrupted;
  Status s = store_->MarkRunningInterrupted(Now(), &interrupted);
  if (!s.ok()) return s;
  for (int64_t id : interrupted)
    spdlog::warn("job {} was running when honed stopped; marked interrupted", id);
  std::vector<JobRow> rows;
  s = store_->LoadJobs(&rows);
  if (!s.ok()) return s;
  // A job that crashed honed is not handled the same way again.
  const std::string& left = sentinel_.left_action();
  int64_t left_job = sentinel_.left_job();
  for (JobRow& row : rows) {
    auto job = std::make_unique<Job>();
    job->row = std::move(row);
    int64_t id = job->row.id;
    if (left == "load" && id == left_job) {
      spdlog::error("job {}: honed died while loading it at its last start; it is kept "
                    "but not loaded again",
                    id);
      if (!IsTerminal(job->row.state)) job->row.state = "failed";
      job->row.message = "honed died while loading this job at its last start; it is "
                         "kept but not loaded again";
      Persist(*job);
      jobs_[id] = std::move(job);
      continue;
    }
    if (left == "run" && id == left_job && job->row.state == "interrupted") {
      job->row.message = "honed stopped abruptly (killed or crashed) while the job was "
                         "running; an interrupted job is not run again";
      Persist(*job);
    }
    sentinel_.Set("load", id);
    CrashPoint("load-job");
    Status parsed = JobRequest::FromJson(job->row.request, &job->request);
    if (parsed.ok()) {
      const json& r = job->row.request;
      job->request.user.uid = r.value("uid", 0u);
      job->request.user.gid = r.value("gid", 0u);
      job->request.user.groups = r.value("groups", std::vector<gid_t>{});
      parsed =
          ParseConfig(job->request.config_text, job->request.config_path, &job->spec);
      if (parsed.ok()) parsed = CompleteSpec(job->request.command, &job->spec);
      if (parsed.ok()) parsed = ResolveBuiltins(&job->spec);
    }
    if (!parsed.ok() && job->row.state == "queued") {
      job->row.state = "failed";
      job->row.message = "cannot reload the queued job: " + parsed.message();
      Persist(*job);
    }
    jobs_[id] = std::move(job);
  }
  sentinel_.Clear();
  return Status::OK();
}

void JobManager::Start() {
  Prune();
  running_ = true;
  runner_done_.expires_at(asio::steady_timer::time_point::max());
  asio::co_spawn(executor_, RunQueue(), asio::detached);
}

asio::awaitable<void> JobManager::Stop() {
  stopping_ = true;
  if (current_) {
    current_->processes.KillAll();
  }
  wake_.cancel();
  if (running_) co_await runner_done_.async_wait(use_tuple);
}

Status JobManager::Submit(const Peer& peer, const json& args, json* result) {
  if (stopping_) return Status::Unavailable("honed is shutting down");
  auto job = std::make_unique<Job>();
  Status s = JobRequest::FromJson(args, &job->request);
  if (!s.ok()) return s;
  job->request.user = {peer.uid, peer.gid, peer.groups};
  if (geteuid() != 0 && peer.uid != geteuid())
    return Status::PermissionDenied(
        "honed runs as uid " + std::to_string(geteuid()) +
        " and can only run workloads as that user, not as uid " +
        std::to_string(peer.uid) +
        "; run honed as root (systemctl start honed) or as your own user");
  size_t queued = 0;
  for (const auto& [id, other] : jobs_)
    queued += other->row.state == "queued" && other->row.uid == peer.uid;
  if (queued >= limits::kMaxQueuedJobsPerUser)
    return Status::Unavailable("uid " + std::to_string(peer.uid) + " has " +
                               std::to_string(queued) + " jobs queued, the limit; " +
                               "submit more once some have run (or cancel some)");
  s = ParseConfig(job->request.config_text, job->request.config_path, &job->spec);
  if (s.ok()) s = CompleteSpec(job->request.command, &job->spec);
  if (s.ok()) s = ResolveBuiltins(&job->spec);
  if (s.ok()) s = CheckPrivilege(peer, job->spec);
  if (s.ok() && job->request.warm_start_job) {
    const Job* earlier = Find(job->request.warm_start_job);
    std::string what = "warm start: job " + std::to_string(job->request.warm_start_job);
    if (!earlier)
      s = Status::NotFound(what + " does not exist (hone list shows the jobs)");
    else if (earlier->row.space.is_null())
      s = Status::FailedPrecondition(what + " has not started; it has no measurements yet");
  }
  if (!s.ok()) return s;
  job->row.state = "queued";
  job->row.submitted_at = Now();
  job->row.uid = peer.uid;
  job->row.request = job->request.ToJson();
  s = store_->InsertJob(&job->row);
  if (!s.ok()) return s;
  int64_t id = job->row.id;
  spdlog::info("job {}: submitted by uid {} (pid {}): {}", id, peer.uid, peer.pid,
               job->request.config_path);
  *result = {{"job", id}, {"state", "queued"}, {"warnings", job->spec.warnings}};
  jobs_[id] = std::move(job);
  wake_.cancel();
  return Status::OK();
}

Status JobManager::List(const json& args, json* result) const {
  int64_t after = 0, before = INT64_MAX, limit = 100;
  bool newest_first = false;
  if (auto it = args.find("newest_first"); it != args.end()) {
    if (!it->is_boolean()) return Status::InvalidArgument("\"newest_first\" must be true or false");
    newest_first = it->get<bool>();
  }
  for (auto [name, field] : {std::pair{"after", &after}, std::pair{"before", &before},
                             std::pair{"limit", &limit}}) {
    auto it = args.find(name);
    if (it == args.end() || it->is_null()) continue;
    if (!it->is_number_integer() || it->get<int64_t>() < 0)
      return Status::InvalidArgument(std::string("\"") + name +
                                     "\" must be a number of 0 or more");
    *field = it->get<int64_t>();
  }
  if (limit < 1 || limit > static_cast<int64_t>(limits::kMaxListPage))
    return Status::InvalidArgument("\"limit\" must be from 1 to " +
                                   std::to_string(limits::kMaxListPage));
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
  json summary = Summary(job, job.Elapsed());
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
                  {"state", job.row.state},
                  {"config_path", job.request.config_path},
                  {"command", job.request.command},
                  {"uid", job.row.uid},
                  {"submitted_at", job.row.submitted_at},
                  {"elapsed_s", std::round(elapsed * 10) / 10}};
  if (job.row.started_at > 0) summary["started_at"] = job.row.started_at;
  if (job.row.finished_at > 0) summary["finished_at"] = job.row.finished_at;
  if (!job.row.message.empty()) summary["message"] = job.row.message;
  if (!job.row.stop_reason.empty()) summary["stop_reason"] = job.row.stop_reason;
  if (!job.notes.empty()) summary["notes"] = job.notes;
  if (job.row.state == "running") {
    summary["phase"] = job.phase;
    if (!job.progress.is_null()) summary["progress"] = Progress(job, elapsed);
  }
  if (job.row.report.is_object()) {
    for (const char* key :
         {"best", "baseline", "improvement_pct", "configs_explored", "configs_total",
          "configs_feasible"})
      if (job.row.report.contains(key)) summary[key] = job.row.report[key];
  }
  return summary;
}

Status JobManager::JobStatus(int64_t id, std::shared_ptr<const std::string>* text) const {
  Job* job = Find(id);
  if (!job) return Status::NotFound("no job " + std::to_string(id));
  // Rounded as the reply shows it, so that the reply depends on the key alone.
  const double elapsed = std::round(job->Elapsed() * 10) / 10;
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
                     job->row.report.is_object()};
  if (!job->status_text || !(key == job->status_key)) {
    json summary = Summary(*job, elapsed);
    summary["warnings"] = job->spec.warnings;
    job->status_text = std::make_shared<const std::string>(DumpResult(summary));
    job->status_key = std::move(key);
  }
  *text = job->status_text;
  return Status::OK();
}

Status JobManager::CheckOwner(const Peer& peer, const Job& job, const char* action) const {
  if (peer.uid == 0 || peer.uid == job.row.uid || peer.uid == geteuid())
    return Status::OK();
  return Status::PermissionDenied("job " + std::to_string(job.row.id) +
                                  " belongs to uid " + std::to_string(job.row.uid) +
                                  "; only its submitter, root or honed's own user may " +
                                  action + " it");
}

Status JobManager::Delete(const Peer& peer, int64_t id, json* result) {
  Job* job = Find(id);
  if (!job) return Status::NotFound("no job " + std::to_string(id));
  Status s = CheckOwner(peer, *job, "delete");
  if (!s.ok()) return s;
  if (!IsTerminal(job->row.state))
    return Status::FailedPrecondition("job " + std::to_string(id) + " is " +
                                      job->row.state + "; cancel it first (hone cancel " +
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
  std::erase_if(watchers_, [id](const auto& w) { return w.second.job == id; });
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
  Status owner = CheckOwner(peer, *job, "cancel");
  if (!owner.ok()) return owner;
  if (IsTerminal(job->row.state))
    return Status::FailedPrecondition("job " + std::to_string(id) +
                                      " has already ended (" + job->row.state + ")");
  spdlog::info("job {}: cancel requested by uid {}", id, peer.uid);
  if (job->row.state == "queued") {
    Finish(*job, "cancelled", "cancelled before it started", Now(), json());
  } else {
    job->cancel_requested = true;
    job->processes.KillAll();
  }
  *result = {{"job", id}, {"state", job->row.state}};
  return Status::OK();
}

Status JobManager::RebuildSession(Job& job, std::vector<StoredTrial> stored) const {
  if (job.session) return Status::OK();
  if (job.row.space.is_null()) return Status::OK();  // never started: nothing to report
  Status s = SpaceFromJson(job.row.space, &job.space);
  if (!s.ok()) return s;
  std::vector<TrialRecord> trials;
  for (StoredTrial& t : stored) {
    TrialRecord record;
    record.number = t.number;
    record.baseline = t.baseline;
    record.samples = std::move(t.samples);
    s = job.space.FromJson(t.config, &record.config);
    if (!s.ok()) return s.WithContext("stored trial " + std::to_string(t.number));
    trials.push_back(std::move(record));
  }
  job.session = std::make_unique<TuningSession>(job.spec.settings, job.spec.target,
                                                &job.space, nullptr);
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
    record.samples = std::move(t.samples);
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

// Marks a job as in use by the worker for as long as it lives.
struct JobManager::Busy {
  explicit Busy(Job* job) : job(job) { ++job->busy; }
  ~Busy() { --job->busy; }
  Job* job;
};

json JobManager::ShortReport(const Job& job) const {
  json report = {{"job", job.row.id},
                 {"state", job.row.state},
                 {"target",
                  {{"metric", job.spec.target.metric},
                   {"goal", GoalName(job.spec.target.goal)}}}};
  if (!job.row.message.empty()) report["message"] = job.row.message;
  return report;
}

ReportContext JobManager::Context(const Job& job) const {
  ReportContext context{job.row.id,      job.row.state, job.row.stop_reason,
                        job.row.message, job.Elapsed(), ""};
  context.warm_start_job = job.request.warm_start_job;
  return context;
}

asio::awaitable<Status> JobManager::Report(int64_t id, json* result) {
  Job* job = Find(id);
  if (!job) co_return Status::NotFound("no job " + std::to_string(id));
  if (job->row.report.is_object() && job->row.state != "interrupted") {
    *result = job->row.report;
    co_return Status::OK();
  }
  ReportContext context = Context(*job);
  if (job == current_ && job->row.state == "running") {
    // Its session belongs to the worker while the job runs.
    if (!job->session_ready) {
      *result = ShortReport(*job);
      co_return Status::OK();
    }
    Busy busy(job);
    *result = co_await OnWorker(worker_, [&] { return job->session->Report(context); });
    co_return Status::OK();
  }
  // An ended job without a stored report (honed died while it ran): rebuilt from its
  // stored trials, on the worker, where its session lives.
  std::vector<StoredTrial> stored;
  if (!job->row.space.is_null()) {
    Status s = store_->LoadTrials(job->row.id, &stored);
    if (!s.ok()) co_return s;
  }
  Busy busy(job);
  Status s = co_await OnWorker(worker_, [&] {
    Status built = RebuildSession(*job, std::move(stored));
    if (built.ok())
      *result = job->session ? job->session->Report(context) : ShortReport(*job);
    return built;
  });
  co_return s;
}

Status JobManager::Watch(int64_t id, EventSink sink, uint64_t* token, json* result) {
  Job* job = Find(id);
  if (!job) return Status::NotFound("no job " + std::to_string(id));
  *result = Summary(*job, job->Elapsed());
  *token = 0;
  if (IsTerminal(job->row.state)) {
    (*result)["report"] = job->row.report.is_object() ? job->row.report : ShortReport(*job);
    return Status::OK();
  }
  *token = next_token_++;
  watchers_[*token] = {id, std::move(sink)};
  return Status::OK();
}

void JobManager::Unwatch(uint64_t token) { watchers_.erase(token); }

void JobManager::Publish(const Job& job, const json& event) {
  // A sink may unwatch while we iterate (a closed connection): iterate over a copy.
  std::vector<EventSink> sinks;
  for (const auto& [token, watcher] : watchers_)
    if (watcher.job == job.row.id) sinks.push_back(watcher.sink);
  for (const EventSink& sink : sinks) sink(event);
  if (event.value("type", "") == "end") {
    std::erase_if(watchers_, [&](const auto& w) { return w.second.job == job.row.id; });
  }
}

size_t JobManager::CountInState(const std::string& state) const {
  size_t n = 0;
  for (const auto& [id, job] : jobs_) n += job->row.state == state;
  return n;
}

std::string JobManager::StatusLine() const {
  if (!current_) {
    size_t queued = CountInState("queued");
    return queued ? std::to_string(queued) + " job(s) queued" : "idle";
  }
  std::string line = "job " + std::to_string(current_->row.id) + ": " + current_->phase;
  const json& progress = current_->progress;
  if (progress.is_object())
    line += ", " + std::to_string(progress.value("configs_explored", 0)) + "/" +
            std::to_string(progress.value("configs_budget", 0)) + " configs";
  return line;
}

void JobManager::Persist(const Job& job) {
  Status s = store_->UpdateJob(job.row);
  if (!s.ok())
    spdlog::error("job {}: cannot store its state: {}", job.row.id, s.message());
}

json JobManager::ProgressCounts(const Job& job) const {
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
      progress["improvement_pct"] = std::round(*pct * 100) / 100;
  }
  return progress;
}

json JobManager::Progress(const Job& job, double elapsed) const {
  json progress = job.progress;
  progress["elapsed_s"] = std::round(elapsed * 10) / 10;
  int64_t explored = progress.value("configs_explored", int64_t{0});
  int64_t budget = progress.value("configs_budget", int64_t{0});
  if (explored > 0 && budget > explored) {
    double eta =
        elapsed / static_cast<double>(explored) * static_cast<double>(budget - explored);
    if (job.spec.settings.max_minutes > 0)
      eta = std::min(eta, std::max(0.0, job.spec.settings.max_minutes * 60 - elapsed));
    progress["eta_s"] = std::round(eta);
  }
  return progress;
}

// ---- Running ----------------------------------------------------------------

asio::awaitable<void> JobManager::RunQueue() {
  while (!stopping_) {
    Job* next = nullptr;
    for (auto& [id, job] : jobs_)
      if (job->row.state == "queued") {
        next = job.get();
        break;
      }
    if (!next || exclusive_) {
      wake_.expires_at(asio::steady_timer::time_point::max());
      co_await wake_.async_wait(use_tuple);
      continue;
    }
    current_ = next;
    co_await RunJob(*next);
    current_ = nullptr;
  }
  running_ = false;
  runner_done_.cancel();
}

asio::awaitable<void> JobManager::RunJob(Job& job) {
  job.processes.observer = [this](pid_t pgid, bool started) {
    Status s = started ? store_->RecordProcessGroup(pgid, ProcessStartTime(pgid))
                       : store_->ForgetProcessGroup(pgid);
    if (!s.ok()) spdlog::error("cannot record process group {}: {}", pgid, s.message());
  };
  sentinel_.Set("run", job.row.id);
  job.processes.set_cgroups(options_.cgroups);
  if (!job.processes.in_cgroups())
    job.notes.push_back("workloads are contained by " + job.processes.containment() +
                        ": a process that leaves its process group can outlive its run");
  job.row.state = "running";
  job.row.started_at = Now();
  job.started = std::chrono::steady_clock::now();
  job.phase = "resolving knobs";
  Persist(job);
  spdlog::info("job {}: started", job.row.id);
  Publish(job, {{"type", "state"}, {"job", job.row.id}, {"state", "running"}});

  // Whatever goes wrong inside the loop (an allocation that fails, a bug), the job
  // ends, its processes die, its knobs go back and the queue goes on.
  std::pair<std::string, std::string> outcome;
  std::string internal_error;
  try {
    outcome = co_await RunTrials(job);
  } catch (const std::exception& e) {
    internal_error = e.what();
  }
  if (!internal_error.empty()) {
    spdlog::error("job {}: internal error: {}", job.row.id, internal_error);
    job.processes.KillAll();
    outcome = {"failed", "internal error in honed: " + internal_error +
                             "; the job was stopped and its knobs put back"};
  }
  auto& [state, reason] = outcome;
  job.phase = "ending";
  if (job.bindings && !job.bindings->empty()) {
    // Whatever happened, the machine goes back to how the job found it.
    job.phase = "restoring knobs";
    std::vector<std::string> done;
    // Every held entry: this job's, and any an earlier job could not put back.
    Status s = co_await options_.ledger->RestoreHeld(std::nullopt, &done);
    for (const std::string& line : done) spdlog::info("job {}: {}", job.row.id, line);
    if (!s.ok()) {
      spdlog::error("job {}: {}; the ledger keeps it for the next start", job.row.id,
                    s.message());
      job.notes.push_back("restoring knobs failed: " + s.message());
    }
  }
  double finished_at = Now();
  json report;
  if (job.session_ready) {
    ReportContext context{job.row.id,
                          state,
                          state == "completed" ? reason : job.row.stop_reason,
                          state == "completed" ? job.row.message : reason,
                          finished_at - job.row.started_at,
                          ""};
    context.warm_start_job = job.request.warm_start_job;
    try {
      report = co_await OnWorker(worker_, [&] { return job.session->Report(context); });
    } catch (const std::exception& e) {
      spdlog::error("job {}: cannot build its report: {}", job.row.id, e.what());
    }
  }
  Finish(job, state, reason, finished_at, std::move(report));
  sentinel_.Clear();
  Prune();
}

asio::awaitable<std::pair<std::string, std::string>> JobManager::RunTrials(Job& job) {
  using Outcome = std::pair<std::string, std::string>;
  Status s = co_await ResolveSpace(job);
  if (!s.ok())
    co_return Outcome{job.cancel_requested ? "cancelled"
                      : stopping_          ? "interrupted"
                                           : "failed",
                      s.message()};
  const MetricSpec& metric = *job.spec.FindMetric(job.spec.target.metric);
  if (metric.kind == MetricKind::kPattern) {
    s = Pattern::Compile(metric.pattern, &job.target_pattern);  // checked when parsed
    if (!s.ok()) co_return Outcome{"failed", "metric '" + metric.name + "': " + s.message()};
  }
  job.row.space = SpaceToJson(job.space);
  Persist(job);
  std::unique_ptr<Strategy> strategy =
      MakeStrategy(job.spec.settings.strategy, &job.space, job.spec.settings.seed,
                   job.spec.target.goal);
  job.session = std::make_unique<TuningSession>(job.spec.settings, job.spec.target,
                                                &job.space, std::move(strategy));
  std::vector<Config> warm_start;
  for (size_t i = 0; i < job.spec.warm_start.size(); ++i) {
    Config config;
    s = job.space.FromJson(job.spec.warm_start[i], &config);
    if (s.ok())
      if (const Expression* violated = job.space.Violated(config))
        s = Status::InvalidArgument("it violates constraint '" + violated->text() + "'");
    if (!s.ok())
      co_return Outcome{"failed",
                        s.WithContext("warm_start[" + std::to_string(i) + "]").message()};
    warm_start.push_back(std::move(config));
  }
  if (job.request.warm_start_job) {
    s = WarmStartFromJob(job, &warm_start);
    if (!s.ok()) co_return Outcome{"failed", s.message()};
  }
  job.session->SetWarmStart(std::move(warm_start));
  // From here on the session is the worker's: the model's fits and proposals run
  // there, so that the socket, signals and the watchdog are always served.
  job.session_ready = true;
  job.progress = co_await OnWorker(worker_, [&] { return ProgressCounts(job); });
  ++job.progress_revision;
  std::map<int64_t, int> seq;  // samples taken per trial
  for (;;) {
    if (job.cancel_requested) co_return Outcome{"cancelled", "cancelled by request"};
    if (stopping_) co_return Outcome{"interrupted", "honed was stopped"};
    double elapsed = job.Elapsed();
    Step step = co_await OnWorker(worker_, [&] {
      FailPoint("propose");
      HoldPoint("propose");
      return job.session->Next(elapsed);
    });
    if (step.kind == Step::Kind::kDone) co_return Outcome{"completed", step.reason};
    if (step.kind == Step::Kind::kFailed) co_return Outcome{"failed", step.reason};
    job.phase = step.race       ? "racing the leading configurations"
                : step.baseline ? "measuring the baseline"
                                : "searching";
    Status prepared;
    if (step.first_sample) {
      s = store_->InsertTrial(job.row.id, step.trial, job.space.ToJson(step.config),
                              step.baseline);
      if (!s.ok()) co_return Outcome{"failed", s.message()};
    }
    // A new trial, or an earlier one measured again: set its knobs.
    if (step.first_sample || step.revisit)
      prepared = co_await PrepareTrial(job, step.config, step.trial);
    SampleResult sample;
    if (prepared.ok()) {
      sample = co_await TakeSample(job, step.config, step.stop_cutoff);
    } else {
      sample.error = prepared.message();  // the trial fails; nothing is half-applied
    }
    if (job.cancel_requested || stopping_) continue;  // a killed sample is not a result
    sample.race = step.race;
    sample.taken_at = Now();
    s = store_->InsertSample(job.row.id, step.trial, seq[step.trial]++, sample);
    if (!s.ok()) co_return Outcome{"failed", s.message()};
    if (!sample.valid)
      spdlog::warn("job {}: trial {} sample invalid: {}", job.row.id, step.trial,
                   sample.error);
    job.progress = co_await OnWorker(worker_, [&] {
      job.session->Record(sample);
      return ProgressCounts(job);
    });
    ++job.progress_revision;
    json event = {{"type", "sample"},
                  {"job", job.row.id},
                  {"trial", step.trial},
                  {"baseline", step.baseline},
                  {"config", job.space.ToJson(step.config)},
                  {"valid", sample.valid},
                  {"duration_s", sample.duration_s}};
    if (sample.valid)
      event["value"] = sample.value;
    else
      event["error"] = sample.error;
    Publish(job, event);
    json progress = Progress(job, job.Elapsed());
    progress["type"] = "progress";
    progress["job"] = job.row.id;
    Publish(job, progress);
  }
}

asio::awaitable<Status> JobManager::PrepareTrial(Job& job, const Config& config,
                                                 int64_t trial) {
  if (!job.bindings || job.bindings->empty()) co_return Status::OK();
  std::vector<std::string> notes = co_await job.bindings->CheckForeignChanges();
  for (const std::string& note : notes) {
    spdlog::warn("job {}: {}", job.row.id, note);
    job.notes.push_back(note);
    Publish(job, {{"type", "note"}, {"job", job.row.id}, {"message", note}});
  }
  std::vector<std::string> log;
  Status s = co_await job.bindings->Apply(job.space, config, &log);
  for (const std::string& line : log)
    spdlog::info("job {} trial {}: {}", job.row.id, trial, line);
  co_return s;
}

asio::awaitable<Status> JobManager::ResolveSpace(Job& job) {
  std::vector<Knob> knobs;
  std::vector<bool> is_system;
  job.bindings = std::make_unique<KnobBindings>(job.row.id, options_.ledger);
  for (const KnobSpec& spec : job.spec.knobs) {
    Knob knob;
    knob.name = spec.name;
    knob.values = spec.options;
    if (!spec.options_script.empty()) {
      ProcessSpec process = BaseProcess(job, {});
      process.argv = ShellArgv(spec.options_script);
      process.timeout = std::chrono::milliseconds(
          static_cast<int64_t>(job.spec.settings.script_timeout_s * 1000));
      ProcessResult result = co_await RunProcess(process, &job.processes);
      std::string where =
          "knob '" + spec.name + "': options_script `" + spec.options_script + "`";
      if (!result.Succeeded())
        co_return Status::InvalidArgument(
            WithOutput(where + " " + result.Describe(), result.err));
      if (result.out_bytes > result.out.size())
        co_return Status::InvalidArgument(
            where + " printed " + std::to_string(result.out_bytes) +
            " bytes; the limit is " + std::to_string(limits::kMaxOutputBytes));
      Status parsed = ParseOptionList(result.out, kMaxOptionsPerKnob, &knob.values);
      if (!parsed.ok()) co_return Status::InvalidArgument(where + ": " + parsed.message());
      if (knob.values.empty())
        co_return Status::InvalidArgument(where + " printed no options");
    }
    SystemKnob* system = nullptr;
    std::unique_ptr<SystemKnob> owned;
    if (spec.kind == KnobKind::kBuiltin) {
      system = FindBuiltin(spec.name);
      if (!system)
        co_return Status::FailedPrecondition("knob '" + spec.name +
                                             "' is not available here");
      Status s = NarrowDomain(spec.name, system->Domain(), &knob.values);
      if (!s.ok()) co_return s;
    } else if (spec.kind == KnobKind::kScript) {
      ScriptKnobSpec script{spec.name,           spec.description,
                            knob.values,         spec.get_script,
                            spec.set_script,     spec.devices_script,
                            spec.pre_set_script, job.spec.settings.script_timeout_s};
      Status s = co_await MakeScriptKnob(script, &owned);
      if (!s.ok()) co_return s;
      system = owned.get();
    }
    if (system) job.bindings->Add(knobs.size(), system, std::move(owned));
    is_system.push_back(system != nullptr);
    if (spec.default_value && !system) {
      Status s = DefaultIndex(knob, *spec.default_value, &knob.default_index);
      if (!s.ok()) co_return s;
    }
    knobs.push_back(std::move(knob));
  }
  if (!job.bindings->empty()) {
    // System knobs start where the machine is: that is the honest baseline.
    Status s = co_await job.bindings->ReadCurrent();
    if (!s.ok()) co_return s;
    for (size_t dim = 0; dim < knobs.size(); ++dim) {
      if (!is_system[dim]) continue;
      std::string current = job.bindings->StartValue(dim);
      std::vector<json>& values = knobs[dim].values;
      auto it = std::find_if(values.begin(), values.end(),
                             [&](const json& v) { return ValueToString(v) == current; });
      if (it == values.end()) it = values.insert(values.end(), ParseScalar(current));
      knobs[dim].default_index = static_cast<uint32_t>(it - values.begin());
    }
  }
  for (size_t dim = 0; dim < knobs.size(); ++dim)
    knobs[dim].type = job.spec.knobs[dim].type.value_or(InferKnobType(knobs[dim].values));
  std::vector<std::string> constraints;
  for (const ConstraintSpec& c : job.spec.constraints) constraints.push_back(c.text);
  Status s = SearchSpace::Create(std::move(knobs), constraints, &job.space);
  if (!s.ok()) co_return s;
  if (const Expression* violated = job.space.Violated(job.space.Default()))
    co_return Status::InvalidArgument(
        "the baseline " + job.space.ToJson(job.space.Default()).dump() +
        " violates constraint '" + violated->text() +
        "'; hone measures the baseline first, so change the knobs' defaults (or, for "
        "system knobs, their current values) or the constraint");
  co_return Status::OK();
}

SystemKnob* JobManager::FindBuiltin(const std::string& name) const {
  if (!options_.catalog) return nullptr;
  for (CatalogEntry& entry : *options_.catalog)
    if (entry.name == name) return entry.knob.get();
  return nullptr;
}

Status JobManager::ResolveBuiltins(JobSpec* spec) const {
  static const std::vector<CatalogEntry> kNoCatalog;
  const std::vector<CatalogEntry>& catalog =
      options_.catalog ? *options_.catalog : kNoCatalog;
  auto known = [spec](const std::string& name) {
    return std::any_of(spec->knobs.begin(), spec->knobs.end(),
                       [&](const KnobSpec& k) { return k.name == name; });
  };
  for (const ImportSpec& import : spec->imports) {
    auto compile = [](const std::vector<std::string>& texts) {
      std::vector<Pattern> patterns(texts.size());
      for (size_t i = 0; i < texts.size(); ++i)
        Pattern::Compile(texts[i], &patterns[i]);  // checked when parsed; else empty
      return patterns;
    };
    std::vector<Pattern> include = compile(import.include);
    std::vector<Pattern> exclude = compile(import.exclude);
    auto matches = [](const std::vector<Pattern>& patterns, const std::string& name) {
      return std::any_of(patterns.begin(), patterns.end(),
                         [&](const Pattern& p) { return p.FullMatch(name); });
    };
    for (const CatalogEntry& entry : catalog) {
      if (!matches(include, entry.name) || matches(exclude, entry.name) ||
          known(entry.name))
        continue;
      if (!entry.available) {
        spec->warnings.push_back("import: " + entry.name +
                                 " skipped, unavailable here: " + entry.reason);
        continue;
      }
      KnobSpec knob;
      knob.name = entry.name;
      knob.kind = KnobKind::kBuiltin;
      knob.pos = import.pos;
      spec->knobs.push_back(std::move(knob));
    }
  }
  for (KnobSpec& knob : spec->knobs) {
    auto entry = std::find_if(catalog.begin(), catalog.end(),
                              [&](const CatalogEntry& e) { return e.name == knob.name; });
    if (knob.kind == KnobKind::kApplication && entry != catalog.end())
      knob.kind = KnobKind::kBuiltin;  // its values narrow the built-in domain
    if (knob.kind != KnobKind::kApplication && knob.default_value)
      spec->warnings.push_back(
          "knob '" + knob.name +
          "': default ignored; a system knob's baseline is its current "
          "value");
    if (knob.kind != KnobKind::kBuiltin) continue;
    if (entry == catalog.end())
      return Status::InvalidArgument(
          "knob '" + knob.name +
          "' has no values and is not a built-in knob; give it options, options_script "
          "or "
          "range, or name one of the knobs `hone knobs` lists");
    if (!entry->available)
      return Status::FailedPrecondition(
          "knob '" + knob.name + "' is not available on this machine: " + entry->reason);
  }
  if (spec->knobs.empty())
    return Status::InvalidArgument(
        "no knobs: the imports matched no available built-in knob");
  return Status::OK();
}

Status JobManager::CheckPrivilege(const Peer& peer, const JobSpec& spec) const {
  if (spec.HasKind(KnobKind::kScript) && peer.uid != 0)
    return Status::PermissionDenied(
        "script knobs (get_script/set_script) run as root, so only root may submit them");
  if (spec.HasKind(KnobKind::kBuiltin) && !IsAdmin(peer))
    return Status::PermissionDenied(
        "built-in system knobs change the machine for everyone; only root or members of "
        "honed's admin group may tune them");
  return Status::OK();
}

bool JobManager::IsAdmin(const Peer& peer) const {
  if (peer.uid == 0) return true;
  if (!options_.admin_gid) return false;
  gid_t admin = *options_.admin_gid;
  return peer.gid == admin ||
         std::find(peer.groups.begin(), peer.groups.end(), admin) != peer.groups.end();
}

ProcessSpec JobManager::BaseProcess(const Job& job, const Config& config) const {
  ProcessSpec process;
  process.env = job.request.env;
  if (!config.empty())
    for (auto& [key, value] : job.space.Environment(config)) process.env[key] = value;
  process.cwd = job.request.cwd;
  process.user = job.request.user;
  return process;
}

namespace {

// Watches a partial pattern metric's stream line by line while the workload runs,
// and says when the value so far is worse than the cutoff. The first match is
// not trusted alone (a warm-up iteration), so it takes two.
class PartialWatch {
 public:
  PartialWatch(Pattern pattern, const MetricSpec& metric, Goal goal, double cutoff)
      : pattern_(std::move(pattern)),
        stderr_(metric.source == "stderr"),
        goal_(goal),
        cutoff_(cutoff) {}

  bool See(std::string_view piece, bool is_stderr) {
    if (is_stderr != stderr_) return false;
    pending_.append(piece);
    size_t end;
    while ((end = pending_.find('\n')) != std::string::npos) {
      std::string line = pending_.substr(0, end);
      pending_.erase(0, end + 1);
      if (auto v = pattern_.LastValue(line)) {
        value_ = v;
        ++matches_;
      }
      if (matches_ >= 2 && value_ &&
          (goal_ == Goal::kMax ? *value_ < cutoff_ : *value_ > cutoff_))
        return true;
    }
    if (pending_.size() > (1 << 20)) pending_.clear();  // no newline: not a progress line
    return false;
  }
  std::optional<double> value() const { return value_; }

 private:
  Pattern pattern_;
  bool stderr_;
  Goal goal_;
  double cutoff_;
  std::string pending_;
  std::optional<double> value_;
  int matches_ = 0;
};

}  // namespace

asio::awaitable<SampleResult> JobManager::TakeSample(Job& job, const Config& config,
                                                     std::optional<double> cutoff) {
  const WorkloadSpec& workload = job.spec.workload;
  const MetricSpec& metric = *job.spec.FindMetric(job.spec.target.metric);
  ProcessSpec process = BaseProcess(job, config);
  process.argv = workload.argv.empty() ? ShellArgv(workload.shell) : workload.argv;
  process.timeout =
      std::chrono::milliseconds(static_cast<int64_t>(workload.timeout_s * 1000));
  std::shared_ptr<PartialWatch> partial;
  const Pattern& pattern = job.target_pattern;
  if (cutoff && metric.kind == MetricKind::kDuration && job.spec.target.goal == Goal::kMin) {
    process.stop_at =
        std::chrono::milliseconds(static_cast<int64_t>(std::ceil(*cutoff * 1000)));
  } else if (cutoff && metric.kind == MetricKind::kPattern && metric.partial) {
    partial =
        std::make_shared<PartialWatch>(pattern, metric, job.spec.target.goal, *cutoff);
    process.watch = [partial](std::string_view piece, bool is_stderr) {
      return partial->See(piece, is_stderr);
    };
  }
  ProcessResult run = co_await RunProcess(process, &job.processes);
  SampleResult sample;
  sample.duration_s = run.elapsed_s;
  if (run.stopped_early) {
    // Clearly worse than the best: what it reached is its (flattering) value.
    sample.valid = true;
    sample.stopped_early = true;
    sample.value = partial && partial->value() ? *partial->value() : run.elapsed_s;
    spdlog::info("job {}: {} stopped early at {} (cutoff {})", job.row.id,
                 job.space.ToJson(config).dump(), sample.value, *cutoff);
    co_return sample;
  }
  if (!run.Succeeded()) {
    sample.error = WithOutput("workload " + run.Describe(), run.err);
    co_return sample;
  }
  switch (metric.kind) {
    case MetricKind::kDuration:
      sample.valid = true;
      sample.value = run.elapsed_s;
      co_return sample;
    case MetricKind::kPattern: {
      const std::string& text = metric.source == "stderr" ? run.err : run.out;
      std::optional<double> value = pattern.LastValue(text);
      if (!value) {
        sample.error = "metric '" + metric.name + "': pattern /" + metric.pattern +
                       "/ found no number in the workload's " + metric.source;
        co_return sample;
      }
      sample.valid = true;
      sample.value = *value;
      co_return sample;
    }
    case MetricKind::kScript: {
      SampleResult measured = co_await MeasureScript(job, metric, process);
      measured.duration_s = run.elapsed_s;
      co_return measured;
    }
  }
  co_return sample;
}

asio::awaitable<SampleResult> JobManager::MeasureScript(Job& job,
                                                        const MetricSpec& metric,
                                                        const ProcessSpec& base) {
  ProcessSpec process = base;
  process.argv = ShellArgv(metric.script);
  process.timeout = std::chrono::milliseconds(
      static_cast<int64_t>(job.spec.settings.script_timeout_s * 1000));
  ProcessResult result = co_await RunProcess(process, &job.processes);
  SampleResult sample;
  std::string where = "metric '" + metric.name + "': sample_script";
  if (!result.Succeeded()) {
    sample.error = WithOutput(where + " " + result.Describe(), result.err);
    co_return sample;
  }
  std::optional<double> value = LastNumber(result.out);
  if (!value) {
    std::string shown = Tail(result.out, 80);
    sample.error =
        where + " printed no number" +
        (shown.empty() ? std::string(" (no output)") : " (output: '" + shown + "')");
    co_return sample;
  }
  sample.valid = true;
  sample.value = *value;
  co_return sample;
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

void JobManager::Finish(Job& job, const std::string& state, const std::string& reason,
                        double finished_at, json report) {
  bool ended_normally = state == "completed";
  job.row.state = state;
  job.row.finished_at = finished_at;
  if (ended_normally)
    job.row.stop_reason = reason;
  else
    job.row.message = reason;
  job.phase = state;
  if (report.is_object()) {
    if (state == "completed") {
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
  if (state == "completed" || state == "cancelled")
    spdlog::info("job {}: {} ({})", job.row.id, state, reason);
  else
    spdlog::warn("job {}: {}: {}", job.row.id, state, reason);
  Publish(job,
          {{"type", "end"}, {"job", job.row.id}, {"state", state}, {"report", report}});
}

// ---- System knobs outside jobs ------------------------------------------------

asio::awaitable<Status> JobManager::Knobs(json* result) {
  json knobs = json::array();
  if (options_.catalog) {
    for (CatalogEntry& entry : *options_.catalog) {
      json knob = {{"name", entry.name},
                   {"backend", entry.backend},
                   {"description", entry.description},
                   {"location", entry.location},
                   {"risk", entry.risk},
                   {"available", entry.available}};
      if (!entry.available) knob["reason"] = entry.reason;
      if (entry.knob) {
        knob["domain"] = entry.knob->Domain();
        std::vector<std::string> instances = entry.knob->Instances();
        knob["instances"] = instances.size();
        std::string value;
        // (No co_await inside ?: — GCC 12 miscompiles it.)
        Status s = Status::NotFound("no instances");
        if (!instances.empty()) s = co_await entry.knob->Read(instances[0], &value);
        if (s.ok())
          knob["value"] = value;
        else
          knob["read_error"] = s.message();
      }
      knobs.push_back(std::move(knob));
    }
  }
  *result = {{"knobs", knobs}};
  co_return Status::OK();
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

asio::awaitable<Status> JobManager::RestoreAll(const Peer& peer, json* result) {
  if (!IsAdmin(peer))
    co_return Status::PermissionDenied(
        "only root or honed's admin group may restore knobs");
  if (!options_.ledger) co_return Status::FailedPrecondition("this honed has no ledger");
  if (current_)
    co_return Status::FailedPrecondition("job " + std::to_string(current_->row.id) +
                                         " is running and owns the knobs; cancel it (its "
                                         "knobs are restored when it ends)");
  ExclusiveKnobs exclusive(this);
  std::vector<std::string> done;
  Status s = co_await options_.ledger->RestoreHeld(std::nullopt, &done);
  Status applied = co_await options_.ledger->RestoreApplied(&done);
  if (s.ok()) s = applied;
  for (const std::string& line : done) spdlog::info("restore: {}", line);
  *result = {{"restored", done}};
  co_return s;
}

asio::awaitable<Status> JobManager::ApplyBest(const Peer& peer, int64_t id,
                                              json* result) {
  if (!IsAdmin(peer))
    co_return Status::PermissionDenied(
        "only root or honed's admin group may apply knobs");
  Job* job = Find(id);
  if (!job) co_return Status::NotFound("no job " + std::to_string(id));
  if (job->row.state != "completed" || !job->row.report.is_object() ||
      !job->row.report.value("best", json()).is_object())
    co_return Status::FailedPrecondition("job " + std::to_string(id) +
                                         " has no best configuration to apply (it is " +
                                         job->row.state + ")");
  if (current_)
    co_return Status::FailedPrecondition(
        "job " + std::to_string(current_->row.id) +
        " is running and owns the knobs; apply after it");
  ExclusiveKnobs exclusive(this);
  const json& best = job->row.report["best"]["config"];
  SearchSpace space;  // the values the job resolved (options_script included)
  Status s = SpaceFromJson(job->row.space, &space);
  if (!s.ok()) co_return s;
  std::vector<std::unique_ptr<SystemKnob>> owned;
  std::vector<Ledger::Setting> settings;
  for (const KnobSpec& spec : job->spec.knobs) {
    if (spec.kind == KnobKind::kApplication || !best.contains(spec.name)) continue;
    SystemKnob* knob = FindBuiltin(spec.name);
    if (spec.kind == KnobKind::kScript) {
      if (peer.uid != 0)
        co_return Status::PermissionDenied(
            "job " + std::to_string(id) +
            " has script knobs, which run as root; only root "
            "may apply it");
      std::vector<json> options = spec.options;
      for (const Knob& k : space.knobs())
        if (k.name == spec.name) options = k.values;
      ScriptKnobSpec script{spec.name,
                            spec.description,
                            options,
                            spec.get_script,
                            spec.set_script,
                            spec.devices_script,
                            spec.pre_set_script,
                            job->spec.settings.script_timeout_s};
      std::unique_ptr<SystemKnob> made;
      s = co_await MakeScriptKnob(script, &made);
      if (!s.ok()) co_return s;
      knob = made.get();
      owned.push_back(std::move(made));
    }
    if (!knob)
      co_return Status::FailedPrecondition("knob '" + spec.name +
                                           "' is not available here");
    std::string value = ValueToString(best[spec.name]);
    for (const std::string& instance : knob->Instances())
      settings.push_back({knob, instance, value});
  }
  if (settings.empty())
    co_return Status::FailedPrecondition(
        "job " + std::to_string(id) + " tuned only application knobs; use `hone report " +
        std::to_string(id) + " --format env` to use them");
  std::vector<std::string> applied;
  s = co_await options_.ledger->ApplyAll(id, settings, &applied);
  for (const std::string& line : applied) spdlog::info("apply job {}: {}", id, line);
  if (!s.ok()) co_return s;
  *result = {{"job", id}, {"applied", applied}};
  co_return Status::OK();
}

}  // namespace hone
