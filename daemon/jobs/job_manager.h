// JobManager: the queue of tuning jobs, the one job that runs at a time, and the
// events that watchers follow.
//
// Submissions are checked (config parsed, submitter allowed) and stored before they
// are accepted. A single coroutine takes queued jobs in order and runs each: it
// resolves options scripts, then drives a TuningSession, running the workload and
// the metric for every sample as the submitting user, and stores every trial and
// sample as it happens. Cancel kills the job's processes. Stop (daemon shutdown)
// marks the running job interrupted; queued jobs wait for the next start.
//
// Threading: everything runs on the io_context's single thread, except the tuner's
// heavy work (TuningSession: proposals, model fits, reports), which runs on one
// worker thread while the job's coroutine waits for it. Status and watchers read a
// snapshot of the session's counts taken after each step, never the session
// itself, so nothing is shared between the two threads at the same time.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <nlohmann/json.hpp>

#include "common/config.h"
#include "common/space.h"
#include "common/status.h"
#include "daemon/knobs/catalog.h"
#include "daemon/knobs/knob_bindings.h"
#include "daemon/knobs/knobs.h"
#include "daemon/knobs/ledger.h"
#include "daemon/process/process.h"
#include "daemon/store/state_dir.h"
#include "daemon/store/store.h"
#include "daemon/tuner/tuning_session.h"

namespace hone {

// Who is on the other end of a connection, from SO_PEERCRED and SO_PEERGROUPS.
struct Peer {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;
};

// What a client submits: the job's config and how to run its workload.
struct JobRequest {
  std::string config_text;
  std::string config_path;                 // for messages and listings
  std::vector<std::string> command;        // the workload after `--`; may be empty
  std::string cwd;                         // the submitter's working directory
  std::map<std::string, std::string> env;  // the submitter's environment
  int64_t warm_start_job = 0;              // learn from this earlier job first; 0: none
  Credentials user;                        // filled from the peer, never from the client

  static Status FromJson(const nlohmann::json& args, JobRequest* request);
  nlohmann::json ToJson() const;
};

struct JobManagerOptions {
  // Where finished jobs' best settings are written (job-N.env).
  std::string results_dir;
  // The machine's knobs. All three may be null for a honed without system knobs;
  // when set they must outlive the manager.
  Ledger* ledger = nullptr;
  std::vector<CatalogEntry>* catalog = nullptr;
  // Members of this group (besides root) may tune built-in system knobs.
  std::optional<gid_t> admin_gid;
  // Where the crash sentinel lives (state_dir.h); empty: none.
  std::string sentinel_path;
  // Ended jobs kept: past this many the oldest are deleted (0: keep every one).
  size_t retain_jobs = 1000;
  // Where each run of a job's workload and scripts gets a cgroup of its own (and
  // where Recover sweeps a dead honed's); null: process groups only. When set it
  // must outlive the manager.
  WorkloadCgroups* cgroups = nullptr;
};

class JobManager {
 public:
  using EventSink = std::function<void(const nlohmann::json& event)>;

  // `store` must outlive the manager.
  JobManager(boost::asio::any_io_executor executor, Store* store,
             JobManagerOptions options);
  ~JobManager();

  // At start: marks jobs that were running as interrupted and loads every job.
  Status Recover();
  // Starts the coroutine that runs queued jobs.
  void Start();
  // Stops the running job (it becomes interrupted) and waits until the runner ends.
  boost::asio::awaitable<void> Stop();

  Status Submit(const Peer& peer, const nlohmann::json& args, nlohmann::json* result);
  // A page of jobs in order of their numbers (args: after, limit, newest_first);
  // "next" in the result is the cursor for the next page, null after the last.
  Status List(const nlohmann::json& args, nlohmann::json* result) const;
  // Forgets an ended job: its row, trials, samples and settings file.
  Status Delete(const Peer& peer, int64_t id, nlohmann::json* result);
  // `status` of a job, serialized (DumpResult). Every client that asks gets the same
  // text until something in it changes or the job's elapsed time moves on by 0.1 s.
  Status JobStatus(int64_t id, std::shared_ptr<const std::string>* text) const;
  Status Cancel(const Peer& peer, int64_t id, nlohmann::json* result);
  boost::asio::awaitable<Status> Report(int64_t id, nlohmann::json* result);
  // Follows a job: `sink` receives its events until it ends. *token identifies the
  // subscription for Unwatch; it is 0 when the job has already ended.
  Status Watch(int64_t id, EventSink sink, uint64_t* token, nlohmann::json* result);
  void Unwatch(uint64_t token);

  // The built-in catalog with each available knob's current value.
  boost::asio::awaitable<Status> Knobs(nlohmann::json* result);
  // Puts back every original honed holds, applied settings included. Refused while
  // a job runs.
  boost::asio::awaitable<Status> RestoreAll(const Peer& peer, nlohmann::json* result);
  // Keeps job `id`'s best system knob settings (re-applied at every start).
  boost::asio::awaitable<Status> ApplyBest(const Peer& peer, int64_t id,
                                           nlohmann::json* result);

  // The number of jobs in the state `state` (for tests and STATUS=).
  size_t CountInState(const std::string& state) const;
  std::string StatusLine() const;

 private:
  struct Job;
  struct Busy;

  Job* Find(int64_t id) const;
  boost::asio::awaitable<void> RunQueue();
  boost::asio::awaitable<void> RunJob(Job& job);
  // Runs the trials; returns the job's final state and why.
  boost::asio::awaitable<std::pair<std::string, std::string>> RunTrials(Job& job);
  // Checks foreign changes and sets the trial's system knobs.
  boost::asio::awaitable<Status> PrepareTrial(Job& job, const Config& config,
                                              int64_t trial);
  // Expands imports and binds built-in names to the catalog.
  Status ResolveBuiltins(JobSpec* spec) const;
  Status CheckPrivilege(const Peer& peer, const JobSpec& spec) const;
  bool IsAdmin(const Peer& peer) const;
  SystemKnob* FindBuiltin(const std::string& name) const;
  boost::asio::awaitable<Status> ResolveSpace(Job& job);
  boost::asio::awaitable<SampleResult> TakeSample(Job& job, const Config& config,
                                                        std::optional<double> cutoff);
  boost::asio::awaitable<SampleResult> MeasureScript(Job& job, const MetricSpec& metric,
                                                     const ProcessSpec& base);
  ProcessSpec BaseProcess(const Job& job, const Config& config) const;
  // Builds an ended job's session from its stored trials (on the worker).
  Status RebuildSession(Job& job, std::vector<StoredTrial> stored) const;
  nlohmann::json ShortReport(const Job& job) const;
  ReportContext Context(const Job& job) const;
  // Teaches the job's session the measurements of request.warm_start_job and adds
  // that job's best configurations to `measure_first`.
  Status WarmStartFromJob(Job& job, std::vector<Config>* measure_first);
  // Ends the job: its state, `report` (from its session; null: a short one), the
  // settings file, the stored row, the watchers' end event.
  void Finish(Job& job, const std::string& state, const std::string& reason,
              double finished_at, nlohmann::json report);
  std::string WriteSettings(const Job& job, const nlohmann::json& report);
  void Persist(const Job& job);
  // The session's counts (on the worker), and those with the time (here).
  nlohmann::json ProgressCounts(const Job& job) const;
  // `elapsed`: the job's time so far, as of this reply (Job::Elapsed).
  nlohmann::json Progress(const Job& job, double elapsed) const;
  nlohmann::json Summary(const Job& job, double elapsed) const;
  // Summary with the command shortened, for list replies.
  nlohmann::json ListedSummary(const Job& job) const;
  // Whether `peer` may act on the job (cancel, delete); the refusal says why.
  Status CheckOwner(const Peer& peer, const Job& job, const char* action) const;
  // Deletes the oldest ended jobs beyond options_.retain_jobs.
  void Prune();
  Status Forget(Job& job);
  void Publish(const Job& job, const nlohmann::json& event);

  boost::asio::any_io_executor executor_;
  Store* store_;
  JobManagerOptions options_;
  std::map<int64_t, std::unique_ptr<Job>> jobs_;
  struct Watcher {
    int64_t job;
    EventSink sink;
  };
  std::map<uint64_t, Watcher> watchers_;
  uint64_t next_token_ = 1;
  boost::asio::steady_timer wake_;         // cancelled to wake the runner
  boost::asio::steady_timer runner_done_;  // cancelled when the runner returns
  bool running_ = false;
  bool stopping_ = false;
  class ExclusiveKnobs;
  bool exclusive_ = false;  // a restore or apply is writing knobs: start no job
  Job* current_ = nullptr;
  // One thread for the tuner's heavy work (model fits, proposals, reports), so that
  // the event loop always serves the socket, signals and the watchdog. A running
  // job's session is touched only there once the job has started.
  boost::asio::thread_pool worker_{1};
  Sentinel sentinel_;
};

// The JSON form of a search space as stored: [{"name", "values", "default_index"}].
nlohmann::json SpaceToJson(const SearchSpace& space);
Status SpaceFromJson(const nlohmann::json& json, SearchSpace* space);

}  // namespace hone
