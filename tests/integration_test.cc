// honed and hone end to end: a real daemon on a private socket and state directory,
// driven by the real client, running real workload scripts.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>

#include "common/report.h"
#include "daemon/store/store.h"
#include "tests/test_util.h"

namespace hone {
namespace {

using nlohmann::json;
using test::CommandResult;
using test::Honed;
using test::HtmlDataField;
using test::ReadFile;
using test::TempDir;
using test::WaitFor;

using test::kReferenceConfig;

// A workload shaped like the reference scenario: best at inter_op=2, intra_op=28.
// It fails loudly if the knobs did not arrive under both names.
std::string SurfaceWorkload(const std::string& result_file,
                            const std::string& extra = "") {
  return "#!/bin/sh\nset -eu\n"
         "[ \"$inter_op\" = \"$HONE_KNOB_INTER_OP\" ] || exit 9\n"
         "[ \"$intra_op\" = \"$HONE_KNOB_INTRA_OP\" ] || exit 9\n" +
         extra +
         "echo $(( 1000 - 10 * (inter_op - 2) * (inter_op - 2) - (intra_op - 28) * "
         "(intra_op - "
         "28) )) > " +
         result_file + "\n";
}

class IntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(honed_.Start()) << ReadFile(honed_.log_path()); }

  // A config over inter_op/intra_op whose metric reads `dir`/result.txt.
  std::string WriteConfig(const std::string& extra_settings = "",
                          const std::string& inter_op = "seq 1 1 28") {
    return dir_.Write(
        "knobs.yaml",
        "domain:\n  common:\n    knobs:\n      inter_op:\n        options_script: " +
            inter_op +
            "\n      intra_op:\n        options_script: seq 10 2 56\n"
            "    metrics:\n      shell.my_target:\n        sample_script: cat " +
            dir_.path() + "/result.txt\n    target: shell.my_target:max\n" +
            extra_settings);
  }

  // The surface workload, which also appends "inter_op intra_op" to `log` at each
  // run: the runs, in order, as the workload saw them.
  std::string LoggingWorkload(const std::string& log) {
    return dir_.Write("w.sh",
                      SurfaceWorkload(dir_.path() + "/result.txt",
                                      "echo \"$inter_op $intra_op\" >> " + log + "\n"),
                      true);
  }

  json WaitForState(int64_t job, const std::string& state, double seconds = 30) {
    json status;
    WaitFor(
        [&] {
          status = honed_.HoneJson({"status", std::to_string(job)});
          return status.is_object() && status.value("state", "") == state;
        },
        seconds);
    return status;
  }

  TempDir dir_;
  Honed honed_{dir_.path()};
};

TEST_F(IntegrationTest, ReferenceConfigVerbatimCompletesAndReportsDesignKeys) {
  std::string config = dir_.Write("reference.yaml", kReferenceConfig);
  std::string workload =
      dir_.Write("workload.sh", SurfaceWorkload("/tmp/result.txt"), true);
  CommandResult run = honed_.Hone({"run", "--json", config, "--", workload});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  json report = json::parse(run.out);
  EXPECT_EQ(report["state"], "completed");
  EXPECT_EQ(report["target"], json({{"metric", "shell.my_target"}, {"goal", "max"}}));
  EXPECT_EQ(report["baseline"]["config"], json({{"inter_op", 1}, {"intra_op", 10}}));
  EXPECT_TRUE(report["baseline"]["value"].is_number());
  EXPECT_TRUE(report["best"]["config"]["inter_op"].is_number_integer());
  EXPECT_TRUE(report["best"]["config"]["intra_op"].is_number_integer());
  EXPECT_GE(report["best"]["value"].get<double>(),
            report["baseline"]["value"].get<double>());
  EXPECT_TRUE(report["improvement_pct"].is_number());
  EXPECT_EQ(report["configs_total"], 672);
  EXPECT_LT(report["configs_explored"].get<int>(), 672);
  EXPECT_EQ(report["samples_invalid"], 0);
  EXPECT_GT(report["samples_valid"].get<int>(), 0);
  EXPECT_TRUE(report["elapsed_s"].is_number());
  EXPECT_TRUE(report["job"].is_number_integer());
  // The alternatives the samples cannot tell apart from the best, never the best.
  ASSERT_TRUE(report["tied"].is_object()) << report;
  EXPECT_GE(report["tied"]["count"].get<int>(),
            static_cast<int>(report["tied"]["configs"].size()));
  for (const json& entry : report["tied"]["configs"])
    EXPECT_NE(entry["config"], report["best"]["config"]) << report;
  // How the best was chosen: the best mean, or the model over a better mean.
  std::string rule = report["chosen_by"].value("rule", "");
  EXPECT_TRUE(rule == "mean" || rule == "model") << report;
  if (rule == "model") {
    EXPECT_TRUE(report["chosen_by"]["best_mean_trial"].is_number_integer()) << report;
  }
  // The improvement came from the final comparison: at least three rounds of the
  // best between baseline samples, and its interval holds it.
  ASSERT_EQ(report["improvement_method"].value("rule", ""), "paired") << report;
  int rounds = report["improvement_method"]["rounds"];
  EXPECT_GE(rounds, 3) << report;
  double pct = report["improvement_pct"];
  EXPECT_LE(report["improvement_ci95_pct"][0].get<double>(), pct) << report;
  EXPECT_GE(report["improvement_ci95_pct"][1].get<double>(), pct) << report;
  // In the store, the baseline opens every round of the comparison and closes the
  // last, and the best has a sample in each round it paired.
  std::unique_ptr<Store> store;
  ASSERT_TRUE(Store::Open(honed_.state_dir() + "/honed.db", &store).ok());
  std::vector<StoredTrial> trials;
  ASSERT_TRUE(store->LoadTrials(report["job"].get<int64_t>(), &trials).ok());
  std::set<int> baseline_rounds, best_rounds;
  for (const StoredTrial& t : trials)
    for (const SampleResult& sample : t.samples) {
      if (sample.round == 0) continue;
      EXPECT_TRUE(sample.race);
      if (t.baseline) baseline_rounds.insert(sample.round);
      if (t.number == report["best"]["trial"].get<int64_t>()) best_rounds.insert(sample.round);
    }
  ASSERT_FALSE(best_rounds.empty());
  for (int r = 1; r <= *best_rounds.rbegin() + 1; ++r)
    EXPECT_TRUE(baseline_rounds.count(r)) << "round " << r;
  EXPECT_GE(static_cast<int>(best_rounds.size()), rounds);
}

TEST_F(IntegrationTest, TheShippedExampleIsTheReferenceConfigAndTunesTheRealKernel) {
  std::string example = std::string(HONE_SOURCE_DIR) + "/examples/reference";
  std::string reference = ReadFile(example + "/knobs.yaml");
  EXPECT_EQ(reference, kReferenceConfig);
  // The same config with a private result file and a small budget.
  std::string result = dir_.path() + "/result.txt";
  std::string text = reference;
  text.replace(text.find("/tmp/result.txt"), 15, result);
  std::string config =
      dir_.Write("example.yaml", text + "global_settings:\n  max_configs: 3\n");
  std::vector<std::string> argv = {std::string(HONE_BIN_DIR) + "/hone",
                                   "--socket",
                                   honed_.socket(),
                                   "run",
                                   "--json",
                                   config,
                                   "--",
                                   example + "/workload.sh"};
  CommandResult run = test::RunCommand(
      argv, {"HONE_RESULT_FILE=" + result,
             "HONE_DEMO_KERNEL=" + std::string(HONE_BIN_DIR) + "/hone-demo-kernel"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  json report = json::parse(run.out);
  EXPECT_EQ(report["samples_invalid"], 0);
  EXPECT_EQ(report["configs_explored"], 3);
  EXPECT_GT(report["best"]["value"].get<double>(), 0);
}

TEST_F(IntegrationTest, BudgetLimitsConfigurationsAndHumanReportSaysSo) {
  std::string config = WriteConfig("global_settings:\n  max_configs: 10\n");
  std::string workload =
      dir_.Write("w.sh", SurfaceWorkload(dir_.path() + "/result.txt"), true);
  CommandResult run = honed_.Hone({"run", config, "--", workload});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_NE(run.out.find("Best known knob settings:"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("Configurations explored/total: 10/672"), std::string::npos)
      << run.out;
  EXPECT_NE(run.out.find("Improvement: "), std::string::npos);
  EXPECT_NE(run.out.find("Settings written to: "), std::string::npos);
  EXPECT_NE(run.out.find("max_configs"), std::string::npos);
  EXPECT_NE(run.err.find("configs (672 total)"), std::string::npos) << "no progress line";

  json report = honed_.HoneJson({"report", "1"});
  std::string best_inter =
      std::to_string(report["best"]["config"]["inter_op"].get<int>());
  CommandResult env = honed_.Hone({"report", "1", "--format", "env"});
  EXPECT_EQ(env.exit_code, 0);
  EXPECT_NE(env.out.find("inter_op=" + best_inter + "\n"), std::string::npos) << env.out;
  EXPECT_NE(env.out.find("HONE_KNOB_INTER_OP=" + best_inter + "\n"), std::string::npos);
  std::string file = report["settings_file"];
  EXPECT_NE(ReadFile(file).find("export inter_op='" + best_inter + "'"),
            std::string::npos);
}

TEST_F(IntegrationTest, WorkloadRunsInTheSubmittersDirectoryWithItsEnvironment) {
  std::string config = WriteConfig("global_settings:\n  max_configs: 2\n", "echo 4");
  std::string workload = dir_.Write(
      "w.sh",
      SurfaceWorkload(dir_.path() + "/result.txt",
                      "pwd > " + dir_.path() + "/cwd; echo \"$HONE_TEST_VAR\" > " +
                          dir_.path() + "/var; id -u > " + dir_.path() + "/uid\n"),
      true);
  std::filesystem::create_directory(dir_.path() + "/sub");
  std::vector<std::string> argv = {std::string(HONE_BIN_DIR) + "/hone",
                                   "--socket",
                                   honed_.socket(),
                                   "run",
                                   config,
                                   "--",
                                   workload};
  CommandResult run =
      test::RunCommand(argv, {"HONE_TEST_VAR=from the client"}, dir_.path() + "/sub");
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(ReadFile(dir_.path() + "/cwd"), dir_.path() + "/sub\n");
  EXPECT_EQ(ReadFile(dir_.path() + "/var"), "from the client\n");
  EXPECT_EQ(ReadFile(dir_.path() + "/uid"), std::to_string(getuid()) + "\n");
}

TEST_F(IntegrationTest, CancelStopsTheJobAndKillsItsWorkload) {
  std::string config = WriteConfig();
  std::string pids = dir_.path() + "/pids";
  std::string workload =
      dir_.Write("w.sh", "#!/bin/sh\necho $$ >> " + pids + "\nsleep 60\n", true);
  json submitted = honed_.HoneJson({"submit", config, "--", workload});
  ASSERT_TRUE(submitted.is_object());
  int64_t job = submitted["job"];
  ASSERT_TRUE(WaitFor([&] { return !ReadFile(pids).empty(); }, 20));
  CommandResult cancel = honed_.Hone({"cancel", std::to_string(job)});
  EXPECT_EQ(cancel.exit_code, 0) << cancel.err;
  json status = WaitForState(job, "cancelled");
  EXPECT_EQ(status["state"], "cancelled");
  pid_t pid = std::stoi(ReadFile(pids));
  EXPECT_TRUE(WaitFor([&] { return !test::ProcessAlive(pid); }, 5));
  // Cancelling again is refused with a clear message.
  CommandResult again = honed_.Hone({"cancel", std::to_string(job)});
  EXPECT_EQ(again.exit_code, 4);
  EXPECT_NE(again.err.find("already ended"), std::string::npos) << again.err;
}

TEST_F(IntegrationTest, HungWorkloadIsKilledAtItsTimeoutAndCountedInvalid) {
  std::string config = WriteConfig(
      "global_settings:\n  min_baseline_samples: 1\nstrategy: exhaustive\n"
      "workload:\n  run:\n    timeout: 1s\n",
      "seq 1 1 3");
  std::string workload = dir_.Write(
      "w.sh",
      SurfaceWorkload(
          dir_.path() + "/result.txt",
          "if [ \"$inter_op\" = 1 ] && [ \"$intra_op\" = 12 ]; then sleep 60; fi\n"),
      true);
  CommandResult run = honed_.Hone({"run", "--json", config, "--", workload});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  json report = json::parse(run.out);
  EXPECT_EQ(report["state"], "completed");
  EXPECT_EQ(report["samples_invalid"], 1);
  EXPECT_EQ(report["configs_explored"], 72);
  EXPECT_NE(run.err.find("timed out"), std::string::npos) << run.err;
  EXPECT_EQ(honed_.Hone({"ping"}).exit_code, 0);
}

TEST_F(IntegrationTest, HungBaselineFailsTheJobWithAClearMessage) {
  std::string config = WriteConfig(
      "global_settings:\n  min_baseline_samples: 1\nworkload:\n  run:\n    timeout: "
      "500ms\n");
  std::string workload = dir_.Write("w.sh", "#!/bin/sh\nsleep 60\n", true);
  CommandResult run = honed_.Hone({"run", config, "--", workload});
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.err.find("baseline"), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("timed out"), std::string::npos) << run.err;
  EXPECT_EQ(honed_.HoneJson({"status", "1"})["state"], "failed");
  EXPECT_EQ(honed_.Hone({"ping"}).exit_code, 0);
}

TEST_F(IntegrationTest, GarbageMetricIsAnInvalidSampleNotAFailure) {
  std::string config = WriteConfig(
      "global_settings:\n  min_baseline_samples: 1\nstrategy: exhaustive\n", "seq 1 1 2");
  std::string workload =
      dir_.Write("w.sh",
                 "#!/bin/sh\nif [ \"$inter_op\" = 2 ] && [ \"$intra_op\" = 10 ]; then "
                 "echo garbage > " +
                     dir_.path() + "/result.txt; else echo $inter_op$intra_op > " +
                     dir_.path() + "/result.txt; fi\n",
                 true);
  CommandResult run = honed_.Hone({"run", "--json", config, "--", workload});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  json report = json::parse(run.out);
  EXPECT_EQ(report["samples_invalid"], 1);
  EXPECT_EQ(report["configs_explored"], 48);
  EXPECT_NE(run.err.find("metric 'shell.my_target': sample_script printed no number "
                         "(output: 'garbage')"),
            std::string::npos)
      << run.err;
}

TEST_F(IntegrationTest, FailingMetricScriptOnTheBaselineFailsWithItsStderr) {
  std::string config = dir_.Write(
      "knobs.yaml",
      "domain:\n  common:\n    knobs:\n      n:\n        options: [1, 2]\n    metrics:\n"
      "      m:\n        sample_script: echo no such file >&2; exit 1\n    target: "
      "m:min\n");
  CommandResult run = honed_.Hone({"run", config, "--", "true"});
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.err.find("sample_script exited with status 1: no such file"),
            std::string::npos)
      << run.err;
}

TEST_F(IntegrationTest, MalformedConfigNamesFileLineAndColumn) {
  std::string config = dir_.Write(
      "bad.yaml",
      "domain:\n  common:\n    knobs:\n      n:\n        range: {min: 1, max: 0}\n"
      "    target: duration:min\n");
  CommandResult run = honed_.Hone({"run", config, "--", "true"});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_NE(run.err.find("bad.yaml:5:16: knob 'n': range.max is below range.min"),
            std::string::npos)
      << run.err;

  std::string broken = dir_.Write("broken.yaml", "domain:\n  common: [\n");
  run = honed_.Hone({"run", broken, "--", "true"});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_NE(run.err.find("broken.yaml:"), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("invalid YAML"), std::string::npos) << run.err;
  EXPECT_EQ(honed_.Hone({"ping"}).exit_code, 0);
}

TEST_F(IntegrationTest, TheHelpOfEveryReportingCommandSaysWhatTheReportHolds) {
  for (const char* command : {"run", "watch", "report"}) {
    CommandResult help = honed_.Hone({command, "--help"});
    EXPECT_EQ(help.exit_code, 0) << command << ": " << help.err;
    for (const char* needle : {"never a single", "95% confidence interval",
                               "statistically tied", "HONE_KNOB_NAME", "Exit status"})
      EXPECT_NE(help.out.find(needle), std::string::npos)
          << "hone " << command << " --help lacks '" << needle << "':\n" << help.out;
  }
}

TEST_F(IntegrationTest, ConstraintsKeepEveryRunInsideThem) {
  std::string config = WriteConfig(
      "constraints: ['inter_op * intra_op <= 120']\n"
      "global_settings:\n  max_configs: 12\n  min_baseline_samples: 1\n");
  std::string log = dir_.path() + "/runs.log";
  std::string workload = LoggingWorkload(log);
  CommandResult run = honed_.Hone({"run", config, "--json", "--", workload});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  std::istringstream runs(ReadFile(log));
  int inter = 0, intra = 0, count = 0;
  while (runs >> inter >> intra) {
    ++count;
    EXPECT_LE(inter * intra, 120) << inter << " x " << intra;
  }
  EXPECT_GE(count, 12);
  json report = json::parse(run.out);
  EXPECT_LE(report["best"]["config"]["inter_op"].get<int>() *
                report["best"]["config"]["intra_op"].get<int>(),
            120);
  int feasible = 0;  // inter_op 1..28 x intra_op 10, 12, ..., 56
  for (int i = 1; i <= 28; ++i)
    for (int j = 10; j <= 56; j += 2) feasible += i * j <= 120;
  EXPECT_EQ(report["configs_total"], 672);
  EXPECT_EQ(report["configs_feasible"], feasible);
  CommandResult status =
      honed_.Hone({"status", std::to_string(report["job"].get<int>())});
  ASSERT_EQ(status.exit_code, 0) << status.err;
  EXPECT_NE(status.out.find("Configurations explored/total: " +
                            report["configs_explored"].dump() + "/672 (" +
                            std::to_string(feasible) + " feasible)"),
            std::string::npos)
      << status.out;
}

TEST_F(IntegrationTest, ABaselineOutsideTheConstraintsFailsTheJobBeforeAnyRun) {
  std::string config = WriteConfig("constraints: ['inter_op > 1']\n");
  std::string ran = dir_.path() + "/ran";
  std::string workload = dir_.Write(
      "w.sh", SurfaceWorkload(dir_.path() + "/result.txt", "touch " + ran + "\n"), true);
  CommandResult run = honed_.Hone({"run", config, "--", workload});
  EXPECT_EQ(run.exit_code, 1) << run.err;
  EXPECT_NE(run.err.find("the baseline {\"inter_op\":1,\"intra_op\":10} violates "
                         "constraint 'inter_op > 1'"),
            std::string::npos)
      << run.err;
  EXPECT_FALSE(std::filesystem::exists(ran));
  // hone check says the same of a space it can see whole, and runs nothing.
  std::string listed = dir_.Write(
      "listed.yaml",
      "domain:\n  common:\n    knobs:\n      n: {options: [1, 2], default: 1}\n"
      "    target: duration:min\nconstraints: ['n > 1']\n");
  CommandResult check = honed_.Hone({"check", listed, "--", workload});
  EXPECT_EQ(check.exit_code, 2) << check.out << check.err;
  EXPECT_NE((check.out + check.err)
                .find("the baseline {\"n\":1} violates constraint 'n > 1'; hone measures "
                      "the baseline first, so change the knobs' defaults"),
            std::string::npos)
      << check.out << check.err;
  EXPECT_FALSE(std::filesystem::exists(ran));
}

TEST_F(IntegrationTest, AConstraintComparingANumberKnobWithTextIsRefused) {
  std::string config = WriteConfig("constraints: [\"intra_op == 'wide'\"]\n");
  CommandResult run = honed_.Hone({"run", config, "--", "true"});
  EXPECT_NE(run.exit_code, 0);
  EXPECT_NE(run.err.find("constraint 1 'intra_op == 'wide'': at column 10: '==' compares "
                         "text with a number"),
            std::string::npos)
      << run.err;
}

TEST_F(IntegrationTest, WarmStartFromAnEarlierJobLearnsFromItAndRemeasuresItsBest) {
  std::string config =
      WriteConfig("global_settings:\n  max_configs: 10\n  min_baseline_samples: 1\n");
  std::string log = dir_.path() + "/runs.log";
  std::string workload = LoggingWorkload(log);
  CommandResult first = honed_.Hone({"run", config, "--json", "--", workload});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  json earlier = json::parse(first.out);
  std::string best = std::to_string(earlier["best"]["config"]["inter_op"].get<int>()) + " " +
                     std::to_string(earlier["best"]["config"]["intra_op"].get<int>());
  std::filesystem::remove(log);

  CommandResult second =
      honed_.Hone({"run", config, "--json", "--warm-start", "1", "--", workload});
  ASSERT_EQ(second.exit_code, 0) << second.err;
  json report = json::parse(second.out);
  EXPECT_EQ(report["warm_start"]["job"], 1);
  EXPECT_EQ(report["warm_start"]["observations"], earlier["configs_explored"]);
  // The baseline first, then the earlier job's best, measured again.
  std::vector<std::string> runs;
  std::istringstream lines(ReadFile(log));
  for (std::string line; std::getline(lines, line);) runs.push_back(line);
  ASSERT_GE(runs.size(), 2u);
  EXPECT_EQ(runs[0], "1 10");
  EXPECT_EQ(runs[1], best);
  // Its recommendation rests on its own samples: every sample it counts, it took.
  EXPECT_EQ(report["samples_valid"].get<size_t>() + report["samples_invalid"].get<size_t>(),
            runs.size());
  CommandResult text = honed_.Hone({"report", "2"});
  EXPECT_NE(text.out.find("Warm start: job 1 (learned from "), std::string::npos) << text.out;

  // The trial history says why the earlier best was measured first.
  json trials = honed_.HoneJson({"trials", "2"});
  ASSERT_TRUE(trials.is_object());
  ASSERT_GE(trials["trials"].size(), 2u);
  EXPECT_EQ(trials["trials"][1]["reason"], "warm start: an earlier job's best");
  // hone compare puts the two jobs side by side: both measured the baseline and
  // the earlier best at least.
  CommandResult compare = honed_.Hone({"compare", "1", "2"});
  ASSERT_EQ(compare.exit_code, 0) << compare.err;
  EXPECT_NE(compare.out.find("job 1"), std::string::npos) << compare.out;
  EXPECT_NE(compare.out.find("job 2"), std::string::npos) << compare.out;
  size_t at = compare.out.find("Configurations both measured: ");
  ASSERT_NE(at, std::string::npos) << compare.out;
  EXPECT_GE(std::stoi(compare.out.substr(at + 30)), 2) << compare.out;
  json both = honed_.HoneJson({"compare", "1", "2"});
  ASSERT_TRUE(both.is_object());
  EXPECT_EQ(both["jobs"][0]["report"]["job"], 1);
  EXPECT_EQ(both["jobs"][1]["trials"]["trials"].size(), trials["trials"].size());
}

// hone check: what a job would do, without running anything; a misplaced key is an
// error (there and at submit) that says where the key belongs, unless allowed.
TEST_F(IntegrationTest, CheckDescribesAJobRunsNothingAndRefusesAMisplacedKey) {
  std::string ran = dir_.path() + "/ran";
  std::string config = dir_.Write(
      "check.yaml",
      "domain:\n  common:\n    knobs:\n"
      "      threads: {options: [1, 2, 4, 8], default: 2, description: worker threads}\n"
      "      mode: {options: [fast, safe]}\n"
      "    metrics:\n      m: {sample_script: echo 1}\n    target: m:max\n"
      "constraints: [\"threads < 8 or mode == 'safe'\"]\n"
      "global_settings:\n  max_configs: 5\n");
  CommandResult check = honed_.Hone({"check", config, "--", "sh", "-c", "touch " + ran});
  ASSERT_EQ(check.exit_code, 0) << check.out << check.err;
  for (const char* line :
       {"  threads: application, ordered\n", "    values:  1 2 4 8\n", "    default: 2\n",
        "    worker threads\n", "  mode: application, categorical\n",
        "Space: 8 configurations, 7 feasible (87.5%) under 1 constraint(s)\n",
        "Budget: up to 5 configurations (max_configs 5)", "you may submit it",
        "OK: honed would take this job (nothing was run)"})
    EXPECT_NE(check.out.find(line), std::string::npos) << line << "\n" << check.out;
  json described = honed_.HoneJson({"check", config, "--", "true"});
  ASSERT_TRUE(described.is_object());
  EXPECT_EQ(described["ok"], true);
  EXPECT_EQ(described["space"]["size"], 8);
  EXPECT_EQ(described["space"]["feasible"], 7);
  EXPECT_EQ(described["knobs"][0]["count"], 4);
  EXPECT_FALSE(std::filesystem::exists(ran)) << "hone check ran the workload";
  EXPECT_EQ(honed_.HoneJson({"list"})["jobs"].size(), 0u) << "hone check queued a job";

  // `strategy` under global_settings: refused by check, run and submit, with where
  // it belongs; --allow-unknown runs it with a warning.
  std::string misplaced =
      dir_.Write("misplaced.yaml", ReadFile(config) + "  strategy: random\n");
  const std::string why =
      "unknown key 'strategy' in global_settings ignored (it belongs at the top level)";
  CommandResult refused = honed_.Hone({"check", misplaced, "--", "true"});
  EXPECT_EQ(refused.exit_code, 2);
  EXPECT_NE(refused.out.find(why), std::string::npos) << refused.out;
  EXPECT_NE(refused.out.find("Not OK"), std::string::npos) << refused.out;
  for (const char* verb : {"run", "submit"}) {
    CommandResult r = honed_.Hone({verb, misplaced, "--", "true"});
    EXPECT_EQ(r.exit_code, 2) << verb;
    EXPECT_NE(r.err.find(why), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("--allow-unknown"), std::string::npos) << r.err;
  }
  EXPECT_EQ(honed_.HoneJson({"list"})["jobs"].size(), 0u);
  EXPECT_EQ(honed_.Hone({"check", misplaced, "--allow-unknown", "--", "true"}).exit_code,
            0);
  CommandResult allowed =
      honed_.Hone({"run", misplaced, "--allow-unknown", "--", "true"});
  EXPECT_EQ(allowed.exit_code, 0) << allowed.err;
  EXPECT_NE(allowed.err.find("warning: "), std::string::npos) << allowed.err;
  // The report names each knob's description beside its best value.
  EXPECT_NE(allowed.out.find("    (worker threads)\n"), std::string::npos) << allowed.out;
}

// --set overrides the budget, the seed and the strategy for one job, checked like
// the file's own keys, and the report says so.
TEST_F(IntegrationTest, SetOverridesTheBudgetSeedAndStrategyAndTheReportSaysSo) {
  std::string config = WriteConfig("global_settings:\n  max_configs: 10\n");
  std::string workload =
      dir_.Write("w.sh", SurfaceWorkload(dir_.path() + "/result.txt"), true);
  CommandResult run =
      honed_.Hone({"run", "--set", "max_configs=3", "--set", "seed=7", "--set",
                   "strategy=random", config, "--json", "--", workload});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  json report = json::parse(run.out);
  EXPECT_EQ(report["configs_explored"], 3);
  EXPECT_EQ(report["seed"], 7);
  EXPECT_EQ(report["strategy"], "random");
  EXPECT_EQ(report["overrides"], json({"max_configs=3", "seed=7", "strategy=random"}));
  EXPECT_NE(honed_.Hone({"report", "1"})
                .out.find("Overrides (--set): max_configs=3 seed=7 strategy=random"),
            std::string::npos);
  // hone check shows the budget it would have.
  CommandResult check = honed_.Hone({"check", "--set", "max_configs=4", config});
  EXPECT_NE(check.out.find("Budget: up to 4 configurations (max_configs 4)"),
            std::string::npos)
      << check.out << check.err;
  // A bad value or an unknown setting is refused, naming the override.
  for (auto [set, why] : {std::pair{"max_configs=0", "--set max_configs=0"},
                          std::pair{"colour=red", "'colour' is not a setting"},
                          std::pair{"strategy=best", "strategy must be"},
                          std::pair{"max_configs", "write it as KEY=VALUE"}}) {
    CommandResult refused = honed_.Hone({"submit", "--set", set, config, "--", workload});
    EXPECT_EQ(refused.exit_code, 2) << set;
    EXPECT_NE(refused.err.find(why), std::string::npos) << set << ": " << refused.err;
  }
}

// hone list and hone status show an improvement with its interval, or "not
// established" when the samples cannot tell the baseline from the best.
TEST_F(IntegrationTest, SummariesShowTheIntervalOrSayTheImprovementIsNotEstablished) {
  // Job 1: every configuration measures the same (the baseline is tied with any).
  std::string flat =
      dir_.Write("flat.yaml",
                 "domain:\n  common:\n    knobs:\n      n: {options: [1, 2, 3]}\n"
                 "    metrics:\n      m: {sample_script: echo 100}\n    target: m:max\n");
  ASSERT_EQ(honed_.Hone({"run", flat, "--", "true"}).exit_code, 0);
  // Job 2: the surface workload, where the best clearly beats the baseline.
  std::string config = WriteConfig("global_settings:\n  max_configs: 10\n");
  std::string workload =
      dir_.Write("w.sh", SurfaceWorkload(dir_.path() + "/result.txt"), true);
  ASSERT_EQ(honed_.Hone({"run", config, "--", workload}).exit_code, 0);

  json flat_report = honed_.HoneJson({"report", "1"});
  EXPECT_EQ(flat_report["improvement_established"], false) << flat_report;
  json surface_report = honed_.HoneJson({"report", "2"});
  ASSERT_EQ(surface_report["improvement_established"], true) << surface_report;

  std::string list = honed_.Hone({"list"}).out;
  std::istringstream lines(list);
  std::string header, first, second;
  std::getline(lines, header);
  std::getline(lines, first);
  std::getline(lines, second);
  EXPECT_NE(header.find("IMPROVED (95% CI)"), std::string::npos) << list;
  EXPECT_NE(first.find("not established"), std::string::npos) << list;
  char interval[64];
  snprintf(interval, sizeof interval, "[%+.1f%%, %+.1f%%]",
           surface_report["improvement_ci95_pct"][0].get<double>(),
           surface_report["improvement_ci95_pct"][1].get<double>());
  EXPECT_NE(second.find(interval), std::string::npos) << interval << "\n" << list;
  EXPECT_NE(honed_.Hone({"status", "1"}).out.find("(not established (+0.0%"),
            std::string::npos)
      << honed_.Hone({"status", "1"}).out;
  EXPECT_NE(honed_.Hone({"status", "2"}).out.find(interval), std::string::npos);
}

// hone recheck: the job's best against its baseline again, alternately, for the
// rounds asked, reported with the final comparison's paired interval.
TEST_F(IntegrationTest, RecheckMeasuresTheBestAgainstTheBaselineAlternately) {
  std::string config = WriteConfig("global_settings:\n  max_configs: 6\n");
  std::string log = dir_.path() + "/runs.log";
  std::string workload = LoggingWorkload(log);
  CommandResult first = honed_.Hone({"run", config, "--json", "--", workload});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  json original = json::parse(first.out);
  auto key = [](const json& config) {
    return std::to_string(config["inter_op"].get<int>()) + " " +
           std::to_string(config["intra_op"].get<int>());
  };
  const std::string best = key(original["best"]["config"]);
  const std::string baseline = key(original["baseline"]["config"]);
  ASSERT_NE(best, baseline);
  std::filesystem::remove(log);

  CommandResult recheck = honed_.Hone({"recheck", "1", "--samples", "3", "--json"});
  ASSERT_EQ(recheck.exit_code, 0) << recheck.err << recheck.out;
  json report = json::parse(recheck.out);
  EXPECT_EQ(report["recheck"]["job"], 1);
  EXPECT_EQ(report["recheck"]["trial"], original["best"]["trial"]);
  EXPECT_EQ(report["recheck"]["against"], 0);
  EXPECT_EQ(report["recheck"]["rounds"], 3);
  EXPECT_EQ(report["configs_explored"], 2);
  EXPECT_EQ(key(report["baseline"]["config"]), baseline);
  EXPECT_EQ(report["improvement_method"]["rule"], "paired") << report;
  EXPECT_TRUE(report["improvement_ci95_pct"].is_array());
  // What ran: the baseline, the best, then three rounds A B closed by A.
  std::vector<std::string> runs;
  std::istringstream lines(ReadFile(log));
  for (std::string line; std::getline(lines, line);) runs.push_back(line);
  std::vector<std::string> expected = {baseline, best,     baseline, best,    baseline,
                                       best,     baseline, best,     baseline};
  EXPECT_EQ(runs, expected);
  EXPECT_NE(honed_.Hone({"report", "2"}).out.find("Re-check of: job 1: trial "),
            std::string::npos);

  // Any two trials, by number; the same trial twice, or one that does not exist, is
  // refused by name.
  CommandResult pair = honed_.Hone(
      {"recheck", "1", "--trial", "2", "--against", "1", "--samples", "2", "--json"});
  ASSERT_EQ(pair.exit_code, 0) << pair.err;
  EXPECT_EQ(json::parse(pair.out)["recheck"]["against"], 1);
  CommandResult same = honed_.Hone({"recheck", "1", "--trial", "0"});
  EXPECT_EQ(same.exit_code, 2);
  EXPECT_NE(same.err.find("two different trials"), std::string::npos) << same.err;
  CommandResult missing = honed_.Hone({"recheck", "1", "--trial", "99"});
  EXPECT_EQ(missing.exit_code, 4);
  EXPECT_NE(missing.err.find("has no trial 99"), std::string::npos) << missing.err;
}

// hone trials: every configuration the job ran, with each of its samples, why it was
// measured and its state, as the workload's own log of its runs shows them.
TEST_F(IntegrationTest, TrialsListEveryRunWithItsConfigurationStateAndWhy) {
  std::string config =
      WriteConfig("global_settings:\n  max_configs: 8\n  min_baseline_samples: 2\n");
  std::string log = dir_.path() + "/runs.log";
  std::string workload = LoggingWorkload(log);
  CommandResult run = honed_.Hone({"run", config, "--json", "--", workload});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  json report = json::parse(run.out);
  json history = honed_.HoneJson({"trials", "1"});
  ASSERT_TRUE(history.is_object());
  EXPECT_EQ(history["job"], 1);
  EXPECT_EQ(history["state"], "completed");
  EXPECT_EQ(history["knobs"], json({"inter_op", "intra_op"}));
  const json& trials = history["trials"];
  ASSERT_EQ(trials.size(), report["configs_explored"].get<size_t>());

  // Each run of the workload is one sample of the trial of its configuration.
  std::map<std::string, int> runs;
  std::istringstream lines(ReadFile(log));
  for (std::string line; std::getline(lines, line);) ++runs[line];
  size_t samples = 0;
  int best = 0;
  for (const json& trial : trials) {
    SCOPED_TRACE(trial.dump());
    std::string key = std::to_string(trial["config"]["inter_op"].get<int>()) + " " +
                      std::to_string(trial["config"]["intra_op"].get<int>());
    EXPECT_EQ(static_cast<int>(trial["samples"].size()), runs[key]);
    samples += trial["samples"].size();
    double sum = 0;
    for (const json& sample : trial["samples"]) {
      ASSERT_TRUE(sample["valid"].get<bool>());
      sum += sample["value"].get<double>();
      EXPECT_GT(sample["taken_at"].get<double>(), 0);
    }
    EXPECT_DOUBLE_EQ(trial["mean"].get<double>(), sum / trial["samples"].size());
    EXPECT_FALSE(trial["reason"].get<std::string>().empty());
    if (trial["state"] == "best") {
      ++best;
      EXPECT_EQ(trial["trial"], report["best"]["trial"]);
    }
  }
  EXPECT_EQ(best, 1);
  EXPECT_EQ(samples, report["samples_valid"].get<size_t>());
  EXPECT_EQ(trials[0]["baseline"], true);
  EXPECT_EQ(trials[0]["reason"], "baseline: the defaults");
  EXPECT_EQ(trials[1]["reason"], "initial design (random)") << trials[1];

  // The table: a line per trial, the best marked; CSV: a row per trial or sample.
  CommandResult table = honed_.Hone({"trials", "1"});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_NE(table.out.find("TRIAL  STATE"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find(" best"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("baseline: the defaults"), std::string::npos) << table.out;
  auto rows = [](const std::string& text) {
    return std::count(text.begin(), text.end(), '\n');
  };
  CommandResult csv = honed_.Hone({"trials", "1", "--csv"});
  EXPECT_EQ(csv.out.rfind("trial,baseline,state,", 0), 0u) << csv.out;
  EXPECT_EQ(rows(csv.out), static_cast<long>(trials.size()) + 1);
  CommandResult per_sample = honed_.Hone({"trials", "1", "--csv", "--samples"});
  EXPECT_EQ(rows(per_sample.out), static_cast<long>(samples) + 1);

  // hone plot charts the same samples.
  CommandResult plot = honed_.Hone({"plot", "1", "--width", "40", "--height", "8"});
  ASSERT_EQ(plot.exit_code, 0) << plot.err;
  EXPECT_EQ(plot.out.rfind("Job 1: shell.my_target (max), " + std::to_string(samples) +
                               " valid sample(s)\n",
                           0),
            0u)
      << plot.out;
  EXPECT_EQ(rows(plot.out), 1 + 8 + 3) << plot.out;
  EXPECT_NE(plot.out.find('*'), std::string::npos) << plot.out;

  // A job that does not exist, or a live one, is refused by name.
  CommandResult none = honed_.Hone({"trials", "9"});
  EXPECT_EQ(none.exit_code, 4);
  EXPECT_NE(none.err.find("no job 9"), std::string::npos) << none.err;
}

// `name` on $PATH, or "" when it is not there.
std::string FindOnPath(const std::string& name) {
  const char* path = getenv("PATH");
  std::istringstream dirs(path ? path : "");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

// The names of the start tags of an HTML page, in order.
std::vector<std::string> StartTags(const std::string& html) {
  std::vector<std::string> tags;
  for (size_t at = html.find('<'); at != std::string::npos; at = html.find('<', at + 1)) {
    size_t end = at + 1;
    while (end < html.size() && (isalnum(static_cast<unsigned char>(html[end])) ||
                                 (end == at + 1 && html[end] == '!')))
      ++end;
    if (end > at + 1) tags.push_back(html.substr(at + 1, end - at - 1));
  }
  return tags;
}

// hone report --format html: one page that a real browser (chromium, headless)
// parses as written, with the JSON report's numbers as the text report prints
// them, a circle per valid sample, and a hostile knob description left as text.
TEST_F(IntegrationTest, HtmlReportRendersInChromiumWithTheReportsNumbers) {
  const std::string chromium = FindOnPath("chromium");
  if (chromium.empty())
    GTEST_SKIP() << "chromium is not installed; scripts/deps installs it";
  std::string config = WriteConfig("global_settings:\n  max_configs: 6\n",
                                   "seq 1 1 28\n        description: 'threads "
                                   "<script>document.title=\"pwned\"</script> & more'");
  std::string workload =
      dir_.Write("w.sh", SurfaceWorkload(dir_.path() + "/result.txt"), true);
  CommandResult run = honed_.Hone({"run", config, "--format", "html", "--", workload});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  CommandResult html = honed_.Hone({"report", "1", "--format", "html"});
  ASSERT_EQ(html.exit_code, 0) << html.err;
  const std::string page = dir_.Write("report.html", html.out);
  const json report = honed_.HoneJson({"report", "1"});
  const json history = honed_.HoneJson({"trials", "1"});
  ASSERT_TRUE(report["best"].is_object()) << report;
  ASSERT_TRUE(report["improvement_ci95_pct"].is_array()) << report;
  size_t valid = 0;
  for (const json& trial : history["trials"])
    for (const json& sample : trial["samples"])
      valid += sample.value("valid", false) && sample["value"].is_number();
  ASSERT_GT(valid, 0u);

  // As root, chromium runs only without its sandbox; a profile of its own, in the
  // test's directory.
  const std::string profile = "--user-data-dir=" + dir_.path() + "/chromium-profile";
  const std::vector<std::string> browser = {
      "timeout", "120", chromium, "--headless", "--no-sandbox", "--disable-gpu", profile};
  std::vector<std::string> dump = browser;
  dump.insert(dump.end(), {"--dump-dom", "file://" + page});
  CommandResult dom = test::RunCommand(dump);
  ASSERT_EQ(dom.exit_code, 0) << dom.err;

  // What the browser parsed: the same elements in the same order as the page (no
  // error recovery moved or added one), no script, through to the footer.
  EXPECT_EQ(StartTags(dom.out), StartTags(html.out));
  EXPECT_EQ(dom.out.find("<script"), std::string::npos);
  EXPECT_NE(dom.out.find("<footer id=\"end\">"), std::string::npos);
  EXPECT_NE(dom.out.find("<title>hone report: job 1 (shell.my_target)</title>"),
            std::string::npos);
  EXPECT_NE(dom.out.find("threads &lt;script&gt;document.title=\"pwned\"&lt;/script&gt; "
                         "&amp; more"),
            std::string::npos)
      << "the knob's description, as text";

  // The numbers, as the text report prints them.
  auto pct = [](const json& value) {
    char text[64];
    snprintf(text, sizeof text, "%+.2f", value.get<double>());
    return std::string(text);
  };
  EXPECT_EQ(HtmlDataField(dom.out, "job"), "1");
  EXPECT_EQ(HtmlDataField(dom.out, "state"), report["state"].get<std::string>());
  EXPECT_EQ(HtmlDataField(dom.out, "metric"), "shell.my_target");
  EXPECT_EQ(HtmlDataField(dom.out, "goal"), "max");
  EXPECT_EQ(HtmlDataField(dom.out, "best_mean"),
            FormatValue(report["best"]["value"].get<double>()));
  EXPECT_EQ(HtmlDataField(dom.out, "baseline_mean"),
            FormatValue(report["baseline"]["value"].get<double>()));
  EXPECT_EQ(HtmlDataField(dom.out, "best_samples"),
            std::to_string(report["best"]["samples"].get<int64_t>()));
  EXPECT_EQ(HtmlDataField(dom.out, "improvement_pct"), pct(report["improvement_pct"]));
  EXPECT_EQ(HtmlDataField(dom.out, "ci_low"), pct(report["improvement_ci95_pct"][0]));
  EXPECT_EQ(HtmlDataField(dom.out, "ci_high"), pct(report["improvement_ci95_pct"][1]));
  EXPECT_EQ(HtmlDataField(dom.out, "improvement"), FormatImprovement(report));
  EXPECT_EQ(HtmlDataField(dom.out, "samples_valid"),
            std::to_string(report["samples_valid"].get<int64_t>()));
  const std::string text = honed_.Hone({"report", "1"}).out;
  EXPECT_NE(text.find("Best value: " + HtmlDataField(dom.out, "best_mean") + " ("),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("Improvement: " + HtmlDataField(dom.out, "improvement_pct") + "%"),
            std::string::npos)
      << text;

  // Every valid sample of the history, drawn; hone run --format html fetched the
  // same history at the job's end.
  EXPECT_EQ(HtmlDataField(run.out, "samples"), std::to_string(valid)) << run.out;
  EXPECT_EQ(HtmlDataField(run.out, "best_mean"), HtmlDataField(dom.out, "best_mean"));
  EXPECT_EQ(HtmlDataField(dom.out, "samples"), std::to_string(valid));
  EXPECT_EQ(HtmlDataField(dom.out, "samples_drawn"), std::to_string(valid));
  size_t circles = 0;
  for (size_t at = dom.out.find("<circle class=\"sample"); at != std::string::npos;
       at = dom.out.find("<circle class=\"sample", at + 1))
    ++circles;
  EXPECT_EQ(circles, valid);

  // And it draws: a screenshot of a real size.
  const std::string png = dir_.path() + "/report.png";
  std::vector<std::string> shoot = browser;
  shoot.insert(shoot.end(),
               {"--screenshot=" + png, "--window-size=1200,2000", "file://" + page});
  CommandResult shot = test::RunCommand(shoot);
  ASSERT_EQ(shot.exit_code, 0) << shot.err;
  ASSERT_TRUE(std::filesystem::exists(png)) << shot.err;
  EXPECT_GT(std::filesystem::file_size(png), 20u * 1024);
  EXPECT_EQ(ReadFile(png).substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
}

TEST_F(IntegrationTest, WarmStartNeedsAnEarlierJobWithTheSameKnobs) {
  std::string workload =
      dir_.Write("w.sh", SurfaceWorkload(dir_.path() + "/result.txt"), true);
  CommandResult missing =
      honed_.Hone({"run", WriteConfig(), "--warm-start", "7", "--", workload});
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.err.find("warm start: job 7 does not exist"), std::string::npos)
      << missing.err;

  std::string one_knob = dir_.Write(
      "one.yaml",
      "domain:\n  common:\n    knobs:\n      threads:\n        options: [1, 2]\n"
      "    target: duration:min\n");
  ASSERT_EQ(honed_.Hone({"run", one_knob, "--", "true"}).exit_code, 0);
  CommandResult other =
      honed_.Hone({"run", WriteConfig(), "--warm-start", "1", "--", workload});
  EXPECT_EQ(other.exit_code, 1);
  EXPECT_NE(other.err.find("warm start from job 1: it tuned threads, this job tunes "
                           "inter_op, intra_op; a warm start needs the same knobs"),
            std::string::npos)
      << other.err;
}

TEST_F(IntegrationTest, EarlyStoppingEndsARunThatIsClearlySlowerThanTheBest) {
  // n=1 takes 0.1s; n=50 would take 5s, so its run is stopped at twice the best.
  std::string log = dir_.path() + "/runs.log";
  std::string workload = dir_.Write(
      "w.sh",
      "#!/bin/sh\necho \"start $n\" >> " + log +
          "\nsleep $(awk \"BEGIN{print $n/10}\")\necho \"done $n\" >> " + log + "\n",
      true);
  std::string config = dir_.Write(
      "k.yaml",
      "domain:\n  common:\n    knobs:\n      n:\n        options: [1, 50]\n"
      "    target: duration:min\n"
      "strategy: exhaustive\n"
      "global_settings:\n  early_stop_pct: 100\n  min_baseline_samples: 1\n");
  CommandResult run = honed_.Hone({"run", config, "--json", "--", workload});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  json report = json::parse(run.out);
  EXPECT_EQ(report["samples_stopped_early"], 1);
  EXPECT_EQ(report["best"]["config"]["n"], 1);
  std::string runs = ReadFile(log);
  EXPECT_NE(runs.find("start 50"), std::string::npos) << runs;
  EXPECT_EQ(runs.find("done 50"), std::string::npos) << "the slow run was not stopped";
}

TEST_F(IntegrationTest, EarlyStoppingWatchesAPartialMetricAsTheWorkloadPrintsIt) {
  // The workload prints its running rate every 50 ms for 5 s; rate 10 is far below
  // the baseline's 100, so that run is stopped after its second line.
  std::string log = dir_.path() + "/runs.log";
  std::string workload = dir_.Write(
      "w.sh",
      "#!/bin/sh\nrate=$((100 / n))\ni=0\n"
      "while [ $i -lt 100 ]; do echo \"iteration $i rate: $rate\"; sleep 0.05; "
      "i=$((i+1)); [ $n = 1 ] && [ $i -ge 3 ] && break; done\n"
      "echo \"done $n\" >> " + log + "\n",
      true);
  std::string config = dir_.Write(
      "k.yaml",
      "domain:\n  common:\n    knobs:\n      n:\n        options: [1, 10]\n"
      "    metrics:\n      rate:\n        pattern: 'rate: ([0-9]+)'\n"
      "        partial: true\n"
      "    target: rate:max\n"
      "strategy: exhaustive\n"
      "global_settings:\n  early_stop_pct: 30\n  min_baseline_samples: 1\n");
  CommandResult run = honed_.Hone({"run", config, "--json", "--", workload});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  json report = json::parse(run.out);
  EXPECT_EQ(report["samples_stopped_early"], 1);
  EXPECT_EQ(report["best"]["config"]["n"], 1);
  EXPECT_EQ(report["best"]["value"], 100);
  EXPECT_EQ(ReadFile(log), "done 1\n") << "the slow run was not stopped";
}

TEST_F(IntegrationTest, HonedRejectsABrokenConfigSentDirectly) {
  json args = {{"config_text", "domain: {common: {knobs: {n: {options: []}}}}"},
               {"config_path", "direct.yaml"},
               {"command", {"true"}},
               {"cwd", "/"}};
  std::string line =
      json({{"v", 1}, {"id", 5}, {"cmd", "submit"}, {"args", args}}).dump() + "\n";
  std::vector<std::string> replies = honed_.Raw(line);
  ASSERT_EQ(replies.size(), 1u);
  json reply = json::parse(replies[0]);
  EXPECT_EQ(reply["id"], 5);
  EXPECT_EQ(reply["ok"], false);
  EXPECT_EQ(reply["error"]["code"], "invalid_argument");
  EXPECT_NE(reply["error"]["message"].get<std::string>().find("direct.yaml:1:"),
            std::string::npos)
      << reply.dump();
}

TEST_F(IntegrationTest, MalformedRequestsGetErrorsAndTheConnectionKeepsServing) {
  std::vector<std::string> replies = honed_.Raw(
      "{not json\n[1,2]\n{\"v\":1,\"id\":7,\"cmd\":\"frobnicate\"}\n"
      "{\"v\":9,\"id\":8,\"cmd\":\"ping\"}\n{\"v\":1,\"id\":9,\"cmd\":\"ping\"}\n");
  ASSERT_EQ(replies.size(), 5u);
  EXPECT_EQ(json::parse(replies[0])["error"]["message"], "message is not valid JSON");
  EXPECT_EQ(json::parse(replies[1])["error"]["message"], "message is not a JSON object");
  json unknown = json::parse(replies[2]);
  EXPECT_EQ(unknown["id"], 7);
  EXPECT_EQ(unknown["error"]["message"], "unknown command 'frobnicate'; try 'help'");
  EXPECT_NE(
      json::parse(replies[3])["error"]["message"].get<std::string>().find("version 9"),
      std::string::npos);
  json pong = json::parse(replies[4]);
  EXPECT_EQ(pong["id"], 9);
  EXPECT_EQ(pong["ok"], true);
}

TEST_F(IntegrationTest, AClientThatClosesItsSendingSideStillGetsItsWatchToTheEnd) {
  std::string config = WriteConfig("global_settings:\n  max_configs: 3\n");
  std::string workload = dir_.Write(
      "w.sh", SurfaceWorkload(dir_.path() + "/result.txt", "sleep 0.1\n"), true);
  json submitted = honed_.HoneJson({"submit", config, "--", workload});
  ASSERT_TRUE(submitted.is_object());
  std::vector<std::string> lines =
      honed_.Raw("{\"v\":1,\"id\":1,\"cmd\":\"watch\",\"args\":{\"job\":1}}\n", true, 30);
  ASSERT_GE(lines.size(), 2u);
  EXPECT_EQ(json::parse(lines.front())["ok"], true);
  json last = json::parse(lines.back());
  EXPECT_EQ(last["event"]["type"], "end");
  EXPECT_EQ(last["event"]["state"], "completed");
}

// honed serializes a job's status once and hands the same text to every client
// until something in it changes: polled throughout a job, status must follow every
// sample and the job's end, never show an older state.
TEST_F(IntegrationTest, StatusPolledThroughoutAJobFollowsEverySampleAndTheEnd) {
  std::string config =
      WriteConfig("global_settings:\n  max_configs: 4\n  min_baseline_samples: 1\n");
  std::string workload = dir_.Write(
      "w.sh", SurfaceWorkload(dir_.path() + "/result.txt", "sleep 0.2\n"), true);
  json submitted = honed_.HoneJson({"submit", config, "--", workload});
  ASSERT_TRUE(submitted.is_object());
  const std::string job = std::to_string(submitted["job"].get<int64_t>());
  int last_samples = -1;
  double last_elapsed = -1;
  std::set<int> seen;
  ASSERT_TRUE(WaitFor(
      [&] {
        json status = honed_.HoneJson({"status", job});
        if (!status.is_object()) return false;
        EXPECT_GE(status.value("elapsed_s", 0.0), last_elapsed) << status.dump();
        last_elapsed = status.value("elapsed_s", 0.0);
        if (status.contains("progress")) {
          int samples = status["progress"].value("samples_valid", 0);
          EXPECT_GE(samples, last_samples) << status.dump();
          last_samples = samples;
          seen.insert(samples);
        }
        return seen.size() >= 2 || status.value("state", "") != "running";
      },
      60));
  EXPECT_GE(seen.size(), 2u) << "status never showed a new sample";
  // Once a watcher has the end event, status says so too.
  std::vector<std::string> lines = honed_.Raw(
      "{\"v\":1,\"id\":1,\"cmd\":\"watch\",\"args\":{\"job\":" + job + "}}\n", true, 60);
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(json::parse(lines.back())["event"]["type"], "end");
  json status = honed_.HoneJson({"status", job});
  EXPECT_EQ(status["state"], "completed") << status.dump();
  EXPECT_FALSE(status.contains("progress")) << status.dump();
  json report = honed_.HoneJson({"report", job});
  EXPECT_EQ(status["configs_explored"], report["configs_explored"]);
  EXPECT_EQ(status["best"], report["best"]);
}

TEST_F(IntegrationTest, OversizedRequestIsRefusedAndHonedKeepsServing) {
  std::string huge = "{\"v\":1,\"id\":1,\"cmd\":\"ping\",\"args\":{\"x\":\"" +
                     std::string(5 << 20, 'a') + "\"}}\n";
  std::vector<std::string> replies = honed_.Raw(huge);
  ASSERT_GE(replies.size(), 1u);
  EXPECT_NE(replies[0].find("exceeds"), std::string::npos) << replies[0];
  EXPECT_EQ(honed_.Hone({"ping"}).exit_code, 0);
}

// Issue 15: a job that was running when honed was SIGKILLed continues after the
// restart from its recorded trials, ends with its whole budget, and measures no
// configuration as two trials.
TEST_F(IntegrationTest, SigkillMidJobResumesAndEndsWithTheFullBudget) {
  std::string config =
      WriteConfig("global_settings:\n  max_configs: 10\n  min_baseline_samples: 1\n");
  std::string workload = dir_.Write(
      "w.sh", SurfaceWorkload(dir_.path() + "/result.txt", "sleep 0.2\n"), true);
  json submitted = honed_.HoneJson({"submit", config, "--", workload});
  ASSERT_TRUE(submitted.is_object());
  int64_t job = submitted["job"];
  std::string id = std::to_string(job);
  ASSERT_TRUE(WaitFor(
      [&] {
        json s = honed_.HoneJson({"status", id});
        return s.contains("progress") && s["progress"].value("samples_valid", 0) >= 4;
      },
      60));
  honed_.Kill();
  ASSERT_TRUE(honed_.Start()) << ReadFile(honed_.log_path());
  ASSERT_TRUE(WaitFor(
      [&] { return honed_.HoneJson({"status", id}).value("state", "") == "completed"; },
      120))
      << honed_.HoneJson({"status", id}).dump();
  json report = honed_.HoneJson({"report", id});
  EXPECT_EQ(report["configs_explored"], 10) << report.dump();
  EXPECT_NE(report.value("stop_reason", "").find("max_configs"), std::string::npos)
      << report.dump();
  EXPECT_EQ(report["resumed"]["times"], 1) << report.dump();
  EXPECT_GE(report["resumed"]["downtime_s"].get<double>(), 0);
  EXPECT_EQ(report["baseline"]["config"], json({{"inter_op", 1}, {"intra_op", 10}}));
  CommandResult text = honed_.Hone({"report", id});
  EXPECT_NE(text.out.find("Resumed"), std::string::npos) << text.out;
  // The store: trials numbered in order, each configuration once, and as many
  // samples in all as the report counts.
  std::unique_ptr<Store> store;
  ASSERT_TRUE(Store::Open(honed_.state_dir() + "/honed.db", &store).ok());
  std::vector<StoredTrial> trials;
  ASSERT_TRUE(store->LoadTrials(job, &trials).ok());
  ASSERT_EQ(trials.size(), 10u);
  std::set<std::string> configs;
  int samples = 0;
  for (size_t i = 0; i < trials.size(); ++i) {
    EXPECT_EQ(trials[i].number, static_cast<int64_t>(i));
    EXPECT_TRUE(configs.insert(trials[i].config.dump()).second)
        << "measured twice: " << trials[i].config.dump();
    // A sample set aside for interference (the machine is shared with other tests)
    // is stored but counted apart.
    for (const SampleResult& sample : trials[i].samples) samples += !sample.SetAside();
  }
  EXPECT_EQ(samples,
            report["samples_valid"].get<int>() + report.value("samples_invalid", 0))
      << report.dump();
  // And it takes new work.
  std::string quick = WriteConfig("global_settings:\n  max_configs: 2\n");
  EXPECT_EQ(honed_.Hone({"run", quick, "--", workload}).exit_code, 0);
}

TEST_F(IntegrationTest, WhatAWorkloadStartedDoesNotOutliveASigkilledHoned) {
  std::string config = WriteConfig();
  std::string pids = dir_.path() + "/pids";
  std::string workload =
      dir_.Write("w.sh", "#!/bin/sh\nsleep 300 &\necho $! > " + pids + "\nwait\n", true);
  ASSERT_TRUE(honed_.HoneJson({"submit", config, "--", workload}).is_object());
  ASSERT_TRUE(WaitFor([&] { return !ReadFile(pids).empty(); }, 20));
  pid_t grandchild = std::stoi(ReadFile(pids));
  honed_.Kill();
  // The workload's shell dies with honed; the sleep it started does not...
  ASSERT_TRUE(test::ProcessAlive(grandchild));
  // ...until the next honed, which knows the process group, kills it.
  ASSERT_TRUE(honed_.Start());
  EXPECT_TRUE(WaitFor([&] { return !test::ProcessAlive(grandchild); }, 5));
  EXPECT_NE(ReadFile(honed_.log_path()).find("leftover process"), std::string::npos);
}

// A stopped honed interrupts the running job, kills its workload, and resumes the
// job when it starts again.
TEST_F(IntegrationTest, SigtermMidJobKillsTheWorkloadAndTheJobResumesAtTheNextStart) {
  std::string config = WriteConfig();
  std::string pids = dir_.path() + "/pids";
  std::string workload =
      dir_.Write("w.sh", "#!/bin/sh\necho $$ >> " + pids + "\nsleep 60\n", true);
  json submitted = honed_.HoneJson({"submit", config, "--", workload});
  int64_t job = submitted["job"];
  ASSERT_TRUE(WaitFor([&] { return !ReadFile(pids).empty(); }, 20));
  EXPECT_EQ(honed_.Stop(), 0);
  pid_t pid = std::stoi(ReadFile(pids));
  EXPECT_TRUE(WaitFor([&] { return !test::ProcessAlive(pid); }, 5));
  EXPECT_FALSE(std::filesystem::exists(honed_.socket()));
  std::unique_ptr<Store> store;
  ASSERT_TRUE(Store::Open(honed_.state_dir() + "/honed.db", &store).ok());
  std::vector<JobRow> rows;
  ASSERT_TRUE(store->LoadJobs(&rows).ok());
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].state, JobState::kInterrupted);
  EXPECT_EQ(rows[0].message,
            "honed was stopped; the job resumes when honed starts again");
  store.reset();
  ASSERT_TRUE(honed_.Start());
  // The workload runs again: the baseline's sample was cut short, not recorded.
  EXPECT_TRUE(WaitFor(
      [&] {
        std::string all = ReadFile(pids);
        return std::count(all.begin(), all.end(), '\n') >= 2;
      },
      20));
  json status = honed_.HoneJson({"status", std::to_string(job)});
  EXPECT_EQ(status["state"], "running") << status.dump();
  EXPECT_EQ(status["resumed"]["times"], 1) << status.dump();
  EXPECT_EQ(honed_.Hone({"cancel", std::to_string(job)}).exit_code, 0);
}

TEST_F(IntegrationTest, SecondHonedOnTheSameSocketRefusesToStart) {
  CommandResult second =
      test::RunCommand({std::string(HONE_BIN_DIR) + "/honed", "--socket", honed_.socket(),
                        "--state-dir", dir_.path() + "/other"});
  EXPECT_EQ(second.exit_code, 1);
  EXPECT_NE(second.err.find("another honed is already listening"), std::string::npos)
      << second.err;
  EXPECT_EQ(honed_.Hone({"ping"}).exit_code, 0);
}

TEST_F(IntegrationTest, TheDatabaseIsPrivateAndTheSocketIsForItsGroup) {
  struct stat db {
  }, sock{};
  ASSERT_EQ(stat((dir_.path() + "/state/honed.db").c_str(), &db), 0);
  EXPECT_EQ(db.st_mode & 0777, 0600u) << "the database holds submitters' environments";
  ASSERT_EQ(stat(honed_.socket().c_str(), &sock), 0);
  EXPECT_EQ(sock.st_mode & 0777, 0660u);
}

TEST_F(IntegrationTest, UnknownJobIsRefused) {
  CommandResult status = honed_.Hone({"status", "42"});
  EXPECT_EQ(status.exit_code, 4);
  EXPECT_NE(status.err.find("no job 42"), std::string::npos);
}

TEST(ClientTest, UnreachableHonedSaysHowToStartIt) {
  CommandResult ping = test::RunCommand({std::string(HONE_BIN_DIR) + "/hone", "--socket",
                                         "/nonexistent/honed.sock", "ping"});
  EXPECT_EQ(ping.exit_code, 3);
  EXPECT_NE(ping.err.find("is honed running?"), std::string::npos) << ping.err;
}

TEST(ClientTest, SocketComesFromHoneSocketVariable) {
  CommandResult ping = test::RunCommand({std::string(HONE_BIN_DIR) + "/hone", "ping"},
                                        {"HONE_SOCKET=/nonexistent/from-env.sock"});
  EXPECT_EQ(ping.exit_code, 3);
  EXPECT_NE(ping.err.find("/nonexistent/from-env.sock"), std::string::npos) << ping.err;
}

}  // namespace
}  // namespace hone
