#include "common/trials.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <vector>

#include "common/config.h"
#include "common/json_read.h"
#include "common/report.h"

namespace hone {

using nlohmann::json;
using namespace json_read;

namespace {

// A JSON array field, or an empty one.
json Array(const json& object, const char* key) {
  json value = Field(object, key);
  return value.is_array() ? value : json::array();
}

std::string Number(const json& value) {
  return value.is_number() && std::isfinite(value.get<double>())
             ? FormatValue(value.get<double>())
             : std::string("-");
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
           Pad(samples, 9) + Pad(Number(Field(trial, "mean")), 11) +
           Pad(Spread(trial), 9) + Pad(vs, 10) +
           Pad(Cut(Text(trial, "reason", "-"), 34), 35) +
           FormatConfigInline(Field(trial, "config", json::object())) + "\n";
  }
  out +=
      "\nSAMPLES: valid ones (+N! failed). SPREAD: one sample's standard deviation, as "
      "a percent of the mean. VS BASE: the mean against the baseline's (the report's "
      "interval says how sure that is). *: measured again in the final comparison. "
      "`hone --json trials N` has every sample.\n";
  return out;
}

std::string FormatTrialsCsv(const json& history, bool samples) {
  std::vector<std::string> knobs = KnobNames(history);
  std::string out = samples
                        ? "trial,seq,valid,value,error,duration_s,taken_at,round"
                        : "trial,baseline,state,valid,invalid,mean,sd,improvement_pct,"
                          "finalist,reason";
  for (const std::string& knob : knobs) out += "," + CsvField(knob);
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
    if (!samples) {
      out += number + "," + (Flag(trial, "baseline") ? "1" : "0") + "," +
             CsvField(Text(trial, "state")) + "," + std::to_string(Int(trial, "valid")) +
             "," + std::to_string(Int(trial, "invalid")) + "," +
             real(Field(trial, "mean")) + "," + real(Field(trial, "sd")) + "," +
             real(Field(trial, "improvement_pct")) + "," +
             (Flag(trial, "finalist") ? "1" : "0") + "," +
             CsvField(Text(trial, "reason")) + knob_fields + "\r\n";
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
             knob_fields + "\r\n";
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
    cells[i][2] = Number(Field(Field(r, "baseline"), "value"));
    cells[i][3] = Number(Field(Field(r, "best"), "value"));
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
             Number(Field(pair.first, "mean")).c_str(),
             Number(Field(pair.second, "mean")).c_str());
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

std::string FormatPlotText(const json& history, int width, int height) {
  width = std::clamp(width, 20, 400);
  height = std::clamp(height, 5, 100);
  bool maximize = Text(Field(history, "target"), "goal", "max") != "min";
  struct Point {
    double at;     // taken_at (0: unknown, then in order)
    size_t order;  // position in the history, to keep ties stable
    int64_t trial;
    double value;
    bool baseline;
  };
  std::vector<Point> points;
  for (const json& trial : Array(history, "trials")) {
    int64_t number = Int(trial, "trial");
    for (const json& sample : Array(trial, "samples")) {
      json value = Field(sample, "value");
      if (!Flag(sample, "valid") || !value.is_number() ||
          !std::isfinite(value.get<double>()))
        continue;
      points.push_back({Real(sample, "taken_at"), points.size(), number,
                        value.get<double>(), Flag(trial, "baseline")});
    }
  }
  std::string out = "Job " + std::to_string(Int(history, "job")) + ": " +
                    Text(Field(history, "target"), "metric", "?") + " (" +
                    (maximize ? "max" : "min") + "), " + std::to_string(points.size()) +
                    " valid sample(s)\n";
  if (points.empty()) return out + "Nothing to plot yet.\n";
  std::stable_sort(points.begin(), points.end(), [](const Point& a, const Point& b) {
    return a.at != b.at ? a.at < b.at : a.order < b.order;
  });
  // The best trial mean so far, after each sample.
  std::map<int64_t, std::pair<double, int>> sums;
  std::vector<double> best(points.size());
  double low = points[0].value, high = points[0].value;
  for (size_t i = 0; i < points.size(); ++i) {
    auto& [sum, count] = sums[points[i].trial];
    sum += points[i].value;
    ++count;
    bool first = true;
    for (const auto& [trial, entry] : sums) {
      double mean = entry.first / entry.second;
      if (first || (maximize ? mean > best[i] : mean < best[i])) best[i] = mean;
      first = false;
    }
    low = std::min(low, points[i].value);
    high = std::max(high, points[i].value);
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
    grid[row(best[i])][col] = '*';
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
  if (points.front().at > 0 && points.back().at > points.front().at)
    span += ", over " + FormatDuration(points.back().at - points.front().at);
  out += std::string(12, ' ') + span + "\n";
  out +=
      "* the best configuration's mean so far   . a sample   o a sample of the "
      "baseline\n";
  return out;
}

}  // namespace hone
