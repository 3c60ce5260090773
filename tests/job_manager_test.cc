// The job manager, the request handler and a session, without spawning honed:
// processes come from a fake ProcessRunner, time from a fake Clock, connections
// from socket pairs.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/socket.h>

#include <chrono>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/connect_pair.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <nlohmann/json.hpp>

#include "common/protocol.h"
#include "daemon/jobs/job_manager.h"
#include "daemon/knobs/ledger.h"
#include "daemon/knobs/machine.h"
#include "daemon/server/handler.h"
#include "daemon/server/server.h"
#include "daemon/store/store.h"
#include "tests/test_util.h"

namespace hone {
namespace {

namespace asio = boost::asio;
using nlohmann::json;

class FakeClock : public Clock {
 public:
  double Now() const override { return now; }
  double Monotonic() const override { return monotonic; }
  void Advance(double seconds) {
    now += seconds;
    monotonic += seconds;
  }
  double now = 1.8e9;
  double monotonic = 1000;
};

// Runs nothing. A workload `work` takes `workload_s` of the fake clock; `hang`
// runs until its job is cancelled; the metric script `score` prints
// 100 - (x - 5)^2 for the configuration's knob x.
class FakeRunner : public ProcessRunner {
 public:
  explicit FakeRunner(FakeClock* clock) : clock_(clock) {}

  asio::awaitable<ProcessResult> Run(ProcessSpec spec, ProcessGroups* groups) override {
    ProcessResult result;
    result.started = true;
    result.exit_code = 0;
    const std::string what = spec.argv.empty() ? "" : spec.argv.back();
    if (what == "hang") {
      ++hanging;
      asio::steady_timer timer(co_await asio::this_coro::executor);
      while (!groups->cancelled()) {
        timer.expires_after(std::chrono::milliseconds(1));
        co_await timer.async_wait(asio::use_awaitable);
      }
      --hanging;
      result.cancelled = true;
      result.exit_code = -1;
      co_return result;
    }
    if (what == "work") {
      ++workloads;
      clock_->Advance(workload_s);
      co_return result;
    }
    if (what == "score") {
      ++scores;
      int x = std::stoi(spec.env.at("x"));
      result.out = std::to_string(100 - (x - 5) * (x - 5)) + "\n";
      co_return result;
    }
    result.exit_code = 127;
    result.err = "fake runner: unknown command " + what;
    co_return result;
  }

  int workloads = 0, scores = 0, hanging = 0;
  double workload_s = 1;

 private:
  FakeClock* clock_;
};

std::string Config(const std::string& settings = "") {
  return "domain:\n  common:\n    knobs:\n      x: {options: [1, 2, 3, 4, 5, 6, 7, 8]}\n"
         "    metrics:\n      m:\n        sample_script: score\n    target: m:max\n"
         "global_settings:\n  min_baseline_samples: 1\n  max_configs: 6\n"
         "  confirm_samples: 1\n  race_pct: 0\n" +
         settings + "strategy: exhaustive\n";
}

class JobManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(Store::Open(dir_.path() + "/honed.db", &store_).ok());
    machine_ = MakeMachine(dir_.path());  // an empty tree: no system knobs
    ledger_ = std::make_unique<Ledger>(store_.get(), machine_.get());
    MakeManager();
  }
  void TearDown() override { StopManager(); }

  void MakeManager() {
    JobManagerOptions options;
    options.processes = &runner_;
    options.clock = &clock_;
    options.ledger = ledger_.get();
    jobs_ = std::make_unique<JobManager>(io_.get_executor(), store_.get(), options);
    Status s = jobs_->Recover();
    ASSERT_TRUE(s.ok()) << s.message();
    jobs_->Start();
  }

  // As at a shutdown: the running job is interrupted; then the manager is gone.
  void StopManager() {
    if (!jobs_) return;
    bool stopped = false;
    asio::co_spawn(
        io_,
        [&]() -> asio::awaitable<void> {
          co_await jobs_->Stop();
          stopped = true;
        },
        asio::detached);
    EXPECT_TRUE(RunUntil([&] { return stopped; }));
    jobs_.reset();
  }

  // Runs the event loop until `done` (checked between handlers), for at most
  // `seconds` of real time.
  bool RunUntil(const std::function<bool()>& done, double seconds = 30) {
    auto deadline = std::chrono::steady_clock::now() +
                    std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                        std::chrono::duration<double>(seconds));
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      if (io_.stopped()) io_.restart();
      io_.run_one_for(std::chrono::milliseconds(10));
    }
    return true;
  }

  json Submit(const std::string& config, Peer peer = Me(),
              std::vector<std::string> command = {"work"}) {
    json result;
    Status s = jobs_->Submit(peer,
                             {{"config_text", config},
                              {"config_path", "test.yaml"},
                              {"command", command},
                              {"cwd", "/"}},
                             &result);
    EXPECT_TRUE(s.ok()) << s.message();
    return result;
  }

  json StatusOf(int64_t id) {
    std::shared_ptr<const std::string> text;
    Status s = jobs_->JobStatus(id, &text);
    if (!s.ok()) return json();
    return json::parse(*text);
  }
  std::string StateOf(int64_t id) { return StatusOf(id).value("state", ""); }
  bool Reaches(int64_t id, const std::string& state) {
    return RunUntil([&] { return StateOf(id) == state; });
  }

  json ReportOf(int64_t id) {
    json report;
    bool done = false;
    asio::co_spawn(
        io_,
        [&]() -> asio::awaitable<void> {
          Status s = co_await jobs_->Report(id, &report);
          EXPECT_TRUE(s.ok()) << s.message();
          done = true;
        },
        asio::detached);
    EXPECT_TRUE(RunUntil([&] { return done; }));
    return report;
  }

  std::vector<StoredTrial> Trials(int64_t id) {
    std::vector<StoredTrial> trials;
    EXPECT_TRUE(store_->LoadTrials(id, &trials).ok());
    return trials;
  }

  static Peer Me() {
    Peer peer;
    peer.uid = geteuid();
    peer.gid = getegid();
    peer.pid = getpid();
    return peer;
  }

  test::TempDir dir_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<Machine> machine_;
  std::unique_ptr<Ledger> ledger_;
  asio::io_context io_;
  FakeClock clock_;
  FakeRunner runner_{&clock_};
  std::unique_ptr<JobManager> jobs_;
};

TEST_F(JobManagerTest, QueuedJobsRunOneAtATimeInOrderAndComplete) {
  int64_t first = Submit(Config())["job"];
  int64_t second = Submit(Config())["job"];
  EXPECT_EQ(StateOf(second), "queued");
  ASSERT_TRUE(Reaches(second, "completed")) << StatusOf(second).dump();
  EXPECT_EQ(StateOf(first), "completed");
  json a = StatusOf(first), b = StatusOf(second);
  EXPECT_LE(a["finished_at"].get<double>(), b["started_at"].get<double>());
  json report = ReportOf(first);
  EXPECT_EQ(report["configs_explored"], 6);
  EXPECT_EQ(report["best"]["config"]["x"], 5) << report.dump();
  EXPECT_EQ(runner_.workloads, runner_.scores);
  EXPECT_EQ(jobs_->CountInState(JobState::kCompleted), 2u);
}

TEST_F(JobManagerTest, CancelEndsTheRunningJobAndOnlyItsOwnerOrRootMayCancel) {
  int64_t id = Submit(Config(), Me(), {"hang"})["job"];
  ASSERT_TRUE(RunUntil([&] { return runner_.hanging == 1; }));
  EXPECT_EQ(StateOf(id), "running");
  json result;
  if (geteuid() == 0) {
    Peer stranger;
    stranger.uid = 4242;
    Status refused = jobs_->Cancel(stranger, id, &result);
    EXPECT_EQ(refused.code(), Status::Code::kPermissionDenied) << refused.message();
    EXPECT_NE(refused.message().find("belongs to uid"), std::string::npos);
  }
  ASSERT_TRUE(jobs_->Cancel(Me(), id, &result).ok());
  ASSERT_TRUE(Reaches(id, "cancelled"));
  EXPECT_EQ(runner_.hanging, 0) << "the workload was not stopped";
  EXPECT_EQ(StatusOf(id)["message"], "cancelled by request");
}

TEST_F(JobManagerTest, MaxMinutesIsMeasuredOnTheClock) {
  runner_.workload_s = 20;  // each sample takes 20 s of the fake clock
  int64_t id = Submit(Config("  max_minutes: 1\n  max_configs: 100\n"))["job"];
  ASSERT_TRUE(Reaches(id, "completed"));
  json report = ReportOf(id);
  EXPECT_NE(report.value("stop_reason", "").find("max_minutes"), std::string::npos)
      << report.dump();
  // Three samples reach 60 s; a fourth might start before the check, no more.
  EXPECT_GE(runner_.workloads, 3);
  EXPECT_LE(runner_.workloads, 4);
  EXPECT_DOUBLE_EQ(report["elapsed_s"].get<double>(), 20.0 * runner_.workloads);
}

TEST_F(JobManagerTest, AJobInterruptedByAStopResumesInTheNextManagerFromItsTrials) {
  int64_t id = Submit(Config())["job"];
  // Stopped once three samples are recorded (the job's third progress revision
  // after its start): the stop then interrupts the fourth or a later one.
  ASSERT_TRUE(RunUntil([&] {
    json status = StatusOf(id);
    return status.contains("progress") && status["progress"].value("samples_valid", 0) >= 3;
  }));
  StopManager();
  std::vector<StoredTrial> before = Trials(id);
  ASSERT_GE(before.size(), 3u);
  ASSERT_LT(before.size(), 6u);
  clock_.Advance(500);  // honed is down for 500 s
  MakeManager();
  ASSERT_TRUE(Reaches(id, "completed")) << StatusOf(id).dump();
  json report = ReportOf(id);
  EXPECT_EQ(report["configs_explored"], 6);
  EXPECT_EQ(report["resumed"]["times"], 1);
  EXPECT_DOUBLE_EQ(report["resumed"]["downtime_s"].get<double>(), 500);
  // Each sample took 1 s of the clock: the time down is not the job's.
  EXPECT_DOUBLE_EQ(report["elapsed_s"].get<double>(), runner_.workloads);
  std::vector<StoredTrial> after = Trials(id);
  ASSERT_EQ(after.size(), 6u);
  std::set<std::string> configs;
  for (size_t i = 0; i < after.size(); ++i) {
    EXPECT_EQ(after[i].number, static_cast<int64_t>(i));
    EXPECT_TRUE(configs.insert(after[i].config.dump()).second) << after[i].config.dump();
    EXPECT_EQ(after[i].samples.size(), 1u) << "trial " << i;
  }
  // The trials stored before the stop are unchanged.
  for (size_t i = 0; i < before.size(); ++i)
    EXPECT_EQ(after[i].config, before[i].config);
  // Only the sample the stop cut short (not recorded) may have been taken again.
  EXPECT_GE(runner_.scores, 6);
  EXPECT_LE(runner_.scores, 7);
}

// A job holds only its system knobs: one that tunes application knobs alone is in
// no one's way, so restore goes ahead while it runs (system_knobs_test has a job
// that holds knobs). Restore is for admins only.
// An older honed stored a trial's row before its first sample ran: a job that it
// left running may have a last trial with no sample. Resumed, that trial is
// measured, and its row is not stored a second time (which the store refuses).
TEST_F(JobManagerTest, AResumedJobMeasuresATrialAnOlderHonedStoredWithoutSamples) {
  int64_t id = Submit(Config())["job"];
  ASSERT_TRUE(RunUntil([&] {
    json status = StatusOf(id);
    return status.contains("progress") && status["progress"].value("samples_valid", 0) >= 2;
  }));
  StopManager();
  std::vector<StoredTrial> before = Trials(id);
  ASSERT_GE(before.size(), 2u);
  ASSERT_LT(before.size(), 5u);
  int64_t next = before.back().number + 1;
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir_.path() + "/honed.db").c_str(), &db), SQLITE_OK);
  std::string sql = "INSERT INTO trials (job_id, trial, config, baseline) VALUES (" +
                    std::to_string(id) + ", " + std::to_string(next) + ", '{\"x\":8}', 0)";
  EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  MakeManager();
  ASSERT_TRUE(Reaches(id, "completed")) << StatusOf(id).dump();
  std::vector<StoredTrial> after = Trials(id);
  ASSERT_EQ(after.size(), 6u);
  EXPECT_EQ(after[next].config, json({{"x", 8}}));
  EXPECT_EQ(after[next].samples.size(), 1u);
}

// The state directory is not trusted: a stored trial numbered at the top of int64
// would make the resumed session's next number overflow. The job fails and says
// why instead.
TEST_F(JobManagerTest, AResumedJobWithATrialNumberOutOfRangeFailsAndSaysWhy) {
  int64_t id = Submit(Config())["job"];
  ASSERT_TRUE(RunUntil([&] {
    json status = StatusOf(id);
    return status.contains("progress") && status["progress"].value("samples_valid", 0) >= 2;
  }));
  StopManager();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir_.path() + "/honed.db").c_str(), &db), SQLITE_OK);
  std::string sql = "INSERT INTO trials (job_id, trial, config, baseline) VALUES (" +
                    std::to_string(id) + ", 9223372036854775807, '{\"x\":8}', 0)";
  EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  MakeManager();
  ASSERT_TRUE(Reaches(id, "failed")) << StatusOf(id).dump();
  EXPECT_EQ(StatusOf(id)["message"],
            "cannot resume: stored trial number 9223372036854775807 is out of range");
}

TEST_F(JobManagerTest, RestoreIsForAdminsAndAJobOfApplicationKnobsHoldsNoKnobs) {
  auto restore = [&](const Peer& peer) {
    json result;
    Status status = Status::OK();
    bool done = false;
    asio::co_spawn(
        io_,
        [&]() -> asio::awaitable<void> {
          status = co_await jobs_->RestoreAll(peer, &result);
          done = true;
        },
        asio::detached);
    EXPECT_TRUE(RunUntil([&] { return done; }));
    return status;
  };
  Peer root;  // uid 0
  Peer user;
  user.uid = 4242;
  Status s = restore(user);
  EXPECT_EQ(s.code(), Status::Code::kPermissionDenied) << s.message();
  int64_t id = Submit(Config(), Me(), {"hang"})["job"];
  ASSERT_TRUE(RunUntil([&] { return runner_.hanging == 1; }));
  s = restore(root);
  EXPECT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(StateOf(id), "running");
  json result;
  ASSERT_TRUE(jobs_->Cancel(Me(), id, &result).ok());
  ASSERT_TRUE(Reaches(id, "cancelled"));
}

// The request handler: commands by name, errors that name the problem, watches
// whose subscription ends with the job.
TEST_F(JobManagerTest, TheHandlerAnswersCommandsAndFollowsAJobToItsEnd) {
  RequestHandler handler(jobs_.get());
  auto handle = [&](Request request, RequestHandler::Context& context, json* result) {
    Status status = Status::OK();
    bool done = false;
    asio::co_spawn(
        io_,
        [&]() -> asio::awaitable<void> {
          status = co_await handler.Handle(request, context, result);
          done = true;
        },
        asio::detached);
    EXPECT_TRUE(RunUntil([&] { return done; }));
    return status;
  };
  RequestHandler::Context context;
  context.peer = Me();
  json result;
  Request ping;
  ping.cmd = "ping";
  ASSERT_TRUE(handle(ping, context, &result).ok());
  EXPECT_EQ(result["pong"], true);
  Request unknown;
  unknown.cmd = "frobnicate";
  Status s = handle(unknown, context, &result);
  EXPECT_NE(s.message().find("unknown command 'frobnicate'"), std::string::npos);
  Request missing;
  missing.cmd = "status";
  missing.args = {{"job", 99}};
  EXPECT_EQ(handle(missing, context, &result).code(), Status::Code::kNotFound);

  int64_t id = Submit(Config())["job"];
  std::vector<json> events;
  bool ended = false;
  Subscription kept;
  context.sink = [&](const json& event, bool last) {
    events.push_back(event);
    ended = last;
  };
  context.keep_watch = [&](Subscription subscription) { kept = std::move(subscription); };
  Request watch;
  watch.cmd = "watch";
  watch.args = {{"job", id}};
  ASSERT_TRUE(handle(watch, context, &result).ok());
  EXPECT_TRUE(kept.active());
  EXPECT_EQ(jobs_->WatcherCount(), 1u);
  ASSERT_TRUE(RunUntil([&] { return ended; }));
  EXPECT_EQ(events.back()["type"], "end");
  EXPECT_EQ(events.back()["state"], "completed");
  int samples = 0;
  for (const json& event : events) samples += event["type"] == "sample";
  EXPECT_EQ(samples, 6);
  EXPECT_FALSE(kept.active()) << "the job's end ends the subscription";
  EXPECT_EQ(jobs_->WatcherCount(), 0u);
  // Watching an ended job gives its report and no subscription.
  kept = Subscription();
  ASSERT_TRUE(handle(watch, context, &result).ok());
  EXPECT_EQ(result["report"]["state"], "completed");
  EXPECT_FALSE(kept.active());
}

// A session over a socket pair: requests in, replies and events out, and a closed
// connection ends its subscriptions.
TEST_F(JobManagerTest, ASessionServesRequestsAndItsWatchesEndWhenItCloses) {
  RequestHandler handler(jobs_.get());
  Server server(io_, &handler, ServerOptions{});
  asio::local::stream_protocol::socket ours(io_), theirs(io_);
  asio::local::connect_pair(ours, theirs);
  server.Adopt(std::move(theirs));
  std::string buffer;
  auto send = [&](const json& request) {
    std::string line = request.dump() + "\n";
    asio::write(ours, asio::buffer(line));
  };
  // Reads one line from the session, running the loop meanwhile.
  auto receive = [&]() -> json {
    std::string line;
    bool done = false;
    asio::co_spawn(
        io_,
        [&]() -> asio::awaitable<void> {
          auto [ec, n] = co_await asio::async_read_until(
              ours, asio::dynamic_buffer(buffer), '\n',
              asio::as_tuple(asio::use_awaitable));
          if (!ec) {
            line = buffer.substr(0, n - 1);
            buffer.erase(0, n);
          }
          done = true;
        },
        asio::detached);
    EXPECT_TRUE(RunUntil([&] { return done; }));
    return line.empty() ? json() : json::parse(line);
  };
  send({{"v", kProtocolVersion}, {"id", 1}, {"cmd", "ping"}});
  json reply = receive();
  EXPECT_EQ(reply["id"], 1);
  EXPECT_EQ(reply["result"]["pong"], true) << reply.dump();
  send({{"v", kProtocolVersion}, {"id", 2}, {"cmd", "status"}, {"args", {{"job", 7}}}});
  reply = receive();
  EXPECT_EQ(reply["ok"], false);
  EXPECT_NE(reply.dump().find("no job 7"), std::string::npos) << reply.dump();

  // A client that closes its side with nothing to follow is closed.
  ours.close();
  ASSERT_TRUE(RunUntil([&] { return server.session_count() == 0; }));

  // A connection that honed closes ends its subscriptions.
  asio::local::stream_protocol::socket second(io_), other(io_);
  asio::local::connect_pair(second, other);
  server.Adopt(std::move(other));
  ours = std::move(second);
  buffer.clear();
  int64_t id = Submit(Config(), Me(), {"hang"})["job"];
  ASSERT_TRUE(RunUntil([&] { return runner_.hanging == 1; }));
  send({{"v", kProtocolVersion}, {"id", 3}, {"cmd", "watch"}, {"args", {{"job", id}}}});
  reply = receive();
  EXPECT_EQ(reply["result"]["state"], "running") << reply.dump();
  EXPECT_EQ(jobs_->WatcherCount(), 1u);
  EXPECT_EQ(server.session_count(), 1u);
  server.Stop();
  EXPECT_EQ(server.session_count(), 0u);
  EXPECT_EQ(jobs_->WatcherCount(), 0u) << "the closed connection still watches";
  json result;
  ASSERT_TRUE(jobs_->Cancel(Me(), id, &result).ok());
  ASSERT_TRUE(Reaches(id, "cancelled"));
}

}  // namespace
}  // namespace hone
