// JobManager: the queue of tuning jobs, their lifecycle, and the events watchers
// follow.
//
// Submissions are checked (config parsed, submitter allowed: server/policy.h) and
// stored before they are accepted. A single coroutine takes queued jobs in order
// and runs each (job_run.cc): it resolves the space (tuner/space_resolver.h), builds
// the job's TuningSession and hands both to a Runner (tuner/runner.h) with the
// job's metric source, knob bindings, trial log and events. Cancel kills the job's
// processes. Stop (daemon shutdown) interrupts the running job; at the next start
// Recover resumes it from its recorded trials, as it does a job that was running
// when honed died (unless resuming is off, or honed died at two starts of it in a
// row). Views of jobs (list, status, report, watch) are in job_views.cc.
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
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <nlohmann/json.hpp>

#include "common/config.h"
#include "common/status.h"
#include "daemon/jobs/job_request.h"
#include "daemon/jobs/watchers.h"
#include "daemon/knobs/catalog.h"
#include "daemon/knobs/ledger.h"
#include "daemon/process/process.h"
#include "daemon/server/policy.h"
#include "daemon/store/state_dir.h"
#include "daemon/store/store.h"
#include "common/statsd.h"
#include "daemon/tuner/clock.h"
#include "daemon/tuner/runner.h"
#include "daemon/tuner/tuning_session.h"

namespace hone {

struct JobManagerOptions {
  // Where finished jobs' best settings are written (job-N.env); empty: nowhere.
  std::string results_dir;
  // The machine's knobs. Both may be null for a honed without system knobs;
  // when set they must outlive the manager.
  Ledger* ledger = nullptr;
  std::vector<CatalogEntry>* catalog = nullptr;
  // Members of this group (besides root) may tune built-in system knobs.
  std::optional<gid_t> admin_gid;
  std::string admin_group = "hone-admin";  // its name, for messages
  // Where the crash sentinel lives (store/state_dir.h); empty: none.
  std::string sentinel_path;
  // Ended jobs kept: past this many the oldest are deleted (0: keep every one).
  size_t retain_jobs = 1000;
  // Where each run of a job's workload and scripts gets a cgroup of its own (and
  // where Recover sweeps a dead honed's); null: process groups only. When set it
  // must outlive the manager.
  WorkloadCgroups* cgroups = nullptr;
  // The machine, as live jobs read its kernel metrics (pressure, cgroup files); may
  // be null. When set it must outlive the manager.
  Machine* machine = nullptr;
  // Jobs that were running when honed stopped or died continue at the next start
  // (honed --no-resume: they stay interrupted).
  bool resume = true;
  // Seams for tests: how processes are started and what time it is. Null: the
  // system's. When set they must outlive the manager.
  ProcessRunner* processes = nullptr;
  const Clock* clock = nullptr;
};

class JobManager {
 public:
  // `store` must outlive the manager.
  JobManager(boost::asio::any_io_executor executor, Store* store,
             JobManagerOptions options);
  ~JobManager();

  // At start: sweeps a dead honed's processes, loads every job, and queues again
  // the jobs that were running (resumed when they run; see the file comment).
  Status Recover();
  // Starts the coroutine that runs queued jobs.
  void Start();
  // A reload of honed's settings: who may tune system knobs, how many ended jobs are
  // kept (the oldest beyond it are deleted at the next job's end), and whether a job
  // running at the stop resumes. A running job goes on.
  void Reconfigure(std::optional<gid_t> admin_gid, const std::string& admin_group,
                   size_t retain_jobs, bool resume);
  std::optional<gid_t> admin_gid() const { return options_.admin_gid; }
  // Stops the running job (it becomes interrupted, to resume at the next start)
  // and waits until the runner ends.
  boost::asio::awaitable<void> Stop();

  Status Submit(const Peer& peer, const nlohmann::json& args, nlohmann::json* result);
  // What `submit` with these args would do, and whether honed would take it, with
  // nothing queued or run (`hone check`): the knobs with their types, values and
  // defaults, the space's size and feasible share, the budget, the privileges it
  // needs and whether `peer` has them, warnings, and every error found.
  Status Check(const Peer& peer, const nlohmann::json& args,
               nlohmann::json* result) const;
  // `hone recheck`: queues a job that measures a trial of an ended or running job
  // (its best by default) against another (its baseline by default), interleaved,
  // for `rounds` rounds (args: job, rounds, trial, against), as that job's submitter
  // ran it. Only the job's submitter or root may.
  boost::asio::awaitable<Status> Recheck(const Peer& peer, const nlohmann::json& args,
                                         nlohmann::json* result);
  // A page of jobs in order of their numbers (args: after, limit, newest_first);
  // "next" in the result is the cursor for the next page, null after the last.
  Status List(const nlohmann::json& args, nlohmann::json* result) const;
  // Forgets an ended job: its row, trials, samples and settings file.
  Status Delete(const Peer& peer, int64_t id, nlohmann::json* result);
  // `status` of a job, serialized (DumpResult). Every client that asks gets the same
  // text until something in it changes or the job's elapsed time moves on by 0.1 s.
  Status JobStatus(int64_t id, std::shared_ptr<const std::string>* text) const;
  Status Cancel(const Peer& peer, int64_t id, nlohmann::json* result);
  // A value a live job's service pushed for one of its push metrics (the submitter,
  // root or honed's own uid may push).
  Status Push(const Peer& peer, int64_t id, const std::string& metric, double value,
              nlohmann::json* result);
  // A StatsD line from the metrics socket: to every running live job of the sender
  // (any, for root) with a push metric of that name. NotFound when none has one.
  Status PushStatsd(const Peer& peer, const StatsdValue& value);
  // A live job in mode recommend tries the step it proposes (the submitter, root or
  // honed's own uid may accept).
  boost::asio::awaitable<Status> Accept(const Peer& peer, int64_t id,
                                        nlohmann::json* result);
  boost::asio::awaitable<Status> Report(int64_t id, nlohmann::json* result);
  // A page of a sync job's trial history from its stored trials and samples
  // (TuningSession::Trials; args: after, limit), running or ended.
  boost::asio::awaitable<Status> Trials(int64_t id, const nlohmann::json& args,
                                        nlohmann::json* result);
  // Follows a job: `sink` receives its events for as long as *subscription lives,
  // until the job's last one (its end). The subscription is inactive when the job
  // has already ended (the result then holds its report).
  Status Watch(int64_t id, EventSink sink, Subscription* subscription,
               nlohmann::json* result);

  // The built-in catalog with each available knob's current value.
  boost::asio::awaitable<Status> Knobs(nlohmann::json* result);
  // Puts back every original honed holds, applied settings included. Refused while
  // a running job holds system knobs (its lease), naming the job and its knobs.
  boost::asio::awaitable<Status> RestoreAll(const Peer& peer, nlohmann::json* result);
  // Keeps job `id`'s best system knob settings (re-applied at every start). Refused
  // when a running job holds one of those knobs, naming the job and the knob.
  // `hone export`: job `id`'s best configuration knob by knob, with where each
  // lives (DescribeJobSettings), for any job that has a best so far. Script knobs'
  // scripts only for the job's owner or root.
  boost::asio::awaitable<Status> Export(const Peer& peer, int64_t id,
                                        nlohmann::json* result);
  boost::asio::awaitable<Status> ApplyBest(const Peer& peer, int64_t id,
                                           nlohmann::json* result);

  // The number of jobs in the state `state` (for tests and STATUS=).
  size_t CountInState(JobState state) const;
  std::string StatusLine() const;
  // Subscriptions to jobs' events that are active (for tests).
  size_t WatcherCount() const { return watchers_->size(); }

 private:
  struct Job;
  struct Busy;
  class ExclusiveKnobs;

  Job* Find(int64_t id) const;
  // Stores a new job, queued, and wakes the queue.
  Status Enqueue(const Peer& peer, std::unique_ptr<Job> job, nlohmann::json* result);
  double Now() const { return clock_->Now(); }
  // ---- job_run.cc: running a job.
  boost::asio::awaitable<void> RunQueue();
  // Starts the queued jobs that may run now: the oldest sync job when none runs, and
  // any live job; neither when its knobs are held by a running job.
  void StartRunnable();
  // Runs one job to its end, then wakes the queue.
  boost::asio::awaitable<void> RunOne(Job* job);
  // Every job running now: the sync job and the live ones.
  std::vector<Job*> Running() const;
  boost::asio::awaitable<void> RunJob(Job& job);
  // Resolves the space, builds the session (resumed from the stored trials when the
  // job ran before) and runs it; returns how it ended.
  boost::asio::awaitable<Outcome> RunTrials(Job& job);
  // A live job's loop (workload.kind: live): its LiveSession, from what it or an
  // earlier live job learned, lent to a LiveRunner.
  boost::asio::awaitable<Outcome> RunLive(Job& job);
  // What every runner is lent: the job's space, knobs, metric, worker, clock, stop
  // token, events and progress.
  RunContext MakeContext(Job& job, TrialLog* log);
  // The session of a job that ran before, from its stored trials.
  Status ResumeSession(Job& job, std::map<int64_t, int>* taken);
  // Teaches the job's session the measurements of request.warm_start_job and adds
  // that job's best configurations to `measure_first`.
  Status WarmStartFromJob(Job& job, std::vector<Config>* measure_first);
  // ---- job_views.cc: what clients see.
  nlohmann::json ShortReport(const Job& job) const;
  ReportContext Context(const Job& job, JobState state, double elapsed) const;
  // The report of a job whose session is built (on the worker): the sync session's,
  // or the live session's with the job's fields.
  nlohmann::json SessionReport(const Job& job, const ReportContext& context) const;
  // The session's counts (on the worker), and those with the time (here).
  nlohmann::json ProgressCounts(const Job& job) const;
  // `elapsed`: the job's time so far, as of this reply (Job::Elapsed).
  nlohmann::json Progress(const Job& job, double elapsed) const;
  nlohmann::json Summary(const Job& job, double elapsed) const;
  // Summary with the command shortened, for list replies.
  nlohmann::json ListedSummary(const Job& job) const;
  // To the job's watchers; `last`: the job's end, after which they are forgotten.
  void Publish(const Job& job, const nlohmann::json& event, bool last = false);
  // ---- job_manager.cc: the lifecycle.
  // Ends the job: its state, `report` (from its session; null: a short one), the
  // settings file, the stored row, the watchers' end event.
  void Finish(Job& job, JobState state, const std::string& reason, double finished_at,
              nlohmann::json report);
  std::string WriteSettings(const Job& job, const nlohmann::json& report);
  void Persist(const Job& job);
  // The job's spec from its request: the config parsed, completed with the command,
  // and bound to the catalog (at submit, and again when honed loads the job).
  Status ParseSpec(Job& job) const;
  // Loads one stored job (Recover), resuming, failing or keeping it as it was.
  void LoadJob(JobRow row, const std::vector<int64_t>& crashed);
  // Deletes the oldest ended jobs beyond options_.retain_jobs.
  void Prune();
  Status Forget(Job& job);
  // Whether a running job holds one of `knobs` (any system knob when `knobs` is
  // null): then restore and apply must wait; the refusal names the job, the knobs
  // and what to do (`then`).
  Status KnobsFree(const std::vector<std::string>* knobs, const char* then) const;

  boost::asio::any_io_executor executor_;
  Store* store_;
  JobManagerOptions options_;
  AccessPolicy policy_;
  ProcessRunner* processes_;
  const Clock* clock_;
  std::map<int64_t, std::unique_ptr<Job>> jobs_;
  std::shared_ptr<Watchers> watchers_ = std::make_shared<Watchers>();
  boost::asio::steady_timer wake_;         // cancelled to wake the runner
  boost::asio::steady_timer runner_done_;  // cancelled when the runner returns
  bool running_ = false;
  bool stopping_ = false;
  bool exclusive_ = false;  // a restore or apply is writing knobs: start no job
  // The sync job running (one at a time: two benchmarks on one machine disturb each
  // other), and the live jobs running beside it (each holds knobs no other running
  // job holds).
  Job* current_ = nullptr;
  std::vector<Job*> live_running_;
  // One thread for the tuner's heavy work (model fits, proposals, reports), so that
  // the event loop always serves the socket, signals and the watchdog. A running
  // job's session is touched only there once the job has started.
  boost::asio::thread_pool worker_{1};
  Sentinel sentinel_;
};

}  // namespace hone
