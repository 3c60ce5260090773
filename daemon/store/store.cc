#include "daemon/store/store.h"

#include <sqlite3.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <set>
#include <string>

#include "common/limits.h"
#include "common/scan.h"

namespace hone {

using nlohmann::json;

namespace {

// A stored trial's reason is read back at most this long.
constexpr size_t kMaxTrialReasonBytes = 200;

// A stored sample's other metrics, read as untrusted: an object of finite numbers
// under printable names, bounded in count and length; anything else is left out.
std::map<std::string, double> SampleMetrics(const nlohmann::json& stored) {
  std::map<std::string, double> metrics;
  if (!stored.is_object()) return metrics;
  for (const auto& [name, value] : stored.items()) {
    if (metrics.size() >= limits::kMaxMetrics) break;
    if (name.empty() || Printable(name, limits::kMaxNameBytes) != name ||
        !value.is_number())
      continue;
    double v = value.get<double>();
    if (std::isfinite(v)) metrics[name] = v;
  }
  return metrics;
}

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS jobs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  state TEXT NOT NULL,
  submitted_at REAL NOT NULL,
  started_at REAL NOT NULL DEFAULT 0,
  finished_at REAL NOT NULL DEFAULT 0,
  uid INTEGER NOT NULL,
  request TEXT NOT NULL,
  space TEXT,
  message TEXT NOT NULL DEFAULT '',
  stop_reason TEXT NOT NULL DEFAULT '',
  report TEXT,
  resumes INTEGER NOT NULL DEFAULT 0,
  downtime_s REAL NOT NULL DEFAULT 0,
  crashes INTEGER NOT NULL DEFAULT 0,
  resume INTEGER NOT NULL DEFAULT 0,
  live_state TEXT
);
CREATE TABLE IF NOT EXISTS trials (
  job_id INTEGER NOT NULL REFERENCES jobs(id),
  trial INTEGER NOT NULL,
  config TEXT NOT NULL,
  baseline INTEGER NOT NULL,
  reason TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (job_id, trial)
);
CREATE TABLE IF NOT EXISTS ledger (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  key TEXT NOT NULL,
  state TEXT NOT NULL,
  job_id INTEGER NOT NULL,
  recipe TEXT NOT NULL,
  original TEXT NOT NULL,
  value TEXT NOT NULL DEFAULT '',
  UNIQUE (key, state)
);
CREATE TABLE IF NOT EXISTS process_groups (
  pgid INTEGER PRIMARY KEY,
  started INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS samples (
  job_id INTEGER NOT NULL,
  trial INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  valid INTEGER NOT NULL,
  value REAL,
  error TEXT NOT NULL DEFAULT '',
  duration_s REAL NOT NULL,
  stopped_early INTEGER NOT NULL DEFAULT 0,
  race INTEGER NOT NULL DEFAULT 0,
  taken_at REAL NOT NULL DEFAULT 0,
  round INTEGER NOT NULL DEFAULT 0,
  metrics TEXT,
  other_cpu REAL,
  interfered INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (job_id, trial, seq)
);
)sql";

// A prepared statement that finalizes itself.
class Statement {
 public:
  Statement(sqlite3* db, const char* sql) : db_(db) {
    rc_ = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr);
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& Bind(int i, int64_t v) {
    Check(sqlite3_bind_int64(stmt_, i, v));
    return *this;
  }
  Statement& Bind(int i, double v) {
    Check(sqlite3_bind_double(stmt_, i, v));
    return *this;
  }
  Statement& Bind(int i, const std::string& v) {
    Check(sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()),
                            SQLITE_TRANSIENT));
    return *this;
  }
  Statement& BindNull(int i) {
    Check(sqlite3_bind_null(stmt_, i));
    return *this;
  }

  // Steps once: true while there is a row; errors end up in status().
  bool Step() {
    if (rc_ != SQLITE_OK && rc_ != SQLITE_ROW && rc_ != SQLITE_DONE) return false;
    rc_ = sqlite3_step(stmt_);
    return rc_ == SQLITE_ROW;
  }
  Status Run() {
    while (Step()) {
    }
    return status();
  }
  Status status() const {
    if (rc_ == SQLITE_OK || rc_ == SQLITE_ROW || rc_ == SQLITE_DONE) return Status::OK();
    return Status::IOError(std::string("state database: ") + sqlite3_errmsg(db_));
  }

  int64_t Int(int col) { return sqlite3_column_int64(stmt_, col); }
  double Double(int col) { return sqlite3_column_double(stmt_, col); }
  bool IsNull(int col) { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  std::string Text(int col) {
    const unsigned char* text = sqlite3_column_text(stmt_, col);
    return text ? reinterpret_cast<const char*>(text) : "";
  }
  json Json(int col) {
    if (IsNull(col)) return nullptr;
    return json::parse(Text(col), nullptr, false);
  }

 private:
  void Check(int rc) {
    if (rc != SQLITE_OK && rc_ == SQLITE_OK) rc_ = rc;
  }
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  int rc_;
};

std::string Dump(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace

Status Store::Open(const std::string& path, std::unique_ptr<Store>* store) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                           nullptr);
  if (rc != SQLITE_OK) {
    Status s = Status::IOError("cannot open state database " + path + ": " +
                               (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc)));
    sqlite3_close(db);
    return s;
  }
  sqlite3_busy_timeout(db, 5000);
  std::unique_ptr<Store> result(new Store(db));
  Status s = result->Exec("PRAGMA journal_mode=WAL");
  if (s.ok()) s = result->Exec("PRAGMA synchronous=FULL");
  if (s.ok()) s = result->Exec(kSchema);
  if (s.ok()) s = result->Migrate();
  if (!s.ok()) return s.WithContext(path);
  *store = std::move(result);
  return Status::OK();
}

Store::~Store() { sqlite3_close(db_); }

Status Store::Migrate() {
  // Columns added after the first release: databases made before them lack them.
  struct Added {
    const char* table;
    const char* column;
    const char* type;
  };
  const Added kAdded[] = {{"samples", "stopped_early", "INTEGER NOT NULL DEFAULT 0"},
                          {"samples", "race", "INTEGER NOT NULL DEFAULT 0"},
                          {"samples", "taken_at", "REAL NOT NULL DEFAULT 0"},
                          {"samples", "round", "INTEGER NOT NULL DEFAULT 0"},
                          {"samples", "metrics", "TEXT"},
                          {"samples", "other_cpu", "REAL"},
                          {"samples", "interfered", "INTEGER NOT NULL DEFAULT 0"},
                          {"jobs", "resumes", "INTEGER NOT NULL DEFAULT 0"},
                          {"jobs", "downtime_s", "REAL NOT NULL DEFAULT 0"},
                          {"jobs", "crashes", "INTEGER NOT NULL DEFAULT 0"},
                          {"jobs", "resume", "INTEGER NOT NULL DEFAULT 0"},
                          {"jobs", "live_state", "TEXT"},
                          {"trials", "reason", "TEXT NOT NULL DEFAULT ''"}};
  Status s = Status::OK();
  for (const char* table : {"samples", "jobs", "trials"}) {
    std::set<std::string> have;
    Statement columns(db_, (std::string("PRAGMA table_info(") + table + ")").c_str());
    while (columns.Step()) have.insert(columns.Text(1));
    if (s.ok()) s = columns.status();
    for (const Added& added : kAdded)
      if (s.ok() && added.table == std::string(table) && !have.count(added.column))
        s = Exec((std::string("ALTER TABLE ") + table + " ADD COLUMN " + added.column +
                  " " + added.type)
                     .c_str());
  }
  return s;
}

Status Store::Exec(const char* sql) {
  char* error = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &error) == SQLITE_OK) return Status::OK();
  Status s = Status::IOError(std::string("state database: ") + (error ? error : "error"));
  sqlite3_free(error);
  return s;
}

Status Store::InsertJob(JobRow* row) {
  Statement st(
      db_, "INSERT INTO jobs (state, submitted_at, uid, request) VALUES (?, ?, ?, ?)");
  st.Bind(1, std::string(JobStateName(row->state))).Bind(2, row->submitted_at).Bind(3, int64_t{row->uid});
  st.Bind(4, Dump(row->request));
  Status s = st.Run();
  if (s.ok()) row->id = sqlite3_last_insert_rowid(db_);
  if (s.ok()) s = UpdateJob(*row);
  return s;
}

Status Store::DeleteJob(int64_t id) {
  return Transaction([&] {
    Status s = Status::OK();
    for (const char* sql : {"DELETE FROM samples WHERE job_id = ?",
                            "DELETE FROM trials WHERE job_id = ?",
                            "DELETE FROM jobs WHERE id = ?"}) {
      Statement st(db_, sql);
      st.Bind(1, id);
      s = st.Run();
      if (!s.ok()) break;
    }
    return s;
  });
}

Status Store::Transaction(const std::function<Status()>& work) {
  Status s = Exec("BEGIN IMMEDIATE");
  if (!s.ok()) return s;
  s = work();
  if (s.ok()) s = Exec("COMMIT");
  if (!s.ok()) Exec("ROLLBACK");
  return s;
}

Status Store::Relaxed(const std::function<Status()>& work) {
  Status s = Exec("PRAGMA synchronous=NORMAL");
  if (s.ok()) s = work();
  Status back = Exec("PRAGMA synchronous=FULL");
  return s.ok() ? back : s;
}

Status Store::SaveLiveState(int64_t job, const json& state) {
  return Relaxed([&] {
    Statement st(db_, "UPDATE jobs SET live_state = ? WHERE id = ?");
    st.Bind(1, Dump(state)).Bind(2, job);
    return st.Run();
  });
}

Status Store::UpdateJob(const JobRow& row) {
  Statement st(db_,
               "UPDATE jobs SET state = ?, started_at = ?, finished_at = ?, space = ?, "
               "message = ?, stop_reason = ?, report = ?, resumes = ?, downtime_s = ?, "
               "crashes = ?, resume = ? WHERE id = ?");
  st.Bind(1, std::string(JobStateName(row.state)))
      .Bind(2, row.started_at)
      .Bind(3, row.finished_at);
  if (row.space.is_null())
    st.BindNull(4);
  else
    st.Bind(4, Dump(row.space));
  st.Bind(5, row.message).Bind(6, row.stop_reason);
  if (row.report.is_null())
    st.BindNull(7);
  else
    st.Bind(7, Dump(row.report));
  st.Bind(8, row.resumes).Bind(9, row.downtime_s).Bind(10, row.crashes);
  st.Bind(11, int64_t{row.resume}).Bind(12, row.id);
  return st.Run();
}

const char* JobStateName(JobState state) {
  switch (state) {
    case JobState::kQueued: return "queued";
    case JobState::kRunning: return "running";
    case JobState::kCompleted: return "completed";
    case JobState::kFailed: return "failed";
    case JobState::kCancelled: return "cancelled";
    case JobState::kInterrupted: return "interrupted";
  }
  return "failed";
}

bool ParseJobState(const std::string& name, JobState* state) {
  for (JobState s : {JobState::kQueued, JobState::kRunning, JobState::kCompleted,
                     JobState::kFailed, JobState::kCancelled, JobState::kInterrupted})
    if (name == JobStateName(s)) {
      *state = s;
      return true;
    }
  return false;
}

bool IsTerminal(JobState state) {
  return state == JobState::kCompleted || state == JobState::kFailed ||
         state == JobState::kCancelled || state == JobState::kInterrupted;
}

double JobRow::RunSeconds() const {
  if (started_at <= 0 || finished_at <= 0) return 0;
  return std::max(0.0, finished_at - started_at - downtime_s);
}

Status Store::AddSample(int64_t job, int64_t trial, int seq, const SampleResult& sample,
                        const NewTrial* new_trial) {
  return Relaxed([&] {
    return Transaction([&] {
      Status s = Status::OK();
      if (new_trial) s = InsertTrial(job, trial, *new_trial);
      if (s.ok()) s = InsertSample(job, trial, seq, sample);
      return s;
    });
  });
}

Status Store::InsertTrial(int64_t job, int64_t trial, const NewTrial& new_trial) {
  Statement st(db_,
               "INSERT INTO trials (job_id, trial, config, baseline, reason) VALUES (?, "
               "?, ?, ?, ?)");
  st.Bind(1, job).Bind(2, trial).Bind(3, Dump(new_trial.config));
  st.Bind(4, int64_t{new_trial.baseline}).Bind(5, new_trial.reason);
  return st.Run();
}

Status Store::InsertSample(int64_t job, int64_t trial, int seq,
                           const SampleResult& sample) {
  Statement st(
      db_,
      "INSERT INTO samples (job_id, trial, seq, valid, value, error, duration_s, "
      "stopped_early, race, taken_at, round, metrics, other_cpu, interfered) VALUES (?, "
      "?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  st.Bind(1, job).Bind(2, trial).Bind(3, int64_t{seq}).Bind(4, int64_t{sample.valid});
  if (sample.valid)
    st.Bind(5, sample.value);
  else
    st.BindNull(5);
  st.Bind(6, sample.error).Bind(7, sample.duration_s);
  st.Bind(8, int64_t{sample.stopped_early}).Bind(9, int64_t{sample.race});
  st.Bind(10, sample.taken_at).Bind(11, int64_t{sample.round});
  if (sample.metrics.empty())
    st.BindNull(12);
  else
    st.Bind(12, Dump(json(sample.metrics)));
  if (sample.other_cpu)
    st.Bind(13, *sample.other_cpu);
  else
    st.BindNull(13);
  st.Bind(14, int64_t{sample.interfered});
  return st.Run();
}

Status Store::LoadJobs(std::vector<JobRow>* jobs) {
  jobs->clear();
  Statement st(
      db_,
      "SELECT id, state, submitted_at, started_at, finished_at, uid, request, space, "
      "message, stop_reason, report, resumes, downtime_s, crashes, resume, live_state "
      "FROM jobs ORDER BY id");
  while (st.Step()) {
    JobRow row;
    row.id = st.Int(0);
    std::string state = st.Text(1);
    if (!ParseJobState(state, &row.state)) row.state = JobState::kFailed;
    row.submitted_at = st.Double(2);
    row.started_at = st.Double(3);
    row.finished_at = st.Double(4);
    row.uid = static_cast<uint32_t>(st.Int(5));
    row.request = st.Json(6);
    row.space = st.Json(7);
    row.message = st.Text(8);
    row.stop_reason = st.Text(9);
    row.report = st.Json(10);
    // Counts honed adds to: kept in a range where adding one cannot overflow,
    // whatever the database holds.
    row.resumes = std::clamp<int64_t>(st.Int(11), 0, INT32_MAX);
    row.downtime_s = std::max(0.0, st.Double(12));
    row.crashes = std::clamp<int64_t>(st.Int(13), 0, INT32_MAX);
    row.resume = st.Int(14) != 0;
    row.live_state = st.Json(15);
    if (row.state == JobState::kFailed && state != "failed" && row.message.empty())
      row.message = "stored in an unknown state '" + state.substr(0, 40) + "'";
    jobs->push_back(std::move(row));
  }
  return st.status();
}

Status Store::LoadTrials(int64_t job, std::vector<StoredTrial>* trials) {
  trials->clear();
  Statement st(db_,
               "SELECT trial, config, baseline, reason FROM trials WHERE job_id = ? "
               "ORDER BY trial");
  st.Bind(1, job);
  while (st.Step()) {
    StoredTrial trial;
    trial.number = st.Int(0);
    trial.config = st.Json(1);
    trial.baseline = st.Int(2) != 0;
    // Shown to users as it is: bounded and printable, whatever the database holds.
    trial.reason = Printable(st.Text(3), kMaxTrialReasonBytes);
    trials->push_back(std::move(trial));
  }
  Status s = st.status();
  if (!s.ok()) return s;
  Statement samples(db_,
                    "SELECT trial, valid, value, error, duration_s, stopped_early, race, "
                    "taken_at, round, metrics, other_cpu, interfered FROM samples WHERE "
                    "job_id = ? ORDER BY trial, seq");
  samples.Bind(1, job);
  size_t at = 0;
  while (samples.Step()) {
    int64_t number = samples.Int(0);
    while (at < trials->size() && (*trials)[at].number < number) ++at;
    if (at == trials->size() || (*trials)[at].number != number) continue;
    SampleResult sample;
    sample.valid = samples.Int(1) != 0;
    sample.value = samples.IsNull(2) ? 0 : samples.Double(2);
    sample.error = samples.Text(3);
    sample.duration_s = samples.Double(4);
    sample.stopped_early = samples.Int(5) != 0;
    sample.race = samples.Int(6) != 0;
    sample.taken_at = samples.Double(7);
    // The state directory is not trusted: a round is a small positive count.
    sample.round = static_cast<int>(std::clamp<int64_t>(samples.Int(8), 0, INT32_MAX));
    sample.metrics = SampleMetrics(samples.Json(9));
    if (!samples.IsNull(10) && std::isfinite(samples.Double(10)))
      sample.other_cpu = std::clamp(samples.Double(10), 0.0, 1e6);
    sample.interfered = samples.Int(11) != 0;
    (*trials)[at].samples.push_back(std::move(sample));
  }
  return samples.status();
}

Status Store::PutLedger(const LedgerEntry& entry) {
  Statement st(db_,
               "INSERT INTO ledger (key, state, job_id, recipe, original, value) "
               "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (key, state) DO UPDATE SET "
               "job_id = excluded.job_id, recipe = excluded.recipe, "
               "original = excluded.original, value = excluded.value");
  st.Bind(1, entry.key)
      .Bind(2, entry.state)
      .Bind(3, entry.job)
      .Bind(4, Dump(entry.recipe));
  st.Bind(5, entry.original).Bind(6, entry.value);
  return st.Run();
}

Status Store::DeleteLedger(const std::string& key, const std::string& state) {
  Statement st(db_, "DELETE FROM ledger WHERE key = ? AND state = ?");
  st.Bind(1, key).Bind(2, state);
  return st.Run();
}

namespace {
LedgerEntry ReadLedgerRow(Statement& st) {
  LedgerEntry entry;
  entry.key = st.Text(0);
  entry.state = st.Text(1);
  entry.job = st.Int(2);
  entry.recipe = st.Json(3);
  entry.original = st.Text(4);
  entry.value = st.Text(5);
  return entry;
}
}  // namespace

Status Store::LoadLedger(std::vector<LedgerEntry>* entries) {
  entries->clear();
  Statement st(
      db_, "SELECT key, state, job_id, recipe, original, value FROM ledger ORDER BY seq");
  while (st.Step()) entries->push_back(ReadLedgerRow(st));
  return st.status();
}

Status Store::FindLedger(const std::string& key, const std::string& state,
                         std::optional<LedgerEntry>* entry) {
  entry->reset();
  Statement st(db_,
               "SELECT key, state, job_id, recipe, original, value FROM ledger "
               "WHERE key = ? AND state = ?");
  st.Bind(1, key).Bind(2, state);
  if (st.Step()) *entry = ReadLedgerRow(st);
  return st.status();
}

Status Store::RecordProcessGroup(pid_t pgid, uint64_t started) {
  Statement st(db_,
               "INSERT OR REPLACE INTO process_groups (pgid, started) VALUES (?, ?)");
  st.Bind(1, int64_t{pgid}).Bind(2, static_cast<int64_t>(started));
  return Relaxed([&] { return st.Run(); });
}

Status Store::ForgetProcessGroup(pid_t pgid) {
  Statement st(db_, "DELETE FROM process_groups WHERE pgid = ?");
  st.Bind(1, int64_t{pgid});
  return Relaxed([&] { return st.Run(); });
}

Status Store::LoadProcessGroups(std::vector<std::pair<pid_t, uint64_t>>* groups) {
  groups->clear();
  Statement st(db_, "SELECT pgid, started FROM process_groups");
  while (st.Step())
    groups->emplace_back(static_cast<pid_t>(st.Int(0)), static_cast<uint64_t>(st.Int(1)));
  return st.status();
}

Status Store::MarkRunningInterrupted(double now, std::vector<int64_t>* ids) {
  ids->clear();
  {
    Statement st(db_, "SELECT id FROM jobs WHERE state = 'running'");
    while (st.Step()) ids->push_back(st.Int(0));
    if (Status s = st.status(); !s.ok()) return s;
  }
  // The job ran until its last recorded sample, as far as anyone can tell: the time
  // honed was down is not the job's (it would count against max_minutes and show
  // in elapsed_s). Without a recorded sample, it ran from its start.
  Statement st(
      db_,
      "UPDATE jobs SET state = 'interrupted', finished_at = MIN(?, MAX(started_at, "
      "COALESCE((SELECT MAX(taken_at) FROM samples WHERE samples.job_id = jobs.id), 0))), "
      "message = 'honed stopped while the job was running' WHERE state = 'running'");
  st.Bind(1, now);
  return st.Run();
}

}  // namespace hone
