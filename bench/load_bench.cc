// hone_load_bench: honed under many clients that poll `status`, on its Unix socket.
//
// Not a test: it prints figures (docs/performance.md, "Load"). It starts a private
// honed (the one built beside it) on a temporary socket and state directory,
// submits a 20-knob job with the model strategy whose workload is one line of shell
// arithmetic, so that honed spends its time on samples and model fits rather than
// waiting for a workload, and waits until the job runs (and, with --warm-samples,
// until it has that many samples). Then N clients (default 1,000), each on its own
// connection, poll `status` of that job: send, wait for the reply, pause
// --interval-ms, again, --requests times each. One thread drives every client with
// epoll. A request's latency runs from its send to the end of its reply line.
//
// Printed: requests, errors (error replies, connections lost, replies not received),
// latency percentiles, the rate achieved, the job's samples before and after the
// load, and honed's peak RSS (VmHWM, over its whole life: the job included).
//
// With no pause (--interval-ms 0) the clients form a closed loop: each has one
// request outstanding, so the latency is clients / throughput (Little's law) and
// measures throughput; the default pause measures latency at an offered load.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <queue>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "bench/private_honed.h"

namespace {

using nlohmann::json;
using hone::bench::Connect;
using hone::bench::PrivateHoned;
using hone::bench::Samples;
using hone::bench::StatusKiB;
using Clock = std::chrono::steady_clock;

struct Options {
  int clients = 1000;
  int requests = 100;        // per client
  double interval_ms = 100;  // pause between a reply and the next request
  int warm_samples = 0;      // samples the job has before the load starts
  int knobs = 20;
  int max_configs = 600;
  bool idle = false;  // poll a job that has ended: honed has nothing else to do
  std::string honed = std::string(HONE_BIN_DIR) + "/honed";
};

// The job: `knobs` integer knobs 1..16, a throughput that is a sum over them with a
// little noise, printed by the workload and read by a pattern.
std::string JobConfig(const Options& options) {
  std::string config = "domain:\n  common:\n    knobs:\n";
  for (int i = 1; i <= options.knobs; ++i)
    config += "      k" + std::to_string(i) + ": {range: {min: 1, max: 16}}\n";
  config +=
      "    metrics:\n      score:\n        pattern: '([0-9]+)'\n"
      "    target: score:max\n"
      "global_settings:\n  max_configs: " +
      std::to_string(options.idle ? 3 : options.max_configs) +
      "\n  converge_after: 0\n"
      "strategy: model\n";
  return config;
}

std::string JobCommand(const Options& options) {
  std::string sum = "1000";
  for (int i = 1; i <= options.knobs; ++i)
    sum +=
        (i % 2 ? " + " : " - ") + std::to_string(i % 5 + 1) + " * k" + std::to_string(i);
  return "echo $((" + sum + " + RANDOM % 32))";
}

struct Client {
  int fd = -1;
  int answered = 0;
  int64_t next_id = 1;
  Clock::time_point sent_at;
  std::string buffer;
};

struct Results {
  double setup_seconds = 0;  // until every connection had answered a ping
  std::vector<double> latencies_ms;
  int error_replies = 0;
  int lost = 0;        // connections that ended early
  int unanswered = 0;  // requests without a reply at the end
  double seconds = 0;
};

std::string RequestLine(int64_t id) {
  return "{\"v\":1,\"id\":" + std::to_string(id) +
         ",\"cmd\":\"status\",\"args\":{\"job\":1}}\n";
}

// Sends a ping on every connection and waits for every answer, so that the
// measurement starts with every connection accepted and served once; false when
// some did not answer within a minute.
bool WarmUp(std::vector<Client>& clients, int epoll) {
  const std::string ping = "{\"v\":1,\"id\":0,\"cmd\":\"ping\"}\n";
  size_t waiting = 0;
  for (Client& client : clients)
    if (client.fd >= 0 && send(client.fd, ping.data(), ping.size(), MSG_NOSIGNAL) ==
                              static_cast<ssize_t>(ping.size()))
      ++waiting;
  auto deadline = Clock::now() + std::chrono::seconds(60);
  std::vector<epoll_event> events(1024);
  while (waiting > 0 && Clock::now() < deadline) {
    int n = epoll_wait(epoll, events.data(), static_cast<int>(events.size()), 1000);
    for (int e = 0; e < n; ++e) {
      Client& client = clients[events[e].data.u32];
      char chunk[4096];
      ssize_t got = recv(client.fd, chunk, sizeof chunk, 0);
      if (got <= 0) continue;
      client.buffer.append(chunk, static_cast<size_t>(got));
      size_t newline = client.buffer.find('\n');
      if (newline == std::string::npos) continue;
      client.buffer.erase(0, newline + 1);
      --waiting;
    }
  }
  return waiting == 0;
}

// Drives every client until each has its replies, or honed stops answering.
Results RunClients(const Options& options, const std::string& socket_path) {
  Results results;
  results.latencies_ms.reserve(static_cast<size_t>(options.clients) * options.requests);
  std::vector<Client> clients(options.clients);
  int epoll = epoll_create1(EPOLL_CLOEXEC);
  for (int i = 0; i < options.clients; ++i) {
    clients[i].fd = Connect(socket_path);
    if (clients[i].fd < 0) {
      ++results.lost;
      continue;
    }
    fcntl(clients[i].fd, F_SETFL, O_NONBLOCK);
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.u32 = static_cast<uint32_t>(i);
    epoll_ctl(epoll, EPOLL_CTL_ADD, clients[i].fd, &event);
  }
  Clock::time_point setup = Clock::now();
  if (!WarmUp(clients, epoll)) std::cerr << "hone_load_bench: some pings unanswered\n";
  auto interval = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double, std::milli>(options.interval_ms));
  // Sends due, earliest first; the first ones are spread over one interval.
  using Due = std::pair<Clock::time_point, int>;
  std::priority_queue<Due, std::vector<Due>, std::greater<>> due;
  std::mt19937 random(1);
  Clock::time_point start = Clock::now();
  results.setup_seconds = std::chrono::duration<double>(start - setup).count();
  int active = 0;
  for (int i = 0; i < options.clients; ++i) {
    if (clients[i].fd < 0) continue;
    ++active;
    auto offset = interval.count() > 0 ? Clock::duration(random() % interval.count())
                                       : Clock::duration(0);
    due.push({start + offset, i});
  }
  auto finish = [&](Client& client, bool lost) {
    epoll_ctl(epoll, EPOLL_CTL_DEL, client.fd, nullptr);
    close(client.fd);
    client.fd = -1;
    --active;
    if (lost) {
      ++results.lost;
      results.unanswered += options.requests - client.answered;
    }
  };
  auto last_progress = Clock::now();
  std::vector<epoll_event> events(1024);
  while (active > 0) {
    Clock::time_point now = Clock::now();
    while (!due.empty() && due.top().first <= now) {
      Client& client = clients[due.top().second];
      due.pop();
      std::string line = RequestLine(client.next_id);
      client.sent_at = Clock::now();
      if (send(client.fd, line.data(), line.size(), MSG_NOSIGNAL) !=
          static_cast<ssize_t>(line.size()))
        finish(client, true);
    }
    int timeout_ms = 1000;
    if (!due.empty())
      timeout_ms = static_cast<int>(std::ceil(
          std::chrono::duration<double, std::milli>(due.top().first - Clock::now())
              .count()));
    int n = epoll_wait(epoll, events.data(), static_cast<int>(events.size()),
                       std::max(0, timeout_ms));
    now = Clock::now();
    if (n > 0) last_progress = now;
    // honed has stopped answering: count what is outstanding and stop.
    if (now - last_progress > std::chrono::seconds(60)) {
      for (Client& client : clients)
        if (client.fd >= 0) finish(client, true);
      break;
    }
    for (int e = 0; e < n; ++e) {
      Client& client = clients[events[e].data.u32];
      if (client.fd < 0) continue;
      char chunk[65536];
      ssize_t got = recv(client.fd, chunk, sizeof chunk, 0);
      if (got < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      if (got <= 0) {
        finish(client, true);
        continue;
      }
      client.buffer.append(chunk, static_cast<size_t>(got));
      for (size_t newline; (newline = client.buffer.find('\n')) != std::string::npos;) {
        std::string expected =
            "{\"id\":" + std::to_string(client.next_id) + ",\"ok\":true";
        if (client.buffer.compare(0, expected.size(), expected) != 0)
          ++results.error_replies;
        client.buffer.erase(0, newline + 1);
        results.latencies_ms.push_back(
            std::chrono::duration<double, std::milli>(now - client.sent_at).count());
        ++client.answered;
        ++client.next_id;
        if (client.answered == options.requests) {
          finish(client, false);
          break;
        }
        due.push({now + interval, static_cast<int>(&client - clients.data())});
      }
    }
  }
  results.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  close(epoll);
  return results;
}

double Percentile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0;
  size_t rank = static_cast<size_t>(std::ceil(q * static_cast<double>(sorted.size())));
  return sorted[std::min(sorted.size() - 1, rank == 0 ? 0 : rank - 1)];
}

bool RaiseDescriptorLimit(size_t needed) {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return false;
  if (limit.rlim_cur >= needed) return true;
  if (limit.rlim_max != RLIM_INFINITY && limit.rlim_max < needed) return false;
  limit.rlim_cur = needed;
  return setrlimit(RLIMIT_NOFILE, &limit) == 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  CLI::App app{"hone_load_bench: honed under many clients polling `status`",
               "hone_load_bench"};
  app.add_option("--clients", options.clients, "concurrent clients, one connection each")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--requests", options.requests, "status requests per client")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--interval-ms", options.interval_ms,
                 "pause between a client's reply and its next request (0: none)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--warm-samples", options.warm_samples,
                 "samples the job must have before the load starts")
      ->capture_default_str();
  app.add_option("--knobs", options.knobs, "knobs of the job")->capture_default_str();
  app.add_option("--max-configs", options.max_configs, "the job's max_configs")
      ->capture_default_str();
  app.add_flag("--idle", options.idle,
               "let a 3-configuration job end first, and poll it: honed idle");
  app.add_option("--honed", options.honed, "the honed to run")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  // Each client needs a descriptor here and one in honed, which inherits this limit.
  size_t needed = static_cast<size_t>(options.clients) + 256;
  if (!RaiseDescriptorLimit(needed)) {
    std::cerr << "hone_load_bench: cannot raise RLIMIT_NOFILE to " << needed
              << "; raise the hard limit (ulimit -Hn) or use fewer --clients\n";
    return 1;
  }
  signal(SIGPIPE, SIG_IGN);
  PrivateHoned honed;
  if (!honed.Start(options.honed,
                   {"--max-connections", std::to_string(options.clients + 16),
                    "--max-connections-per-user", std::to_string(options.clients + 16)}))
    return 1;
  const std::string& socket_path = honed.socket_path();
  auto cleanup = [&](int code) {
    honed.Stop(code != 0);
    return code;
  };
  int64_t job = honed.Submit(JobConfig(options), {"bash", "-c", JobCommand(options)});
  if (job == 0) return cleanup(1);
  json status;
  for (int i = 0; i < 6000; ++i) {
    status = honed.JobStatus(job);
    if (status.value("state", "") != "running" && status.value("state", "") != "queued")
      break;
    if (!options.idle && status.value("state", "") == "running" &&
        Samples(status) >= options.warm_samples)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (status.value("state", "") != (options.idle ? "completed" : "running")) {
    std::cerr << "hone_load_bench: the job is not running: " << status.dump() << "\n";
    return cleanup(1);
  }
  int samples_before = Samples(status);
  long rss_before = StatusKiB(honed.pid(), "VmRSS");

  Results results = RunClients(options, socket_path);

  status = honed.JobStatus(job);
  int samples_after = Samples(status);
  long peak = StatusKiB(honed.pid(), "VmHWM");
  long rss_after = StatusKiB(honed.pid(), "VmRSS");
  honed.Call({{"v", 1}, {"id", 1}, {"cmd", "cancel"}, {"args", {{"job", job}}}});

  std::vector<double>& latencies = results.latencies_ms;
  std::sort(latencies.begin(), latencies.end());
  size_t total = static_cast<size_t>(options.clients) * options.requests;
  int errors = results.error_replies + results.unanswered;
  std::printf(
      "load: %d clients x %d `status` requests, %.0f ms apart, on honed's Unix socket; "
      "%s\n",
      options.clients, options.requests, options.interval_ms,
      (options.idle ? "honed idle (a 3-configuration job has ended)"
                    : "a " + std::to_string(options.knobs) +
                          "-knob model job running (max_configs " +
                          std::to_string(options.max_configs) + ")")
          .c_str());
  std::printf("connections   %d, each accepted and answered once in %.2f s\n",
              options.clients - results.lost, results.setup_seconds);
  std::printf("requests      %zu answered of %zu\n", latencies.size(), total);
  std::printf("errors        %d (error replies %d, unanswered %d, connections lost %d)\n",
              errors, results.error_replies, results.unanswered, results.lost);
  std::printf("latency ms    p50 %.2f  p90 %.2f  p99 %.2f  max %.2f\n",
              Percentile(latencies, 0.5), Percentile(latencies, 0.9),
              Percentile(latencies, 0.99), latencies.empty() ? 0.0 : latencies.back());
  std::printf("rate          %.0f requests/s over %.1f s\n",
              static_cast<double>(latencies.size()) / results.seconds, results.seconds);
  std::printf("job           %d samples before the load, %d after (%s)\n", samples_before,
              samples_after, status.value("state", "?").c_str());
  std::printf(
      "honed memory  peak RSS (VmHWM) %.1f MiB; RSS %.1f MiB before the load, "
      "%.1f MiB after\n",
      static_cast<double>(peak) / 1024, static_cast<double>(rss_before) / 1024,
      static_cast<double>(rss_after) / 1024);
  return cleanup(0);
}
