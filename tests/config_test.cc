// Specification of the knobs.yaml dialect (common/config.h): what ParseConfig
// accepts, what it turns it into, and how it reports what it refuses.
#include "common/config.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/test_util.h"

namespace hone {
namespace {

using nlohmann::json;

using test::kReferenceConfig;

// A config with one knob whose body is `knob_body` (indented to sit under the
// knob's name), a duration target and nothing else.
std::string ConfigWithKnob(const std::string& knob_body) {
  return "domain:\n"
         "  common:\n"
         "    knobs:\n"
         "      k:\n" +
         knob_body + "    target: duration:min\n";
}

// A config with one valid knob plus `extra` appended at the top level.
std::string ConfigWith(const std::string& extra) {
  return "domain:\n"
         "  common:\n"
         "    knobs:\n"
         "      k:\n"
         "        options: [1, 2]\n"
         "    target: duration:min\n" +
         extra;
}

// A config with one valid knob and `target_line` (e.g. "target: m:max") under
// domain.common, plus a metric `m`.
std::string ConfigWithTarget(const std::string& target_line) {
  return "domain:\n"
         "  common:\n"
         "    knobs:\n"
         "      k:\n"
         "        options: [1, 2]\n"
         "    metrics:\n"
         "      m:\n"
         "        sample_script: echo 1\n"
         "    " +
         target_line + "\n";
}

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// ---------------------------------------------------------------------------
// The reference configuration.

TEST(ConfigTest, ReferenceConfigParses) {
  JobSpec spec;
  Status s = ParseConfig(kReferenceConfig, "knobs.yaml", &spec);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_TRUE(spec.warnings.empty()) << spec.warnings.front();
}

TEST(ConfigTest, ReferenceConfigHasTwoScriptKnobsInFileOrder) {
  JobSpec spec;
  ASSERT_TRUE(ParseConfig(kReferenceConfig, "knobs.yaml", &spec).ok());
  ASSERT_EQ(spec.knobs.size(), 2u);
  EXPECT_EQ(spec.knobs[0].name, "inter_op");
  EXPECT_EQ(spec.knobs[0].options_script, "seq 1 1 28");
  EXPECT_EQ(spec.knobs[1].name, "intra_op");
  EXPECT_EQ(spec.knobs[1].options_script, "seq 10 2 56");
}

TEST(ConfigTest, OptionsScriptKnobsHaveNoOptionsUntilTheScriptRuns) {
  JobSpec spec;
  ASSERT_TRUE(ParseConfig(kReferenceConfig, "knobs.yaml", &spec).ok());
  ASSERT_EQ(spec.knobs.size(), 2u);
  EXPECT_TRUE(spec.knobs[0].options.empty());
  EXPECT_TRUE(spec.knobs[1].options.empty());
  EXPECT_FALSE(spec.knobs[0].default_value.has_value());
}

TEST(ConfigTest, ReferenceConfigHasOneScriptMetric) {
  JobSpec spec;
  ASSERT_TRUE(ParseConfig(kReferenceConfig, "knobs.yaml", &spec).ok());
  ASSERT_EQ(spec.metrics.size(), 1u);
  EXPECT_EQ(spec.metrics[0].name, "shell.my_target");
  EXPECT_EQ(spec.metrics[0].kind, MetricKind::kScript);
  EXPECT_EQ(spec.metrics[0].script, "cat /tmp/result.txt");
}

TEST(ConfigTest, ReferenceConfigTargetIsMetricWithGoalMax) {
  JobSpec spec;
  ASSERT_TRUE(ParseConfig(kReferenceConfig, "knobs.yaml", &spec).ok());
  EXPECT_EQ(spec.target.metric, "shell.my_target");
  EXPECT_EQ(spec.target.goal, Goal::kMax);
}

TEST(ConfigTest, ReferenceConfigGetsDefaultSettingsAndNoWorkload) {
  JobSpec spec;
  ASSERT_TRUE(ParseConfig(kReferenceConfig, "knobs.yaml", &spec).ok());
  EXPECT_EQ(spec.settings.min_baseline_samples, 1);
  EXPECT_EQ(spec.settings.min_samples_per_config, 1);
  EXPECT_EQ(spec.settings.max_configs, 100);
  EXPECT_EQ(spec.settings.strategy, "model");
  EXPECT_TRUE(spec.workload.empty());
}

TEST(ConfigTest, KnobRecordsItsLine) {
  JobSpec spec;
  ASSERT_TRUE(ParseConfig(kReferenceConfig, "knobs.yaml", &spec).ok());
  ASSERT_EQ(spec.knobs.size(), 2u);
  // The knob's body starts on the line after its name.
  EXPECT_EQ(spec.knobs[0].pos.line, 5);
  EXPECT_EQ(spec.knobs[1].pos.line, 7);
}

TEST(ConfigTest, ReferenceConfigCompletesWithCommand) {
  JobSpec spec;
  ASSERT_TRUE(ParseConfig(kReferenceConfig, "knobs.yaml", &spec).ok());
  Status s = CompleteSpec({"./bench.sh"}, &spec);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(spec.workload.argv, std::vector<std::string>{"./bench.sh"});
}

// ---------------------------------------------------------------------------
// Knob values: options, range, default.

TEST(ConfigTest, OptionsListKeepsNumbersAsNumbersInOrder) {
  JobSpec spec;
  Status s =
      ParseConfig(ConfigWithKnob("        options: [4, 1, 2.5]\n"), "k.yaml", &spec);
  ASSERT_TRUE(s.ok()) << s.message();
  ASSERT_EQ(spec.knobs.size(), 1u);
  const auto& options = spec.knobs[0].options;
  ASSERT_EQ(options.size(), 3u);
  EXPECT_TRUE(options[0].is_number_integer());
  EXPECT_EQ(options[0], 4);
  EXPECT_TRUE(options[1].is_number_integer());
  EXPECT_EQ(options[1], 1);
  EXPECT_TRUE(options[2].is_number_float());
  EXPECT_DOUBLE_EQ(options[2].get<double>(), 2.5);
}

TEST(ConfigTest, OptionsListKeepsQuotedScalarsAsStrings) {
  JobSpec spec;
  Status s = ParseConfig(ConfigWithKnob("        options: [\"1\", '2', always]\n"),
                         "k.yaml", &spec);
  ASSERT_TRUE(s.ok()) << s.message();
  const auto& options = spec.knobs[0].options;
  ASSERT_EQ(options.size(), 3u);
  EXPECT_EQ(options[0], json("1"));
  EXPECT_EQ(options[1], json("2"));
  EXPECT_EQ(options[2], json("always"));
}

TEST(ConfigTest, OptionsAsBlockSequence) {
  JobSpec spec;
  Status s = ParseConfig(ConfigWithKnob("        options:\n"
                                        "          - never\n"
                                        "          - madvise\n"
                                        "          - always\n"),
                         "k.yaml", &spec);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(spec.knobs[0].options, (std::vector<json>{"never", "madvise", "always"}));
}

TEST(ConfigTest, OptionsAsScalarIsSplitOnWhitespace) {
  JobSpec spec;
  Status s = ParseConfig(ConfigWithKnob("        options: 1 2 4 8\n"), "k.yaml", &spec);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(spec.knobs[0].options, (std::vector<json>{1, 2, 4, 8}));
}

TEST(ConfigTest, EmptyOptionsListIsAnError) {
  JobSpec spec;
  Status s = ParseConfig(ConfigWithKnob("        options: []\n"), "k.yaml", &spec);
  EXPECT_EQ(std::string(s.CodeName()), "invalid_argument");
  EXPECT_TRUE(Contains(s.message(), "knob 'k': options is empty")) << s.message();
}

TEST(ConfigTest, NonScalarOptionIsAnError) {
  JobSpec spec;
  Status s =
      ParseConfig(ConfigWithKnob("        options: [1, [2, 3]]\n"), "k.yaml", &spec);
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(Contains(s.message(), "every option must be a scalar")) << s.message();
}

TEST(ConfigTest, IntegerRangeExpandsInclusively) {
  JobSpec spec;
  Status s = ParseConfig(ConfigWithKnob("        range: {min: 1, max: 10, step: 3}\n"),
                         "k.yaml", &spec);
  ASSERT_TRUE(s.ok()) << s.message();
  const auto& options = spec.knobs[0].options;
  EXPECT_EQ(options, (std::vector<json>{1, 4, 7, 10}));
  for (const json& v : options) EXPECT_TRUE(v.is_number_integer()) << v;
}

TEST(ConfigTest, RangeStepDefaultsToOne) {
  JobSpec spec;
  Status s =
      ParseConfig(ConfigWithKnob("        range: {min: 3, max: 6}\n"), "k.yaml", &spec);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(spec.knobs[0].options, (std::vector<json>{3, 4, 5, 6}));
}

TEST(ConfigTest, RangeStopsAtTheLastStepNotAboveMax) {
  JobSpec spec;
  Status s = ParseConfig(ConfigWithKnob("        range: {min: 0, max: 10, step: 4}\n"),
                         "k.yaml", &spec);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(spec.knobs[0].options, (std::vector<json>{0, 4, 8}));
}

TEST(ConfigTest, RangeWithMinEqualToMaxHasOneValue) {
  JobSpec spec;
  Status s =
      ParseConfig(ConfigWithKnob("        range: {min: 5, max: 5}\n"), "k.yaml", &spec);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(spec.knobs[0].options, (std::vector<json>{5}));
}

TEST(ConfigTest, FloatRangeExpandsWithoutAccumulatedError) {
  JobSpec spec;
  Status s =
      ParseConfig(ConfigWithKnob("        range: {min: 0.1, max: 0.5, step: 0.1}\n"),
                  "k.yaml", &spec);
  ASSERT_TRUE(s.ok()) << s.message();
  const auto& options = spec.knobs[0].options;
  // Exactly the decimal values, so that 0.1 + 2 * 0.1 shows as 0.3, not
  // 0.30000000000000004.
  ASSERT_EQ(options.size(), 5u);
  EXPECT_EQ(options[0].get<double>(), 0.1);
  EXPECT_EQ(options[1].get<double>(), 0.2);
  EXPECT_EQ(options[2].get<double>(), 0.3);
  EXPECT_EQ(options[3].get<double>(), 0.4);
  EXPECT_EQ(options[4].get<double>(), 0.5);
  EXPECT_EQ(ValueToString(options[2]), "0.3");
}

TEST(ConfigTest, RangeWithFractionalStepGivesFloats) {
  JobSpec spec;
  Status s = ParseConfig(ConfigWithKnob("        range: {min: 1, max: 2, step: 0.5}\n"),
                         "k.yaml", &spec);
  ASSERT_TRUE(s.ok()) << s.message();
  const auto& options = spec.knobs[0].options;
  ASSERT_EQ(options.size(), 3u);
  EXPECT_TRUE(options[1].is_number_float());
  EXPECT_DOUBLE_EQ(options[0].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(options[1].get<double>(), 1.5);
  EXPECT_DOUBLE_EQ(options[2].get<double>(), 2.0);
}

TEST(ConfigTest, RangeStepOfZeroIsAnError) {
  JobSpec spec;
  Status s = ParseConfig(ConfigWithKnob("        range: {min: 1, max: 4, step: 0}\n"),
                         "k.yaml", &spec);
  EXPECT_EQ(std::string(s.CodeName()), "invalid_argument");
  EXPECT_TRUE(Contains(s.message(), "step must be positive")) << s.message();
}

TEST(ConfigTest, NegativeRangeStepIsAnError) {
  JobSpec spec;
  Status s = ParseConfig(ConfigWithKnob("        range: {min: 1, max: 4, step: -1}\n"),
                         "k.yaml", &spec);
  EXPECT_EQ(std::string(s.CodeName()), "invalid_argument");
  EXPECT_TRUE(Contains(s.message(), "step must be positive")) << s.message();
}

TEST(ConfigTest, RangeMaxBelowMinIsAnErrorAtTheRange) {
  JobSpec spec;
  // Line 5, and the range's mapping starts at column 16.
  Status s =
      ParseConfig(ConfigWithKnob("        range: {min: 10, max: 1}\n"), "k.yaml", &spec);
  EXPECT_EQ(std::string(s.CodeName()), "invalid_argument");
  EXPECT_TRUE(
      Contains(s.message(), "k.yaml:5:16: knob 'k': range.max is below range.min"))
      << s.message();
}

TEST(ConfigTest, RangeWithoutMaxIsAnError) {
  JobSpec spec;
  Status s = ParseConfig(ConfigWithKnob("        range: {min: 1}\n"), "k.yaml", &spec);
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(Contains(s.message(), "needs both min and max")) << s.message();
}

TEST(ConfigTest, RangeWithUnknownKeyIsAnError) {
  JobSpec spec;
  Status s = ParseConfig(ConfigWithKnob("        range: {min: 1, max: 4, by: 2}\n"),
                         "k.yaml", &spec);
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(Contains(s.message(), "unknown key 'by'")) << s.message();
}

TEST(ConfigTest, NonNumericRangeBoundIsAnError) {
  JobSpec spec;
  Status s =
      ParseConfig(ConfigWithKnob("        range: {min: one, max: 4}\n"), "k.yaml", &spec);
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(Contains(s.message(), "range.min must be a number")) << s.message();
}

TEST(ConfigTest, RangeWithTooManyValuesIsAnError) {
  JobSpec spec;
  Status s = ParseConfig(ConfigWithKnob("        range: {min: 1, max: 100000000}\n"),
                         "k.yaml", &spec);
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(Contains(s.message(), "at most")) << s.message();
}

// Regression (fixed): options and range both fill KnobSpec::options, so a knob that gives
// both is accepted with the two lists concatenated instead of being refused.
TEST(ConfigTest, KnobWithBothOptionsAndRangeIsAnError) {
  JobSpec spec;
  Status s = ParseConfig(ConfigWithKnob("        options: [1, 2]\n"
                                        "        range: {min: 5, max: 6}\n"),
                         "k.yaml", &spec);
  EXPECT_EQ(std::string(s.CodeName()), "invalid_argument");
  EXPECT_TRUE(Contains(s.message(), "only one of")) << s.message();
}

TEST(ConfigTest, KnobWithBothOptionsAndOptionsScriptIsAnError) {
  JobSpec spec;
  Status s = ParseConfig(ConfigWithKnob("        options: [1, 2]\n"
                                        "        options_script: seq 1 3\n"),
                         "k.yaml", &spec);
  EXPECT_EQ(std::string(s.CodeName()), "invalid_argument");
  EXPECT_TRUE(Contains(s.message(), "only one of")) << s.message();
}

TEST(ConfigTest, KnobWithoutValuesNamesABuiltinKnob) {
  JobSpec spec;
  Status s = ParseConfig(ConfigWithKnob("        description: the catalog's\n"), "k.yaml",
                         &spec);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(spec.knobs[0].kind, KnobKind::kBuiltin);
  s = ParseConfig(
      "domain:\n  common:\n    knobs:\n      vm.swappiness:\n"
      "    target: duration:min\n",
      "k.yaml", &spec);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(spec.knobs[0].name, "vm.swappiness");
  EXPECT_EQ(spec.knobs[0].kind, KnobKind::kBuiltin);
  EXPECT_FALSE(spec.HasKind(KnobKind::kScript));
}

TEST(ConfigTest, DefaultIsKeptAsNumber) {
  JobSpec spec;
  Status s = ParseConfig(ConfigWithKnob("        options: [1, 2, 4]\n"
                                        "        default: 2\n"),
                         "k.yaml", &spec);
  ASSERT_TRUE(s.ok()) << s.message();
  ASSERT_TRUE(spec.knobs[0].default_value.has_value());
  EXPECT_TRUE(spec.knobs[0].default_value->is_number_integer());
  EXPECT_EQ(*spec.knobs[0].default_value, 2);
}

TEST(ConfigTest, QuotedDefaultStaysString) {
  JobSpec spec;
  Status s = ParseConfig(ConfigWithKnob("        options: [\"1\", \"2\"]\n"
                                        "        default: \"2\"\n"),
                         "k.yaml", &spec);
  ASSERT_TRUE(s.ok()) << s.message();
  ASSERT_TRUE(spec.knobs[0].default_value.has_value());
  EXPECT_EQ(*spec.knobs[0].default_value, json("2"));
}

TEST(ConfigTest, DefaultIsAbsentUnlessGiven) {
  JobSpec spec;
  ASSERT_TRUE(
      ParseConfig(ConfigWithKnob("        options: [1, 2]\n"), "k.yaml", &spec).ok());
  EXPECT_FALSE(spec.knobs[0].default_value.has_value());
}

TEST(ConfigTest, NonScalarDefaultIsAnError) {
  JobSpec spec;
  Status s = ParseConfig(ConfigWithKnob("        options: [1, 2]\n"
                                        "        default: [1]\n"),
                         "k.yaml", &spec);
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(Contains(s.message(), "default must be a scalar")) << s.message();
}

TEST(ConfigTest, DescriptionIsKept) {
  JobSpec spec;
  Status s = ParseConfig(ConfigWithKnob("        options: [1, 2]\n"
                                        "        description: worker threads\n"),
                         "k.yaml", &spec);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(spec.knobs[0].description, "worker threads");
}

TEST(ConfigTest, BadKnobFieldReportsFileLineAndColumn) {
  JobSpec spec;
  // Line 5: "        options: {a: 1}"; the mapping starts at column 18.
  Status s = ParseConfig(ConfigWithKnob("        options: {a: 1}\n"), "k.yaml", &spec);
  EXPECT_EQ(std::string(s.CodeName()), "invalid_argument");
  EXPECT_TRUE(Contains(s.message(), "k.yaml:5:18: knob 'k': options must be a list"))
      << s.message();
}

TEST(ConfigTest, ScriptKnobNeedsItsValuesAndBothScripts) {
  JobSpec spec;
  ASSERT_TRUE(ParseConfig(ConfigWithKnob("        options: [1, 2]\n"
                                         "        get_script: cat /x\n"
                                         "        set_script: echo \"$KNOB_VAL\" > /x\n"
                                         "        devices_script: ls /y\n"
                                         "        pre_set_script: 'true'\n"),
                          "k.yaml", &spec)
                  .ok());
  ASSERT_EQ(spec.knobs.size(), 1u);
  EXPECT_EQ(spec.knobs[0].kind, KnobKind::kScript);
  EXPECT_EQ(spec.knobs[0].set_script, "echo \"$KNOB_VAL\" > /x");
  EXPECT_EQ(spec.knobs[0].devices_script, "ls /y");
  EXPECT_TRUE(spec.HasKind(KnobKind::kScript));

  Status s =
      ParseConfig(ConfigWithKnob("        options: [1, 2]\n        set_script: x\n"),
                  "k.yaml", &spec);
  EXPECT_TRUE(Contains(s.message(),
                       "k.yaml:5:9: knob 'k': a script knob needs both "
                       "get_script and set_script"))
      << s.message();
  s = ParseConfig(ConfigWithKnob("        get_script: x\n        set_script: y\n"),
                  "k.yaml", &spec);
  EXPECT_TRUE(Contains(s.message(), "a script knob needs its values")) << s.message();
}

TEST(ConfigTest, ImportPullsBuiltinKnobsByRegex) {
  JobSpec spec;
  Status s = ParseConfig(
      "import:\n  builtin:\n    include_knobs: ['prefetch\\..*', 'vm\\..*']\n"
      "    exclude_knobs: ['.*dcu.*']\ndomain:\n  common:\n    target: duration:min\n",
      "k.yaml", &spec);
  ASSERT_TRUE(s.ok()) << s.message();
  ASSERT_EQ(spec.imports.size(), 1u);
  EXPECT_EQ(spec.imports[0].include,
            (std::vector<std::string>{"prefetch\\..*", "vm\\..*"}));
  EXPECT_EQ(spec.imports[0].exclude, std::vector<std::string>{".*dcu.*"});
  EXPECT_TRUE(spec.HasKind(KnobKind::kBuiltin));
  s = ParseConfig(
      "import:\n  elsewhere: {}\ndomain:\n  common:\n    target: duration:min\n",
      "k.yaml", &spec);
  EXPECT_TRUE(Contains(s.message(), "k.yaml:2:3: import 'elsewhere' is not known"))
      << s.message();
  s = ParseConfig(
      "import:\n  builtin:\n    include_knobs: ['(']\ndomain:\n  common:\n"
      "    target: duration:min\n",
      "k.yaml", &spec);
  EXPECT_TRUE(Contains(s.message(),
                       "k.yaml:3:21: import.builtin.include_knobs: '(' is not a "
                       "valid regular expression"))
      << s.message();
}

TEST(ConfigTest, KnobThatIsNotAMappingIsAnError) {
  JobSpec spec;
  Status s = ParseConfig(
      "domain:\n"
      "  common:\n"
      "    knobs:\n"
      "      k: 5\n"
      "    target: duration:min\n",
      "k.yaml", &spec);
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(Contains(s.message(), "k.yaml:4:10: knob 'k' must be a mapping"))
      << s.message();
}

TEST(ConfigTest, SameKnobInTwoDomainSectionsIsAnError) {
  JobSpec spec;
  Status s = ParseConfig(
      "domain:\n"
      "  common:\n"
      "    knobs:\n"
      "      k:\n"
      "        options: [1, 2]\n"
      "    target: duration:min\n"
      "  other:\n"
      "    knobs:\n"
      "      k:\n"
      "        options: [3]\n",
      "k.yaml", &spec);
  EXPECT_EQ(std::string(s.CodeName()), "invalid_argument");
  EXPECT_TRUE(Contains(s.message(), "k.yaml:10:9: knob 'k' is defined twice"))
      << s.message();
}

// ---------------------------------------------------------------------------
// Metrics.

TEST(ConfigTest, PatternMetricReadsStdoutByDefault) {
  JobSpec spec;
  Status s = ParseConfig(
      "domain:\n"
      "  common:\n"
      "    knobs:\n"
      "      k:\n"
      "        options: [1, 2]\n"
      "    metrics:\n"
      "      rate:\n"
      "        pattern: 'rate: ([0-9.]+)'\n"
      "    target: rate:max\n",
      "k.yaml", &spec);
  ASSERT_TRUE(s.ok()) << s.message();
  const MetricSpec* rate = spec.FindMetric("rate");
  ASSERT_NE(rate, nullptr);
  EXPECT_EQ(rate->kind, MetricKind::kPattern);
  EXPECT_EQ(rate->pattern, "rate: ([0-9.]+)");
  EXPECT_EQ(rate->source, "stdout");
  EXPECT_EQ(rate->pos.line, 8);
}

TEST(ConfigTest, PatternMetricMayReadStderr) {
  JobSpec spec;
  Status s = ParseConfig(
      "domain:\n"
      "  common:\n"
      "    knobs:\n"
      "      k:\n"
      "        options: [1, 2]\n"
      "    metrics:\n"
      "      t:\n"
      "        pattern: 'took ([0-9]+)'\n"
      "        source: stderr\n"
      "    target: t:min\n",
      "k.yaml", &spec);
  ASSERT_TRUE(s.ok()) << s.message();
  ASSERT_NE(spec.FindMetric("t"), nullptr);
  EXPECT_EQ(spec.FindMetric("t")->source, "stderr");
}

TEST(ConfigTest, PatternMetricSourceMustBeStdoutOrStderr) {
  JobSpec spec;
  Status s = ParseConfig(
      "domain:\n"
      "  common:\n"
      "    knobs:\n"
      "      k:\n"
      "        options: [1, 2]\n"
      "    metrics:\n"
      "      t:\n"
      "        pattern: 'took ([0-9]+)'\n"
      "        source: stdin\n"
      "    target: t:min\n",
      "k.yaml", &spec);
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(
      Contains(s.message(), "k.yaml:9:17: metric 't': source must be stdout or stderr"))
      << s.message();
}

TEST(ConfigTest, InvalidPatternIsAnErrorAtThePattern) {
  JobSpec spec;
  Status s = ParseConfig(
      "domain:\n"
      "  common:\n"
      "    knobs:\n"
      "      k:\n"
      "        options: [1, 2]\n"
      "    metrics:\n"
      "      t:\n"
      "        pattern: 'took ([0-9]+'\n"
      "    target: t:min\n",
      "k.yaml", &spec);
  EXPECT_EQ(std::string(s.CodeName()), "invalid_argument");
  EXPECT_TRUE(Contains(s.message(),
                       "k.yaml:8:18: metric 't': pattern 'took ([0-9]+' is not a valid "
                       "regular expression"))
      << s.message();
}

TEST(ConfigTest, MetricWithBothScriptAndPatternIsAnError) {
  JobSpec spec;
  Status s = ParseConfig(
      "domain:\n"
      "  common:\n"
      "    knobs:\n"
      "      k:\n"
      "        options: [1, 2]\n"
      "    metrics:\n"
      "      t:\n"
      "        pattern: 'took ([0-9]+)'\n"
      "        sample_script: echo 1\n"
      "    target: t:min\n",
      "k.yaml", &spec);
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(Contains(s.message(), "needs exactly one of sample_script and pattern"))
      << s.message();
}

TEST(ConfigTest, MetricWithNeitherScriptNorPatternIsAnError) {
  JobSpec spec;
  Status s = ParseConfig(
      "domain:\n"
      "  common:\n"
      "    knobs:\n"
      "      k:\n"
      "        options: [1, 2]\n"
      "    metrics:\n"
      "      t:\n"
      "        aggregated: true\n"
      "    target: t:min\n",
      "k.yaml", &spec);
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(Contains(s.message(), "needs exactly one of sample_script and pattern"))
      << s.message();
}

TEST(ConfigTest, UserMetricMayNotBeCalledDuration) {
  JobSpec spec;
  Status s = ParseConfig(
      "domain:\n"
      "  common:\n"
      "    knobs:\n"
      "      k:\n"
      "        options: [1, 2]\n"
      "    metrics:\n"
      "      duration:\n"
      "        sample_script: echo 1\n"
      "    target: duration:min\n",
      "k.yaml", &spec);
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(Contains(s.message(), "'duration' is a built-in metric")) << s.message();
}

TEST(ConfigTest, DurationTargetNeedsNoMetricDefinition) {
  JobSpec spec;
  Status s = ParseConfig(ConfigWith(""), "k.yaml", &spec);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(spec.target.metric, "duration");
  EXPECT_EQ(spec.target.goal, Goal::kMin);
  EXPECT_TRUE(spec.metrics.empty());
}

TEST(ConfigTest, CompleteSpecAddsTheBuiltInDurationMetric) {
  JobSpec spec;
  ASSERT_TRUE(ParseConfig(ConfigWith(""), "k.yaml", &spec).ok());
  Status s = CompleteSpec({"./bench"}, &spec);
  ASSERT_TRUE(s.ok()) << s.message();
  const MetricSpec* duration = spec.FindMetric("duration");
  ASSERT_NE(duration, nullptr);
  EXPECT_EQ(duration->kind, MetricKind::kDuration);
}

TEST(ConfigTest, CompleteSpecAddsDurationOnlyOnce) {
  JobSpec spec;
  ASSERT_TRUE(ParseConfig(ConfigWith(""), "k.yaml", &spec).ok());
  ASSERT_TRUE(CompleteSpec({"./bench"}, &spec).ok());
  ASSERT_TRUE(CompleteSpec({"./bench"}, &spec).ok());
  EXPECT_EQ(spec.metrics.size(), 1u);
}

TEST(ConfigTest, FindMetricReturnsNullForUnknownName) {
  JobSpec spec;
  ASSERT_TRUE(ParseConfig(kReferenceConfig, "knobs.yaml", &spec).ok());
  EXPECT_EQ(spec.FindMetric("nope"), nullptr);
  EXPECT_NE(spec.FindMetric("shell.my_target"), nullptr);
}

// ---------------------------------------------------------------------------
// Target.

TEST(ConfigTest, TargetMetricColonMax) {
  JobSpec spec;
  ASSERT_TRUE(ParseConfig(ConfigWithTarget("target: m:max"), "k.yaml", &spec).ok());
  EXPECT_EQ(spec.target.metric, "m");
  EXPECT_EQ(spec.target.goal, Goal::kMax);
}

TEST(ConfigTest, TargetMetricColonMin) {
  JobSpec spec;
  ASSERT_TRUE(ParseConfig(ConfigWithTarget("target: m:min"), "k.yaml", &spec).ok());
  EXPECT_EQ(spec.target.metric, "m");
  EXPECT_EQ(spec.target.goal, Goal::kMin);
}

TEST(ConfigTest, TargetAsNameAndGoalMapping) {
  JobSpec spec;
  Status s =
      ParseConfig(ConfigWithTarget("target: {name: m, goal: min}"), "k.yaml", &spec);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(spec.target.metric, "m");
  EXPECT_EQ(spec.target.goal, Goal::kMin);
}

TEST(ConfigTest, TargetMetricNameMayContainColons) {
  JobSpec spec;
  Status s = ParseConfig(
      "domain:\n"
      "  common:\n"
      "    knobs:\n"
      "      k:\n"
      "        options: [1, 2]\n"
      "    metrics:\n"
      "      'ns:rate':\n"
      "        sample_script: echo 1\n"
      "    target: ns:rate:max\n",
      "k.yaml", &spec);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(spec.target.metric, "ns:rate");
  EXPECT_EQ(spec.target.goal, Goal::kMax);
}

TEST(ConfigTest, TargetWithoutGoalIsAnErrorSuggestingOne) {
  JobSpec spec;
  // Line 9, the scalar at column 13.
  Status s = ParseConfig(ConfigWithTarget("target: m"), "k.yaml", &spec);
  EXPECT_EQ(std::string(s.CodeName()), "invalid_argument");
  EXPECT_TRUE(Contains(s.message(), "k.yaml:9:13: target 'm' needs a goal"))
      << s.message();
  EXPECT_TRUE(Contains(s.message(), "m:max")) << s.message();
}

TEST(ConfigTest, TargetMappingWithoutGoalIsAnError) {
  JobSpec spec;
  Status s = ParseConfig(ConfigWithTarget("target: {name: m}"), "k.yaml", &spec);
  EXPECT_EQ(std::string(s.CodeName()), "invalid_argument");
  EXPECT_TRUE(Contains(s.message(), "goal must be max or min")) << s.message();
}

TEST(ConfigTest, TargetMappingWithoutNameIsAnError) {
  JobSpec spec;
  Status s = ParseConfig(ConfigWithTarget("target: {goal: max}"), "k.yaml", &spec);
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(Contains(s.message(), "target needs a name")) << s.message();
}

TEST(ConfigTest, TargetGoalOtherThanMaxOrMinIsAnError) {
  JobSpec spec;
  Status s = ParseConfig(ConfigWithTarget("target: m:fastest"), "k.yaml", &spec);
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(Contains(s.message(), "target goal must be max or min, not 'fastest'"))
      << s.message();
}

TEST(ConfigTest, TargetAsListIsAnError) {
  JobSpec spec;
  Status s = ParseConfig(ConfigWithTarget("target: [m, max]"), "k.yaml", &spec);
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(Contains(s.message(), "target must be")) << s.message();
}

TEST(ConfigTest, MissingTargetIsAnError) {
  JobSpec spec;
  Status s = ParseConfig(
      "domain:\n"
      "  common:\n"
      "    knobs:\n"
      "      k:\n"
      "        options: [1, 2]\n",
      "k.yaml", &spec);
  EXPECT_EQ(std::string(s.CodeName()), "invalid_argument");
  EXPECT_TRUE(Contains(s.message(), "k.yaml: no target")) << s.message();
}

TEST(ConfigTest, GoalNames) {
  EXPECT_EQ(GoalName(Goal::kMax), "max");
  EXPECT_EQ(GoalName(Goal::kMin), "min");
}

// ---------------------------------------------------------------------------
// Whole-file shape.

TEST(ConfigTest, EmptyFileIsAnError) {
  JobSpec spec;
  Status s = ParseConfig("", "k.yaml", &spec);
  EXPECT_EQ(std::string(s.CodeName()), "invalid_argument");
  EXPECT_TRUE(Contains(s.message(), "k.yaml: the file is empty")) << s.message();
}

TEST(ConfigTest, TopLevelListIsAnError) {
  JobSpec spec;
  Status s = ParseConfig("- a\n- b\n", "k.yaml", &spec);
  EXPECT_EQ(std::string(s.CodeName()), "invalid_argument");
  EXPECT_TRUE(Contains(s.message(), "the top level must be a mapping")) << s.message();
}

TEST(ConfigTest, MissingDomainIsAnError) {
  JobSpec spec;
  Status s = ParseConfig("global_settings:\n  seed: 3\n", "k.yaml", &spec);
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(Contains(s.message(), "no 'domain' section")) << s.message();
}

TEST(ConfigTest, DomainWithoutKnobsIsAnError) {
  JobSpec spec;
  Status s =
      ParseConfig("domain:\n  common:\n    target: duration:min\n", "k.yaml", &spec);
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(Contains(s.message(), "no knobs defined")) << s.message();
}

TEST(ConfigTest, YamlSyntaxErrorReportsFileLineAndColumn) {
  JobSpec spec;
  Status s = ParseConfig(
      "domain:\n"
      "  common:\n"
      "    knobs: [1, 2\n"
      "    target: duration:min\n",
      "bad.yaml", &spec);
  EXPECT_EQ(std::string(s.CodeName()), "invalid_argument");
  // The unclosed flow sequence is noticed at the ':' on line 4.
  EXPECT_TRUE(Contains(s.message(), "bad.yaml:4:11: invalid YAML")) << s.message();
}

TEST(ConfigTest, BadIndentationReportsTheOffendingLine) {
  JobSpec spec;
  Status s = ParseConfig(
      "domain:\n"
      "  common:\n"
      "    knobs:\n"
      "      k:\n"
      "        options: [1, 2]\n"
      "     target: duration:min\n",
      "bad.yaml", &spec);
  EXPECT_EQ(std::string(s.CodeName()), "invalid_argument");
  EXPECT_TRUE(Contains(s.message(), "bad.yaml:6:6: invalid YAML")) << s.message();
}

TEST(ConfigTest, ParsingResetsTheSpec) {
  JobSpec spec;
  KnobSpec stale;
  stale.name = "stale";
  spec.knobs.push_back(stale);
  spec.warnings.push_back("stale");
  ASSERT_TRUE(ParseConfig(ConfigWith(""), "k.yaml", &spec).ok());
  ASSERT_EQ(spec.knobs.size(), 1u);
  EXPECT_EQ(spec.knobs[0].name, "k");
  EXPECT_TRUE(spec.warnings.empty());
}

// ---------------------------------------------------------------------------
// Warnings: accepted but ignored.

TEST(ConfigTest, UnknownTopLevelKeyIsAWarningWithPosition) {
  JobSpec spec;
  Status s = ParseConfig(ConfigWith("colour: blue\n"), "k.yaml", &spec);
  ASSERT_TRUE(s.ok()) << s.message();
  ASSERT_EQ(spec.warnings.size(), 1u);
  EXPECT_EQ(spec.warnings[0],
            "k.yaml:7:1: unknown key 'colour' in the top level ignored");
}

TEST(ConfigTest, UnknownKnobKeyIsAWarningWithPosition) {
  JobSpec spec;
  Status s = ParseConfig(ConfigWithKnob("        options: [1, 2]\n"
                                        "        unit: threads\n"),
                         "k.yaml", &spec);
  ASSERT_TRUE(s.ok()) << s.message();
  ASSERT_EQ(spec.warnings.size(), 1u);
  EXPECT_EQ(spec.warnings[0], "k.yaml:6:9: unknown key 'unit' in knob 'k' ignored");
}

TEST(ConfigTest, UnknownMetricKeyIsAWarning) {
  JobSpec spec;
  Status s = ParseConfig(
      "domain:\n"
      "  common:\n"
      "    knobs:\n"
      "      k:\n"
      "        options: [1, 2]\n"
      "    metrics:\n"
      "      m:\n"
      "        sample_script: echo 1\n"
      "        unit: ops\n"
      "    target: m:max\n",
      "k.yaml", &spec);
  ASSERT_TRUE(s.ok()) << s.message();
  ASSERT_EQ(spec.warnings.size(), 1u);
  EXPECT_EQ(spec.warnings[0], "k.yaml:9:9: unknown key 'unit' in metric 'm' ignored");
}

TEST(ConfigTest, UnknownDomainKeyIsAWarning) {
  JobSpec spec;
  Status s = ParseConfig(
      "domain:\n"
      "  common:\n"
      "    knobs:\n"
      "      k:\n"
      "        options: [1, 2]\n"
      "    target: duration:min\n"
      "    owner: me\n",
      "k.yaml", &spec);
  ASSERT_TRUE(s.ok()) << s.message();
  ASSERT_EQ(spec.warnings.size(), 1u);
  EXPECT_EQ(spec.warnings[0],
            "k.yaml:7:5: unknown key 'owner' in the domain section ignored");
}

TEST(ConfigTest, NonEmptyPluginsListIsAWarning) {
  JobSpec spec;
  Status s = ParseConfig(
      "domain:\n"
      "  common:\n"
      "    knobs:\n"
      "      k:\n"
      "        options: [1, 2]\n"
      "    target: duration:min\n"
      "    plugins: [cpu]\n",
      "k.yaml", &spec);
  ASSERT_TRUE(s.ok()) << s.message();
  ASSERT_EQ(spec.warnings.size(), 1u);
  EXPECT_TRUE(Contains(spec.warnings[0], "k.yaml:7:14: plugins are not supported"))
      << spec.warnings[0];
}

TEST(ConfigTest, IncludeMetricsMustBeAList) {
  JobSpec spec;
  Status s = ParseConfig(
      "domain:\n"
      "  common:\n"
      "    knobs:\n"
      "      k:\n"
      "        options: [1, 2]\n"
      "    target: duration:min\n"
      "    include_metrics: duration\n",
      "k.yaml", &spec);
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(Contains(s.message(), "include_metrics must be a list")) << s.message();
}

// ---------------------------------------------------------------------------
// global_settings.

TEST(ConfigTest, GlobalSettingsAreRead) {
  JobSpec spec;
  Status s = ParseConfig(ConfigWith("global_settings:\n"
                                    "  min_baseline_samples: 3\n"
                                    "  min_samples_per_config: 2\n"
                                    "  max_configs: 50\n"
                                    "  max_minutes: 1.5\n"
                                    "  max_samples: 200\n"
                                    "  seed: 42\n"
                                    "  script_timeout: 30s\n"),
                         "k.yaml", &spec);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(spec.settings.min_baseline_samples, 3);
  EXPECT_EQ(spec.settings.min_samples_per_config, 2);
  EXPECT_EQ(spec.settings.max_configs, 50);
  EXPECT_DOUBLE_EQ(spec.settings.max_minutes, 1.5);
  EXPECT_EQ(spec.settings.max_samples, 200);
  EXPECT_EQ(spec.settings.seed, 42u);
  EXPECT_DOUBLE_EQ(spec.settings.script_timeout_s, 30);
  EXPECT_TRUE(spec.warnings.empty());
}

TEST(ConfigTest, SettingsDefaultsWhenGlobalSettingsAbsent) {
  JobSpec spec;
  ASSERT_TRUE(ParseConfig(ConfigWith(""), "k.yaml", &spec).ok());
  EXPECT_EQ(spec.settings.max_samples, 0);
  EXPECT_EQ(spec.settings.max_minutes, 0);
  EXPECT_EQ(spec.settings.seed, 1u);
  EXPECT_DOUBLE_EQ(spec.settings.script_timeout_s, 60);
}

TEST(ConfigTest, SeedMayBeZero) {
  JobSpec spec;
  Status s = ParseConfig(ConfigWith("global_settings:\n  seed: 0\n"), "k.yaml", &spec);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(spec.settings.seed, 0u);
}

TEST(ConfigTest, ZeroBaselineSamplesIsAnErrorAtTheValue) {
  JobSpec spec;
  // Line 8: "  min_baseline_samples: 0", the value at column 25.
  Status s = ParseConfig(ConfigWith("global_settings:\n  min_baseline_samples: 0\n"),
                         "k.yaml", &spec);
  EXPECT_EQ(std::string(s.CodeName()), "invalid_argument");
  EXPECT_TRUE(Contains(
      s.message(), "k.yaml:8:25: min_baseline_samples must be an integer of at least 1"))
      << s.message();
}

TEST(ConfigTest, FractionalSamplesPerConfigIsAnError) {
  JobSpec spec;
  Status s = ParseConfig(ConfigWith("global_settings:\n  min_samples_per_config: 1.5\n"),
                         "k.yaml", &spec);
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(Contains(s.message(), "min_samples_per_config must be an integer"))
      << s.message();
}

TEST(ConfigTest, NonNumericMaxConfigsIsAnError) {
  JobSpec spec;
  Status s =
      ParseConfig(ConfigWith("global_settings:\n  max_configs: lots\n"), "k.yaml", &spec);
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(Contains(s.message(), "max_configs must be an integer of at least 1"))
      << s.message();
}

TEST(ConfigTest, ZeroMaxSamplesIsAnError) {
  JobSpec spec;
  Status s =
      ParseConfig(ConfigWith("global_settings:\n  max_samples: 0\n"), "k.yaml", &spec);
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(Contains(s.message(), "max_samples must be an integer of at least 1"))
      << s.message();
}

TEST(ConfigTest, NonPositiveMaxMinutesIsAnError) {
  for (const char* value : {"0", "-1"}) {
    JobSpec spec;
    Status s = ParseConfig(
        ConfigWith(std::string("global_settings:\n  max_minutes: ") + value + "\n"),
        "k.yaml", &spec);
    EXPECT_FALSE(s.ok()) << value;
    EXPECT_TRUE(Contains(s.message(), "max_minutes must be positive")) << s.message();
  }
}

TEST(ConfigTest, NegativeSeedIsAnError) {
  JobSpec spec;
  Status s = ParseConfig(ConfigWith("global_settings:\n  seed: -1\n"), "k.yaml", &spec);
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(Contains(s.message(), "seed must be an integer of at least 0"))
      << s.message();
}

TEST(ConfigTest, BadScriptTimeoutIsAnError) {
  JobSpec spec;
  Status s = ParseConfig(ConfigWith("global_settings:\n  script_timeout: soon\n"),
                         "k.yaml", &spec);
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(Contains(s.message(), "script_timeout must be a positive duration"))
      << s.message();
}

TEST(ConfigTest, UnknownGlobalSettingIsAWarning) {
  JobSpec spec;
  Status s =
      ParseConfig(ConfigWith("global_settings:\n  parallelism: 4\n"), "k.yaml", &spec);
  ASSERT_TRUE(s.ok()) << s.message();
  ASSERT_EQ(spec.warnings.size(), 1u);
  EXPECT_EQ(spec.warnings[0],
            "k.yaml:8:3: unknown key 'parallelism' in global_settings ignored");
}

TEST(ConfigTest, StrategyIsReadAtTheTopLevel) {
  JobSpec spec;
  Status s = ParseConfig(ConfigWith("strategy: exhaustive\n"), "k.yaml", &spec);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(spec.settings.strategy, "exhaustive");
}

TEST(ConfigTest, UnknownStrategyIsAnError) {
  JobSpec spec;
  Status s = ParseConfig(ConfigWith("strategy: bayesian\n"), "k.yaml", &spec);
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(Contains(s.message(),
                       "k.yaml:7:11: strategy must be 'model', 'random' or 'exhaustive'"))
      << s.message();
}

// ---------------------------------------------------------------------------
// workload.

TEST(ConfigTest, WorkloadCommandStringRunsThroughTheShell) {
  JobSpec spec;
  Status s = ParseConfig(ConfigWith("workload:\n"
                                    "  run:\n"
                                    "    command: ./bench.sh --fast | tee out\n"),
                         "k.yaml", &spec);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(spec.workload.shell, "./bench.sh --fast | tee out");
  EXPECT_TRUE(spec.workload.argv.empty());
}

TEST(ConfigTest, WorkloadCommandListIsArgv) {
  JobSpec spec;
  Status s = ParseConfig(ConfigWith("workload:\n"
                                    "  run:\n"
                                    "    command: [./bench, --threads, '8']\n"),
                         "k.yaml", &spec);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(spec.workload.argv, (std::vector<std::string>{"./bench", "--threads", "8"}));
  EXPECT_TRUE(spec.workload.shell.empty());
}

TEST(ConfigTest, WorkloadTimeoutDefaultsToAnHour) {
  JobSpec spec;
  ASSERT_TRUE(
      ParseConfig(ConfigWith("workload:\n  run:\n    command: ./b\n"), "k.yaml", &spec)
          .ok());
  EXPECT_DOUBLE_EQ(spec.workload.timeout_s, 3600);
}

TEST(ConfigTest, WorkloadTimeoutAcceptsUnitsAndPlainSeconds) {
  const std::pair<const char*, double> cases[] = {
      {"90s", 90}, {"5m", 300}, {"500ms", 0.5}, {"2h", 7200}, {"45", 45}, {"1.5", 1.5}};
  for (const auto& [text, seconds] : cases) {
    JobSpec spec;
    Status s = ParseConfig(ConfigWith(std::string("workload:\n"
                                                  "  run:\n"
                                                  "    command: ./b\n"
                                                  "    timeout: ") +
                                      text + "\n"),
                           "k.yaml", &spec);
    ASSERT_TRUE(s.ok()) << text << ": " << s.message();
    EXPECT_DOUBLE_EQ(spec.workload.timeout_s, seconds) << text;
  }
}

TEST(ConfigTest, ZeroWorkloadTimeoutIsAnError) {
  JobSpec spec;
  Status s = ParseConfig(ConfigWith("workload:\n"
                                    "  run:\n"
                                    "    command: ./b\n"
                                    "    timeout: 0s\n"),
                         "k.yaml", &spec);
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(
      Contains(s.message(), "k.yaml:10:14: workload.run.timeout must be a positive"))
      << s.message();
}

TEST(ConfigTest, WorkloadTimeoutWithUnknownUnitIsAnError) {
  JobSpec spec;
  Status s = ParseConfig(ConfigWith("workload:\n"
                                    "  run:\n"
                                    "    command: ./b\n"
                                    "    timeout: 2d\n"),
                         "k.yaml", &spec);
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(Contains(s.message(), "workload.run.timeout must be a positive duration"))
      << s.message();
}

TEST(ConfigTest, WorkloadKindSyncOrLiveIsAcceptedOthersAreNot) {
  JobSpec spec;
  EXPECT_TRUE(
      ParseConfig(ConfigWith("workload:\n  kind: sync\n  run:\n    command: ./b\n"),
                  "k.yaml", &spec)
          .ok());
  Status s =
      ParseConfig(ConfigWith("workload:\n  kind: async\n  run:\n    command: ./b\n"),
                  "k.yaml", &spec);
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(Contains(s.message(), "workload.kind 'async' is not known; use sync"))
      << s.message();
  EXPECT_TRUE(Contains(s.message(), "or live")) << s.message();
}

// The live job of docs/live.md, as the issue gives it, must work as written.
constexpr const char* kLiveConfig = R"(workload:
  kind: live
domain:
  common:
    knobs:
      svc_a:
        options: [1, 2, 3, 4, 5, 6, 7, 8]
        get_script: cat /srv/app/a
        set_script: echo $KNOB_VAL > /srv/app/a
        max_step: 2
      vm.swappiness: {options: [10, 30, 60]}
    metrics:
      shell.rate:
        sample_script: cat /srv/app/rate
    target: shell.rate:max
global_settings:
  sampling_interval: 0.2        # seconds between samples
  min_samples_per_config: 5     # samples per epoch
  max_regression_pct: 20        # guard against the incumbent
  max_minutes: 4                # absent: runs until cancelled
  min_dwell: 2s
  max_changes_per_hour: 40
  mode: recommend
)";

TEST(ConfigTest, ALiveJobParsesAsWritten) {
  JobSpec spec;
  Status s = ParseConfig(kLiveConfig, "live.yaml", &spec);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_TRUE(spec.warnings.empty()) << spec.warnings.front();
  ASSERT_TRUE(CompleteSpec({}, &spec).ok());
  EXPECT_TRUE(spec.workload.live);
  EXPECT_DOUBLE_EQ(spec.settings.sampling_interval_s, 0.2);
  EXPECT_EQ(spec.settings.min_samples_per_config, 5);
  EXPECT_TRUE(spec.settings.min_samples_per_config_given);
  EXPECT_DOUBLE_EQ(spec.settings.max_regression_pct, 20);
  EXPECT_DOUBLE_EQ(spec.settings.max_minutes, 4);
  EXPECT_DOUBLE_EQ(spec.settings.min_dwell_s, 2);
  EXPECT_EQ(spec.settings.max_changes_per_hour, 40);
  EXPECT_EQ(spec.settings.live_mode, "recommend");
  ASSERT_TRUE(spec.knobs[0].max_step.has_value());
  EXPECT_DOUBLE_EQ(*spec.knobs[0].max_step, 2);
  EXPECT_EQ(spec.settings.phase_signature, "none");
}

TEST(ConfigTest, PhaseSignatureIsForLiveJobs) {
  JobSpec spec;
  ASSERT_TRUE(ParseConfig(std::string(kLiveConfig) + "  phase_signature: processes\n",
                          "live.yaml", &spec)
                  .ok());
  ASSERT_TRUE(CompleteSpec({}, &spec).ok());
  EXPECT_EQ(spec.settings.phase_signature, "processes");
  ASSERT_TRUE(ParseConfig(ConfigWith("global_settings:\n  phase_signature: processes\n"),
                          "k.yaml", &spec)
                  .ok());
  Status s = CompleteSpec({"./bench"}, &spec);
  EXPECT_TRUE(Contains(s.message(), "a sync job (this one) has none")) << s.message();
}

TEST(ConfigTest, ALiveJobRefusesAWorkloadAndMetricsItCannotSample) {
  JobSpec spec;
  ASSERT_TRUE(ParseConfig(kLiveConfig, "live.yaml", &spec).ok());
  Status s = CompleteSpec({"./bench.sh"}, &spec);
  EXPECT_TRUE(Contains(s.message(), "honed runs no workload")) << s.message();

  std::string duration = kLiveConfig;
  duration.replace(duration.find("shell.rate:max"), 14, "duration:min");
  ASSERT_TRUE(ParseConfig(duration, "live.yaml", &spec).ok());
  s = CompleteSpec({}, &spec);
  EXPECT_TRUE(Contains(s.message(), "'duration' is not defined")) << s.message();

  std::string pattern = kLiveConfig;
  pattern.replace(pattern.find("sample_script: cat /srv/app/rate"), 32,
                  "pattern: 'rate=(\\d+)'");
  ASSERT_TRUE(ParseConfig(pattern, "live.yaml", &spec).ok());
  s = CompleteSpec({}, &spec);
  EXPECT_TRUE(Contains(s.message(), "there is no workload run")) << s.message();

  std::string dwell = kLiveConfig;
  dwell.replace(dwell.find("min_dwell: 2s"), 13, "min_dwell: 50ms");
  ASSERT_TRUE(ParseConfig(dwell, "live.yaml", &spec).ok());
  s = CompleteSpec({}, &spec);
  EXPECT_TRUE(Contains(s.message(), "min_dwell is shorter than sampling_interval"))
      << s.message();
}

TEST(ConfigTest, LiveMetricSourcesAndGuardsParse) {
  JobSpec spec;
  Status s = ParseConfig(
      "workload: {kind: live}\n"
      "domain:\n  common:\n    knobs:\n      k: {options: [1, 2]}\n"
      "    metrics:\n"
      "      requests: {push: true}\n"
      "      stall: {pressure: memory, line: full, field: avg60, "
      "cgroup: /sys/fs/cgroup/web.service}\n"
      "      cpu: {cgroup_stat: cpu.stat, key: usage_usec, cgroup: /sys/fs/cgroup/web}\n"
      "      ipc: {perf: ipc}\n"
      "      p99: {sample_script: cat /tmp/p99, guard: {max: 50, min: 0}}\n"
      "    target: requests:max\n",
      "live.yaml", &spec);
  ASSERT_TRUE(s.ok()) << s.message();
  ASSERT_TRUE(CompleteSpec({}, &spec).ok());
  EXPECT_EQ(spec.FindMetric("requests")->kind, MetricKind::kPush);
  const MetricSpec* stall = spec.FindMetric("stall");
  EXPECT_EQ(stall->kind, MetricKind::kPressure);
  EXPECT_EQ(stall->resource, "memory");
  EXPECT_EQ(stall->line, "full");
  EXPECT_EQ(stall->field, "avg60");
  EXPECT_EQ(spec.FindMetric("cpu")->key, "usage_usec");
  EXPECT_EQ(spec.FindMetric("ipc")->resource, "ipc");
  EXPECT_EQ(*spec.FindMetric("p99")->guard_max, 50);
  EXPECT_EQ(*spec.FindMetric("p99")->guard_min, 0);
}

TEST(ConfigTest, LiveMetricSourcesRefuseWhatCannotBeRead) {
  struct Case {
    const char* metric;
    const char* message;
  } cases[] = {
      {"{push: true, sample_script: cat x}",
       "needs exactly one of sample_script and pattern"},
      {"{pressure: gpu}", "pressure must be one of cpu, memory, io"},
      {"{pressure: cpu, cgroup: /etc}",
       "cgroup must be a directory under /sys/fs/cgroup"},
      {"{pressure: cpu, cgroup: /sys/fs/cgroup/../../etc}", "cgroup must be a directory"},
      {"{cgroup_stat: cpu.stat}", "cgroup_stat needs the cgroup directory and the key"},
      {"{perf: branches}", "perf must be one of instructions, cycles, ipc"},
      {"{push: false}", "push must be true"},
      {"{push: true, guard: {max: 1, min: 2}}", "guard.min is above guard.max"},
      {"{push: true, guard: {below: 1}}", "guard takes min and max"},
  };
  for (const Case& c : cases) {
    JobSpec spec;
    Status s = ParseConfig(
        std::string("workload: {kind: live}\n"
                    "domain:\n  common:\n    knobs:\n      k: {options: [1, 2]}\n"
                    "    metrics:\n      m: ") +
            c.metric + "\n    target: m:max\n",
        "live.yaml", &spec);
    EXPECT_FALSE(s.ok()) << c.metric;
    EXPECT_TRUE(Contains(s.message(), c.message)) << c.metric << ": " << s.message();
  }
  // A sync job runs its workload: a pushed metric has nothing to read it from.
  JobSpec spec;
  ASSERT_TRUE(ParseConfig("domain:\n  common:\n    knobs:\n      k: {options: [1, 2]}\n"
                          "    metrics:\n      m: {push: true}\n    target: m:max\n",
                          "k.yaml", &spec)
                  .ok());
  Status s = CompleteSpec({"./bench"}, &spec);
  EXPECT_TRUE(Contains(s.message(), "are for live jobs")) << s.message();
}

TEST(ConfigTest, AnExpressionTargetNamesMetricsAndIsForLiveJobs) {
  auto config = [](const std::string& target, bool live) {
    return std::string(live ? "workload: {kind: live}\n" : "") +
           "domain:\n  common:\n    knobs:\n      k: {options: [1, 2]}\n"
           "    metrics:\n      requests: {sample_script: cat r}\n"
           "      cpu: {sample_script: cat c}\n"
           "    target: " +
           target + "\n";
  };
  JobSpec spec;
  ASSERT_TRUE(ParseConfig(config("{expression: requests / cpu, goal: max}", true),
                          "l.yaml", &spec)
                  .ok());
  ASSERT_TRUE(CompleteSpec({}, &spec).ok());
  ASSERT_TRUE(CompleteSpec({}, &spec).ok()) << "completing twice changes nothing";
  EXPECT_EQ(spec.target.metric, "target");
  const MetricSpec* target = spec.FindMetric("target");
  ASSERT_NE(target, nullptr);
  EXPECT_EQ(target->kind, MetricKind::kExpression);
  EXPECT_EQ(target->expression, "requests / cpu");

  ASSERT_TRUE(ParseConfig(config("{expression: requests / cpus, goal: max}", true),
                          "l.yaml", &spec)
                  .ok());
  Status s = CompleteSpec({}, &spec);
  EXPECT_TRUE(Contains(s.message(), "unknown metric 'cpus'")) << s.message();
  ASSERT_TRUE(
      ParseConfig(config("{name: cpu, expression: requests / cpu, goal: max}", true),
                  "l.yaml", &spec)
          .ok());
  s = CompleteSpec({}, &spec);
  EXPECT_TRUE(Contains(s.message(), "needs a name of its own")) << s.message();
  ASSERT_TRUE(ParseConfig(config("{expression: requests / cpu, goal: max}", false),
                          "k.yaml", &spec)
                  .ok());
  s = CompleteSpec({"./bench"}, &spec);
  EXPECT_TRUE(Contains(s.message(), "is for live jobs")) << s.message();
}

TEST(ConfigTest, LiveSettingsOutOfRangeNameTheKey) {
  struct Case {
    const char* line;
    const char* message;
  } cases[] = {
      {"  mode: turbo\n", "mode 'turbo' is not known"},
      {"  max_regression_pct: 0\n", "max_regression_pct must be a percentage"},
      {"  max_regression_pct: 150\n", "max_regression_pct must be a percentage"},
      {"  sampling_interval: 1ms\n", "sampling_interval must be between"},
      {"  sampling_interval: -1\n", "sampling_interval must be a positive duration"},
      {"  max_changes_per_hour: 1\n",
       "max_changes_per_hour must be an integer of at least 2"},
      {"  min_dwell: 30d\n", "min_dwell must be a positive duration"},
      {"  phase_signature: cgroups\n", "phase_signature 'cgroups' is not known"},
  };
  for (const Case& c : cases) {
    JobSpec spec;
    Status s = ParseConfig(ConfigWith(std::string("global_settings:\n") + c.line),
                           "k.yaml", &spec);
    EXPECT_FALSE(s.ok()) << c.line;
    EXPECT_TRUE(Contains(s.message(), c.message)) << c.line << ": " << s.message();
  }
  JobSpec spec;
  Status s =
      ParseConfig(ConfigWithKnob("        options: [1, 2]\n        max_step: nan\n"),
                  "k.yaml", &spec);
  EXPECT_TRUE(Contains(s.message(), "max_step must be a")) << s.message();
}

TEST(ConfigTest, WorkloadCommandListOfNonScalarsIsAnError) {
  JobSpec spec;
  Status s = ParseConfig(ConfigWith("workload:\n  run:\n    command: [./b, [x]]\n"),
                         "k.yaml", &spec);
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(Contains(s.message(), "every argument must be a string")) << s.message();
}

TEST(ConfigTest, UnknownWorkloadKeysAreWarnings) {
  JobSpec spec;
  Status s = ParseConfig(ConfigWith("workload:\n"
                                    "  setup: make\n"
                                    "  run:\n"
                                    "    command: ./b\n"
                                    "    cwd: /tmp\n"),
                         "k.yaml", &spec);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(spec.warnings,
            (std::vector<std::string>{
                "k.yaml:8:3: unknown key 'setup' in workload ignored",
                "k.yaml:11:5: unknown key 'cwd' in workload.run ignored"}));
}

// ---------------------------------------------------------------------------
// CompleteSpec.

TEST(ConfigTest, CommandAfterDashDashOverridesTheFilesWorkload) {
  JobSpec spec;
  ASSERT_TRUE(ParseConfig(ConfigWith("workload:\n  run:\n    command: ./from-file\n"),
                          "k.yaml", &spec)
                  .ok());
  ASSERT_EQ(spec.workload.shell, "./from-file");
  Status s = CompleteSpec({"./from-cli", "--x"}, &spec);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(spec.workload.argv, (std::vector<std::string>{"./from-cli", "--x"}));
  EXPECT_TRUE(spec.workload.shell.empty());
}

TEST(ConfigTest, EmptyCommandKeepsTheFilesWorkload) {
  JobSpec spec;
  ASSERT_TRUE(ParseConfig(ConfigWith("workload:\n  run:\n    command: [./from-file]\n"),
                          "k.yaml", &spec)
                  .ok());
  ASSERT_TRUE(CompleteSpec({}, &spec).ok());
  EXPECT_EQ(spec.workload.argv, std::vector<std::string>{"./from-file"});
}

TEST(ConfigTest, NoWorkloadAnywhereIsAnErrorMentioningDashDash) {
  JobSpec spec;
  ASSERT_TRUE(ParseConfig(ConfigWith(""), "k.yaml", &spec).ok());
  Status s = CompleteSpec({}, &spec);
  EXPECT_EQ(std::string(s.CodeName()), "invalid_argument");
  EXPECT_TRUE(Contains(s.message(), "'--'")) << s.message();
}

TEST(ConfigTest, UndefinedTargetMetricIsAnErrorNamingIt) {
  JobSpec spec;
  Status s = ParseConfig(ConfigWithTarget("target: throughput:max"), "k.yaml", &spec);
  ASSERT_TRUE(s.ok()) << s.message();
  s = CompleteSpec({"./b"}, &spec);
  EXPECT_EQ(std::string(s.CodeName()), "invalid_argument");
  EXPECT_TRUE(Contains(s.message(), "target metric 'throughput' is not defined"))
      << s.message();
  EXPECT_TRUE(Contains(s.message(), "defined: m")) << s.message();
}

// ---------------------------------------------------------------------------
// Helpers.

// ParseOptionList's values, failing the test on an error.
std::vector<json> ParseOptionList(std::string_view text) {
  std::vector<json> values;
  Status s = hone::ParseOptionList(text, kMaxOptionsPerKnob, &values);
  EXPECT_TRUE(s.ok()) << s.message();
  return values;
}

TEST(ConfigTest, ParseOptionListSplitsOnAnyWhitespace) {
  EXPECT_EQ(ParseOptionList("1 2\n3"), (std::vector<json>{1, 2, 3}));
  EXPECT_EQ(ParseOptionList("  4\t5  \n\n6\n"), (std::vector<json>{4, 5, 6}));
}

TEST(ConfigTest, ParseOptionListKeepsWordsAsStrings) {
  std::vector<json> values = ParseOptionList("never madvise 2.5\n");
  ASSERT_EQ(values.size(), 3u);
  EXPECT_EQ(values[0], json("never"));
  EXPECT_EQ(values[1], json("madvise"));
  EXPECT_TRUE(values[2].is_number_float());
  EXPECT_DOUBLE_EQ(values[2].get<double>(), 2.5);
}

TEST(ConfigTest, ParseOptionListOfBlankOutputIsEmpty) {
  EXPECT_TRUE(ParseOptionList("").empty());
  EXPECT_TRUE(ParseOptionList(" \n\t\n").empty());
}

TEST(ConfigTest, ParseScalarIntegers) {
  EXPECT_TRUE(ParseScalar("28").is_number_integer());
  EXPECT_EQ(ParseScalar("28"), 28);
  EXPECT_EQ(ParseScalar("-3"), -3);
  EXPECT_EQ(ParseScalar("+4"), 4);
  EXPECT_EQ(ParseScalar("007"), 7);
}

TEST(ConfigTest, ParseScalarFloats) {
  EXPECT_TRUE(ParseScalar("2.5").is_number_float());
  EXPECT_DOUBLE_EQ(ParseScalar("2.5").get<double>(), 2.5);
  EXPECT_DOUBLE_EQ(ParseScalar(".5").get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(ParseScalar("1e3").get<double>(), 1000);
  EXPECT_DOUBLE_EQ(ParseScalar("-2.5E-1").get<double>(), -0.25);
}

TEST(ConfigTest, ParseScalarIntegerTooLargeForInt64BecomesDouble) {
  json value = ParseScalar("99999999999999999999");
  EXPECT_TRUE(value.is_number_float());
  EXPECT_DOUBLE_EQ(value.get<double>(), 1e20);
}

TEST(ConfigTest, ParseScalarLeavesEverythingElseAString) {
  for (const char* text :
       {"always", "", "1.2.3", "0x10", "1e999", ".", "12ms", " 28", "inf"}) {
    json value = ParseScalar(text);
    EXPECT_TRUE(value.is_string()) << '"' << text << "\" -> " << value;
    EXPECT_EQ(value, json(text));
  }
}

TEST(ConfigTest, ParseDurationSecondsUnits) {
  double s = -1;
  ASSERT_TRUE(ParseDurationSeconds("90", &s));
  EXPECT_DOUBLE_EQ(s, 90);
  ASSERT_TRUE(ParseDurationSeconds("90s", &s));
  EXPECT_DOUBLE_EQ(s, 90);
  ASSERT_TRUE(ParseDurationSeconds("500ms", &s));
  EXPECT_DOUBLE_EQ(s, 0.5);
  ASSERT_TRUE(ParseDurationSeconds("5m", &s));
  EXPECT_DOUBLE_EQ(s, 300);
  ASSERT_TRUE(ParseDurationSeconds("2h", &s));
  EXPECT_DOUBLE_EQ(s, 7200);
  ASSERT_TRUE(ParseDurationSeconds("1.5m", &s));
  EXPECT_DOUBLE_EQ(s, 90);
}

TEST(ConfigTest, ParseDurationSecondsAllowsSurroundingSpace) {
  double s = -1;
  ASSERT_TRUE(ParseDurationSeconds(" 10 s ", &s));
  EXPECT_DOUBLE_EQ(s, 10);
}

TEST(ConfigTest, ParseDurationSecondsRejectsOtherText) {
  for (const char* text : {"", "abc", "-5", "5d", "5 min", "s", "1.5.3", "5mss"}) {
    double s = -1;
    EXPECT_FALSE(ParseDurationSeconds(text, &s)) << '"' << text << '"';
    EXPECT_EQ(s, -1) << "output changed for \"" << text << '"';
  }
}

TEST(ConfigTest, ValueToStringWritesStringsBareAndNumbersAsJson) {
  EXPECT_EQ(ValueToString(json(28)), "28");
  EXPECT_EQ(ValueToString(json(2.5)), "2.5");
  EXPECT_EQ(ValueToString(json("always")), "always");
}

TEST(ConfigTest, WarmStartListsConfigurations) {
  JobSpec spec;
  Status s = ParseConfig(std::string(test::kReferenceConfig) +
                             "warm_start:\n  - {inter_op: 2, intra_op: 28}\n  - "
                             "{inter_op: 4, intra_op: '30'}\n",
                         "k.yaml", &spec);
  ASSERT_TRUE(s.ok()) << s.message();
  ASSERT_EQ(spec.warm_start.size(), 2u);
  EXPECT_EQ(spec.warm_start[0], json({{"inter_op", 2}, {"intra_op", 28}}));
  EXPECT_EQ(spec.warm_start[1]["intra_op"], "30");
  s = ParseConfig(std::string(test::kReferenceConfig) + "warm_start: [3]\n", "k.yaml",
                  &spec);
  EXPECT_TRUE(
      Contains(s.message(), "k.yaml:15:14: every warm_start entry must map knob names"))
      << s.message();
}


// ---------------------------------------------------------------------------
// Knob types and constraints.

TEST(ConfigTest, KnobTypeIsReadAndOptional) {
  JobSpec spec;
  ASSERT_TRUE(ParseConfig(ConfigWithKnob("        options: [low, mid, high]\n"
                                         "        type: ordinal\n"),
                          "k.yaml", &spec)
                  .ok());
  ASSERT_TRUE(spec.knobs[0].type);
  EXPECT_EQ(*spec.knobs[0].type, KnobType::kOrdered);
  ASSERT_TRUE(ParseConfig(ConfigWithKnob("        options: [1, 2]\n"), "k.yaml", &spec).ok());
  EXPECT_FALSE(spec.knobs[0].type);
}

TEST(ConfigTest, BooleanTypeAloneMeansZeroAndOne) {
  JobSpec spec;
  ASSERT_TRUE(ParseConfig(ConfigWithKnob("        type: boolean\n"), "k.yaml", &spec).ok());
  EXPECT_EQ(spec.knobs[0].kind, KnobKind::kApplication);
  EXPECT_EQ(spec.knobs[0].options, (std::vector<json>{0, 1}));
}

TEST(ConfigTest, BooleanWithThreeOptionsIsAnError) {
  JobSpec spec;
  Status s = ParseConfig(ConfigWithKnob("        options: [0, 1, 2]\n        type: bool\n"),
                         "k.yaml", &spec);
  EXPECT_TRUE(Contains(s.message(),
                       "k.yaml:5:9: knob 'k' is boolean but has 3 options; a boolean has two"))
      << s.message();
}

TEST(ConfigTest, UnknownTypeIsAnError) {
  JobSpec spec;
  Status s = ParseConfig(ConfigWithKnob("        options: [1, 2]\n        type: set\n"),
                         "k.yaml", &spec);
  EXPECT_TRUE(Contains(s.message(), "k.yaml:6:15: knob 'k': type must be ordinal")) << s.message();
}

TEST(ConfigTest, ConstraintsAtTheTopLevelAndInTheDomain) {
  JobSpec spec;
  Status s = ParseConfig("constraints: ['k * 2 <= 4']\n"
                         "domain:\n"
                         "  common:\n"
                         "    constraints: [\"k != 3\"]\n"
                         "    knobs:\n"
                         "      k:\n"
                         "        options: [1, 2, 3]\n"
                         "    target: duration:min\n",
                         "k.yaml", &spec);
  ASSERT_TRUE(s.ok()) << s.message();
  ASSERT_EQ(spec.constraints.size(), 2u);
  EXPECT_EQ(spec.constraints[0].text, "k * 2 <= 4");
  EXPECT_EQ(spec.constraints[0].pos.line, 1);
  EXPECT_EQ(spec.constraints[1].text, "k != 3");
}

TEST(ConfigTest, ConstraintSyntaxErrorSaysWhereInTheFileAndInTheExpression) {
  JobSpec spec;
  Status s = ParseConfig(ConfigWith("constraints:\n  - k * * 2 <= 4\n"), "k.yaml", &spec);
  EXPECT_EQ(s.message(),
            "k.yaml:8:5: constraint 'k * * 2 <= 4': at column 5: expected a value but found "
            "'*'");
}

TEST(ConfigTest, ConstraintOnAnUnknownKnobListsTheKnobs) {
  JobSpec spec;
  Status s = ParseConfig(ConfigWith("constraints: ['j < 2']\n"), "k.yaml", &spec);
  EXPECT_EQ(s.message(),
            "k.yaml:7:15: constraint 'j < 2': at column 1: unknown knob 'j' (the knobs are: k)");
}

TEST(ConfigTest, ConstraintsMustBeAListOfStrings) {
  JobSpec spec;
  Status s = ParseConfig(ConfigWith("constraints: 'k < 2'\n"), "k.yaml", &spec);
  EXPECT_TRUE(Contains(s.message(), "constraints must be a list of expressions")) << s.message();
  s = ParseConfig(ConfigWith("constraints: [{a: 1}]\n"), "k.yaml", &spec);
  EXPECT_TRUE(Contains(s.message(), "every constraint must be an expression")) << s.message();
}


TEST(ConfigTest, EarlyStoppingNeedsAMetricThatCanBeWatched) {
  JobSpec spec;
  // duration:min can be watched.
  ASSERT_TRUE(ParseConfig(ConfigWith("global_settings:\n  early_stop_pct: 25\n"), "k.yaml",
                          &spec)
                  .ok());
  EXPECT_EQ(spec.settings.early_stop_pct, 25);
  EXPECT_TRUE(CompleteSpec({"true"}, &spec).ok());
  // A sample_script metric cannot.
  ASSERT_TRUE(ParseConfig(ConfigWithTarget("target: m:max") +
                              "global_settings:\n  early_stop_pct: 25\n",
                          "k.yaml", &spec)
                  .ok());
  Status s = CompleteSpec({"true"}, &spec);
  EXPECT_TRUE(Contains(s.message(), "early_stop_pct: hone cannot tell part way through a "
                                    "run that 'm' is worse"))
      << s.message();
  s = ParseConfig(ConfigWith("global_settings:\n  early_stop_pct: 0\n"), "k.yaml", &spec);
  EXPECT_TRUE(Contains(s.message(), "early_stop_pct must be positive")) << s.message();
}

TEST(ConfigTest, RacePctIsAShareOfTheSamplesUpToHalf) {
  JobSpec spec;
  EXPECT_EQ(spec.settings.race_pct, 25);
  ASSERT_TRUE(ParseConfig(ConfigWith("global_settings:\n  race_pct: 0\n"), "k.yaml", &spec)
                  .ok());
  EXPECT_EQ(spec.settings.race_pct, 0);
  Status s = ParseConfig(ConfigWith("global_settings:\n  race_pct: 60\n"), "k.yaml", &spec);
  EXPECT_TRUE(Contains(s.message(), "race_pct must be at most 50")) << s.message();
  s = ParseConfig(ConfigWith("global_settings:\n  race_pct: -1\n"), "k.yaml", &spec);
  EXPECT_FALSE(s.ok());
}

TEST(ConfigTest, PartialPatternMetricsCanBeWatched) {
  JobSpec spec;
  std::string config =
      "domain:\n  common:\n    knobs:\n      k:\n        options: [1, 2]\n"
      "    metrics:\n      rate:\n        pattern: 'rate: ([0-9.]+)'\n"
      "        partial: true\n"
      "    target: rate:max\n"
      "global_settings:\n  early_stop_pct: 25\n";
  ASSERT_TRUE(ParseConfig(config, "k.yaml", &spec).ok());
  EXPECT_TRUE(spec.metrics[0].partial);
  EXPECT_TRUE(CompleteSpec({"true"}, &spec).ok());
  Status s = ParseConfig(ConfigWithTarget("target: m:max").replace(
                             ConfigWithTarget("target: m:max").find("sample_script"), 0,
                             "partial: true\n        "),
                         "k.yaml", &spec);
  EXPECT_TRUE(Contains(s.message(), "partial applies to pattern metrics only")) << s.message();
}

TEST(ConfigTest, SyncGuardsMayBeRelativeToTheBaselineAndHygieneSettingsAreChecked) {
  JobSpec spec;
  Status s = ParseConfig(
      "domain:\n  common:\n    knobs:\n      k: {options: [1, 2]}\n"
      "    metrics:\n"
      "      speed: {pattern: 'speed (\\d+)'}\n"
      "      ratio: {pattern: 'ratio ([0-9.]+)', guard: {min: baseline - 2%}}\n"
      "      size: {sample_script: echo 3, guard: {max: 'baseline+5 %', min: 1}}\n"
      "      same: {pattern: 'x (\\d+)', guard: {min: baseline}}\n"
      "    target: speed:max\n"
      "global_settings: {max_interference_pct: 30, interference_repeats: 3, "
      "quiet_wait: 20s}\n",
      "k.yaml", &spec);
  ASSERT_TRUE(s.ok()) << s.message();
  ASSERT_TRUE(CompleteSpec({"true"}, &spec).ok());
  EXPECT_EQ(*spec.FindMetric("ratio")->guard_min_baseline_pct, -2);
  EXPECT_EQ(*spec.FindMetric("size")->guard_max_baseline_pct, 5);
  EXPECT_EQ(*spec.FindMetric("size")->guard_min, 1);
  EXPECT_EQ(*spec.FindMetric("same")->guard_min_baseline_pct, 0);
  EXPECT_FALSE(spec.FindMetric("speed")->guarded());
  EXPECT_EQ(spec.settings.max_interference_pct, 30);
  EXPECT_EQ(spec.settings.interference_repeats, 3);
  EXPECT_EQ(spec.settings.quiet_wait_s, 20);
  JobSpec defaults;
  EXPECT_EQ(defaults.settings.max_interference_pct, 20);
  EXPECT_EQ(defaults.settings.interference_repeats, 2);
  EXPECT_EQ(defaults.settings.quiet_wait_s, 0);

  struct Case {
    const char* text;
    const char* message;
  } cases[] = {
      {"    metrics:\n      m: {pattern: 'm (\\d+)', guard: {min: baseline * 2}}\n",
       "guard.min must be a number, 'baseline', or 'baseline - N%'"},
      {"    metrics:\n      m: {pattern: 'm (\\d+)', guard: {min: baseline - 2}}\n",
       "guard.min must be a number, 'baseline'"},
      {"    metrics:\n      m: {pattern: 'm', guard: {max: baselines}}\n",
       "guard.max must be a number"},
      {"    metrics:\n      m: {pattern: 'm', guard: {min: baseline + 5%, max: "
       "baseline}}\n",
       "guard.min is above guard.max"},
      {"global_settings: {max_interference_pct: 120}\n",
       "max_interference_pct must be a percentage from 0"},
      {"global_settings: {interference_repeats: 11}\n",
       "interference_repeats must be at most 10"},
      {"global_settings: {quiet_wait: 2h}\n", "quiet_wait must be at most an hour"},
  };
  for (const Case& c : cases) {
    JobSpec bad;
    std::string text =
        std::string("domain:\n  common:\n    knobs:\n      k: {options: [1]}\n") +
        (std::string(c.text).starts_with("global")
             ? std::string("    target: duration:min\n") + c.text
             : std::string(c.text) + "    target: duration:min\n");
    Status bs = ParseConfig(text, "k.yaml", &bad);
    EXPECT_FALSE(bs.ok()) << c.text;
    EXPECT_TRUE(Contains(bs.message(), c.message)) << c.text << ": " << bs.message();
  }
  // A live job measures regressions against its incumbent: no baseline to be
  // relative to.
  JobSpec live;
  ASSERT_TRUE(ParseConfig("workload: {kind: live}\n"
                          "domain:\n  common:\n    knobs:\n      k: {options: [1, 2]}\n"
                          "    metrics:\n      m: {push: true, guard: {min: baseline}}\n"
                          "    target: m:max\n",
                          "live.yaml", &live)
                  .ok());
  Status ls = CompleteSpec({}, &live);
  EXPECT_FALSE(ls.ok());
  EXPECT_TRUE(Contains(ls.message(), "a guard relative to the baseline is for sync jobs"))
      << ls.message();
}

}  // namespace
// ---------------------------------------------------------------------------
// Hostile input (issue 14): every limit is enforced with an error that names it.

std::string ConfigWithKnobs(const std::string& knobs) {
  return "domain:\n  common:\n    knobs:\n" + knobs +
         "    metrics:\n      m:\n        sample_script: echo 1\n    target: m:max\n";
}

TEST(ConfigTest, Issue14ANumberOf27000DigitsIsAValueNotACrash) {
  std::string digits(27000, '9');
  JobSpec spec;
  Status s = ParseConfig(
      ConfigWithKnobs("      k:\n        options: [1, " + digits + "]\n"), "c.yaml", &spec);
  // Too long for a value (4096 characters): refused with the limit's name.
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(Contains(s.message(), "longer than the limit of 4096")) << s.message();
  // Within the limit, a number too large for a double stays text.
  std::string big(4000, '9');
  EXPECT_EQ(ParseScalar(big), json(big));
  EXPECT_EQ(ParseScalar(std::string(27000, '7')), json(std::string(27000, '7')));
  EXPECT_EQ(ParseScalar("-12"), json(-12));
  EXPECT_EQ(ParseScalar("2.5e3"), json(2500.0));
}

TEST(ConfigTest, Issue14AThousandKnobsAreRefusedWithTheLimit) {
  std::string knobs;
  for (int i = 0; i < 1000; ++i)
    knobs += "      k" + std::to_string(i) + ":\n        options: [1, 2, 3]\n";
  JobSpec spec;
  Status s = ParseConfig(ConfigWithKnobs(knobs), "c.yaml", &spec);
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(Contains(s.message(), "more than 256 knobs")) << s.message();
  EXPECT_TRUE(Contains(s.message(), "c.yaml:")) << s.message();
}

TEST(ConfigTest, Issue14RangesCannotTogetherExceedTheOptionsLimit) {
  std::string knobs;
  for (int i = 0; i < 3; ++i)
    knobs += "      k" + std::to_string(i) + ":\n        range: {min: 1, max: 400000}\n";
  JobSpec spec;
  Status s = ParseConfig(ConfigWithKnobs(knobs), "c.yaml", &spec);
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(Contains(s.message(), "1000000 together (800000 before this knob)"))
      << s.message();
  s = ParseConfig(ConfigWithKnobs("      k:\n        range: {min: 0, max: 1e300}\n"),
                  "c.yaml", &spec);
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(Contains(s.message(), "at most 1000000 values")) << s.message();
}

TEST(ConfigTest, Issue14AConfigOverOneMebibyteIsRefusedBeforeParsing) {
  std::string text = ConfigWithKnobs("      k:\n        options: [1, 2]\n") + "#" +
                     std::string(1 << 20, 'x') + "\n";
  JobSpec spec;
  Status s = ParseConfig(text, "big.yaml", &spec);
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(Contains(s.message(), "the limit is 1048576")) << s.message();
}

TEST(ConfigTest, Issue14TooManyConstraintsAndMetricsAreRefused) {
  std::string constraints = "constraints:\n";
  for (int i = 0; i < 65; ++i) constraints += "  - k > " + std::to_string(i) + "\n";
  JobSpec spec;
  Status s = ParseConfig(ConfigWithKnobs("      k:\n        options: [1, 2]\n") +
                             constraints,
                         "c.yaml", &spec);
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(Contains(s.message(), "more than 64 constraints")) << s.message();
}

TEST(ConfigTest, Issue14AnOptionListLongerThanItsLimitIsAnErrorNotCut) {
  std::vector<json> values;
  Status s = ParseOptionList("1 2 3 4", 3, &values);
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(Contains(s.message(), "more than 3 options")) << s.message();
  s = ParseOptionList("1 " + std::string(5000, 'x'), 3, &values);
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(Contains(s.message(), "option 2 has 5000 characters")) << s.message();
}

TEST(ConfigTest, DurationsParseByHand) {
  double seconds = 0;
  EXPECT_TRUE(ParseDurationSeconds(" 90 ", &seconds));
  EXPECT_EQ(seconds, 90);
  EXPECT_TRUE(ParseDurationSeconds("500ms", &seconds));
  EXPECT_DOUBLE_EQ(seconds, 0.5);
  EXPECT_TRUE(ParseDurationSeconds("1.5 m", &seconds));
  EXPECT_EQ(seconds, 90);
  EXPECT_TRUE(ParseDurationSeconds("2h", &seconds));
  EXPECT_EQ(seconds, 7200);
  EXPECT_FALSE(ParseDurationSeconds("1e5", &seconds));
  EXPECT_FALSE(ParseDurationSeconds("-1s", &seconds));
  EXPECT_FALSE(ParseDurationSeconds("5 days", &seconds));
  EXPECT_FALSE(ParseDurationSeconds("", &seconds));
  EXPECT_TRUE(ParseDurationSeconds(std::string(30000, '9'), &seconds));
}

// Found by the config fuzz target: a YAML escape made an option that is not UTF-8,
// and storing it as JSON threw when the job started.
TEST(ConfigTest, Issue14AValueThatIsNotUtf8IsRefusedWhereItIs) {
  JobSpec spec;
  // A raw byte (a file read by another client; YAML's "\xff" escape is U+00FF).
  Status s = ParseConfig(ConfigWithKnobs("      k:\n        options: [1, a\xff" "b]\n"),
                         "c.yaml", &spec);
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(Contains(s.message(), "c.yaml:5:") && Contains(s.message(), "not valid UTF-8"))
      << s.message();
  std::vector<json> values;
  s = ParseOptionList("a \xc3\x28 b", 10, &values);
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(Contains(s.message(), "option 2 is not valid UTF-8")) << s.message();
  EXPECT_TRUE(ParseOptionList("caf\xc3\xa9 \xe2\x82\xac", 10, &values).ok());
}

TEST(ConfigTest, Issue14AliasesThatExpandToAHugeTreeAreRefused) {
  std::string bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  std::string previous = "a";
  for (char name = 'b'; name <= 'h'; ++name) {
    bomb += std::string(1, name) + ": &" + name + " [";
    for (int i = 0; i < 10; ++i) bomb += (i ? ", *" : "*") + previous;
    bomb += "]\n";
    previous = std::string(1, name);
  }
  JobSpec spec;
  Status s = ParseConfig(ConfigWithKnobs("      k:\n        options: [1, 2]\n") + bomb,
                         "c.yaml", &spec);
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(Contains(s.message(), "once aliases are expanded")) << s.message();
}

}  // namespace hone
