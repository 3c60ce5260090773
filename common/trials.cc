#include "common/trials.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <vector>

#include "common/config.h"
#include "common/json_read.h"
#include "common/report.h"
#include "common/scan.h"

namespace hone {

using nlohmann::json;
using namespace json_read;

namespace {

// A JSON array field, or an empty one.
json Array(const json& object, const char* key) {
  json value = Field(object, key);
  return value.is_array() ? value : json::array();
}

std::string Percent(const json& value, bool sign) {
  if (!value.is_number() || !std::isfinite(value.get<double>())) return "-";
  char text[48];
  snprintf(text, sizeof text, sign ? "%+.1f%%" : "%.1f%%", value.get<double>());
  return text;
}

// A trial's standard deviation as a percent of its mean: "±1.2%".
std::string Spread(const json& trial) {
  json sd = Field(trial, "sd"), mean = Field(trial, "mean");
  if (!sd.is_number() || !mean.is_number() || mean.get<double>() == 0) return "-";
  double pct = 100 * sd.get<double>() / std::fabs(mean.get<double>());
  if (!std::isfinite(pct)) return "-";
  char text[48];
  snprintf(text, sizeof text, "±%.1f%%", pct);
  return text;
}

// At most `width` bytes of `text` (whole UTF-8 characters), "..." marking a cut.
std::string Cut(const std::string& text, size_t width) {
  if (text.size() <= width) return text;
  size_t end = width - 3;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return text.substr(0, end) + "...";
}

std::string Pad(const std::string& text, size_t width) {
  // Display width: UTF-8 continuation bytes take no column.
  size_t columns = 0;
  for (unsigned char c : text) columns += (c & 0xC0) != 0x80;
  return text + std::string(columns < width ? width - columns : 0, ' ');
}

std::string Scalar(const json& value) {
  if (value.is_null()) return "";
  return ValueToString(value);
}

// Every knob name the history lists, in its order, then any other a configuration
// holds.
std::vector<std::string> KnobNames(const json& history) {
  std::vector<std::string> names;
  for (const json& name : Array(history, "knobs"))
    if (name.is_string()) names.push_back(name.get<std::string>());
  for (const json& trial : Array(history, "trials")) {
    json config = Field(trial, "config");
    if (!config.is_object()) continue;
    for (const auto& [name, value] : config.items())
      if (std::find(names.begin(), names.end(), name) == names.end())
        names.push_back(name);
  }
  return names;
}

// The other metrics' names the history's trials hold, sorted.
std::vector<std::string> MetricNames(const json& history) {
  std::set<std::string> names;
  for (const json& trial : Array(history, "trials")) {
    json metrics = Field(trial, "metrics");
    if (metrics.is_object())
      for (const auto& [name, value] : metrics.items())
        if (names.size() < 64) names.insert(name);
    for (const json& sample : Array(trial, "samples")) {
      json m = Field(sample, "metrics");
      if (m.is_object())
        for (const auto& [name, value] : m.items())
          if (names.size() < 64) names.insert(name);
    }
  }
  return {names.begin(), names.end()};
}

// What the table has no column for: "ratio 3.1, size 12; 1 set aside (interference);
// 1 outlier; infeasible: guard: ..."; empty when there is nothing.
std::string TrialNotes(const json& trial) {
  std::vector<std::string> parts;
  json metrics = Field(trial, "metrics");
  if (metrics.is_object() && !metrics.empty()) {
    std::string text;
    for (const auto& [name, value] : metrics.items())
      text +=
          (text.empty() ? "" : ", ") + Printable(name, 64) + " " + FormatNumber(value);
    parts.push_back(text);
  }
  if (int64_t n = Int(trial, "set_aside"); n > 0)
    parts.push_back(std::to_string(n) + " set aside for interference, measured again");
  if (int64_t n = Int(trial, "outliers"); n > 0)
    parts.push_back(std::to_string(n) + " outlier(s)");
  if (std::string why = Text(trial, "infeasible"); !why.empty())
    parts.push_back("infeasible: " + Printable(why, 200));
  std::string out;
  for (const std::string& part : parts) out += (out.empty() ? "" : "; ") + part;
  return out;
}

}  // namespace

std::string CsvField(const std::string& text) {
  if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
  std::string quoted = "\"";
  for (char c : text) {
    if (c == '"') quoted += '"';
    quoted += c;
  }
  return quoted + "\"";
}

std::string FormatTrialsText(const json& history) {
  const json trials = Array(history, "trials");
  json target = Field(history, "target");
  std::string out;
  out += "Job " + std::to_string(Int(history, "job")) + " (" +
         Text(history, "state", "?") + "): " + std::to_string(trials.size()) +
         " trial(s), target " + Text(target, "metric", "?") + " (" +
         Text(target, "goal", "?") + ")";
  if (Field(history, "noise_pct").is_number())
    out += ", noise " + Percent(Field(history, "noise_pct"), false) + " per sample";
  out += "\n\n";
  if (trials.empty()) return out + "No trial has been measured yet.\n";
  char line[160];
  snprintf(line, sizeof line, "%-6s %-14s %-8s %-10s %-8s %-9s %-34s %s\n", "TRIAL",
           "STATE", "SAMPLES", "MEAN", "SPREAD", "VS BASE", "WHY", "CONFIGURATION");
  out += line;
  for (const json& trial : trials) {
    std::string state = Text(trial, "state", "-");
    if (Flag(trial, "tied") && state != "tied") state += ", tied";
    if (Flag(trial, "finalist")) state += "*";
    std::string samples = std::to_string(Int(trial, "valid"));
    if (int64_t invalid = Int(trial, "invalid"); invalid > 0)
      samples += "+" + std::to_string(invalid) + "!";
    std::string vs =
        Flag(trial, "baseline") ? "" : Percent(Field(trial, "improvement_pct"), true);
    out += Pad(std::to_string(Int(trial, "trial")), 7) + Pad(Cut(state, 14), 15) +
           Pad(samples, 9) + Pad(FormatNumber(Field(trial, "mean")), 11) +
           Pad(Spread(trial), 9) + Pad(vs, 10) +
           Pad(Cut(Text(trial, "reason", "-"), 34), 35) +
           FormatConfigInline(Field(trial, "config", json::object())) + "\n";
    if (std::string more = TrialNotes(trial); !more.empty())
      out += std::string(7, ' ') + Cut(more, 300) + "\n";
  }
  out +=
      "\nSAMPLES: valid ones (+N! failed). SPREAD: one sample's standard deviation, as "
      "a percent of the mean. VS BASE: the mean against the baseline's (the report's "
      "interval says how sure that is). *: measured again in the final comparison. "
      "Below a trial: its other metrics' means, samples set aside for interference "
      "(measured again), outliers (left out of the noise) and a broken guard. "
      "`hone --json trials N` has every sample.\n";
  return out;
}

std::string FormatTrialsCsv(const json& history, bool samples) {
  std::vector<std::string> knobs = KnobNames(history);
  std::vector<std::string> metrics = MetricNames(history);
  std::string out = samples
                        ? "trial,seq,valid,value,error,duration_s,taken_at,round,"
                          "other_cpu,interfered,set_aside,outlier"
                        : "trial,baseline,state,valid,invalid,mean,sd,improvement_pct,"
                          "finalist,reason,set_aside,outliers,infeasible";
  for (const std::string& knob : knobs) out += "," + CsvField(knob);
  // The other metrics after the knobs, as "metric:NAME" (a knob may share a name).
  for (const std::string& metric : metrics) out += "," + CsvField("metric:" + metric);
  out += "\r\n";
  for (const json& trial : Array(history, "trials")) {
    json config = Field(trial, "config");
    std::string knob_fields;
    for (const std::string& knob : knobs)
      knob_fields += "," + CsvField(Scalar(Field(config, knob.c_str())));
    std::string number = std::to_string(Int(trial, "trial"));
    auto real = [](const json& value) {
      return value.is_number() && std::isfinite(value.get<double>())
                 ? json(value.get<double>()).dump()
                 : std::string();
    };
    auto metric_fields = [&](const json& values) {
      std::string fields;
      for (const std::string& metric : metrics)
        fields += "," + real(Field(values, metric.c_str()));
      return fields;
    };
    if (!samples) {
      out += number + "," + (Flag(trial, "baseline") ? "1" : "0") + "," +
             CsvField(Text(trial, "state")) + "," + std::to_string(Int(trial, "valid")) +
             "," + std::to_string(Int(trial, "invalid")) + "," +
             real(Field(trial, "mean")) + "," + real(Field(trial, "sd")) + "," +
             real(Field(trial, "improvement_pct")) + "," +
             (Flag(trial, "finalist") ? "1" : "0") + "," +
             CsvField(Text(trial, "reason")) + "," +
             std::to_string(Int(trial, "set_aside")) + "," +
             std::to_string(Int(trial, "outliers")) + "," +
             CsvField(Text(trial, "infeasible")) + knob_fields +
             metric_fields(Field(trial, "metrics")) + "\r\n";
      continue;
    }
    int64_t seq = 0;
    for (const json& sample : Array(trial, "samples")) {
      out += number + "," + std::to_string(seq++) + "," +
             (Flag(sample, "valid") ? "1" : "0") + "," + real(Field(sample, "value")) +
             "," + CsvField(Text(sample, "error")) + "," +
             real(Field(sample, "duration_s")) + "," + real(Field(sample, "taken_at")) +
             "," +
             (Int(sample, "round") > 0 ? std::to_string(Int(sample, "round")) : "") +
             "," + real(Field(sample, "other_cpu")) + "," +
             (Flag(sample, "interfered") ? "1" : "0") + "," +
             (Flag(sample, "set_aside") ? "1" : "0") + "," +
             (Flag(sample, "outlier") ? "1" : "0") + knob_fields +
             metric_fields(Field(sample, "metrics")) + "\r\n";
    }
  }
  return out;
}

std::string FormatCompareText(const json& a, const json& b) {
  const json reports[2] = {Field(a, "report"), Field(b, "report")};
  const json histories[2] = {Field(a, "trials"), Field(b, "trials")};
  std::string names[2];
  for (int i = 0; i < 2; ++i) names[i] = "job " + std::to_string(Int(reports[i], "job"));
  char line[200];
  std::string out;
  snprintf(line, sizeof line, "%-22s %-26s %s\n", "", names[0].c_str(), names[1].c_str());
  out += line;
  auto row = [&](const char* label, const std::string& x, const std::string& y) {
    snprintf(line, sizeof line, "%-22s %-26s %s\n", label, Cut(x, 26).c_str(),
             Cut(y, 40).c_str());
    out += line;
  };
  std::string cells[2][6];
  for (int i = 0; i < 2; ++i) {
    const json& r = reports[i];
    json target = Field(r, "target");
    cells[i][0] = Text(target, "metric", "?") + " (" + Text(target, "goal", "?") + ")";
    cells[i][1] = Text(r, "state", "?");
    cells[i][2] = FormatNumber(Field(Field(r, "baseline"), "value"));
    cells[i][3] = FormatNumber(Field(Field(r, "best"), "value"));
    json ci = Field(r, "improvement_ci95_pct");
    cells[i][4] = Percent(Field(r, "improvement_pct"), true);
    if (ci.is_array() && ci.size() == 2)
      cells[i][4] += " [" + Percent(ci[0], true) + ", " + Percent(ci[1], true) + "]";
    cells[i][5] = std::to_string(Array(histories[i], "trials").size());
  }
  const char* labels[6] = {"target", "state", "baseline", "best", "improvement (95%)",
                           "trials"};
  for (int k = 0; k < 6; ++k) row(labels[k], cells[0][k], cells[1][k]);

  // The knobs in which the two best configurations differ.
  json best[2] = {Field(Field(reports[0], "best"), "config"),
                  Field(Field(reports[1], "best"), "config")};
  std::vector<std::string> differ;
  std::map<std::string, std::pair<std::string, std::string>> values;
  for (int i = 0; i < 2; ++i) {
    if (!best[i].is_object()) continue;
    for (const auto& [name, value] : best[i].items()) {
      auto& pair = values[name];
      (i == 0 ? pair.first : pair.second) = Scalar(value);
    }
  }
  out += "\nBest configurations";
  if (values.empty()) {
    out += ": none yet\n";
  } else {
    out += " (knobs that differ):\n";
    bool any = false;
    for (const auto& [name, pair] : values) {
      if (pair.first == pair.second) continue;
      any = true;
      row(("  " + Cut(name, 20)).c_str(), pair.first.empty() ? "-" : pair.first,
          pair.second.empty() ? "-" : pair.second);
    }
    if (!any) out += "  none: both jobs recommend the same settings\n";
  }

  // Configurations both jobs measured, by their settings.
  std::map<std::string, std::pair<json, json>> common;
  for (int i = 0; i < 2; ++i)
    for (const json& trial : Array(histories[i], "trials")) {
      json config = Field(trial, "config");
      if (!config.is_object()) continue;
      auto& pair = common[config.dump()];
      (i == 0 ? pair.first : pair.second) = trial;
    }
  std::string both;
  size_t count = 0;
  for (const auto& [key, pair] : common) {
    if (pair.first.is_null() || pair.second.is_null()) continue;
    ++count;
    if (count > 20) continue;
    snprintf(line, sizeof line, "  %-12s %-12s ",
             FormatNumber(Field(pair.first, "mean")).c_str(),
             FormatNumber(Field(pair.second, "mean")).c_str());
    both += line + FormatConfigInline(Field(pair.first, "config")) + "\n";
  }
  out += "\nConfigurations both measured: " + std::to_string(count);
  if (count > 0) {
    snprintf(line, sizeof line, "\n  %-12s %-12s %s\n", names[0].c_str(),
             names[1].c_str(), "CONFIGURATION");
    out += line + both;
    if (count > 20) out += "  ... and " + std::to_string(count - 20) + " more\n";
  } else {
    out += "\n";
  }
  return out;
}

std::vector<SamplePoint> SamplesOverTime(const json& history, bool maximize) {
  std::vector<SamplePoint> points;
  for (const json& trial : Array(history, "trials")) {
    int64_t number = Int(trial, "trial");
    bool baseline = Flag(trial, "baseline");
    for (const json& sample : Array(trial, "samples")) {
      json value = Field(sample, "value");
      if (!Flag(sample, "valid") || !value.is_number() ||
          !std::isfinite(value.get<double>()))
        continue;
      double at = Real(sample, "taken_at");
      points.push_back(
          {std::isfinite(at) ? at : 0.0, number, value.get<double>(), baseline, 0.0});
    }
  }
  // In the order taken; stable, so that equal (or unknown) times keep the history's.
  std::stable_sort(
      points.begin(), points.end(),
      [](const SamplePoint& a, const SamplePoint& b) { return a.taken_at < b.taken_at; });
  // Each trial's running sum and count, and every trial's mean so far, ordered.
  std::map<int64_t, std::pair<double, int64_t>> sums;
  std::multiset<double> means;
  for (SamplePoint& point : points) {
    auto& [sum, count] = sums[point.trial];
    if (count > 0)
      if (auto it = means.find(sum / count); it != means.end()) means.erase(it);
    sum += point.value;
    ++count;
    means.insert(sum / count);
    point.best_so_far = maximize ? *means.rbegin() : *means.begin();
  }
  return points;
}

std::string FormatPlotText(const json& history, int width, int height) {
  width = std::clamp(width, 20, 400);
  height = std::clamp(height, 5, 100);
  bool maximize = Text(Field(history, "target"), "goal", "max") != "min";
  const std::vector<SamplePoint> points = SamplesOverTime(history, maximize);
  std::string out = "Job " + std::to_string(Int(history, "job")) + ": " +
                    Text(Field(history, "target"), "metric", "?") + " (" +
                    (maximize ? "max" : "min") + "), " + std::to_string(points.size()) +
                    " valid sample(s)\n";
  if (points.empty()) return out + "Nothing to plot yet.\n";
  double low = points[0].value, high = points[0].value;
  for (const SamplePoint& point : points) {
    low = std::min(low, point.value);
    high = std::max(high, point.value);
  }
  if (high == low) {
    high += std::max(1.0, std::fabs(high)) * 0.01;
    low -= std::max(1.0, std::fabs(low)) * 0.01;
  }
  std::vector<std::string> grid(height, std::string(width, ' '));
  auto row = [&](double v) {
    int r = static_cast<int>(std::lround((high - v) / (high - low) * (height - 1)));
    return std::clamp(r, 0, height - 1);
  };
  for (size_t i = 0; i < points.size(); ++i) {
    int col = static_cast<int>(i * width / points.size());
    char& cell = grid[row(points[i].value)][col];
    if (cell == ' ' || cell == '.') cell = points[i].baseline ? 'o' : '.';
  }
  for (size_t i = 0; i < points.size(); ++i) {
    int col = static_cast<int>(i * width / points.size());
    grid[row(points[i].best_so_far)][col] = '*';
  }
  for (int r = 0; r < height; ++r) {
    std::string label;
    if (r == 0 || r == height - 1 || r == height / 2) {
      double v = high - (high - low) * r / (height - 1);
      label = FormatValue(v);
    }
    char prefix[32];
    snprintf(prefix, sizeof prefix, "%10s |", Cut(label, 10).c_str());
    out += prefix + grid[r] + "\n";
  }
  out += std::string(11, ' ') + "+" + std::string(width, '-') + "\n";
  std::string span = "samples 1.." + std::to_string(points.size());
  if (points.front().taken_at > 0 && points.back().taken_at > points.front().taken_at)
    span += ", over " + FormatDuration(points.back().taken_at - points.front().taken_at);
  out += std::string(12, ' ') + span + "\n";
  out +=
      "* the best configuration's mean so far   . a sample   o a sample of the "
      "baseline\n";
  return out;
}

}  // namespace hone
