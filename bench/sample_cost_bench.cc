// hone_sample_cost_bench: what one sample costs honed itself, as a job grows.
//
// Not a test: it prints figures (docs/performance.md, "Cost per sample"). For each
// budget in --samples (default 100, 1,000 and 10,000) it starts a fresh private honed
// (the one built beside it), submits a job whose workload costs nothing (`true`,
// target `duration:min`, three knobs of 20 values, `max_samples` the budget, the
// other settings at their defaults) and waits for it to end. honed's CPU time (user
// plus system, from /proc) over the job, divided by its samples, is the cost per
// sample: starting the run, reading its result, the store, the session's
// bookkeeping, progress and events. It is printed for the whole process and for
// the tuner's worker thread alone, which is where the strategy's proposals run.
// With the default `random` strategy a proposal costs next to nothing; `--strategy
// model` adds the model's fits, which grow with the data by design.
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "bench/private_honed.h"

namespace {

using hone::bench::CpuSeconds;
using hone::bench::PrivateHoned;
using nlohmann::json;

struct Options {
  std::vector<int> samples = {100, 1000, 10000};
  std::string strategy = "random";
  std::string honed = std::string(HONE_BIN_DIR) + "/honed";
};

std::string JobConfig(int samples, const std::string& strategy) {
  std::string values = "[";
  for (int v = 1; v <= 20; ++v) values += (v > 1 ? ", " : "") + std::to_string(v);
  values += "]";
  return "domain:\n  common:\n    knobs:\n      a: {options: " + values +
         "}\n      b: {options: " + values + "}\n      c: {options: " + values +
         "}\n    target: duration:min\n"
         "global_settings:\n  max_samples: " +
         std::to_string(samples) + "\n  max_configs: 8000\nstrategy: " + strategy + "\n";
}

// The CPU seconds of honed's threads other than its main one (the worker).
double WorkerCpuSeconds(pid_t pid) {
  double seconds = 0;
  std::error_code ec;
  const std::string task = "/proc/" + std::to_string(pid) + "/task";
  for (const auto& entry : std::filesystem::directory_iterator(task, ec))
    if (entry.path().filename() != std::to_string(pid))
      seconds += CpuSeconds(entry.path() / "stat");
  return seconds;
}

struct Row {
  int budget = 0;
  int samples = 0;
  double wall = 0, cpu = 0, worker = 0;
  std::string state;
};

bool Measure(const Options& options, int budget, Row* row) {
  PrivateHoned honed;
  if (!honed.Start(options.honed, {"--workload-cgroup", "none"})) return false;
  const std::string stat = "/proc/" + std::to_string(honed.pid()) + "/stat";
  double cpu_before = CpuSeconds(stat), worker_before = WorkerCpuSeconds(honed.pid());
  auto start = std::chrono::steady_clock::now();
  int64_t job = honed.Submit(JobConfig(budget, options.strategy), {"true"});
  if (job == 0) {
    honed.Stop(true);
    return false;
  }
  json status;
  for (;;) {  // an hour at most
    status = honed.JobStatus(job);
    std::string state = status.value("state", "");
    if (state != "queued" && state != "running") break;
    if (std::chrono::steady_clock::now() - start > std::chrono::hours(1)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  row->wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  row->cpu = CpuSeconds(stat) - cpu_before;
  row->worker = WorkerCpuSeconds(honed.pid()) - worker_before;
  row->budget = budget;
  row->state = status.value("state", "?");
  json report =
      honed.Call({{"v", 1}, {"id", 1}, {"cmd", "report"}, {"args", {{"job", job}}}});
  if (report.is_object() && report.contains("result"))
    row->samples = report["result"].value("samples_valid", 0) +
                   report["result"].value("samples_invalid", 0);
  bool ok = row->state == "completed" && row->samples > 0;
  if (!ok) std::cerr << "hone_sample_cost_bench: the job ended " << status.dump() << "\n";
  honed.Stop(!ok);
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  CLI::App app{"hone_sample_cost_bench: honed's own CPU per sample as a job grows",
               "hone_sample_cost_bench"};
  app.add_option("--samples", options.samples, "the jobs' budgets (max_samples)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--strategy", options.strategy, "the jobs' strategy")
      ->capture_default_str()
      ->check(CLI::IsMember({"random", "model", "exhaustive"}));
  app.add_option("--honed", options.honed, "the honed to run")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  signal(SIGPIPE, SIG_IGN);

  std::printf(
      "cost per sample: jobs of `true` (target duration:min), 3 knobs of 20 values, "
      "strategy %s; honed's CPU (user + system) over each job\n",
      options.strategy.c_str());
  std::printf("%8s %8s %8s %12s %14s %14s %12s\n", "budget", "samples", "wall s",
              "honed CPU s", "per sample ms", "worker ms/smp", "samples/s");
  for (int budget : options.samples) {
    Row row;
    if (!Measure(options, budget, &row)) return 1;
    std::printf("%8d %8d %8.1f %12.2f %14.2f %14.2f %12.0f\n", row.budget, row.samples,
                row.wall, row.cpu, 1000 * row.cpu / row.samples,
                1000 * row.worker / row.samples, row.samples / row.wall);
    std::fflush(stdout);
  }
  return 0;
}
