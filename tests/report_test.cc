// Specification of report formatting (common/report.h): the text a person reads
// after a job and the environment assignments that apply its best settings.
#include "common/report.h"
#include "common/trials.h"

#include <sstream>
#include <string>

#include <gtest/gtest.h>

namespace hone {
namespace {

using nlohmann::json;

// A completed job of the reference scenario.
json CompletedReport() {
  return json::parse(R"({
    "job": 3,
    "state": "completed",
    "target": {"metric": "m", "goal": "max"},
    "baseline": {"config": {"inter_op": 1, "intra_op": 10}, "value": 70.1, "samples": 2},
    "best": {"config": {"inter_op": 2, "intra_op": 28}, "value": 124.0, "samples": 1},
    "improvement_pct": 76.9,
    "configs_explored": 24,
    "configs_total": 672,
    "knobs": 2,
    "samples_valid": 40,
    "samples_invalid": 0,
    "elapsed_s": 123.0,
    "settings_file": "/x/job-3.env"
  })");
}

// The report of a job whose best configuration is `config`.
json ReportWithBest(const json& config) {
  json report = CompletedReport();
  report["best"]["config"] = config;
  return report;
}

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// ---------------------------------------------------------------------------
// FormatReportText.

// hone plot: samples in the order taken, the best mean so far as '*', the
// baseline's samples as 'o'; the value axis runs from the highest to the lowest.
TEST(ReportTest, ThePlotChartsEverySampleAndTheBestSoFar) {
  json history = {{"job", 4},
                  {"target", {{"metric", "m"}, {"goal", "max"}}},
                  {"trials",
                   {{{"trial", 0},
                     {"baseline", true},
                     {"samples",
                      {{{"valid", true}, {"value", 10}, {"taken_at", 100}},
                       {{"valid", true}, {"value", 10}, {"taken_at", 101}}}}},
                    {{"trial", 1},
                     {"samples",
                      {{{"valid", true}, {"value", 20}, {"taken_at", 102}},
                       {{"valid", false}, {"error", "x"}, {"taken_at", 103}},
                       {{"valid", true}, {"value", 20}, {"taken_at", 104}}}}}}}};
  std::string text = FormatPlotText(history, 20, 5);
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), 1u + 5 + 3) << text;
  EXPECT_EQ(lines[0], "Job 4: m (max), 4 valid sample(s)");
  // Columns: 4 samples over 20 columns, at 0, 5, 10, 15. The baseline's two samples
  // (10) sit on the bottom row, marked best so far; then trial 1 (20) leads.
  const std::string top = lines[1].substr(12), bottom = lines[5].substr(12);
  EXPECT_EQ(lines[1].substr(0, 12), "        20 |") << text;
  EXPECT_EQ(lines[5].substr(0, 12), "        10 |") << text;
  EXPECT_EQ(bottom[0], '*');
  EXPECT_EQ(bottom[5], '*');
  EXPECT_EQ(top[10], '*');
  EXPECT_EQ(top[15], '*');
  EXPECT_NE(text.find("samples 1..4, over 4.0s"), std::string::npos) << text;
  history["target"]["goal"] = "min";
  std::string min = FormatPlotText(history, 20, 5);
  EXPECT_NE(min.find("(min)"), std::string::npos);
  EXPECT_EQ(FormatPlotText(json::object(), 20, 5),
            "Job 0: ? (max), 0 valid sample(s)\nNothing to plot yet.\n");
}

TEST(ReportTest, AnImprovementShowsItsIntervalOrThatItIsNotEstablished) {
  json established = {{"improvement_pct", 4.34},
                      {"improvement_ci95_pct", {1.2, 7.46}},
                      {"improvement_established", true}};
  EXPECT_EQ(FormatImprovement(established), "+4.3% [+1.2%, +7.5%]");
  established["improvement_established"] = false;
  EXPECT_EQ(FormatImprovement(established), "not established (+4.3% [+1.2%, +7.5%])");
  EXPECT_EQ(FormatImprovement({{"improvement_pct", -2.0}}), "-2.0%");
  EXPECT_EQ(FormatImprovement({{"improvement_pct", nullptr}}), "");
  EXPECT_EQ(FormatImprovement(json::array()), "");
}

TEST(ReportTest, NoiseThatIsNotMeasuredYetIsSaidSo) {
  std::string text =
      FormatReportText({{"job", 1}, {"state", "cancelled"}, {"noise_pct", nullptr}});
  EXPECT_NE(text.find("Measurement noise: not measured"), std::string::npos) << text;
  EXPECT_EQ(text.find("1.00%"), std::string::npos) << text;
}

TEST(ReportTest, TextNamesTheJobAndItsState) {
  EXPECT_TRUE(Contains(FormatReportText(CompletedReport()), "Job: 3 (completed)\n"));
}

TEST(ReportTest, TextShowsTheTarget) {
  EXPECT_TRUE(Contains(FormatReportText(CompletedReport()), "Target: m:max\n"));
}

TEST(ReportTest, TextListsTheBestSettingsOnePerLine) {
  std::string text = FormatReportText(CompletedReport());
  EXPECT_TRUE(Contains(text,
                       "Best known knob settings:\n"
                       "  inter_op: 2\n"
                       "  intra_op: 28\n"))
      << text;
}

TEST(ReportTest, TextShowsBaselineAndBestValuesWithSampleCounts) {
  std::string text = FormatReportText(CompletedReport());
  EXPECT_TRUE(Contains(text, "Baseline value: 70.1 (2 samples)\n")) << text;
  EXPECT_TRUE(Contains(text, "Best value: 124 (1 samples)\n")) << text;
}

TEST(ReportTest, TextSaysHowTheBestWasChosen) {
  json report = CompletedReport();
  EXPECT_FALSE(Contains(FormatReportText(report), "Chosen by")) << "older reports";
  report["chosen_by"] = {{"rule", "mean"}};
  std::string text = FormatReportText(report);
  EXPECT_TRUE(Contains(text, "Best value: 124 (1 samples)\nChosen by: the best mean\n")) << text;
  report["chosen_by"] = {{"rule", "model"}, {"best_mean_trial", 17}};
  text = FormatReportText(report);
  EXPECT_TRUE(Contains(text, "Chosen by: the surface model, over trial 17 (a better mean, "
                             "tied within the noise;"))
      << text;
  report["chosen_by"] = {{"rule", "mean"}, {"model_unfit", {{"preferred_trial", 9}}}};
  text = FormatReportText(report);
  EXPECT_TRUE(Contains(text, "Chosen by: the best mean (the surface model preferred trial 9, "
                             "but it does not predict these configurations"))
      << text;
}

TEST(ReportTest, TextShowsImprovementWithSignAndTwoDecimals) {
  std::string text = FormatReportText(CompletedReport());
  EXPECT_TRUE(Contains(text, "Improvement: +76.90%\n")) << text;
}

TEST(ReportTest, TextShowsANegativeImprovementWithMinus) {
  json report = CompletedReport();
  report["improvement_pct"] = -12.5;
  std::string text = FormatReportText(report);
  EXPECT_TRUE(Contains(text, "Improvement: -12.50%\n")) << text;
}

TEST(ReportTest, TextOmitsImprovementWhenUnknown) {
  json report = CompletedReport();
  report["improvement_pct"] = nullptr;
  EXPECT_FALSE(Contains(FormatReportText(report), "Improvement"));
}

TEST(ReportTest, TextShowsConfigurationsExploredOverTotal) {
  std::string text = FormatReportText(CompletedReport());
  EXPECT_TRUE(Contains(text, "Configurations explored/total: 24/672\n")) << text;
}

TEST(ReportTest, TextShowsHowManyConfigurationsAreFeasible) {
  json report = CompletedReport();
  report["configs_feasible"] = 300;
  std::string text = FormatReportText(report);
  EXPECT_TRUE(Contains(text, "Configurations explored/total: 24/672 (300 feasible)\n")) << text;
}

TEST(ReportTest, TextShowsHugeConfigurationTotals) {
  json report = CompletedReport();
  report["configs_total"] = UINT64_MAX;
  std::string text = FormatReportText(report);
  EXPECT_TRUE(Contains(text, "Configurations explored/total: 24/18446744073709551615\n"))
      << text;
}

TEST(ReportTest, TextShowsKnobCount) {
  EXPECT_TRUE(Contains(FormatReportText(CompletedReport()), "No. of knobs: 2\n"));
}

TEST(ReportTest, TextSaysHowTheImprovementWasMeasured) {
  json report = CompletedReport();
  report["improvement_pct"] = 95.35;
  report["improvement_ci95_pct"] = {86.87, 103.83};
  report["improvement_method"] = {
      {"rule", "paired"}, {"rounds", 4}, {"baseline_value", 4.286}, {"best_value", 8.372}};
  std::string text = FormatReportText(report);
  EXPECT_TRUE(Contains(text,
                       "Improvement: +95.35% (95% CI +86.87% to +103.83%)\n"
                       "  measured: over 4 rounds after the search, the best and the baseline "
                       "measured alternately (8.372 against 4.286)\n"))
      << text;
  report["improvement_method"] = {{"rule", "means"}};
  text = FormatReportText(report);
  EXPECT_TRUE(Contains(text, "  measured: from the means of all samples, at the pooled noise "
                             "(no final comparison)\n"))
      << text;
  // From an unknown or broken field, nothing.
  report["improvement_method"] = {{"rule", 7}};
  EXPECT_FALSE(Contains(FormatReportText(report), "measured:"));
  report["improvement_method"] = "paired";
  EXPECT_FALSE(Contains(FormatReportText(report), "measured:"));
}

TEST(ReportTest, TextCountsAllSamplesAndTheInvalidOnes) {
  json report = CompletedReport();
  report["samples_invalid"] = 2;
  std::string text = FormatReportText(report);
  EXPECT_TRUE(Contains(text, "Samples taken: 42 (2 invalid)\n")) << text;
  report["samples_race"] = 6;
  text = FormatReportText(report);
  EXPECT_TRUE(Contains(text, "Samples taken: 42 (2 invalid, 6 in the final comparison)\n")) << text;
  report["samples_race"] = 0;  // a job without a final comparison does not mention it
  text = FormatReportText(report);
  EXPECT_TRUE(Contains(text, "Samples taken: 42 (2 invalid)\n")) << text;
}

TEST(ReportTest, TextShowsElapsedTime) {
  std::string text = FormatReportText(CompletedReport());
  EXPECT_TRUE(Contains(text, "Optimization time: 2m 03s\n")) << text;
}

TEST(ReportTest, TextShowsTheSettingsFile) {
  std::string text = FormatReportText(CompletedReport());
  EXPECT_TRUE(Contains(text, "Settings written to: /x/job-3.env\n")) << text;
}

TEST(ReportTest, TextShowsMessageAndStopReasonWhenPresent) {
  json report = CompletedReport();
  report["message"] = "workload failed twice";
  report["stop_reason"] = "max_configs reached";
  std::string text = FormatReportText(report);
  EXPECT_TRUE(Contains(text, "Message: workload failed twice\n")) << text;
  EXPECT_TRUE(Contains(text, "Stopped because: max_configs reached\n")) << text;
}

TEST(ReportTest, TextWithoutBestHasNoSettingsSection) {
  json report = CompletedReport();
  report.erase("best");
  report.erase("settings_file");
  std::string text = FormatReportText(report);
  EXPECT_FALSE(Contains(text, "Best")) << text;
  EXPECT_TRUE(Contains(text, "Baseline value: 70.1 (2 samples)\n")) << text;
}

TEST(ReportTest, TextShowsADashForAMissingValue) {
  json report = CompletedReport();
  report["baseline"]["value"] = nullptr;
  report["baseline"]["samples"] = 0;
  std::string text = FormatReportText(report);
  EXPECT_TRUE(Contains(text, "Baseline value: - (0 samples)\n")) << text;
}

TEST(ReportTest, TextOfAMinimalReportOnlyNamesTheJob) {
  EXPECT_EQ(FormatReportText(json::object()), "Job: 0 (unknown)\n");
}

TEST(ReportTest, TextShowsStringSettingsBare) {
  std::string text = FormatReportText(ReportWithBest({{"thp", "always"}}));
  EXPECT_TRUE(Contains(text, "  thp: always\n")) << text;
}

TEST(ReportTest, TextListsTheTiedConfigurationsByTheKnobsInWhichTheyDiffer) {
  json report = CompletedReport();
  report["tied"] = json::parse(R"({"count": 2, "configs": [
    {"config": {"inter_op": 2, "intra_op": 30}, "trial": 7, "samples": 6, "value": 123.5},
    {"config": {"inter_op": 1, "intra_op": 10}, "trial": 0, "samples": 2, "value": 70.1,
     "baseline": true}]})");
  std::string text = FormatReportText(report);
  EXPECT_TRUE(Contains(text,
                       "Tied with the best: 2 configurations (within the noise; more "
                       "samples would tell them apart)\n"
                       "  trial 7: 123.5 (6 samples); intra_op 30\n"
                       "  trial 0 (baseline): 70.1 (2 samples); inter_op 1, intra_op 10\n"))
      << text;
}

TEST(ReportTest, TextCountsTheTiedConfigurationsItDoesNotList) {
  json report = CompletedReport();
  report["tied"] = json::parse(R"({"count": 12, "configs": [
    {"config": {"inter_op": 2, "intra_op": 30}, "trial": 7, "samples": 6, "value": 123.5}]})");
  std::string text = FormatReportText(report);
  EXPECT_TRUE(Contains(text, "Tied with the best: 12 configurations")) << text;
  EXPECT_TRUE(Contains(text, "  trial 7: 123.5 (6 samples); intra_op 30\n  and 11 more\n"))
      << text;
}

TEST(ReportTest, TextSaysWhenNothingIsTiedWithTheBest) {
  json report = CompletedReport();
  report["tied"] = {{"count", 0}, {"configs", json::array()}};
  EXPECT_TRUE(Contains(FormatReportText(report), "Tied with the best: none\n"));
  // A report from before the list (no "tied") says nothing about it.
  EXPECT_FALSE(Contains(FormatReportText(CompletedReport()), "Tied"));
}

// ---------------------------------------------------------------------------
// FormatReportEnv.

TEST(ReportTest, PlainEnvGivesEachKnobUnderBothNames) {
  EXPECT_EQ(FormatReportEnv(CompletedReport(), /*shell=*/false),
            "inter_op=2\n"
            "HONE_KNOB_INTER_OP=2\n"
            "intra_op=28\n"
            "HONE_KNOB_INTRA_OP=28\n");
}

TEST(ReportTest, ShellEnvExportsSingleQuotedValues) {
  EXPECT_EQ(FormatReportEnv(CompletedReport(), /*shell=*/true),
            "export inter_op='2'\n"
            "export HONE_KNOB_INTER_OP='2'\n"
            "export intra_op='28'\n"
            "export HONE_KNOB_INTRA_OP='28'\n");
}

TEST(ReportTest, ShellEnvQuotesASingleQuoteSafely) {
  std::string env = FormatReportEnv(ReportWithBest({{"greeting", "it's $HOME"}}), true);
  EXPECT_EQ(env,
            "export greeting='it'\\''s $HOME'\n"
            "export HONE_KNOB_GREETING='it'\\''s $HOME'\n");
}

TEST(ReportTest, PlainEnvWritesStringsBare) {
  EXPECT_EQ(FormatReportEnv(ReportWithBest({{"thp", "always"}}), false),
            "thp=always\nHONE_KNOB_THP=always\n");
}

TEST(ReportTest, KnobNameThatIsNotAnIdentifierIsOnlyExportedPrefixed) {
  EXPECT_EQ(FormatReportEnv(ReportWithBest({{"a.b", 1}}), false), "HONE_KNOB_A_B=1\n");
  EXPECT_EQ(FormatReportEnv(ReportWithBest({{"a.b", 1}}), true),
            "export HONE_KNOB_A_B='1'\n");
}

TEST(ReportTest, KnobNameStartingWithADigitIsOnlyExportedPrefixed) {
  EXPECT_EQ(FormatReportEnv(ReportWithBest({{"2nd", 1}}), false), "HONE_KNOB_2ND=1\n");
}

TEST(ReportTest, EnvWithoutBestIsEmpty) {
  json report = CompletedReport();
  report.erase("best");
  EXPECT_EQ(FormatReportEnv(report, false), "");
  EXPECT_EQ(FormatReportEnv(report, true), "");
}

TEST(ReportTest, EnvWithNullBestIsEmpty) {
  json report = CompletedReport();
  report["best"] = nullptr;
  EXPECT_EQ(FormatReportEnv(report, true), "");
}

TEST(ReportTest, EnvWithBestLackingConfigIsEmpty) {
  json report = CompletedReport();
  report["best"].erase("config");
  EXPECT_EQ(FormatReportEnv(report, false), "");
}

// ---------------------------------------------------------------------------
// FormatDuration and FormatValue.

TEST(ReportTest, DurationUnderAMinuteShowsTenthsOfSeconds) {
  EXPECT_EQ(FormatDuration(0), "0.0s");
  EXPECT_EQ(FormatDuration(12.34), "12.3s");
  EXPECT_EQ(FormatDuration(59.9), "59.9s");
}

TEST(ReportTest, DurationUnderAnHourShowsMinutesAndSeconds) {
  EXPECT_EQ(FormatDuration(60), "1m 00s");
  EXPECT_EQ(FormatDuration(185), "3m 05s");
  EXPECT_EQ(FormatDuration(3599), "59m 59s");
}

TEST(ReportTest, DurationOfAnHourOrMoreShowsHoursAndMinutes) {
  EXPECT_EQ(FormatDuration(3600), "1h 00m");
  EXPECT_EQ(FormatDuration(3720), "1h 02m");
  EXPECT_EQ(FormatDuration(30 * 3600 + 5 * 60), "30h 05m");
}

TEST(ReportTest, ValueHasFourSignificantDigits) {
  EXPECT_EQ(FormatValue(124.0), "124");
  EXPECT_EQ(FormatValue(0.123456), "0.1235");
  EXPECT_EQ(FormatValue(70.1), "70.1");
  EXPECT_EQ(FormatValue(1234.4), "1234");
  EXPECT_EQ(FormatValue(-3.14159), "-3.142");
  EXPECT_EQ(FormatValue(0), "0");
}

TEST(ReportTest, LargeValuesAreWholeNumbersNotScientific) {
  EXPECT_EQ(FormatValue(12345.6), "12346");
  EXPECT_EQ(FormatValue(-50000), "-50000");
  EXPECT_EQ(FormatValue(123456789), "123456789");
}

// Regression (fixed): %.4g rounds 9999.5..9999.99 up to "1e+04", but the switch to whole
// numbers only happens from 10000, so these values come out in scientific notation.
TEST(ReportTest, ValueJustBelowTenThousandIsNotScientific) {
  EXPECT_EQ(FormatValue(9999.7), "10000");
}

TEST(ReportTest, TinyAndEnormousValuesUseScientificNotation) {
  EXPECT_EQ(FormatValue(0.00001234), "1.234e-05");
  EXPECT_EQ(FormatValue(1e20), "1e+20");
}

TEST(ReportTest, TextGivesTheConfidenceIntervalAndTheNoise) {
  json report = {{"job", 1},
                 {"state", "completed"},
                 {"improvement_pct", 19.61},
                 {"improvement_ci95_pct", {15.2, 24.03}},
                 {"noise_pct", 1.94}};
  std::string text = FormatReportText(report);
  EXPECT_NE(text.find("Improvement: +19.61% (95% CI +15.20% to +24.03%)"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("Measurement noise: 1.94% per sample"), std::string::npos) << text;
}

}  // namespace
// Issue 14: a value's newline became a line of its own in the env format, so a
// value could add LD_PRELOAD=... to an env file.
TEST(ReportTest, Issue14AValueWithANewlineNeverStartsALineOfItsOwnInEnv) {
  json report = {{"best", {{"config", {{"mode", "fast\nLD_PRELOAD=/tmp/evil.so"},
                                       {"threads", 4}}}}}};
  std::string env = FormatReportEnv(report, /*shell=*/false);
  EXPECT_EQ(env.find("\nLD_PRELOAD"), std::string::npos) << env;
  EXPECT_NE(env.find("# HONE_KNOB_MODE: left out"), std::string::npos) << env;
  EXPECT_NE(env.find("threads=4\n"), std::string::npos) << env;
  // sh quotes it: one assignment, newline and all.
  std::string sh = FormatReportEnv(report, /*shell=*/true);
  EXPECT_NE(sh.find("export mode='fast\nLD_PRELOAD=/tmp/evil.so'\n"), std::string::npos)
      << sh;
}

// Found by the report fuzz target: hone's report, run and watch died on a report of
// an unexpected shape (an exception), and counts near INT_MAX overflowed.
TEST(ReportTest, Issue14AReportOfAnyShapeIsPrintedNotThrown) {
  for (const char* text :
       {"1", "[]", "null", R"({"job":"x","state":3,"message":[]})",
        R"({"knobs":1e300,"job":1e19,"configs_explored":-1e300})",
        R"({"samples_valid":2147483647,"samples_invalid":1,"samples_race":"many"})",
        R"({"samples_valid":18446744073709551615,"samples_invalid":9223372036854775807})",
        R"({"improvement_pct":5,"improvement_ci95_pct":["a","b"]})",
        R"({"best":{"config":7,"value":"x","samples":1e400}})",
        R"({"tied":{"count":2,"configs":[1,{"trial":[]}]},"chosen_by":{"rule":"model"}})"}) {
    json report = json::parse(text, nullptr, /*allow_exceptions=*/false);
    EXPECT_NO_THROW(FormatReportText(report)) << text;
    EXPECT_NO_THROW(FormatReportEnv(report, true)) << text;
  }
  json big = {{"samples_valid", 2147483647}, {"samples_invalid", 1}};
  EXPECT_NE(FormatReportText(big).find("Samples taken: 2147483648 (1 invalid)"),
            std::string::npos)
      << FormatReportText(big);
}

}  // namespace hone
