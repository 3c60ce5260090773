#include "common/report_html.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <string_view>
#include <utility>
#include <vector>

#include "common/json_read.h"
#include "common/report.h"
#include "common/scan.h"
#include "common/trials.h"

namespace hone {

using nlohmann::json;
using namespace json_read;

namespace {

constexpr size_t kMaxRows = 200;          // rows of any one table or list
constexpr size_t kMaxDescription = 1000;  // bytes of a knob's description
constexpr size_t kMaxValue = 300;         // bytes of a knob's value

// Whether HTML's parser takes `cp` as a character without complaint.
bool AllowedInHtml(int32_t cp) {
  if (cp < 0) return false;
  if (cp < 0x20) return cp == '\t' || cp == '\n';
  if (cp >= 0x7F && cp <= 0x9F) return false;
  if (cp >= 0xFDD0 && cp <= 0xFDEF) return false;
  return (cp & 0xFFFE) != 0xFFFE;
}

// A JSON value as a person reads it: a string as is, anything else as JSON.
std::string Scalar(const json& value) {
  if (value.is_string()) return value.get<std::string>();
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string E(const std::string& text, size_t limit = 2000) {
  return HtmlEscape(text, limit);
}

bool Finite(const json& value) {
  return value.is_number() && std::isfinite(value.get<double>());
}

std::string Printf(const char* format, double value) {
  char text[400];  // "%f" of the largest double has 309 digits
  snprintf(text, sizeof text, format, value);
  return text;
}

// Where `value` lies between `low` and `high`, as a fraction, without overflow (the
// span of two finite doubles may be past the largest).
double Fraction(double value, double low, double high) {
  double span = high / 2 - low / 2;
  return span > 0 ? (value / 2 - low / 2) / span : 0.5;
}

// `low` and `high` moved apart by `share` of their span each, to the largest double.
void Widen(double* low, double* high, double share) {
  constexpr double kMax = std::numeric_limits<double>::max();
  *low = std::clamp(*low, -kMax, kMax);
  *high = std::clamp(*high, -kMax, kMax);
  double pad = (*high / 2 - *low / 2) * 2 * share;
  if (!std::isfinite(pad)) pad = kMax;
  *low = std::max(*low - pad, -kMax);
  *high = std::min(*high + pad, kMax);
}

// A coordinate of a chart, to 0.1 (a value the chart cannot place reads as 0).
std::string Coord(double value) {
  return Printf("%.1f", std::isfinite(value) ? std::clamp(value, -1e6, 1e6) : 0.0);
}

// <span data-field="name">text</span>, `text` escaped.
std::string FieldSpan(const char* name, const std::string& text) {
  return std::string("<span data-field=\"") + name + "\">" + E(text) + "</span>";
}

// The report's interval of the improvement, when it has a valid one.
bool Interval(const json& report, double* low, double* high) {
  const json ci = Field(report, "improvement_ci95_pct");
  if (!ci.is_array() || ci.size() != 2 || !Finite(ci[0]) || !Finite(ci[1])) return false;
  *low = ci[0].get<double>();
  *high = ci[1].get<double>();
  return true;
}

bool Maximize(const json& report, const json& history) {
  json target = Field(report, "target");
  if (!target.is_object()) target = Field(history, "target");
  return Text(target, "goal", "max") != "min";
}

// ---- The page's parts: each appends to `out`. ------------------------------------

constexpr const char* kStyle = R"(
:root { color-scheme: light; --ink: #1d2433; --muted: #5b6578; --line: #d5dae3;
  --good: #1f8a4c; --weak: #c77700; --accent: #2f5fb3; --base: #8a4fb3; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--ink);
  max-width: 1040px; margin: 24px auto; padding: 0 20px; background: #fff; }
h1 { font-size: 1.6em; margin: 0 0 4px; }
h2 { font-size: 1.2em; margin: 28px 0 8px; border-bottom: 1px solid var(--line);
  padding-bottom: 4px; }
.subtitle { color: var(--muted); margin: 0 0 16px; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 4px 10px 4px 0; vertical-align: top;
  border-bottom: 1px solid #eef0f4; overflow-wrap: anywhere; }
th { color: var(--muted); font-weight: 600; }
table.facts th { width: 230px; font-weight: 500; }
code, .value { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 0.95em; }
tr.changed td.best { font-weight: 700; }
.about { color: var(--muted); }
.cards { display: flex; gap: 14px; flex-wrap: wrap; margin: 12px 0; }
.card { flex: 1 1 200px; border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; }
.card .label { color: var(--muted); font-size: 0.85em; }
.card .big { font-size: 1.5em; font-weight: 650; }
.established { color: var(--good); }
.not-established { color: var(--weak); }
svg { display: block; max-width: 100%; height: auto; }
svg text { font: 12px system-ui, sans-serif; fill: var(--muted); }
svg .axis { stroke: #9aa3b2; stroke-width: 1; }
svg .grid { stroke: #eceef3; stroke-width: 1; }
svg .zero { stroke: var(--ink); stroke-width: 1.5; stroke-dasharray: 4 3; }
svg .interval.established { fill: var(--good); fill-opacity: 0.35; stroke: var(--good); }
svg .interval.not-established { fill: var(--weak); fill-opacity: 0.3; stroke: var(--weak); }
svg .estimate { fill: var(--ink); }
svg .sample { fill: var(--accent); fill-opacity: 0.55; }
svg .sample.baseline { fill: var(--base); fill-opacity: 0.8; }
svg .best-so-far { fill: none; stroke: var(--good); stroke-width: 2; }
svg .baseline-mean { stroke: var(--base); stroke-width: 1; stroke-dasharray: 6 4; }
.legend span { margin-right: 18px; color: var(--muted); }
.swatch { display: inline-block; width: 12px; height: 12px; border-radius: 6px;
  vertical-align: -1px; margin-right: 5px; }
.bar-cell { width: 55%; }
.bar { height: 12px; background: var(--accent); border-radius: 3px; min-width: 1px; }
ul.notes li { margin: 4px 0; }
pre { background: #f6f7f9; padding: 10px; border-radius: 6px; overflow-x: auto;
  white-space: pre-wrap; }
footer { margin-top: 32px; color: var(--muted); font-size: 0.85em; }
)";

void Head(const json& report, std::string& out) {
  std::string title = "hone report: job " + std::to_string(Int(report, "job"));
  std::string metric = Text(Field(report, "target"), "metric");
  if (!metric.empty()) title += " (" + metric + ")";
  out +=
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
      "<title>" +
      E(title, 300) + "</title>\n<style>" + kStyle + "</style>\n</head>\n<body>\n";
}

void Title(const json& report, bool maximize, std::string& out) {
  out += "<header>\n<h1>hone report: job " +
         FieldSpan("job", std::to_string(Int(report, "job"))) + "</h1>\n";
  const json target = Field(report, "target");
  std::string line = "State: " + FieldSpan("state", Text(report, "state", "unknown"));
  if (Text(report, "kind") == "live") line += " (live)";
  if (target.is_object())
    line += " &middot; target " + FieldSpan("metric", Text(target, "metric", "?")) +
            ", goal " + FieldSpan("goal", Text(target, "goal", "?")) + " (" +
            (maximize ? "higher is better" : "lower is better") + ")";
  out += "<p class=\"subtitle\">" + line + "</p>\n</header>\n";
  if (report.is_object() && report.contains("message"))
    out += "<p class=\"not-established\"><strong>Message:</strong> " +
           E(Text(report, "message", Scalar(Field(report, "message")))) + "</p>\n";
}

// The headline numbers: baseline, best, improvement.
void Cards(const json& report, std::string& out) {
  const json baseline = Field(report, "baseline"), best = Field(report, "best");
  out += "<div class=\"cards\">\n";
  auto card = [&](const char* label, const json& entry, const char* mean_field,
                  const char* samples_field) {
    out += std::string("<div class=\"card\"><div class=\"label\">") + label +
           "</div><div class=\"big\">";
    out += Finite(Field(entry, "value"))
               ? FieldSpan(mean_field, FormatNumber(Field(entry, "value")))
               : std::string("-");
    out += "</div><div class=\"label\">mean of " +
           FieldSpan(samples_field, std::to_string(Int(entry, "samples"))) + " samples";
    if (entry.is_object() && entry.contains("trial"))
      out += ", trial " + std::to_string(Int(entry, "trial"));
    out += "</div></div>\n";
  };
  if (baseline.is_object())
    card("Baseline", baseline, "baseline_mean", "baseline_samples");
  if (best.is_object()) card("Best", best, "best_mean", "best_samples");
  std::string improvement = FormatImprovement(report);
  if (!improvement.empty()) {
    const json established = Field(report, "improvement_established");
    bool yes = established.is_boolean() && established.get<bool>();
    out += std::string(
               "<div class=\"card\"><div class=\"label\">Improvement (95% "
               "interval)</div><div class=\"big ") +
           (yes ? "established" : "not-established") + "\">" +
           FieldSpan("improvement", improvement) + "</div>";
    if (established.is_boolean())
      out += "<div class=\"label\">established: " +
             FieldSpan("established", yes ? "yes" : "no") + "</div>";
    out += "</div>\n";
  }
  out += "</div>\n";
}

// The interval drawn as a bar against zero, with the estimate as a mark.
void IntervalChart(double pct, bool has_ci, double low, double high, bool established,
                   std::string& out) {
  double lo = std::min({0.0, pct, has_ci ? low : pct});
  double hi = std::max({0.0, pct, has_ci ? high : pct});
  if (hi - lo < 1) {
    lo -= 0.5;
    hi += 0.5;
  }
  Widen(&lo, &hi, 0.12);
  const double x0 = 20, x1 = 620;
  auto x = [&](double v) { return x0 + Fraction(v, lo, hi) * (x1 - x0); };
  auto num = Coord;
  std::string cls = established ? "established" : "not-established";
  out +=
      "<svg class=\"interval-chart\" viewBox=\"0 0 640 90\" width=\"640\" height=\"90\" "
      "role=\"img\" aria-label=\"improvement and its 95% interval against zero\">\n";
  out += "<line class=\"axis\" x1=\"" + num(x0) + "\" y1=\"55\" x2=\"" + num(x1) +
         "\" y2=\"55\"/>\n";
  if (has_ci) {
    out += "<rect class=\"interval " + cls + "\" x=\"" + num(x(low)) +
           "\" y=\"40\" width=\"" + num(std::max(1.0, x(high) - x(low))) +
           "\" height=\"30\" rx=\"3\"/>\n";
    out += "<text x=\"" + num(x(low)) + "\" y=\"86\" text-anchor=\"middle\">" +
           Printf("%+.1f%%", low) + "</text>\n";
    out += "<text x=\"" + num(x(high)) + "\" y=\"86\" text-anchor=\"middle\">" +
           Printf("%+.1f%%", high) + "</text>\n";
  }
  out += "<line class=\"zero\" x1=\"" + num(x(0)) + "\" y1=\"22\" x2=\"" + num(x(0)) +
         "\" y2=\"78\"/>\n<text x=\"" + num(x(0)) +
         "\" y=\"16\" text-anchor=\"middle\">0 (the baseline)</text>\n";
  out += "<rect class=\"estimate\" x=\"" + num(x(pct) - 2) +
         "\" y=\"34\" width=\"4\" height=\"42\"/>\n<text x=\"" + num(x(pct)) +
         "\" y=\"30\" text-anchor=\"middle\">" + Printf("%+.1f%%", pct) + "</text>\n";
  out += "</svg>\n";
}

void Improvement(const json& report, std::string& out) {
  out += "<section id=\"improvement\">\n<h2>Improvement</h2>\n";
  const json pct = Field(report, "improvement_pct");
  if (!Finite(pct)) {
    out +=
        "<p>Not measured: there is no valid baseline, or its value is 0.</p>\n"
        "</section>\n";
    return;
  }
  double low = 0, high = 0;
  bool has_ci = Interval(report, &low, &high);
  bool established = Flag(report, "improvement_established");
  out += "<p>The best against the baseline: " +
         FieldSpan("improvement_pct", Printf("%+.2f", pct.get<double>())) + "%";
  if (has_ci)
    out += ", 95% interval " + FieldSpan("ci_low", Printf("%+.2f", low)) + "% to " +
           FieldSpan("ci_high", Printf("%+.2f", high)) + "%";
  out += " (positive is better). ";
  out += established
             ? "<strong class=\"established\">Established</strong>: the interval lies "
               "wholly on the better side.</p>\n"
             : "<strong class=\"not-established\">Not established</strong>: the "
               "interval reaches zero, or the baseline is tied with the best.</p>\n";
  if (std::string how = FormatImprovementMethod(report); !how.empty())
    out += "<p class=\"about\">Measured " + E(how) + ".</p>\n";
  IntervalChart(pct.get<double>(), has_ci, low, high, established, out);
  out += "</section>\n";
}

// The recommendation, knob by knob, beside the baseline's value and its description.
void BestConfig(const json& report, std::string& out) {
  const json best = Field(report, "best");
  out += "<section id=\"best\">\n<h2>Best configuration</h2>\n";
  const json config = Field(best, "config");
  if (!config.is_object() || config.empty()) {
    out += "<p>None yet: no configuration has a valid sample.</p>\n</section>\n";
    return;
  }
  if (std::string chosen = FormatChosenBy(report); !chosen.empty())
    out += "<p class=\"about\">Chosen by " + E(chosen) + ".</p>\n";
  const json base = Field(Field(report, "baseline"), "config");
  const json descriptions = Field(report, "descriptions");
  out +=
      "<table class=\"config\">\n<thead><tr><th>Knob</th><th>Best</th><th>Baseline"
      "</th><th>Description</th></tr></thead>\n<tbody>\n";
  size_t rows = 0;
  for (const auto& [name, value] : config.items()) {
    if (rows++ == kMaxRows) break;
    const json base_value = Field(base, name.c_str());
    bool changed = !base_value.is_null() && base_value != value;
    out += std::string("<tr") + (changed ? " class=\"changed\"" : "") + "><td><code>" +
           E(name, kMaxValue) + "</code></td><td class=\"best value\">" +
           E(Scalar(value), kMaxValue) + "</td><td class=\"value\">" +
           (base_value.is_null() ? std::string("-") : E(Scalar(base_value), kMaxValue)) +
           "</td><td class=\"about\">" +
           E(Text(descriptions, name.c_str()), kMaxDescription) + "</td></tr>\n";
  }
  out += "</tbody>\n</table>\n";
  if (config.size() > kMaxRows)
    out += "<p class=\"about\">and " + std::to_string(config.size() - kMaxRows) +
           " more knobs (hone --json report has them all)</p>\n";
  out +=
      "<p class=\"about\">Bold: the knobs whose best value differs from the "
      "baseline's.</p>\n</section>\n";
}

// Every valid sample as a point in the order taken, and the best mean so far.
void RunOverTime(const json& report, const json& history, bool maximize,
                 std::string& out) {
  out += "<section id=\"run\">\n<h2>The run over time</h2>\n";
  const std::vector<SamplePoint> points = SamplesOverTime(history, maximize);
  const size_t n = points.size();
  if (n == 0) {
    out += Text(report, "kind") == "live"
               ? "<p>A live job keeps epochs, not trials: no samples to draw.</p>\n"
               : "<p>No valid sample to draw (the trial history is empty or was not "
                 "given).</p>\n";
    out += "</section>\n";
    return;
  }
  // Which samples to draw: all, or each run's lowest and highest.
  std::vector<size_t> drawn, line;
  if (n <= kMaxDrawnSamples) {
    for (size_t i = 0; i < n; ++i) {
      drawn.push_back(i);
      line.push_back(i);
    }
  } else {
    const size_t runs = kMaxDrawnSamples / 2;
    for (size_t r = 0; r < runs; ++r) {
      size_t begin = r * n / runs, end = (r + 1) * n / runs;
      if (begin >= end) continue;
      size_t lowest = begin, highest = begin;
      for (size_t i = begin; i < end; ++i) {
        if (points[i].value < points[lowest].value) lowest = i;
        if (points[i].value > points[highest].value) highest = i;
      }
      drawn.push_back(std::min(lowest, highest));
      if (lowest != highest) drawn.push_back(std::max(lowest, highest));
      line.push_back(begin);
      if (end - 1 != begin) line.push_back(end - 1);
    }
  }
  double low = points[0].value, high = points[0].value;
  for (const SamplePoint& p : points) {
    low = std::min({low, p.value, p.best_so_far});
    high = std::max({high, p.value, p.best_so_far});
  }
  if (high == low) {
    high += std::max(1.0, std::fabs(high)) * 0.01;
    low -= std::max(1.0, std::fabs(low)) * 0.01;
  }
  Widen(&low, &high, 0.05);
  const double x0 = 80, x1 = 950, y0 = 16, y1 = 370;
  auto num = Coord;
  auto x = [&](size_t i) {
    return n == 1 ? (x0 + x1) / 2 : x0 + static_cast<double>(i) * (x1 - x0) / (n - 1);
  };
  auto y = [&](double v) { return y1 - Fraction(v, low, high) * (y1 - y0); };

  out += "<p>" + FieldSpan("samples", std::to_string(n)) +
         " valid samples in the order taken";
  if (points.front().taken_at > 0 && points.back().taken_at > points.front().taken_at)
    out +=
        ", over " + E(FormatDuration(points.back().taken_at - points.front().taken_at));
  out += "; " + FieldSpan("samples_drawn", std::to_string(drawn.size())) + " drawn";
  if (drawn.size() < n)
    out += " (too many to draw each: of every " +
           std::to_string((n + kMaxDrawnSamples / 2 - 1) / (kMaxDrawnSamples / 2)) +
           " consecutive samples, the lowest and the highest)";
  out += ".</p>\n";

  out +=
      "<svg class=\"run-chart\" viewBox=\"0 0 960 410\" width=\"960\" height=\"410\" "
      "role=\"img\" aria-label=\"every valid sample in the order taken, and the best "
      "mean so far\">\n";
  for (int k = 0; k <= 4; ++k) {
    double v = low * (1 - k / 4.0) + high * (k / 4.0);
    std::string at = num(y(v));
    out += "<line class=\"grid\" x1=\"" + num(x0) + "\" y1=\"" + at + "\" x2=\"" +
           num(x1) + "\" y2=\"" + at + "\"/>\n<text x=\"" + num(x0 - 8) + "\" y=\"" + at +
           "\" dy=\"4\" text-anchor=\"end\">" + E(FormatValue(v)) + "</text>\n";
  }
  out += "<line class=\"axis\" x1=\"" + num(x0) + "\" y1=\"" + num(y1) + "\" x2=\"" +
         num(x1) + "\" y2=\"" + num(y1) + "\"/>\n";
  out += "<line class=\"axis\" x1=\"" + num(x0) + "\" y1=\"" + num(y0) + "\" x2=\"" +
         num(x0) + "\" y2=\"" + num(y1) + "\"/>\n";
  out += "<text x=\"" + num(x0) + "\" y=\"388\" text-anchor=\"start\">1</text>\n";
  out += "<text x=\"" + num(x1) + "\" y=\"388\" text-anchor=\"end\">" +
         std::to_string(n) + "</text>\n";
  out += "<text x=\"" + num((x0 + x1) / 2) +
         "\" y=\"404\" text-anchor=\"middle\">sample, in the order taken</text>\n";
  const json base_value = Field(Field(report, "baseline"), "value");
  if (Finite(base_value) && base_value.get<double>() >= low &&
      base_value.get<double>() <= high) {
    std::string at = num(y(base_value.get<double>()));
    out += "<line class=\"baseline-mean\" x1=\"" + num(x0) + "\" y1=\"" + at +
           "\" x2=\"" + num(x1) + "\" y2=\"" + at + "\"/>\n";
  }
  out += "<polyline class=\"best-so-far\" points=\"";
  for (size_t i : line) out += num(x(i)) + "," + num(y(points[i].best_so_far)) + " ";
  out += "\"/>\n";
  const double radius = drawn.size() > 500 ? 2 : 3.5;
  for (size_t i : drawn) {
    const SamplePoint& p = points[i];
    out += std::string("<circle class=\"sample") + (p.baseline ? " baseline" : "") +
           "\" cx=\"" + num(x(i)) + "\" cy=\"" + num(y(p.value)) + "\" r=\"" +
           num(radius) + "\"><title>sample " + std::to_string(i + 1) + ", trial " +
           std::to_string(p.trial) + ": " + E(FormatValue(p.value)) +
           "</title></circle>\n";
  }
  out +=
      "</svg>\n<p class=\"legend\">"
      "<span><i class=\"swatch\" style=\"background:#2f5fb3\"></i>a sample</span>"
      "<span><i class=\"swatch\" style=\"background:#8a4fb3\"></i>a sample of the "
      "baseline</span>"
      "<span><i class=\"swatch\" style=\"background:#1f8a4c\"></i>the best "
      "configuration's mean so far</span>"
      "<span>dashed: the baseline's mean</span></p>\n</section>\n";
}

// How much each knob mattered: knob_importance_pct, largest first.
void KnobEffects(const json& report, std::string& out) {
  out += "<section id=\"knobs\">\n<h2>Knob importance</h2>\n";
  const json importance = Field(report, "knob_importance_pct");
  std::vector<std::pair<double, std::string>> ranked;
  if (importance.is_object())
    for (const auto& [name, pct] : importance.items())
      if (Finite(pct)) ranked.emplace_back(pct.get<double>(), name);
  if (ranked.empty()) {
    out +=
        "<p>Not estimated: it needs a model fitted to at least max(5, knobs + 2) "
        "valid configurations.</p>\n</section>\n";
    return;
  }
  std::sort(ranked.rbegin(), ranked.rend());
  out +=
      "<p class=\"about\">How much each knob mattered, from the inverse length "
      "scales of a Gaussian process fitted to the measured configurations (summing "
      "to 100%).</p>\n<table class=\"importance\">\n<tbody>\n";
  for (size_t i = 0; i < ranked.size() && i < kMaxRows; ++i) {
    const auto& [pct, name] = ranked[i];
    out += "<tr><td><code>" + E(name, kMaxValue) + "</code></td><td class=\"value\">" +
           Printf("%.0f%%", pct) +
           "</td><td class=\"bar-cell\"><div class=\"bar\" style=\"width:" +
           Printf("%.1f", std::clamp(pct, 0.0, 100.0)) + "%\"></div></td></tr>\n";
  }
  out += "</tbody>\n</table>\n";
  if (ranked.size() > kMaxRows)
    out += "<p class=\"about\">and " + std::to_string(ranked.size() - kMaxRows) +
           " more</p>\n";
  out += "</section>\n";
}

// The configurations the samples cannot tell apart from the best.
void Tied(const json& report, std::string& out) {
  const json tied = Field(report, "tied");
  if (!tied.is_object()) return;
  out += "<section id=\"tied\">\n<h2>Tied with the best</h2>\n";
  int64_t count = Int(tied, "count");
  const json entries = Field(tied, "configs");
  if (count <= 0 && (!entries.is_array() || entries.empty())) {
    out +=
        "<p>None: the best stands apart from every other confirmed "
        "configuration.</p>\n</section>\n";
    return;
  }
  out += "<p>" + std::to_string(count) +
         (count == 1 ? " configuration" : " configurations") +
         " within the noise of the best: as far as the samples show, any of them "
         "serves as well (more samples would tell them apart).</p>\n";
  const json best_config = Field(Field(report, "best"), "config");
  out +=
      "<table class=\"tied\">\n<thead><tr><th>Trial</th><th>Mean</th><th>Samples"
      "</th><th>Differs from the best in</th></tr></thead>\n<tbody>\n";
  int64_t shown = 0;
  if (entries.is_array())
    for (const json& entry : entries) {
      if (!entry.is_object()) continue;
      if (shown == static_cast<int64_t>(kMaxRows)) break;
      ++shown;
      std::string differs;
      const json config = Field(entry, "config");
      if (config.is_object()) {
        size_t knobs = 0;
        for (const auto& [name, value] : config.items()) {
          if (Field(best_config, name.c_str()) == value) continue;
          if (++knobs > 50) {
            differs += ", ...";
            break;
          }
          differs += (differs.empty() ? "" : ", ") + E(name, kMaxValue) + " <code>" +
                     E(Scalar(value), kMaxValue) + "</code>";
        }
      }
      out += "<tr><td>" + std::to_string(Int(entry, "trial")) +
             (Flag(entry, "baseline") ? " (baseline)" : "") +
             "</td><td class=\"value\">" + E(FormatNumber(Field(entry, "value"))) +
             "</td><td>" + std::to_string(Int(entry, "samples")) + "</td><td>" + differs +
             "</td></tr>\n";
    }
  out += "</tbody>\n</table>\n";
  if (count > shown)
    out += "<p class=\"about\">and " + std::to_string(count - shown) + " more</p>\n";
  out += "</section>\n";
}

// The rest of the report's facts, one row each.
void Details(const json& report, std::string& out) {
  out += "<section id=\"details\">\n<h2>Details</h2>\n<table class=\"facts\">\n<tbody>\n";
  auto row = [&out](const std::string& label, const std::string& html) {
    out += "<tr><th>" + label + "</th><td>" + html + "</td></tr>\n";
  };
  auto has = [&report](const char* key) {
    return report.is_object() && report.contains(key);
  };
  const json noise = Field(report, "noise_pct");
  if (Finite(noise))
    row("Measurement noise",
        FieldSpan("noise_pct", Printf("%.2f", noise.get<double>())) + "% per sample");
  else if (has("noise_pct"))
    row("Measurement noise", "not measured (no configuration has two valid samples)");
  if (has("knobs")) row("Knobs", std::to_string(Int(report, "knobs")));
  if (has("configs_explored"))
    row("Configurations explored/total", E(FormatExplored(report)));
  if (has("samples_valid")) {
    std::string text =
        std::to_string(Int(report, "samples_valid") + Int(report, "samples_invalid")) +
        " (" + FieldSpan("samples_valid", std::to_string(Int(report, "samples_valid"))) +
        " valid, " +
        FieldSpan("samples_invalid", std::to_string(Int(report, "samples_invalid"))) +
        " invalid";
    if (has("samples_stopped_early"))
      text +=
          ", " + std::to_string(Int(report, "samples_stopped_early")) + " stopped early";
    if (Int(report, "samples_race") > 0)
      text +=
          ", " + std::to_string(Int(report, "samples_race")) + " in the final comparison";
    row("Samples taken", text + ")");
  }
  if (has("strategy")) row("Strategy", E(Scalar(Field(report, "strategy")), kMaxValue));
  if (has("seed")) row("Seed", E(Scalar(Field(report, "seed")), kMaxValue));
  if (const json warm = Field(report, "warm_start"); warm.is_object())
    row("Warm start",
        "job " + std::to_string(Int(warm, "job")) +
            (warm.contains("observations")
                 ? " (learned from " + std::to_string(Int(warm, "observations")) +
                       " configurations)"
                 : std::string()));
  if (const json recheck = Field(report, "recheck"); recheck.is_object())
    row("Re-check of", "job " + std::to_string(Int(recheck, "job")) + ": trial " +
                           std::to_string(Int(recheck, "trial")) + " against trial " +
                           std::to_string(Int(recheck, "against")) + ", " +
                           std::to_string(Int(recheck, "rounds")) + " rounds");
  if (const json sets = Field(report, "overrides"); sets.is_array() && !sets.empty()) {
    std::string text;
    size_t shown = 0;
    for (const json& set : sets)
      if (set.is_string() && shown++ < kMaxRows)
        text += (text.empty() ? "" : " ") +
                ("<code>" + E(set.get<std::string>(), kMaxValue) + "</code>");
    row("Overrides (--set)", text);
  }
  if (const json command = Field(report, "command"); !command.is_null()) {
    std::string text;
    if (command.is_array()) {
      size_t shown = 0;
      for (const json& word : command)
        if (shown++ < kMaxRows) text += (text.empty() ? "" : " ") + Scalar(word);
    } else {
      text = Scalar(command);
    }
    row("Workload", "<code>" + E(text) + "</code>");
  }
  if (has("elapsed_s"))
    row("Optimization time", E(FormatDuration(Real(report, "elapsed_s"))));
  if (const json resumed = Field(report, "resumed"); resumed.is_object()) {
    int64_t times = Int(resumed, "times");
    row("Resumed", std::to_string(times) + (times == 1 ? " time" : " times") +
                       " after honed restarted; honed was down " +
                       E(FormatDuration(Real(resumed, "downtime_s"))));
  }
  if (has("stop_reason"))
    row("Stopped because",
        E(Text(report, "stop_reason", Scalar(Field(report, "stop_reason")))));
  if (has("settings_file"))
    row("Settings written to",
        "<code>" +
            E(Text(report, "settings_file", Scalar(Field(report, "settings_file")))) +
            "</code>");
  out += "</tbody>\n</table>\n</section>\n";
}

// A live job's state, as the text report gives it.
void Live(const json& report, std::string& out) {
  const json best = Field(report, "best");
  out += "<section id=\"best\">\n<h2>Best known settings (this phase)</h2>\n";
  const json config = Field(best, "config");
  if (config.is_object() && !config.empty()) {
    out += "<table class=\"config\">\n<tbody>\n";
    size_t rows = 0;
    for (const auto& [name, value] : config.items()) {
      if (rows++ == kMaxRows) break;
      out += "<tr><td><code>" + E(name, kMaxValue) + "</code></td><td class=\"value\">" +
             E(Scalar(value), kMaxValue) + "</td></tr>\n";
    }
    out += "</tbody>\n</table>\n";
  } else {
    out += "<p>None yet.</p>\n";
  }
  out += "</section>\n";
  if (report.is_object() && report.contains("phase"))
    out += "<section id=\"live\">\n<h2>Live tuning</h2>\n<pre>" +
           E(FormatLiveText(report), 64 * 1024) + "</pre>\n</section>\n";
}

// The report's notes and warnings, and what this page left out.
void Notes(const json& report, const json& history, std::string& out) {
  std::vector<std::string> notes;  // HTML
  for (const char* key : {"notes", "warnings"}) {
    const json list = Field(report, key);
    if (!list.is_array()) continue;
    for (const json& note : list)
      if (note.is_string() && notes.size() < kMaxRows)
        notes.push_back(E(note.get<std::string>()));
  }
  int64_t omitted = 0;
  const json trials = Field(history, "trials");
  if (trials.is_array())
    for (const json& trial : trials)
      omitted += std::max<int64_t>(0, Int(trial, "samples_omitted"));
  if (omitted > 0)
    notes.push_back("The trial history left out " + std::to_string(omitted) +
                    " samples (at most 5,000 per trial): the run over time does not "
                    "show them.");
  if (notes.empty()) return;
  out += "<section id=\"notes\">\n<h2>Notes</h2>\n<ul class=\"notes\">\n";
  for (const std::string& note : notes) out += "<li>" + note + "</li>\n";
  out += "</ul>\n</section>\n";
}

}  // namespace

std::string HtmlEscape(const std::string& text, size_t limit) {
  std::string out;
  out.reserve(std::min(text.size(), limit) + 16);
  std::string_view view(text);
  size_t at = 0;
  while (at < view.size()) {
    if (at >= limit) {
      out += "\u2026";
      break;
    }
    size_t start = at;
    int32_t cp = NextCodePoint(view, &at);
    if (!AllowedInHtml(cp)) {
      out += "\uFFFD";
      continue;
    }
    switch (cp) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out.append(view.substr(start, at - start));
    }
  }
  return out;
}

std::string FormatReportHtml(const json& report, const json& history) {
  const bool maximize = Maximize(report, history);
  std::string out;
  Head(report, out);
  Title(report, maximize, out);
  if (Text(report, "kind") == "live") {
    Live(report, out);
  } else {
    Cards(report, out);
    Improvement(report, out);
    BestConfig(report, out);
    RunOverTime(report, history, maximize, out);
    KnobEffects(report, out);
    Tied(report, out);
  }
  Details(report, out);
  Notes(report, history, out);
  out += "<footer id=\"end\">hone report, job " + std::to_string(Int(report, "job")) +
         ": `hone --json report " + std::to_string(Int(report, "job")) +
         "` and `hone --json trials " + std::to_string(Int(report, "job")) +
         "` have every number on this page.</footer>\n</body>\n</html>\n";
  return out;
}

}  // namespace hone
