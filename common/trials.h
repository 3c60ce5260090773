// Trial history formatting: `hone trials` as a table, as CSV, and `hone compare`.
//
// The history is JSON, built by the daemon (TuningSession::Trials, one page at a
// time; the client joins the pages) and documented in docs/protocol.md. These
// functions only format it. Every field may be missing or of the wrong type (the
// reply is read as untrusted): what is missing prints as "-".
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace hone {

// One line per trial: its number, state, valid samples (and failed ones), mean,
// spread (standard deviation as a percent of the mean), difference from the
// baseline, why it was measured and its configuration; then the legend.
std::string FormatTrialsText(const nlohmann::json& history);

// RFC 4180 CSV: a header, then one row per trial (trial, baseline, state, valid,
// invalid, mean, sd, improvement_pct, finalist, reason, then one column per knob);
// with `samples`, one row per sample instead (trial, seq, valid, value, error,
// duration_s, taken_at, round, then the knobs).
std::string FormatTrialsCsv(const nlohmann::json& history, bool samples);

// Two jobs side by side (`hone compare`): each one's target, state, baseline, best
// and improvement with its interval, the knobs in which their best configurations
// differ, and the configurations both measured, with each job's mean.
// `a` and `b` are {"report": ..., "trials": ...} for each job.
std::string FormatCompareText(const nlohmann::json& a, const nlohmann::json& b);

// Every valid sample in the order taken, and the best configuration's mean so far
// (of the configurations measured until then), as a character chart `width` columns
// by `height` rows, with the value axis and the time the samples span (`hone plot`).
std::string FormatPlotText(const nlohmann::json& history, int width, int height);

// One valid sample of a history, with the best configuration's mean so far.
struct SamplePoint {
  double taken_at = 0;     // Unix seconds; 0 when unknown
  int64_t trial = 0;       // the trial it belongs to
  double value = 0;        // the sample's value (finite)
  bool baseline = false;   // a sample of the baseline
  double best_so_far = 0;  // the best trial mean, by `maximize`, after this sample
};

// Every valid sample (finite value) of `history` in the order taken: by taken_at,
// ties (and unknown times) in the history's order. Each carries the best mean of
// the trials measured until then, counting only the samples taken so far, as
// `hone plot` and the HTML report draw it. O(samples * log trials).
std::vector<SamplePoint> SamplesOverTime(const nlohmann::json& history, bool maximize);

// `text` as one CSV field: quoted when it holds a comma, quote or line break.
std::string CsvField(const std::string& text);

}  // namespace hone
