// Measurement hygiene and secondary metrics, end to end through honed and hone:
// every metric recorded with every sample, guards that make a configuration
// infeasible, samples taken while other processes used the CPUs set aside and
// measured again, and quiet_wait. Interference is simulated honestly: honed reads
// /proc/stat under a re-rooted fake tree (--root), and the workload (or the test)
// adds busy time to it, as another program would.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include "tests/fake_machine.h"
#include "tests/test_util.h"

namespace hone {
namespace {

using nlohmann::json;
using test::CommandResult;
using test::FakeMachineTree;
using test::Honed;
using test::ReadFile;
using test::RunCommand;
using test::TempDir;
using test::WaitFor;

// A /proc/stat of two CPUs with `busy` ticks of user time in all.
std::string ProcStat(long busy) {
  return "cpu  " + std::to_string(busy) + " 0 0 100000 0 0 0 0 0 0\ncpu0 " +
         std::to_string(busy / 2) + " 0 0 50000 0 0 0 0 0 0\ncpu1 " +
         std::to_string(busy - busy / 2) + " 0 0 50000 0 0 0 0 0 0\nintr 1 2 3\n";
}

class HygieneTest : public ::testing::Test {
 protected:
  HygieneTest() {
    std::filesystem::create_directory(dir_.path() + "/root");
    tree_ = std::make_unique<FakeMachineTree>(dir_.path() + "/root");
    tree_->Write("proc/stat", ProcStat(1000));
    honed_ = std::make_unique<Honed>(dir_.path(),
                                     std::vector<std::string>{"--root", tree_->root()});
  }
  void SetUp() override { ASSERT_TRUE(honed_->Start()) << ReadFile(honed_->log_path()); }

  std::string Stat() const { return tree_->root() + "/proc/stat"; }

  // A shell line that adds `ticks` of busy time to the fake /proc/stat, atomically,
  // as another program using the CPUs meanwhile would.
  std::string Busy(long ticks) const {
    return "awk -v add=" + std::to_string(ticks) +
           " '$1 == \"cpu\" { $2 += add } { print }' " + Stat() + " > " + Stat() +
           ".new && mv " + Stat() + ".new " + Stat() + "\n";
  }

  TempDir dir_;
  std::unique_ptr<FakeMachineTree> tree_;
  std::unique_ptr<Honed> honed_;
};

// Every defined metric is recorded for every sample and shown in the report and the
// trial history; a guard relative to the baseline makes a configuration infeasible,
// with the reason, so that the best is the fastest one that keeps its ratio.
TEST_F(HygieneTest, SecondaryMetricsAreRecordedAndAGuardKeepsTheRatio) {
  std::string workload = dir_.Write(
      "w.sh",
      "#!/bin/sh\n"
      "echo \"speed $((100 * level))\"\n"
      "case $level in 1|2) echo 'ratio 4.0';; 3) echo 'ratio 3.5';; *) echo 'ratio "
      "3.0';; esac\n",
      true);
  std::string config = dir_.Write(
      "k.yaml",
      "strategy: exhaustive\n"
      "domain:\n  common:\n    knobs:\n      level: {options: [1, 2, 3, 4], default: 1}\n"
      "    metrics:\n"
      "      speed: {pattern: 'speed (\\d+)'}\n"
      "      ratio: {pattern: 'ratio ([0-9.]+)', guard: {min: baseline - 1%}}\n"
      "      seconds: {sample_script: echo 0.5}\n"
      "    target: speed:max\n"
      "global_settings: {race_pct: 0}\n");
  CommandResult run = honed_->Hone({"run", "--json", config, "--", workload});
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  json report = json::parse(run.out);
  EXPECT_EQ(report["best"]["config"]["level"], 2) << report.dump(1);
  EXPECT_EQ(report["best"]["metrics"]["ratio"], 4.0);
  EXPECT_EQ(report["best"]["metrics"]["seconds"], 0.5);
  EXPECT_EQ(report["baseline"]["metrics"]["ratio"], 4.0);
  EXPECT_EQ(report["configs_guarded_out"], 2);

  json trials = honed_->HoneJson({"trials", "1"});
  int infeasible = 0;
  for (const json& trial : trials["trials"]) {
    int level = trial["config"]["level"];
    ASSERT_TRUE(trial["samples"][0].contains("metrics")) << trial;
    if (level >= 3) {
      ++infeasible;
      EXPECT_EQ(trial["state"], "failed") << trial;
      std::string why = trial.value("infeasible", "");
      EXPECT_EQ(why.rfind("guard: metric 'ratio' was 3", 0), 0u) << trial;
      EXPECT_NE(why.find("below its guard.min 3.96 (the baseline's 4 - 1%)"),
                std::string::npos)
          << why;
    } else {
      EXPECT_EQ(trial["samples"][0]["metrics"]["ratio"], 4.0) << trial;
    }
  }
  EXPECT_EQ(infeasible, 2);

  std::string text = honed_->Hone({"report", "1"}).out;
  EXPECT_NE(text.find("Other metrics (best / baseline): ratio 4 / 4, seconds 0.5 / 0.5"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("Guards: 2 configuration(s) broke a guard"), std::string::npos)
      << text;
  std::string table = honed_->Hone({"trials", "1"}).out;
  EXPECT_NE(table.find("infeasible: guard: metric 'ratio' was 3.5"), std::string::npos)
      << table;
  std::string csv = honed_->Hone({"trials", "1", "--csv", "--samples"}).out;
  EXPECT_NE(csv.find(",metric:ratio,metric:seconds\r\n"), std::string::npos) << csv;
}

// A sample during which other processes kept the CPUs busy is set aside and taken
// again; the history keeps it, flagged, and the statistics leave it out. When the
// repeats run out, the sample is kept, flagged.
TEST_F(HygieneTest, AnInterferedSampleIsSetAsideAndMeasuredAgain) {
  std::string runs = dir_.path() + "/runs.log";
  std::string marker = dir_.path() + "/hogged";
  // Level 2's first run shares the machine with a hog: 1000 CPU-seconds of other
  // processes' time appear in /proc/stat while it runs. Level 3 always does. Those
  // runs last over half a second, long enough to be judged.
  std::string workload =
      dir_.Write("w.sh",
                 "#!/bin/sh\n"
                 "echo $level >> " +
                     runs + "\n" + "if [ $level = 2 ] && [ ! -e " + marker +
                     " ]; then touch " + marker + "; sleep 0.6; " + Busy(100000) +
                     "fi\n" + "if [ $level = 3 ]; then sleep 0.6; " + Busy(100000) +
                     "fi\n" + "echo \"speed $((100 * level))\"\n",
                 true);
  std::string config = dir_.Write(
      "k.yaml",
      "strategy: exhaustive\n"
      "domain:\n  common:\n    knobs:\n      level: {options: [1, 2, 3], default: 1}\n"
      "    metrics:\n      speed: {pattern: 'speed (\\d+)'}\n"
      "    target: speed:max\n"
      "global_settings: {race_pct: 0, confirm_samples: 1, interference_repeats: 1}\n");
  CommandResult run = honed_->Hone({"run", "--json", config, "--", workload});
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  json report = json::parse(run.out);
  // Level 2 ran twice (once set aside), level 3 twice (its repeat was the last).
  EXPECT_EQ(ReadFile(runs), "1\n2\n2\n3\n3\n");
  EXPECT_EQ(report["interference"]["samples_set_aside"], 2) << report.dump(1);
  EXPECT_EQ(report["interference"]["samples_kept_interfered"], 1);
  EXPECT_EQ(report["interference"]["samples_measured"], 5);
  EXPECT_EQ(report["samples_invalid"], 0);

  json trials = honed_->HoneJson({"trials", "1"});
  ASSERT_EQ(trials["trials"].size(), 3u) << trials;
  const json& two = trials["trials"][1];
  EXPECT_EQ(two["set_aside"], 1) << two;
  EXPECT_EQ(two["valid"], 1);
  ASSERT_EQ(two["samples"].size(), 2u);
  EXPECT_EQ(two["samples"][0]["set_aside"], true);
  EXPECT_EQ(two["samples"][0]["valid"], false);
  EXPECT_EQ(two["samples"][0]["error"].get<std::string>().rfind(
                "set aside: other processes kept ", 0),
            0u)
      << two;
  EXPECT_GT(two["samples"][0]["other_cpu"].get<double>(), 1.0);
  EXPECT_FALSE(two["samples"][1].contains("interfered")) << two;
  const json& three = trials["trials"][2];
  EXPECT_EQ(three["valid"], 1);
  EXPECT_EQ(three["samples"][1]["interfered"], true) << three;
  EXPECT_EQ(three["samples"][1]["valid"], true);

  std::string text = honed_->Hone({"report", "1"}).out;
  EXPECT_NE(text.find("Interference: 2 sample(s) set aside and measured again"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("1 kept, flagged, after their repeats ran out"), std::string::npos);
}

// quiet_wait holds each sample until other processes leave the CPUs alone: while
// the test keeps the fake machine busy the job waits and runs nothing, and once
// the machine is quiet it goes on.
TEST_F(HygieneTest, QuietWaitHoldsTheSampleUntilTheMachineIsQuiet) {
  std::atomic<bool> busy{true};
  std::thread hog([&] {
    long ticks = 1000;
    while (busy) {
      ticks += 100;  // both CPUs kept busy by someone else, and then some
      tree_->Write("proc/stat.new", ProcStat(ticks * 10));
      std::filesystem::rename(tree_->root() + "/proc/stat.new", Stat());
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  std::string runs = dir_.path() + "/runs.log";
  std::string workload =
      dir_.Write("w.sh", "#!/bin/sh\necho $level >> " + runs + "\necho speed 1\n", true);
  std::string config = dir_.Write(
      "k.yaml",
      "domain:\n  common:\n    knobs:\n      level: {options: [1, 2], default: 1}\n"
      "    metrics:\n      speed: {pattern: 'speed (\\d+)'}\n"
      "    target: speed:max\n"
      "global_settings: {race_pct: 0, confirm_samples: 1, quiet_wait: 10m, max_configs: "
      "2}\n");
  CommandResult submit = honed_->Hone({"submit", config, "--", workload});
  ASSERT_EQ(submit.exit_code, 0) << submit.err;
  json status;
  bool waiting = WaitFor(
      [&] {
        status = honed_->HoneJson({"status", "1"});
        return status.value("phase", "") == "waiting for a quiet machine (quiet_wait)";
      },
      30);
  EXPECT_TRUE(waiting) << status;
  // Still waiting a moment later, and nothing has run.
  EXPECT_FALSE(std::filesystem::exists(runs));
  busy = false;
  hog.join();
  json done;
  EXPECT_TRUE(WaitFor(
      [&] {
        done = honed_->HoneJson({"status", "1"});
        return done.value("state", "") == "completed";
      },
      60))
      << done;
  EXPECT_EQ(ReadFile(runs), "1\n2\n");
}

// `hone watch --plot` on a terminal draws the chart at once and redraws it in place
// after each sample (cursor up, then the new chart); `script` gives it the terminal.
TEST_F(HygieneTest, WatchPlotRedrawsTheChartAfterEachSampleOnATerminal) {
  if (RunCommand({"sh", "-c", "command -v script"}).exit_code != 0)
    GTEST_SKIP() << "script (util-linux) is not installed: no terminal to plot on";
  std::string go = dir_.path() + "/go";
  // The baseline waits for the test: the watch is drawn before any sample.
  std::string workload =
      dir_.Write("w.sh",
                 "#!/bin/sh\ni=0\nwhile [ ! -e " + go +
                     " ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done\n"
                     "echo \"speed $((100 * level))\"\n",
                 true);
  std::string config = dir_.Write(
      "k.yaml",
      "strategy: exhaustive\n"
      "domain:\n  common:\n    knobs:\n      level: {options: [1, 2, 3, 4], default: 1}\n"
      "    metrics:\n      speed: {pattern: 'speed (\\d+)'}\n"
      "    target: speed:max\n"
      "global_settings: {race_pct: 0, confirm_samples: 1}\n");
  ASSERT_EQ(honed_->Hone({"submit", config, "--", workload}).exit_code, 0);
  std::string out = dir_.path() + "/tty.log";
  std::string hone = std::string(HONE_BIN_DIR) + "/hone --socket " + honed_->socket() +
                     " watch 1 --plot";
  CommandResult watched;
  std::thread watch([&] { watched = RunCommand({"script", "-qefc", hone, out}); });
  bool drawn = WaitFor(
      [&] { return ReadFile(out).find("Nothing to plot yet.") != std::string::npos; },
      30);
  dir_.Write("go", "");
  watch.join();
  ASSERT_TRUE(drawn) << ReadFile(out);
  EXPECT_EQ(watched.exit_code, 0) << ReadFile(out);
  std::string tty = ReadFile(out);
  // Drawn once before any sample, then again after each of the four.
  size_t charts = 0;
  for (size_t at = 0; (at = tty.find("Job 1: speed (max), ", at)) != std::string::npos;
       ++at)
    ++charts;
  EXPECT_EQ(charts, 5u) << tty;
  EXPECT_NE(tty.find("4 valid sample(s)"), std::string::npos) << tty;
  EXPECT_NE(tty.find("\033[J"), std::string::npos) << "not redrawn in place";
  // The report follows, as without --plot.
  EXPECT_NE(tty.find("Best known knob settings"), std::string::npos) << tty;
}

}  // namespace
}  // namespace hone
