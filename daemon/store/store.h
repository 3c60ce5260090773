// Store: honed's durable state in SQLite (jobs, trials, samples, the knob ledger).
//
// Every write is committed before the call returns (WAL; synchronous=FULL, or NORMAL
// for the one transaction each sample makes), so a crash of honed at any instant
// loses at most the sample being measured. At start honed finds the jobs that were
// running (MarkRunningInterrupted) and resumes them (jobs/job_manager.h). The schema is in
// docs/architecture.md. Owned by the daemon; used from the event-loop thread only.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "daemon/tuner/sample.h"

struct sqlite3;

namespace hone {

// Where a job is in its life. Stored as its name; a name this honed does not know
// (a newer honed's, or damage) reads as kFailed.
enum class JobState { kQueued, kRunning, kCompleted, kFailed, kCancelled, kInterrupted };
const char* JobStateName(JobState state);
bool ParseJobState(const std::string& name, JobState* state);
// completed, failed, cancelled or interrupted: the job has ended.
bool IsTerminal(JobState state);

struct JobRow {
  int64_t id = 0;
  JobState state = JobState::kQueued;
  double submitted_at = 0, started_at = 0, finished_at = 0;  // Unix seconds; 0: not yet
  uint32_t uid = 0;
  // What was submitted: config text and path, command, cwd, env, credentials.
  nlohmann::json request;
  // The resolved search space (knobs and their values), once the job has started.
  nlohmann::json space;
  std::string message;  // why it failed, was cancelled or interrupted
  std::string stop_reason;
  nlohmann::json report;  // the final report, once it ended
  // Resuming after a restart (docs/architecture.md, "Resume"): how many times the
  // job was resumed, honed's time down while the job waited (not in elapsed_s),
  // how many times in a row honed died while it ran, and whether a stopped honed
  // left it to resume at the next start.
  int64_t resumes = 0;
  double downtime_s = 0;
  int64_t crashes = 0;
  bool resume = false;
  // A live job's state (LiveSession::SaveState): its phases and what it learned.
  // Written by SaveLiveState only, never by UpdateJob.
  nlohmann::json live_state;

  // Seconds the job has run: to finished_at (its last activity when interrupted)
  // without downtime_s; 0 before it started.
  double RunSeconds() const;
};

// A trial as stored: its configuration as a knob -> value object.
struct StoredTrial {
  int64_t number = 0;
  nlohmann::json config;
  bool baseline = false;
  std::string reason;  // why it was measured (TrialRecord::reason)
  std::vector<SampleResult> samples;
};

// One system knob instance whose original value honed keeps (docs/architecture.md,
// "The ledger"). A "held" entry is put back when its job ends; an "applied" entry
// (hone apply) stays, is re-applied at start, and is put back by `hone restore`.
struct LedgerEntry {
  std::string key;        // "<knob>/<instance>", e.g. "prefetch.l2_stream/cpu3"
  std::string state;      // "held" or "applied"
  int64_t job = 0;        // the job that changed it
  nlohmann::json recipe;  // how to write it again (KnobFromRecipe)
  std::string original;   // its value before honed's first write
  std::string value;      // applied: the value to keep
};

class Store {
 public:
  // Opens or creates the database at `path`.
  static Status Open(const std::string& path, std::unique_ptr<Store>* store);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Inserts `row` and sets row->id.
  Status InsertJob(JobRow* row);
  // Writes every mutable field of the row with that id.
  Status UpdateJob(const JobRow& row);
  // A live job's state, after each of its decisions (synchronous=NORMAL: one write
  // per change of configuration at most).
  Status SaveLiveState(int64_t job, const nlohmann::json& state);
  // Removes a job with its trials and samples, in one transaction.
  Status DeleteJob(int64_t id);
  // One sample, in one transaction with its trial's row when `new_trial` (the
  // trial's first sample): a trial is stored with its first sample or not at all.
  struct NewTrial {
    nlohmann::json config;
    bool baseline = false;
    std::string reason;
  };
  Status AddSample(int64_t job, int64_t trial, int seq, const SampleResult& sample,
                   const NewTrial* new_trial = nullptr);

  Status LoadJobs(std::vector<JobRow>* jobs);
  Status LoadTrials(int64_t job, std::vector<StoredTrial>* trials);

  // The ledger. PutLedger inserts or replaces the entry with that key and state.
  Status PutLedger(const LedgerEntry& entry);
  Status DeleteLedger(const std::string& key, const std::string& state);
  // Every entry, oldest first.
  Status LoadLedger(std::vector<LedgerEntry>* entries);
  // The entry with this key and state, or nullopt (one indexed lookup).
  Status FindLedger(const std::string& key, const std::string& state,
                    std::optional<LedgerEntry>* entry);

  // Workload process groups that are running, with their leaders' start times, so
  // that a honed that died does not leave them behind (see KillGroupSince).
  Status RecordProcessGroup(pid_t pgid, uint64_t started);
  Status ForgetProcessGroup(pid_t pgid);
  Status LoadProcessGroups(std::vector<std::pair<pid_t, uint64_t>>* groups);

  // Jobs left running by a honed that died become interrupted; returns their ids.
  // (The job manager then resumes them, or not: Recover.)
  // Each one's finished_at is its last recorded sample's time (its start without
  // one), never later than `now`.
  Status MarkRunningInterrupted(double now, std::vector<int64_t>* ids);

 private:
  explicit Store(sqlite3* db) : db_(db) {}
  Status Exec(const char* sql);
  // Runs `work` in one transaction: committed when it succeeds, rolled back when it
  // or the commit fails.
  Status Transaction(const std::function<Status()>& work);
  // Runs `work` with synchronous=NORMAL: its commits do not wait for the disk, so
  // they survive a crash of honed and only a crash of the machine can lose them.
  // For what is written at every sample and every run, which would otherwise hold
  // the event loop for an fsync each time (architecture.md, "Durable state").
  Status Relaxed(const std::function<Status()>& work);
  Status InsertTrial(int64_t job, int64_t trial, const NewTrial& new_trial);
  Status InsertSample(int64_t job, int64_t trial, int seq, const SampleResult& sample);
  // Brings a database made by an earlier honed up to the current schema.
  Status Migrate();

  sqlite3* db_;
};

}  // namespace hone
