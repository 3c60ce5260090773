// Report formatting: the human and shell forms of a job's report.
//
// The report itself is JSON, built by the daemon (TuningSession::Report) and sent
// as is; design.md and docs/protocol.md list its keys. These functions only format
// it, so the client and the daemon's settings files agree.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace hone {

// The report as a person reads it: best settings, baseline and best values,
// improvement, configurations explored, samples, elapsed time, settings file.
std::string FormatReportText(const nlohmann::json& report);

// The best settings as environment assignments, one per line. Each knob appears
// under its own name (when that is a valid variable name) and as HONE_KNOB_<NAME>.
// shell=false: `name=value` (for env(1) and systemd EnvironmentFile=);
// shell=true: `export name='value'` (for `eval` or `.`).
std::string FormatReportEnv(const nlohmann::json& report, bool shell);

// A report's, summary's or progress's improvement with its 95% interval:
// "+4.3% [+1.2%, +7.4%]", or "not established (+4.3% [-1.0%, +9.6%])" when its
// `improvement_established` is false (the interval reaches zero, or the baseline is
// tied with the best). Empty without an improvement.
std::string FormatImprovement(const nlohmann::json& object);

// "1h 02m", "3m 05s", "12.3s"
std::string FormatDuration(double seconds);
// How the recommendation was chosen (the report's `chosen_by`), and how the
// improvement was measured (`improvement_method`), as the text report says them;
// empty without them.
std::string FormatChosenBy(const nlohmann::json& report);
std::string FormatImprovementMethod(const nlohmann::json& report);
// A report's or job summary's configurations: "24/672", or "24/672 (300 feasible)"
// where it counts the feasible ones.
std::string FormatExplored(const nlohmann::json& object);

// {"a": 2, "b": "x"} -> "a=2 b=x".
std::string FormatConfigInline(const nlohmann::json& config);

// A live job's state (its status's progress.live, or its report) as text: the mode,
// the phase, the incumbent, the trial, the guard, the phases and the last changes.
std::string FormatLiveText(const nlohmann::json& live);

// 124.0 -> "124", 0.123456 -> "0.1235": four significant digits, no noise.
std::string FormatValue(double value);
// A JSON number as FormatValue writes it; "-" for anything else (a missing field, a
// string, a number too large for a double).
std::string FormatNumber(const nlohmann::json& value);

// `value` rounded to `digits` decimals, as reports and status replies carry numbers,
// so that JSON shows 48.05, not 48.050000000000004.
double Round(double value, int digits);

// Whether `name` is a shell variable name ([A-Za-z_][A-Za-z0-9_]*).
bool IsShellIdentifier(const std::string& name);
// `value` in single quotes for sh, each ' written as '\''.
std::string ShellQuote(const std::string& value);

}  // namespace hone
