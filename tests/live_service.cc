// hone-test-live-service: a service for live-job tests, whose rate depends on two
// knobs that honed sets (DIR/a, written by a script knob, and a sysctl file of a
// re-rooted tree), with noise and a slow load swing, and a phase that the test
// changes by writing DIR/phase.
//
//   hone-test-live-service serve DIR SYSCTL   runs until DIR/stop exists (at most
//                                             15 minutes), writing DIR/rate every 10 ms
//   hone-test-live-service sample DIR SYSCTL  prints the rate (a sample_script), and
//                                             appends "a swappiness harmful" to
//                                             DIR/samples.log: what the sample saw
// Its response surface is in live_service.h.
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <random>
#include <string>
#include <thread>

#include "tests/live_service.h"

namespace {

int ReadInt(const std::string& path, int fallback) {
  std::ifstream in(path);
  int value = fallback;
  if (!(in >> value)) return fallback;
  return value;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s serve|sample DIR SYSCTL_FILE\n", argv[0]);
    return 2;
  }
  const std::string mode = argv[1], dir = argv[2], sysctl = argv[3];
  if (mode == "sample") {
    std::ifstream in(dir + "/rate");
    std::string rate;
    if (!std::getline(in, rate)) return 1;
    printf("%s\n", rate.c_str());
    int a = ReadInt(dir + "/a", 1), swappiness = ReadInt(sysctl, 60);
    int phase = ReadInt(dir + "/phase", 1);
    std::ofstream log(dir + "/samples.log", std::ios::app);
    log << a << " " << swappiness << " "
        << hone::test::LiveServiceHarmful(a, swappiness, phase) << "\n";
    return 0;
  }
  if (mode != "serve") return 2;
  std::mt19937_64 rng(getpid());
  std::normal_distribution<double> noise(0, 0.01);
  const auto start = std::chrono::steady_clock::now();
  for (;;) {
    double t =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (t > 900 || access((dir + "/stop").c_str(), F_OK) == 0) return 0;
    int a = ReadInt(dir + "/a", 1), swappiness = ReadInt(sysctl, 60);
    int phase = ReadInt(dir + "/phase", 1);
    double load = 1 + 0.1 * std::sin(2 * M_PI * t / 60);
    double rate = 1000 * load * hone::test::LiveServiceEfficiency(a, swappiness, phase) *
                  (1 + noise(rng));
    {
      std::ofstream out(dir + "/rate.tmp");
      out << rate << "\n";
    }
    rename((dir + "/rate.tmp").c_str(), (dir + "/rate").c_str());
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}
