// StatsD lines: the values a service pushes to honed for a live job's metrics.
//
// A line is `name:value|type`, with an optional sample rate `|@0.5` and optional
// DogStatsD tags `|#tag1:a,tag2` (read and ignored), in that order:
//   requests:1|c   latency:12.5|ms   queue_depth:7|g   queue_depth:-2|g (relative)
// The types are gauges (g), counters (c) and timings in milliseconds (ms); sets,
// histograms and the other DogStatsD types are refused. Names are 1 to
// kMaxStatsdNameBytes bytes of [A-Za-z0-9_.-]; values are finite decimal numbers
// (no nan, inf or hex).
//
// The text comes from any process that can reach honed's socket, so it is hostile:
// parsing takes time linear in the input, uses no regex and throws nothing, and
// every error is Status::InvalidArgument with a message that names what is wrong,
// quoting the line cut short and with its unprintable bytes escaped.
//
// Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace hone {

// A line's length (its trailing "\r" and "\n" left out), a name's, and how many
// lines one packet may hold.
constexpr size_t kMaxStatsdLineBytes = 1024;
constexpr size_t kMaxStatsdNameBytes = 200;
constexpr size_t kMaxStatsdPacketLines = 1000;

// One value of one line.
struct StatsdValue {
  std::string name;
  // Finite. For a relative gauge, the signed change.
  double value = 0;
  // 'g' gauge, 'c' counter, 'm' timing (ms).
  char type = 'g';
  // In (0, 1]: the sender sent this fraction of its events (`|@0.5`).
  double sample_rate = 1;
  // A gauge written with a leading '+' or '-': add `value` to the gauge, do not
  // set it. Always false for counters and timings.
  bool relative = false;
};

// True when `name` is a valid metric name: 1 to kMaxStatsdNameBytes bytes, each a
// letter, a digit, '_', '.' or '-'.
bool IsStatsdName(std::string_view name);

// Parses one line; trailing "\r" and "\n" are ignored. On error `*out` is
// unspecified.
Status ParseStatsdLine(std::string_view line, StatsdValue* out);

// Parses the lines of `text` (split on "\n"; empty lines are skipped). Appends
// every good value to `*out` and, for every bad line, one message naming its line
// number to `*errors` (which may be null). A packet holds at most
// kMaxStatsdPacketLines lines: the rest is one error and is not read. Returns OK
// when every line was read, else InvalidArgument saying how many were refused and
// why the first was.
Status ParseStatsdPacket(std::string_view text, std::vector<StatsdValue>* out,
                         std::vector<std::string>* errors);

}  // namespace hone
