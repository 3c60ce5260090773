// hone-demo-kernel: the workload behind hone's reference tuning scenario.
//
// A cache-blocked, multi-threaded dense matrix multiply C = A * B (doubles),
// organised like a BLIS-style GEMM: for every k-panel of width `block` the
// worker threads first pack the panel of B cooperatively, meet at a barrier,
// then each thread multiplies its own row tiles of A (packed into a private
// buffer) against the shared panel, and meets the others at a barrier again.
//
// Both knobs matter for real reasons:
//   --threads (inter_op): row tiles are dealt out statically and every k-panel
//     ends in a spin-then-sleep barrier (OpenMP-style), so with more threads
//     than cores the waiters burn the cores that descheduled threads need and
//     the team runs at the pace of its slowest member; too few threads leave
//     cores idle.
//   --block (intra_op): the tile edge sets the number of barriers (two per
//     size / block panel), loop and packing overhead, the cache footprint of
//     the inner kernel, tail tiles when it does not divide size, and a scalar
//     remainder when it is not a multiple of the 8-wide micro-kernel.
//
// The amount of arithmetic (2 * size^3 flops) does not depend on the knobs.
// Prints exactly one line to stdout: "throughput: <x> GFLOP/s".

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

constexpr int kMinThreads = 1;
constexpr int kMaxThreads = 256;
constexpr int kMinBlock = 4;
constexpr int kMaxBlock = 512;
constexpr int kMinSize = 16;
constexpr int kMaxSize = 4096;
constexpr int kDefaultSize = 768;
constexpr int kMinReps = 1;
constexpr int kMaxReps = 99;
constexpr int kDefaultReps = 3;
constexpr int kMicroWidth = 8;  // columns per register-blocked micro-kernel step
// How long a thread waiting at a barrier spins before it sleeps (OpenMP-style
// active waiting; cf. GOMP_SPINCOUNT / KMP_BLOCKTIME).
constexpr auto kSpinTime = std::chrono::microseconds(200);

struct Options {
  int threads = 2;
  int block = 32;
  int size = kDefaultSize;
  int reps = kDefaultReps;
  bool verbose = false;
};

[[noreturn]] void Usage(const std::string& message, int exit_code = 2) {
  FILE* out = exit_code == 0 ? stdout : stderr;
  if (!message.empty()) std::fprintf(out, "hone-demo-kernel: %s\n", message.c_str());
  std::fprintf(out,
               "usage: hone-demo-kernel [--threads N (%d..%d)] [--block B (%d..%d)]\n"
               "         [--size S (%d..%d, default %d)] [--reps R (%d..%d, default %d)]"
               " [--verbose]\n",
               kMinThreads, kMaxThreads, kMinBlock, kMaxBlock, kMinSize, kMaxSize,
               kDefaultSize, kMinReps, kMaxReps, kDefaultReps);
  std::exit(exit_code);
}

int ParseInt(std::string_view flag, std::string_view text, int lo, int hi) {
  int value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() ||
      value < lo || value > hi) {
    Usage("invalid value '" + std::string(text) + "' for " + std::string(flag) +
          " (want an integer in " + std::to_string(lo) + ".." + std::to_string(hi) + ")");
  }
  return value;
}

Options ParseArgs(int argc, char** argv) {
  Options opts;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg(argv[i]);
    if (arg == "--help" || arg == "-h") Usage("", 0);
    if (arg == "--verbose") {
      opts.verbose = true;
      continue;
    }
    int* target = arg == "--threads" ? &opts.threads
                  : arg == "--block" ? &opts.block
                  : arg == "--size"  ? &opts.size
                  : arg == "--reps"  ? &opts.reps
                                     : nullptr;
    if (target == nullptr) Usage("unknown argument '" + std::string(arg) + "'");
    if (i + 1 >= argc) Usage("missing value after " + std::string(arg));
    const std::string_view value(argv[++i]);
    if (target == &opts.threads) *target = ParseInt(arg, value, kMinThreads, kMaxThreads);
    if (target == &opts.block) *target = ParseInt(arg, value, kMinBlock, kMaxBlock);
    if (target == &opts.size) *target = ParseInt(arg, value, kMinSize, kMaxSize);
    if (target == &opts.reps) *target = ParseInt(arg, value, kMinReps, kMaxReps);
  }
  if (opts.block > opts.size) Usage("--block must not exceed --size");
  return opts;
}

// c[mb x nb] (row stride ldc) += a[mb x kb] (packed, row stride kb)
//                               * b[kb x nb] (packed, row stride nb).
void MicroKernel(const double* a, const double* b, double* c, int mb, int nb, int kb,
                 int ldc) {
  const int n_vec = nb - nb % kMicroWidth;
  for (int i = 0; i < mb; ++i) {
    const double* a_row = a + static_cast<long>(i) * kb;
    double* c_row = c + static_cast<long>(i) * ldc;
    for (int j = 0; j < n_vec; j += kMicroWidth) {
      double acc[kMicroWidth];
      for (int u = 0; u < kMicroWidth; ++u) acc[u] = c_row[j + u];
      for (int k = 0; k < kb; ++k) {
        const double a_ik = a_row[k];
        const double* b_row = b + static_cast<long>(k) * nb + j;
        for (int u = 0; u < kMicroWidth; ++u) acc[u] += a_ik * b_row[u];
      }
      for (int u = 0; u < kMicroWidth; ++u) c_row[j + u] = acc[u];
    }
    for (int j = n_vec; j < nb; ++j) {  // scalar remainder columns
      double acc = c_row[j];
      for (int k = 0; k < kb; ++k) acc += a_row[k] * b[static_cast<long>(k) * nb + j];
      c_row[j] = acc;
    }
  }
}

// Sense-reversing barrier that spins for kSpinTime, then sleeps on a futex.
// Spinning makes hand-offs fast while every thread has a core of its own, and
// burns the cores that descheduled threads need once threads outnumber cores.
class SpinBarrier {
 public:
  explicit SpinBarrier(int count) : count_(count), remaining_(count) {}

  void ArriveAndWait() {
    const unsigned gen = generation_.load(std::memory_order_acquire);
    if (remaining_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      remaining_.store(count_, std::memory_order_relaxed);
      generation_.store(gen + 1, std::memory_order_release);
      generation_.notify_all();
      return;
    }
    const auto deadline = std::chrono::steady_clock::now() + kSpinTime;
    for (unsigned spin = 1;; ++spin) {
      if (generation_.load(std::memory_order_acquire) != gen) return;
      if (spin % 64 == 0 && std::chrono::steady_clock::now() > deadline) break;
    }
    generation_.wait(gen, std::memory_order_acquire);  // returns once gen moved on
  }

 private:
  const int count_;
  std::atomic<int> remaining_;
  std::atomic<unsigned> generation_{0};
};

struct Problem {
  int n;
  int block;
  int threads;
  std::vector<double> a, b, c;
  // Packed k-panel of B, stored as one contiguous block x nb tile per column tile.
  std::vector<double> b_panel;
};

void Worker(Problem& p, SpinBarrier& sync, int id) {
  const int n = p.n;
  const int bs = p.block;
  const int tiles = (n + bs - 1) / bs;
  std::vector<double> a_pack(static_cast<size_t>(bs) * bs);  // private A tile
  for (int pc = 0; pc < n; pc += bs) {
    const int kb = std::min(bs, n - pc);
    // Pack this k-panel of B cooperatively: column tile jt goes to thread jt % threads.
    for (int jt = id; jt < tiles; jt += p.threads) {
      const int j0 = jt * bs;
      const int nb = std::min(bs, n - j0);
      double* dst = p.b_panel.data() + static_cast<long>(j0) * bs;
      for (int k = 0; k < kb; ++k) {
        const double* src = p.b.data() + static_cast<long>(pc + k) * n + j0;
        std::copy(src, src + nb, dst + static_cast<long>(k) * nb);
      }
    }
    sync.ArriveAndWait();
    // Multiply, statically scheduled: row tile it belongs to thread it % threads.
    for (int it = id; it < tiles; it += p.threads) {
      const int i0 = it * bs;
      const int mb = std::min(bs, n - i0);
      for (int i = 0; i < mb; ++i) {
        const double* src = p.a.data() + static_cast<long>(i0 + i) * n + pc;
        std::copy(src, src + kb, a_pack.data() + static_cast<long>(i) * kb);
      }
      for (int jt = 0; jt < tiles; ++jt) {
        const int j0 = jt * bs;
        const int nb = std::min(bs, n - j0);
        MicroKernel(a_pack.data(), p.b_panel.data() + static_cast<long>(j0) * bs,
                    p.c.data() + static_cast<long>(i0) * n + j0, mb, nb, kb, n);
      }
    }
    sync.ArriveAndWait();  // the panel is overwritten in the next round
  }
}

}  // namespace

int main(int argc, char** argv) {
  const Options opts = ParseArgs(argc, argv);

  Problem p;
  p.n = opts.size;
  p.block = opts.block;
  p.threads = opts.threads;
  const size_t elems = static_cast<size_t>(p.n) * p.n;
  p.a.resize(elems);
  p.b.resize(elems);
  p.c.assign(elems, 0.0);
  p.b_panel.assign(static_cast<size_t>(p.n) * p.block, 0.0);
  // Deterministic, knob-independent inputs: small integers, so sums are exact.
  for (size_t i = 0; i < elems; ++i) {
    p.a[i] = static_cast<double>((i * 7 + 3) % 11) - 5.0;
    p.b[i] = static_cast<double>((i * 5 + 1) % 13) - 6.0;
  }

  // Each repetition accumulates C += A * B with a fresh team; the reported
  // figure is the median repetition, which shrugs off one-off VM hiccups.
  std::vector<double> seconds;
  for (int rep = 0; rep < opts.reps; ++rep) {
    SpinBarrier sync(p.threads);
    const auto start = std::chrono::steady_clock::now();
    {
      std::vector<std::jthread> team;
      team.reserve(p.threads);
      for (int id = 0; id < p.threads; ++id) {
        team.emplace_back([&p, &sync, id] { Worker(p, sync, id); });
      }
    }  // jthreads join here
    seconds.push_back(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  std::vector<double> sorted = seconds;
  std::sort(sorted.begin(), sorted.end());
  const double median =
      sorted.size() % 2 == 1
          ? sorted[sorted.size() / 2]
          : (sorted[sorted.size() / 2 - 1] + sorted[sorted.size() / 2]) / 2;
  const double flops = 2.0 * p.n * p.n * static_cast<double>(p.n);

  if (opts.verbose) {  // the checksum also keeps the optimiser from dropping C
    double checksum = 0.0;
    for (size_t i = 0; i < elems; ++i)
      checksum += p.c[i] * static_cast<double>(i % 31 + 1);
    std::fprintf(stderr, "size=%d block=%d threads=%d reps=%d checksum=%.17g\n", p.n,
                 p.block, p.threads, opts.reps, checksum);
    for (size_t r = 0; r < seconds.size(); ++r) {
      std::fprintf(stderr, "rep %zu: %.4f s, %.3f GFLOP/s\n", r, seconds[r],
                   flops / seconds[r] / 1e9);
    }
  }
  std::printf("throughput: %.3f GFLOP/s\n", flops / median / 1e9);
  return 0;
}
