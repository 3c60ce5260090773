#include "common/report.h"

#include <ctime>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <set>
#include <string>

#include "common/config.h"
#include "common/json_read.h"
#include "common/scan.h"
#include "common/space.h"

namespace hone {

using nlohmann::json;
using namespace json_read;

namespace {

// One line per knob; with `descriptions` ({knob: text}), each knob's after it.
std::string ConfigLines(const json& config, const json& descriptions = json()) {
  std::string lines;
  for (const auto& [name, value] : config.items()) {
    lines += "  " + name + ": " + ValueToString(value);
    std::string about = Text(descriptions, name.c_str());
    if (!about.empty()) lines += "    (" + about + ")";
    lines += "\n";
  }
  return lines;
}

// The trials the samples cannot tell apart from the best, each with the knobs in
// which it differs from it.
std::string TiedLines(const json& report) {
  const json& tied = report["tied"];
  int64_t count = Int(tied, "count");
  if (count == 0) return "Tied with the best: none\n";
  std::string out = "Tied with the best: " + std::to_string(count) +
                    (count == 1 ? " configuration" : " configurations") +
                    " (within the noise; more samples would tell them apart)\n";
  const json best = Field(report, "best");
  const json best_config =
      best.is_object() ? Field(best, "config", json::object()) : json::object();
  int64_t shown = 0;
  for (const json& entry : Field(tied, "configs", json::array())) {
    if (!entry.is_object()) continue;
    std::string text = "  trial " + std::to_string(Int(entry, "trial")) +
                       (Flag(entry, "baseline") ? " (baseline)" : "") + ": " +
                       FormatNumber(Field(entry, "value")) + " (" +
                       std::to_string(Int(entry, "samples")) + " samples)";
    std::string differs;
    const json config = Field(entry, "config", json::object());
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
  const json chosen = Field(report, "chosen_by");
  if (!chosen.is_object()) return "";
  std::string rule = Text(chosen, "rule");
  if (rule == "model")
    return "the surface model, over trial " +
           std::to_string(Int(chosen, "best_mean_trial")) +
           " (a better mean, tied within the noise; the model weighs each against its "
           "repeats and neighbours; `hone trials " +
           std::to_string(Int(report, "job")) + "` lists both with their samples)";
  if (rule != "mean") return "";
  const json unfit = Field(chosen, "model_unfit");
  if (unfit.is_object())
    return "the best mean (the surface model preferred trial " +
           std::to_string(Int(unfit, "preferred_trial")) +
           ", but it does not predict these configurations from their neighbours)";
  return "the best mean";
}

// How the improvement was measured (the report's `improvement_method`); empty
// without it.
std::string ImprovementMethod(const json& report) {
  const json method = Field(report, "improvement_method");
  if (!method.is_object()) return "";
  std::string rule = Text(method, "rule");
  if (rule == "paired")
    return "over " + std::to_string(Int(method, "rounds")) +
           " rounds after the search, the best and the baseline measured alternately "
           "(" +
           FormatNumber(Field(method, "best_value")) + " against " +
           FormatNumber(Field(method, "baseline_value")) + ")";
  if (rule == "means")
    return "from the means of all samples, at the pooled noise (no final comparison)";
  return "";
}

}  // namespace

std::string FormatNumber(const json& value) {
  return value.is_number() && std::isfinite(value.get<double>())
             ? FormatValue(value.get<double>())
             : std::string("-");
}

std::string FormatChosenBy(const json& report) { return ChosenBy(report); }
std::string FormatImprovementMethod(const json& report) {
  return ImprovementMethod(report);
}

std::string FormatValue(double value) {
  char text[64];
  snprintf(text, sizeof text, "%.4g", value);
  if (std::fabs(value) >= 9999.5 && std::fabs(value) < 1e15)
    snprintf(text, sizeof text, "%.0f", value);
  return text;
}

std::string FormatImprovement(const json& object) {
  json pct = Field(object, "improvement_pct");
  if (!pct.is_number() || !std::isfinite(pct.get<double>())) return "";
  char text[96];
  int n = snprintf(text, sizeof text, "%+.1f%%", pct.get<double>());
  json ci = Field(object, "improvement_ci95_pct");
  // n is what the number needed: a huge one (1e308) is cut at the buffer's end, and
  // nothing may be written after it.
  if (n > 0 && static_cast<size_t>(n) < sizeof text && ci.is_array() && ci.size() == 2 &&
      ci[0].is_number() && ci[1].is_number())
    snprintf(text + n, sizeof text - n, " [%+.1f%%, %+.1f%%]", ci[0].get<double>(),
             ci[1].get<double>());
  json established = Field(object, "improvement_established");
  if (established.is_boolean() && !established.get<bool>())
    return "not established (" + std::string(text) + ")";
  return text;
}

std::string FormatExplored(const json& object) {
  std::string text = std::to_string(Int(object, "configs_explored")) + "/" +
                     std::to_string(Size(object, "configs_total"));
  if (object.contains("configs_feasible"))
    text += " (" + std::to_string(Size(object, "configs_feasible")) +
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

std::string FormatConfigInline(const json& config) {
  std::string text;
  if (!config.is_object()) return text;
  for (const auto& [name, value] : config.items())
    text += (text.empty() ? "" : " ") + name + "=" + ValueToString(value);
  return text;
}

std::string FormatLiveText(const json& live) {
  std::string out;
  auto line = [&out](const std::string& label, const std::string& value) {
    out += label + ": " + value + "\n";
  };
  line("Mode",
       Text(live, "mode", "tune") + (Flag(live, "settled")
                                         ? " (settled: watching for a change of workload)"
                                         : " (tuning)"));
  line("Phase", std::to_string(Int(live, "phase")) + " (" +
                    std::to_string(Int(live, "phases")) + " known" +
                    (live.contains("signature")
                         ? "; programs using the CPU: " + Text(live, "signature")
                         : std::string()) +
                    ")");
  const json incumbent = Field(live, "incumbent");
  if (incumbent.is_object()) {
    std::string text = FormatConfigInline(Field(incumbent, "config"));
    if (incumbent.contains("value"))
      text += ", " + FormatNumber(Field(incumbent, "value"));
    line("Incumbent", text);
  }
  const json trial = Field(live, "trial");
  if (trial.is_object())
    line("Trying",
         FormatConfigInline(Field(trial, "config")) + ", epoch " +
             std::to_string(Int(trial, "epoch")) +
             (Flag(trial, "returning_best") ? " (the phase's best, again)" : ""));
  const json proposal = Field(live, "proposal");
  if (proposal.is_object())
    line("Proposal", FormatConfigInline(proposal) + " (hone accept " +
                         std::to_string(Int(live, "job")) + " tries it)");
  const json guard = Field(live, "guard");
  if (guard.is_object()) {
    std::string text =
        "max_regression_pct " + FormatNumber(Field(guard, "max_regression_pct"));
    if (guard.contains("first_sample_limit"))
      text += " (a candidate's first sample in an epoch past " +
              FormatNumber(Field(guard, "first_sample_limit")) + ", a later one past " +
              FormatNumber(Field(guard, "limit")) + " reverts)";
    else if (guard.contains("limit"))
      text += " (a sample past " + FormatNumber(Field(guard, "limit")) + " reverts)";
    text += ", " + std::to_string(Int(guard, "reverts")) + " revert(s)";
    line("Guard", text);
    if (guard.contains("last_revert")) line("  last revert", Text(guard, "last_revert"));
  }
  line("Changes", std::to_string(Int(live, "changes")) + ", over " +
                      std::to_string(Int(live, "samples")) + " samples (" +
                      std::to_string(Int(live, "samples_invalid")) + " invalid)");
  const json phases = Field(live, "phases");
  if (phases.is_array()) {
    out += "Phases:\n";
    for (const json& p : phases) {
      std::string text = "  " + std::to_string(Int(p, "phase")) + ": ";
      const json best = Field(p, "best");
      if (best.is_object()) {
        char pct[48];
        snprintf(pct, sizeof pct, "%+.2f%%", Real(best, "improvement_pct"));
        text += "best " + FormatConfigInline(Field(best, "config")) + " (" + pct +
                " over the configuration the phase began under)";
      }
      text += ", " + std::to_string(Int(p, "configs_tried")) + " tried, " +
              std::to_string(Int(p, "configs_reverted")) + " reverted" +
              (Flag(p, "settled") ? ", settled" : "");
      out += text + "\n";
    }
  }
  const json changes = Field(live, "recent_changes");
  if (changes.is_array() && !changes.empty()) {
    out += "Recent changes:\n";
    for (const json& c : changes) {
      time_t at = static_cast<time_t>(std::clamp(Real(c, "at"), 0.0, 4e12));
      struct tm tm {};
      char when[16] = "";
      if (localtime_r(&at, &tm)) strftime(when, sizeof when, "%H:%M:%S", &tm);
      out += std::string("  ") + when + " " + FormatConfigInline(Field(c, "to")) + ": " +
             Text(c, "reason") + "\n";
    }
  }
  return out;
}

namespace {

// "ratio 3.12 / 3.2, size 10 / 11": the other metrics' means of the best and the
// baseline; empty when neither has any.
std::string OtherMetrics(const json& best, const json& baseline) {
  const json b = Field(best, "metrics"), a = Field(baseline, "metrics");
  std::set<std::string> names;
  for (const json* m : {&b, &a})
    if (m->is_object())
      for (const auto& [name, value] : m->items()) names.insert(name);
  std::string text;
  for (const std::string& name : names) {
    if (names.size() > 16 && text.size() > 400) {
      text += ", ...";
      break;
    }
    text += (text.empty() ? "" : ", ") + Printable(name, 64) + " " +
            FormatNumber(Field(b, name.c_str())) + " / " +
            FormatNumber(Field(a, name.c_str()));
  }
  return text;
}

// What other processes did to the samples (the report's `interference`); empty
// when nothing is worth saying.
std::string Interference(const json& report) {
  const json i = Field(report, "interference");
  if (!i.is_object()) return "";
  int64_t measured = Int(i, "samples_measured"), set_aside = Int(i, "samples_set_aside"),
          kept = Int(i, "samples_kept_interfered");
  if (measured == 0)
    return Int(report, "samples_valid") + Int(report, "samples_invalid") > 0
               ? "not measured (/proc/stat could not be read)"
               : "";
  std::string limit =
      "max_interference_pct " + FormatNumber(Field(i, "max_interference_pct"));
  if (set_aside == 0 && kept == 0) return "none seen (" + limit + ")";
  std::string text;
  if (set_aside > 0)
    text = std::to_string(set_aside) +
           " sample(s) set aside and measured again: other processes used the CPUs";
  if (kept > 0)
    text += (text.empty() ? "" : "; ") + std::to_string(kept) +
            " kept, flagged, after their repeats ran out";
  return text + " (" + limit + ")";
}

}  // namespace

std::string FormatReportText(const json& report) {
  if (Text(report, "kind") == "live") {
    std::string out = "Job: " + std::to_string(Int(report, "job")) + " (" +
                      Text(report, "state", "unknown") + ", live)\n";
    if (report.contains("message")) out += "Message: " + Text(report, "message") + "\n";
    if (report.contains("target") && report["target"].is_object())
      out += "Target: " + Text(report["target"], "metric") + ":" +
             Text(report["target"], "goal") + "\n";
    const json best = Field(report, "best");
    if (best.is_object())
      out += "Best known knob settings (this phase):\n" +
             ConfigLines(Field(best, "config", json::object()));
    if (report.contains("phase")) out += FormatLiveText(report);
    if (report.contains("elapsed_s"))
      out += "Tuning time: " + FormatDuration(Real(report, "elapsed_s")) + "\n";
    if (report.contains("stop_reason"))
      out += "Stopped because: " + Text(report, "stop_reason") + "\n";
    if (report.contains("settings_file"))
      out += "Settings written to: " + Text(report, "settings_file") + "\n";
    const json notes = Field(report, "notes");
    if (notes.is_array())
      for (const json& note : notes)
        if (note.is_string()) out += "Note: " + note.get<std::string>() + "\n";
    return out;
  }
  std::string out;
  auto line = [&out](const std::string& label, const std::string& value) {
    out += label + ": " + value + "\n";
  };
  line("Job", std::to_string(Int(report, "job")) + " (" +
                  Text(report, "state", "unknown") + ")");
  if (report.contains("message")) line("Message", Text(report, "message"));
  if (report.contains("target") && report["target"].is_object())
    line("Target",
         Text(report["target"], "metric") + ":" + Text(report["target"], "goal"));
  const json best = Field(report, "best");
  if (best.is_object()) {
    out +=
        "Best known knob settings:\n" +
        ConfigLines(Field(best, "config", json::object()), Field(report, "descriptions"));
  }
  const json baseline = Field(report, "baseline");
  if (baseline.is_object())
    line("Baseline value", FormatNumber(Field(baseline, "value")) + " (" +
                               std::to_string(Int(baseline, "samples")) + " samples)");
  if (best.is_object())
    line("Best value", FormatNumber(Field(best, "value")) + " (" +
                           std::to_string(Int(best, "samples")) + " samples)");
  if (std::string others = OtherMetrics(best, baseline); !others.empty())
    line("Other metrics (best / baseline)", others);
  if (std::string chosen = ChosenBy(report); !chosen.empty()) line("Chosen by", chosen);
  if (report.contains("improvement_pct") && report["improvement_pct"].is_number()) {
    char pct[128];
    int n = snprintf(pct, sizeof pct, "%+.2f%%", report["improvement_pct"].get<double>());
    const json ci = Field(report, "improvement_ci95_pct");
    if (ci.is_array() && ci.size() == 2 && ci[0].is_number() && ci[1].is_number() &&
        n > 0 && static_cast<size_t>(n) < sizeof pct)
      snprintf(pct + n, sizeof pct - n, " (95%% CI %+.2f%% to %+.2f%%)",
               ci[0].get<double>(), ci[1].get<double>());
    line("Improvement", pct);
    if (std::string how = ImprovementMethod(report); !how.empty()) line("  measured", how);
  }
  if (report.contains("tied") && report["tied"].is_object()) out += TiedLines(report);
  if (report.contains("noise_pct") && report["noise_pct"].is_number()) {
    char noise[32];
    snprintf(noise, sizeof noise, "%.2f%% per sample", report["noise_pct"].get<double>());
    line("Measurement noise", noise);
  } else if (report.contains("noise_pct") && report["noise_pct"].is_null()) {
    line("Measurement noise", "not measured (no configuration has two valid samples)");
  }
  if (int64_t outliers = Int(report, "samples_outliers"); outliers > 0)
    line("  outliers",
         std::to_string(outliers) +
             " sample(s) far from their configuration's others, left out of "
             "the noise (hone trials marks them)");
  if (std::string interference = Interference(report); !interference.empty())
    line("Interference", interference);
  if (int64_t guarded = Int(report, "configs_guarded_out"); guarded > 0)
    line("Guards", std::to_string(guarded) +
                       " configuration(s) broke a guard and were left out (hone trials "
                       "says which and why)");
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
    line("No. of knobs", std::to_string(Int(report, "knobs")));
  if (report.contains("configs_explored"))
    line("Configurations explored/total", FormatExplored(report));
  if (report.contains("samples_valid"))
    line("Samples taken",
         std::to_string(Int(report, "samples_valid") +
                        Int(report, "samples_invalid")) +
             " (" + std::to_string(Int(report, "samples_invalid")) + " invalid" +
             (report.contains("samples_stopped_early")
                  ? ", " + std::to_string(Int(report, "samples_stopped_early")) +
                        " stopped early"
                  : std::string()) +
             (Int(report, "samples_race") > 0
                  ? ", " + std::to_string(Int(report, "samples_race")) +
                        " in the final comparison"
                  : std::string()) +
             ")");
  if (report.contains("warm_start") && report["warm_start"].is_object()) {
    const json& warm = report["warm_start"];
    std::string text = "job " + std::to_string(Int(warm, "job"));
    if (warm.contains("observations"))
      text += " (learned from " + std::to_string(Int(warm, "observations")) +
              " configurations)";
    line("Warm start", text);
  }
  if (json recheck = Field(report, "recheck"); recheck.is_object())
    line("Re-check of", "job " + std::to_string(Int(recheck, "job")) + ": trial " +
                            std::to_string(Int(recheck, "trial")) + " against trial " +
                            std::to_string(Int(recheck, "against")) + ", " +
                            std::to_string(Int(recheck, "rounds")) + " rounds");
  if (json sets = Field(report, "overrides"); sets.is_array() && !sets.empty()) {
    std::string text;
    for (const json& set : sets)
      if (set.is_string()) text += (text.empty() ? "" : " ") + set.get<std::string>();
    line("Overrides (--set)", text);
  }
  if (report.contains("elapsed_s"))
    line("Optimization time", FormatDuration(Real(report, "elapsed_s")));
  if (report.contains("resumed") && report["resumed"].is_object()) {
    const json& resumed = report["resumed"];
    int64_t times = Int(resumed, "times");
    line("Resumed", std::to_string(times) + (times == 1 ? " time" : " times") +
                        " after honed restarted; honed was down " +
                        FormatDuration(Real(resumed, "downtime_s")) +
                        " (not in the optimization time)");
  }
  if (report.contains("stop_reason"))
    line("Stopped because", Text(report, "stop_reason"));
  if (report.contains("settings_file"))
    line("Settings written to", Text(report, "settings_file"));
  const json notes = Field(report, "notes");
  if (notes.is_array())
    for (const json& note : notes)
      if (note.is_string()) line("Note", note.get<std::string>());
  return out;
}

std::string FormatReportEnv(const json& report, bool shell) {
  const json best = Field(report, "best");
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
    if (IsShellIdentifier(name)) names.push_back(name);
    names.push_back(KnobEnvName(name));
    for (const std::string& n : names)
      out +=
          shell ? "export " + n + "=" + ShellQuote(text) + "\n" : n + "=" + text + "\n";
  }
  return out;
}

bool IsShellIdentifier(const std::string& name) {
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

double Round(double value, int digits) {
  double scale = std::pow(10.0, digits);
  return std::round(value * scale) / scale;
}

}  // namespace hone
