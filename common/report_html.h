// The report as one self-contained HTML5 page: `hone report N --format html`.
//
// FormatReportHtml turns a job's report (the `report` reply, docs/protocol.md) and
// its trial history (the `trials` pages joined, as hone trials --json prints it; {}
// for a live job or when it is not at hand) into one document that needs nothing
// else: inline CSS, charts drawn here as inline SVG, no script, no link out. Both
// are read as untrusted: a field that is missing or of another type is left out (or
// the page says it is unknown), never an exception. Every string from them is
// escaped for HTML (invalid UTF-8 and control characters become U+FFFD), long ones
// are cut, and every list is capped, so the page stays bounded whatever it is
// given: the run over time draws at most kMaxDrawnSamples samples; past that, the
// lowest and the highest of each of kMaxDrawnSamples / 2 runs of consecutive ones,
// and the page says so.
//
// For checks by machine, numbers sit in elements of their own whose data-field
// attribute names them, written as the text report (FormatReportText) writes them:
//   job, state, metric, goal                  as given
//   baseline_mean, best_mean                  FormatValue of baseline.value, best.value
//   baseline_samples, best_samples            their sample counts
//   improvement                               FormatImprovement's text
//   improvement_pct, ci_low, ci_high          "%+.2f" of improvement_pct and its interval
//   established                               "yes" or "no" (improvement_established)
//   noise_pct                                 "%.2f"
//   samples_valid, samples_invalid            the report's counts
//   samples                                   the history's valid samples
//   samples_drawn                             the samples drawn in the run over time
// An element is there only when its value is. Each drawn sample is one SVG
// <circle class="sample"> ("sample baseline" for the baseline's).
#pragma once

#include <cstddef>
#include <string>

#include <nlohmann/json.hpp>

namespace hone {

// The most samples the run over time draws.
inline constexpr size_t kMaxDrawnSamples = 2000;

std::string FormatReportHtml(const nlohmann::json& report, const nlohmann::json& history);

// `text` for HTML text or a quoted attribute value: & < > " ' as references,
// invalid UTF-8, control characters (but tab and newline) and noncharacters as
// U+FFFD; past `limit` bytes, cut (at a character) and ended by "…".
std::string HtmlEscape(const std::string& text, size_t limit = 2000);

}  // namespace hone
