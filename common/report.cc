#include "common/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "common/config.h"
#include "common/space.h"

namespace hone {

using nlohmann::json;

namespace {

bool IsIdentifier(const std::string& name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0]))) return false;
  for (char c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  return true;
}

std::string ShellQuote(const std::string& value) {
  std::string quoted = "'";
  for (char c : value) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

std::string Number(const json& value) {
  return value.is_number() ? FormatValue(value.get<double>()) : std::string("-");
}

std::string ConfigLines(const json& config) {
  std::string lines;
  for (const auto& [name, value] : config.items())
    lines += "  " + name + ": " + ValueToString(value) + "\n";
  return lines;
}

// The trials the samples cannot tell apart from the best, each with the knobs in
// which it differs from it.
std::string TiedLines(const json& report) {
  const json& tied = report["tied"];
  int64_t count = tied.value("count", int64_t{0});
  if (count == 0) return "Tied with the best: none\n";
  std::string out = "Tied with the best: " + std::to_string(count) +
                    (count == 1 ? " configuration" : " configurations") +
                    " (within the noise; more samples would tell them apart)\n";
  const json best = report.value("best", json());
  const json best_config =
      best.is_object() ? best.value("config", json::object()) : json::object();
  int64_t shown = 0;
  for (const json& entry : tied.value("configs", json::array())) {
    if (!entry.is_object()) continue;
    std::string text = "  trial " + std::to_string(entry.value("trial", int64_t{0})) +
                       (entry.value("baseline", false) ? " (baseline)" : "") + ": " +
                       Number(entry.value("value", json())) + " (" +
                       std::to_string(entry.value("samples", 0)) + " samples)";
    std::string differs;
    const json config = entry.value("config", json::object());
    for (const auto& [name, value] : config.items())
      if (!best_config.contains(name) || best_config[name] != value)
        differs += (differs.empty() ? "" : ", ") + name + " " + ValueToString(value);
    if (!differs.empty()) text += "; " + differs;
    out += text + "\n";
    ++shown;
  }
  if (count > shown) out += "  and " + std::to_string(count - shown) + " more\n";
  return out;
}

// How the recommendation was chosen (the report's `chosen_by`); empty without it.
std::string ChosenBy(const json& report) {
  const json chosen = report.value("chosen_by", json());
  if (!chosen.is_object()) return "";
  std::string rule = chosen.value("rule", std::string());
  if (rule == "model")
    return "the surface model, over trial " +
           std::to_string(chosen.value("best_mean_trial", int64_t{0})) +
           " (a better mean, tied within the noise; the model weighs each against its "
           "repeats and neighbours)";
  if (rule != "mean") return "";
  const json unfit = chosen.value("model_unfit", json());
  if (unfit.is_object())
    return "the best mean (the surface model preferred trial " +
           std::to_string(unfit.value("preferred_trial", int64_t{0})) +
           ", but it does not predict these configurations from their neighbours)";
  return "the best mean";
}

}  // namespace

std::string FormatValue(double value) {
  char text[64];
  snprintf(text, sizeof text, "%.4g", value);
  if (std::fabs(value) >= 9999.5 && std::fabs(value) < 1e15)
    snprintf(text, sizeof text, "%.0f", value);
  return text;
}

std::string FormatExplored(const json& object) {
  std::string text = std::to_string(object.value("configs_explored", 0)) + "/" +
                     std::to_string(object.value("configs_total", uint64_t{0}));
  if (object.contains("configs_feasible"))
    text += " (" + std::to_string(object.value("configs_feasible", uint64_t{0})) +
            " feasible)";
  return text;
}

std::string FormatDuration(double seconds) {
  char text[64];
  long s = std::lround(seconds);
  if (seconds < 60)
    snprintf(text, sizeof text, "%.1fs", seconds);
  else if (s < 3600)
    snprintf(text, sizeof text, "%ldm %02lds", s / 60, s % 60);
  else
    snprintf(text, sizeof text, "%ldh %02ldm", s / 3600, (s % 3600) / 60);
  return text;
}

std::string FormatReportText(const json& report) {
  std::string out;
  auto line = [&out](const std::string& label, const std::string& value) {
    out += label + ": " + value + "\n";
  };
  line("Job", std::to_string(report.value("job", 0)) + " (" +
                  report.value("state", std::string("unknown")) + ")");
  if (report.contains("message")) line("Message", report["message"].get<std::string>());
  if (report.contains("target") && report["target"].is_object())
    line("Target",
         report["target"].value("metric", "") + ":" + report["target"].value("goal", ""));
  const json best = report.value("best", json());
  if (best.is_object()) {
    out +=
        "Best known knob settings:\n" + ConfigLines(best.value("config", json::object()));
  }
  const json baseline = report.value("baseline", json());
  if (baseline.is_object())
    line("Baseline value", Number(baseline.value("value", json())) + " (" +
                               std::to_string(baseline.value("samples", 0)) +
                               " samples)");
  if (best.is_object())
    line("Best value", Number(best.value("value", json())) + " (" +
                           std::to_string(best.value("samples", 0)) + " samples)");
  if (std::string chosen = ChosenBy(report); !chosen.empty()) line("Chosen by", chosen);
  if (report.contains("improvement_pct") && report["improvement_pct"].is_number()) {
    char pct[128];
    int n = snprintf(pct, sizeof pct, "%+.2f%%", report["improvement_pct"].get<double>());
    const json ci = report.value("improvement_ci95_pct", json());
    if (ci.is_array() && ci.size() == 2 && n > 0)
      snprintf(pct + n, sizeof pct - n, " (95%% CI %+.2f%% to %+.2f%%)",
               ci[0].get<double>(), ci[1].get<double>());
    line("Improvement", pct);
  }
  if (report.contains("tied") && report["tied"].is_object()) out += TiedLines(report);
  if (report.contains("noise_pct") && report["noise_pct"].is_number()) {
    char noise[32];
    snprintf(noise, sizeof noise, "%.2f%% per sample", report["noise_pct"].get<double>());
    line("Measurement noise", noise);
  }
  if (report.contains("knob_importance_pct") &&
      report["knob_importance_pct"].is_object()) {
    std::vector<std::pair<double, std::string>> ranked;
    for (const auto& [name, pct] : report["knob_importance_pct"].items())
      if (pct.is_number()) ranked.emplace_back(pct.get<double>(), name);
    std::sort(ranked.rbegin(), ranked.rend());
    std::string text;
    for (const auto& [pct, name] : ranked) {
      char part[64];
      snprintf(part, sizeof part, "%.0f%%", pct);
      text += (text.empty() ? "" : ", ") + name + " " + part;
    }
    line("Knob importance", text);
  }
  if (report.contains("knobs"))
    line("No. of knobs", std::to_string(report.value("knobs", 0)));
  if (report.contains("configs_explored"))
    line("Configurations explored/total", FormatExplored(report));
  if (report.contains("samples_valid"))
    line("Samples taken",
         std::to_string(report.value("samples_valid", 0) +
                        report.value("samples_invalid", 0)) +
             " (" + std::to_string(report.value("samples_invalid", 0)) + " invalid" +
             (report.contains("samples_stopped_early")
                  ? ", " + std::to_string(report.value("samples_stopped_early", 0)) +
                        " stopped early"
                  : std::string()) +
             (report.value("samples_race", 0) > 0
                  ? ", " + std::to_string(report.value("samples_race", 0)) +
                        " in the final race"
                  : std::string()) +
             ")");
  if (report.contains("warm_start") && report["warm_start"].is_object()) {
    const json& warm = report["warm_start"];
    std::string text = "job " + std::to_string(warm.value("job", int64_t{0}));
    if (warm.contains("observations"))
      text += " (learned from " + std::to_string(warm.value("observations", 0)) +
              " configurations)";
    line("Warm start", text);
  }
  if (report.contains("elapsed_s"))
    line("Optimization time", FormatDuration(report.value("elapsed_s", 0.0)));
  if (report.contains("stop_reason"))
    line("Stopped because", report["stop_reason"].get<std::string>());
  if (report.contains("settings_file"))
    line("Settings written to", report["settings_file"].get<std::string>());
  return out;
}

std::string FormatReportEnv(const json& report, bool shell) {
  const json best = report.value("best", json());
  if (!best.is_object() || !best.contains("config")) return "";
  std::string out;
  for (const auto& [name, value] : best["config"].items()) {
    std::string text = ValueToString(value);
    // NAME=value lines have no quoting: a newline in a value would start a line of
    // its own (LD_PRELOAD=...). Such a value is left out, and the line says so.
    bool control = std::any_of(text.begin(), text.end(), [](char c) {
      return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
    });
    if (!shell && control) {
      out += "# " + KnobEnvName(name) +
             ": left out, its value has a newline or another control character; "
             "use --format sh or json\n";
      continue;
    }
    std::vector<std::string> names;
    if (IsIdentifier(name)) names.push_back(name);
    names.push_back(KnobEnvName(name));
    for (const std::string& n : names)
      out +=
          shell ? "export " + n + "=" + ShellQuote(text) + "\n" : n + "=" + text + "\n";
  }
  return out;
}

}  // namespace hone
