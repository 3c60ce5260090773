// Store: what is written survives closing and reopening the database.
#include "daemon/store/store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include "common/limits.h"
#include "tests/test_util.h"

namespace hone {
namespace {

using nlohmann::json;

TEST(StoreTest, JobsTrialsAndSamplesSurviveReopening) {
  test::TempDir dir;
  std::string path = dir.path() + "/honed.db";
  int64_t id = 0;
  {
    std::unique_ptr<Store> store;
    ASSERT_TRUE(Store::Open(path, &store).ok());
    JobRow row;
    row.state = JobState::kRunning;
    row.submitted_at = 100;
    row.uid = 1000;
    row.request = {{"config_path", "knobs.yaml"}};
    ASSERT_TRUE(store->InsertJob(&row).ok());
    id = row.id;
    EXPECT_GT(id, 0);
    row.space = json::array({{{"name", "n"}, {"values", {1, 2}}, {"default_index", 0}}});
    row.started_at = 101;
    ASSERT_TRUE(store->UpdateJob(row).ok());
    Store::NewTrial trial0{{{"n", 1}}, true, "the baseline"};
    ASSERT_TRUE(store->AddSample(id, 0, 0, {true, 12.5, "", 0.3, false, false, 110}, &trial0).ok());
    ASSERT_TRUE(
        store->AddSample(id, 0, 1, {false, 0, "timed out", 1.0, false, false, 120}).ok());
    Store::NewTrial trial1{{{"n", 2}}, false, "a random\x01 draw"};
    ASSERT_TRUE(store->AddSample(id, 1, 0, {true, 14, "", 0.2, false, false, 130}, &trial1).ok());
  }
  std::unique_ptr<Store> store;
  ASSERT_TRUE(Store::Open(path, &store).ok());
  std::vector<int64_t> interrupted;
  // honed comes back at 5000, long after the job's last sample at 130.
  ASSERT_TRUE(store->MarkRunningInterrupted(5000, &interrupted).ok());
  EXPECT_EQ(interrupted, std::vector<int64_t>{id});

  std::vector<JobRow> jobs;
  ASSERT_TRUE(store->LoadJobs(&jobs).ok());
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0].state, JobState::kInterrupted);
  EXPECT_EQ(jobs[0].finished_at, 130) << "the time honed was down is not the job's";
  EXPECT_EQ(jobs[0].started_at, 101);
  EXPECT_EQ(jobs[0].uid, 1000u);
  EXPECT_EQ(jobs[0].request["config_path"], "knobs.yaml");
  EXPECT_EQ(jobs[0].space[0]["values"], json({1, 2}));
  EXPECT_TRUE(jobs[0].report.is_null());

  std::vector<StoredTrial> trials;
  ASSERT_TRUE(store->LoadTrials(id, &trials).ok());
  ASSERT_EQ(trials.size(), 2u);
  EXPECT_TRUE(trials[0].baseline);
  EXPECT_EQ(trials[0].reason, "the baseline");
  EXPECT_EQ(trials[1].reason, "a random\\x01 draw") << "read back printable";
  EXPECT_EQ(trials[0].config, json({{"n", 1}}));
  ASSERT_EQ(trials[0].samples.size(), 2u);
  EXPECT_TRUE(trials[0].samples[0].valid);
  EXPECT_EQ(trials[0].samples[0].value, 12.5);
  EXPECT_FALSE(trials[0].samples[1].valid);
  EXPECT_EQ(trials[0].samples[1].error, "timed out");
  EXPECT_EQ(trials[0].samples[1].taken_at, 120);
  ASSERT_EQ(trials[1].samples.size(), 1u);
  EXPECT_EQ(trials[1].samples[0].value, 14);
}

TEST(StoreTest, AnInterruptedJobWithoutRecordedSamplesEndsWhereItStarted) {
  test::TempDir dir;
  std::unique_ptr<Store> store;
  ASSERT_TRUE(Store::Open(dir.path() + "/honed.db", &store).ok());
  JobRow quiet, old;
  for (JobRow* row : {&quiet, &old}) {
    row->state = JobState::kRunning;
    ASSERT_TRUE(store->InsertJob(row).ok());
    row->started_at = 101;
    ASSERT_TRUE(store->UpdateJob(*row).ok());
  }
  // A sample from before honed recorded times (taken_at 0) says nothing either.
  ASSERT_TRUE(store->AddSample(old.id, 0, 0, {true, 1, "", 0.1}).ok());
  std::vector<int64_t> interrupted;
  ASSERT_TRUE(store->MarkRunningInterrupted(5000, &interrupted).ok());
  EXPECT_EQ(interrupted.size(), 2u);
  std::vector<JobRow> jobs;
  ASSERT_TRUE(store->LoadJobs(&jobs).ok());
  ASSERT_EQ(jobs.size(), 2u);
  for (const JobRow& job : jobs) {
    EXPECT_EQ(job.state, JobState::kInterrupted);
    EXPECT_EQ(job.finished_at, 101) << "job " << job.id;
  }
}

TEST(StoreTest, ASecondSampleWithTheSameNumberIsRefused) {
  test::TempDir dir;
  std::unique_ptr<Store> store;
  ASSERT_TRUE(Store::Open(dir.path() + "/honed.db", &store).ok());
  JobRow row;
  row.state = JobState::kRunning;
  ASSERT_TRUE(store->InsertJob(&row).ok());
  ASSERT_TRUE(store->AddSample(row.id, 0, 0, {true, 1, "", 0}).ok());
  Status s = store->AddSample(row.id, 0, 0, {true, 2, "", 0});
  EXPECT_EQ(s.code(), Status::Code::kIOError);
  EXPECT_NE(s.message().find("state database"), std::string::npos);
}

TEST(StoreTest, OpeningAnUnwritablePathSaysWhich) {
  std::unique_ptr<Store> store;
  Status s = Store::Open("/nonexistent/dir/honed.db", &store);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("/nonexistent/dir/honed.db"), std::string::npos)
      << s.message();
}


// Runs `sql` on the database at `path` directly (SQLite, as an older honed or
// someone with access to the state directory would), outside any Store.
void ExecOutsideTheStore(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
}

TEST(StoreTest, ADatabaseFromTheFirstReleaseGainsTheNewColumnsAndKeepsItsSamples) {
  test::TempDir dir;
  std::string path = dir.path() + "/honed.db";
  // The samples table as the first release made it, with one sample in it.
  std::string sql =
      "CREATE TABLE samples (job_id INTEGER NOT NULL, trial INTEGER NOT NULL, seq INTEGER "
      "NOT NULL, valid INTEGER NOT NULL, value REAL, error TEXT NOT NULL DEFAULT '', "
      "duration_s REAL NOT NULL, PRIMARY KEY (job_id, trial, seq)); "
      "CREATE TABLE trials (job_id INTEGER NOT NULL, trial INTEGER NOT NULL, config TEXT "
      "NOT NULL, baseline INTEGER NOT NULL, PRIMARY KEY (job_id, trial)); "
      "INSERT INTO trials VALUES (1, 0, '{\"n\":1}', 1); "
      "INSERT INTO samples VALUES (1, 0, 0, 1, 12.5, '', 0.3);";
  ExecOutsideTheStore(path, sql);
  std::unique_ptr<Store> store;
  Status s = Store::Open(path, &store);
  ASSERT_TRUE(s.ok()) << s.message();
  SampleResult stopped{true, 30, "", 0.6};
  stopped.stopped_early = true;
  SampleResult raced{true, 31, "", 0.6};
  raced.race = true;
  raced.round = 4;
  Store::NewTrial trial1{{{"n", 2}}, false, "a random draw"};
  ASSERT_TRUE(store->AddSample(1, 1, 0, stopped, &trial1).ok());
  ASSERT_TRUE(store->AddSample(1, 0, 1, raced).ok());
  std::vector<StoredTrial> trials;
  ASSERT_TRUE(store->LoadTrials(1, &trials).ok());
  ASSERT_EQ(trials.size(), 2u);
  ASSERT_EQ(trials[0].samples.size(), 2u);
  EXPECT_EQ(trials[0].samples.at(0).value, 12.5);
  EXPECT_FALSE(trials[0].samples.at(0).stopped_early);
  EXPECT_FALSE(trials[0].samples.at(0).race);
  EXPECT_TRUE(trials[0].samples.at(1).race);
  EXPECT_EQ(trials[0].samples.at(0).round, 0) << "an old sample is in no round";
  EXPECT_EQ(trials[0].samples.at(1).round, 4);
  EXPECT_TRUE(trials[1].samples.at(0).stopped_early);
  EXPECT_FALSE(trials[1].samples.at(0).race);
  EXPECT_EQ(trials[0].samples.at(0).taken_at, 0) << "the first release kept no time";
  EXPECT_EQ(trials[0].reason, "") << "the first release kept no reason";
  EXPECT_EQ(trials[1].reason, "a random draw");
}

TEST(StoreTest, AJobsTableFromBeforeResumeGainsItsColumnsAndKeepsItsJobs) {
  test::TempDir dir;
  std::string path = dir.path() + "/honed.db";
  // The jobs table as honed made it before jobs were resumed, with one job in it.
  std::string sql =
      "CREATE TABLE jobs (id INTEGER PRIMARY KEY AUTOINCREMENT, state TEXT NOT NULL, "
      "submitted_at REAL NOT NULL, started_at REAL NOT NULL DEFAULT 0, finished_at REAL "
      "NOT NULL DEFAULT 0, uid INTEGER NOT NULL, request TEXT NOT NULL, space TEXT, "
      "message TEXT NOT NULL DEFAULT '', stop_reason TEXT NOT NULL DEFAULT '', report "
      "TEXT); "
      "INSERT INTO jobs (state, submitted_at, started_at, finished_at, uid, request) "
      "VALUES ('interrupted', 100, 101, 130, 1000, '{}');";
  ExecOutsideTheStore(path, sql);
  std::unique_ptr<Store> store;
  Status s = Store::Open(path, &store);
  ASSERT_TRUE(s.ok()) << s.message();
  std::vector<JobRow> jobs;
  ASSERT_TRUE(store->LoadJobs(&jobs).ok());
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0].state, JobState::kInterrupted);
  EXPECT_EQ(jobs[0].resumes, 0);
  EXPECT_EQ(jobs[0].downtime_s, 0);
  EXPECT_FALSE(jobs[0].resume) << "an old interrupted job is not resumed";
  jobs[0].resumes = 2;
  jobs[0].downtime_s = 12.5;
  jobs[0].crashes = 1;
  ASSERT_TRUE(store->UpdateJob(jobs[0]).ok());
  ASSERT_TRUE(store->LoadJobs(&jobs).ok());
  EXPECT_EQ(jobs[0].resumes, 2);
  EXPECT_EQ(jobs[0].downtime_s, 12.5);
  EXPECT_EQ(jobs[0].crashes, 1);
  EXPECT_DOUBLE_EQ(jobs[0].RunSeconds(), 130 - 101 - 12.5);
}

// The one job of a fresh database after `sql` changed it outside the Store.
JobRow OneJobAfter(const std::string& sql) {
  test::TempDir dir;
  std::string path = dir.path() + "/honed.db";
  std::unique_ptr<Store> store;
  EXPECT_TRUE(Store::Open(path, &store).ok());
  JobRow row;
  EXPECT_TRUE(store->InsertJob(&row).ok());
  store.reset();
  ExecOutsideTheStore(path, sql);
  EXPECT_TRUE(Store::Open(path, &store).ok());
  std::vector<JobRow> jobs;
  EXPECT_TRUE(store->LoadJobs(&jobs).ok());
  EXPECT_EQ(jobs.size(), 1u);
  return jobs.empty() ? JobRow() : jobs[0];
}

TEST(StoreTest, AStateThisHonedDoesNotKnowReadsAsFailedAndSaysWhich) {
  JobRow job = OneJobAfter("UPDATE jobs SET state = 'paused'");
  EXPECT_EQ(job.state, JobState::kFailed);
  EXPECT_EQ(job.message, "stored in an unknown state 'paused'");
}

TEST(StoreTest, CountsHonedAddsToStayInRangeWhateverTheDatabaseHolds) {
  JobRow job = OneJobAfter(
      "UPDATE jobs SET resumes = 9223372036854775807, crashes = -5, downtime_s = -100");
  EXPECT_EQ(job.resumes, INT32_MAX);
  EXPECT_EQ(job.crashes, 0);
  EXPECT_EQ(job.downtime_s, 0);
}

TEST(StoreTest, ARoundFromTheDatabaseIsKeptInRange) {
  test::TempDir dir;
  std::string path = dir.path() + "/honed.db";
  std::unique_ptr<Store> store;
  ASSERT_TRUE(Store::Open(path, &store).ok());
  Store::NewTrial trial0{{{"n", 1}}, true, ""};
  ASSERT_TRUE(store->AddSample(1, 0, 0, {true, 1, "", 0.1}, &trial0).ok());
  ASSERT_TRUE(store->AddSample(1, 0, 1, {true, 2, "", 0.1}).ok());
  store.reset();
  ExecOutsideTheStore(path, "UPDATE samples SET round = -7 WHERE seq = 0; "
                            "UPDATE samples SET round = 9223372036854775807 WHERE seq = 1");
  ASSERT_TRUE(Store::Open(path, &store).ok());
  std::vector<StoredTrial> trials;
  ASSERT_TRUE(store->LoadTrials(1, &trials).ok());
  ASSERT_EQ(trials.size(), 1u);
  ASSERT_EQ(trials[0].samples.size(), 2u);
  EXPECT_EQ(trials[0].samples[0].round, 0);
  EXPECT_EQ(trials[0].samples[1].round, INT32_MAX);
}

// A sample's other metrics, CPU interference and flag survive reopening; what the
// database holds in their place is read as untrusted: only finite numbers under
// printable names, at most limits::kMaxMetrics of them, and no negative CPUs.
TEST(StoreTest, ASamplesMetricsAndInterferenceAreKeptAndReadBackBounded) {
  test::TempDir dir;
  std::string path = dir.path() + "/honed.db";
  std::unique_ptr<Store> store;
  ASSERT_TRUE(Store::Open(path, &store).ok());
  Store::NewTrial trial0{{{"n", 1}}, true, ""};
  SampleResult sample{true, 1, "", 0.1};
  sample.metrics = {{"ratio", 3.25}, {"size", 12}};
  sample.other_cpu = 1.5;
  sample.interfered = true;
  ASSERT_TRUE(store->AddSample(1, 0, 0, sample, &trial0).ok());
  for (int seq = 1; seq <= 5; ++seq)
    ASSERT_TRUE(store->AddSample(1, 0, seq, {true, 2, "", 0.1}).ok());
  store.reset();
  std::string many = "{";
  for (int i = 0; i < 500; ++i)
    many += (i ? "," : "") + ("\"m" + std::to_string(i) + "\": 1");
  many += "}";
  ExecOutsideTheStore(
      path,
      "UPDATE samples SET metrics = '[1, 2]', other_cpu = -4 WHERE seq = 1; "
      "UPDATE samples SET metrics = '{\"ok\": 2, \"bad\\u0001name\": 3, \"text\": \"x\", "
      "\"nested\": {\"a\": 1}, \"\": 5}', other_cpu = 1e999 WHERE seq = 2; "
      "UPDATE samples SET metrics = 'not json{' WHERE seq = 3; "
      "UPDATE samples SET metrics = '" +
          many +
          "' WHERE seq = 4; "
          "UPDATE samples SET metrics = '{\"huge\": 1e999}', interfered = 77 WHERE seq = "
          "5");
  ASSERT_TRUE(Store::Open(path, &store).ok());
  std::vector<StoredTrial> trials;
  ASSERT_TRUE(store->LoadTrials(1, &trials).ok());
  ASSERT_EQ(trials.size(), 1u);
  const std::vector<SampleResult>& read = trials[0].samples;
  ASSERT_EQ(read.size(), 6u);
  EXPECT_EQ(read[0].metrics,
            (std::map<std::string, double>{{"ratio", 3.25}, {"size", 12}}));
  EXPECT_EQ(read[0].other_cpu, 1.5);
  EXPECT_TRUE(read[0].interfered);
  EXPECT_TRUE(read[1].metrics.empty());
  EXPECT_EQ(read[1].other_cpu, 0.0);
  EXPECT_EQ(read[2].metrics, (std::map<std::string, double>{{"ok", 2}}));
  EXPECT_FALSE(read[2].other_cpu.has_value()) << "an infinite count is not a count";
  EXPECT_TRUE(read[3].metrics.empty());
  EXPECT_EQ(read[4].metrics.size(), limits::kMaxMetrics);
  EXPECT_TRUE(read[5].metrics.empty());
  EXPECT_TRUE(read[5].interfered);
  EXPECT_FALSE(read[5].SetAside()) << "valid: kept, flagged";
}

}  // namespace
}  // namespace hone
