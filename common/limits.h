// Limits: every bound honed puts on what reaches it, in one place.
//
// honed runs as root and serves every member of its socket group, so every byte
// that reaches it (socket requests, configs, script and workload output, files in
// its state directory) is treated as hostile and bounded. Each limit is enforced
// where the input arrives, with an error that names the limit and where it was
// hit; docs/security.md lists them for users. Client and daemon share this file,
// so the client refuses what the daemon would.
#pragma once

#include <cstddef>
#include <cstdint>

namespace hone::limits {

// ---- The socket protocol (protocol.h, server.h) ------------------------------

// One request or reply line, newline excluded.
constexpr size_t kMaxLineBytes = 4 << 20;
// Nesting of arrays and objects in one message (a request needs about 4).
constexpr int kMaxJsonDepth = 64;

// ---- A submitted job (config.h, jobs/job_request.h) --------------------------

// The config file's text.
constexpr size_t kMaxConfigBytes = 1 << 20;
// Knobs in one job, imports included.
constexpr size_t kMaxKnobs = 256;
// Values of one knob, from any source (options, range, options_script).
constexpr size_t kMaxOptionsPerKnob = 1'000'000;
// Values of all the knobs of a job together.
constexpr size_t kMaxOptionsTotal = 1'000'000;
// A knob's or metric's name, and one option value's text.
constexpr size_t kMaxNameBytes = 256;
constexpr size_t kMaxValueBytes = 4096;
// Constraints per job, the text of one, and how deeply it may nest (parentheses,
// unary operators, function calls, powers).
constexpr size_t kMaxConstraints = 64;
constexpr size_t kMaxConstraintBytes = 4096;
constexpr int kMaxExpressionDepth = 64;
// Supplementary groups of a submitter (NGROUPS_MAX), as stored with its job.
constexpr size_t kMaxGroups = 65536;
// Metrics per job; warm_start configurations per job.
constexpr size_t kMaxMetrics = 64;
constexpr size_t kMaxWarmStart = 256;
// `--set KEY=VALUE` overrides of one job (each at most kMaxValueBytes).
constexpr size_t kMaxOverrides = 64;
// Rounds of one `hone recheck` (each: one sample of each configuration).
constexpr int64_t kMaxRecheckRounds = 1000;
// The workload's command line (all arguments together), the submitter's
// environment (all NAME=value together) and working directory.
constexpr size_t kMaxCommandBytes = 128 << 10;
constexpr size_t kMaxEnvBytes = 1 << 20;
constexpr size_t kMaxPathBytes = 4096;
// Jobs one user may have queued at once (root too): the store cannot be filled by
// one member of the socket group. Ended jobs are bounded by --retain-jobs.
constexpr size_t kMaxQueuedJobsPerUser = 64;
// Budgets: configurations and samples of one job.
constexpr int64_t kMaxConfigs = 100'000;
constexpr int64_t kMaxSamples = 1'000'000;

// ---- What scripts and workloads print (process.h) ----------------------------

// Bytes of stdout (and of stderr) kept from one run: the last ones. A metric reads
// the last number, so a longer output is cut at its start; an options_script's
// output longer than this is an error, never a silently shortened list.
constexpr size_t kMaxOutputBytes = 1 << 20;

// ---- Listings ------------------------------------------------------------------

// Jobs in one `list` reply (a page); the client asks for the next page.
constexpr size_t kMaxListPage = 500;
// A page of `trials`: at most this many trials and bytes (one trial at least), each
// trial with at most this many of its samples.
constexpr size_t kMaxTrialsPage = 500;
constexpr size_t kMaxTrialsPageBytes = 1 << 20;
constexpr size_t kMaxTrialSamplesListed = 5'000;
// A listed job's command is shortened to this many bytes (status shows it whole).
constexpr size_t kMaxListedCommandBytes = 1024;

}  // namespace hone::limits
