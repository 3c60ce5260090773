// Specification of SearchSpace (common/space.h): knobs, the configurations they
// span, and how a configuration is shown to the workload.
#include "common/space.h"

#include <chrono>
#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace hone {
namespace {

using nlohmann::json;

Knob MakeKnob(std::string name, std::vector<json> values, uint32_t default_index = 0) {
  Knob knob;
  knob.name = std::move(name);
  knob.values = std::move(values);
  knob.default_index = default_index;
  return knob;
}

// n consecutive integers from `first` by `step`.
std::vector<json> Sequence(int64_t first, int64_t step, int n) {
  std::vector<json> values;
  for (int i = 0; i < n; ++i) values.push_back(first + i * step);
  return values;
}

// The reference scenario: inter_op 1..28, intra_op 10..56 step 2.
SearchSpace ReferenceSpace() {
  SearchSpace space;
  Status s = SearchSpace::Create({MakeKnob("inter_op", Sequence(1, 1, 28)),
                                  MakeKnob("intra_op", Sequence(10, 2, 24))},
                                 &space);
  EXPECT_TRUE(s.ok()) << s.message();
  return space;
}

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// ---------------------------------------------------------------------------
// Create.

TEST(SpaceTest, CreateAcceptsDistinctValues) {
  SearchSpace space;
  Status s = SearchSpace::Create({MakeKnob("a", {1, 2}), MakeKnob("b", {"x", "y", "z"})},
                                 &space);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(space.dims(), 2u);
  EXPECT_EQ(space.knob(0).name, "a");
  EXPECT_EQ(space.knob(1).values.size(), 3u);
  EXPECT_EQ(space.knobs().size(), 2u);
}

TEST(SpaceTest, CreateRejectsNoKnobs) {
  SearchSpace space;
  Status s = SearchSpace::Create({}, &space);
  EXPECT_EQ(std::string(s.CodeName()), "invalid_argument");
  EXPECT_TRUE(Contains(s.message(), "at least one knob")) << s.message();
}

TEST(SpaceTest, CreateRejectsDuplicateKnobNames) {
  SearchSpace space;
  Status s = SearchSpace::Create({MakeKnob("a", {1}), MakeKnob("a", {2})}, &space);
  EXPECT_EQ(std::string(s.CodeName()), "invalid_argument");
  EXPECT_TRUE(Contains(s.message(), "knob 'a' appears twice")) << s.message();
}

TEST(SpaceTest, CreateRejectsKnobWithoutValues) {
  SearchSpace space;
  Status s = SearchSpace::Create({MakeKnob("a", {1}), MakeKnob("b", {})}, &space);
  EXPECT_EQ(std::string(s.CodeName()), "invalid_argument");
  EXPECT_TRUE(Contains(s.message(), "knob 'b' has no values")) << s.message();
}

TEST(SpaceTest, CreateRejectsDuplicateValues) {
  SearchSpace space;
  Status s = SearchSpace::Create({MakeKnob("a", {1, 2, 1})}, &space);
  EXPECT_EQ(std::string(s.CodeName()), "invalid_argument");
  EXPECT_TRUE(Contains(s.message(), "value 1 appears twice")) << s.message();
}

TEST(SpaceTest, IntegerAndEqualFloatAreTheSameValue) {
  SearchSpace space;
  Status s = SearchSpace::Create({MakeKnob("a", {28, 28.0})}, &space);
  EXPECT_EQ(std::string(s.CodeName()), "invalid_argument");
  EXPECT_TRUE(Contains(s.message(), "appears twice")) << s.message();
}

TEST(SpaceTest, DuplicateStringValuesAreRejected) {
  SearchSpace space;
  Status s = SearchSpace::Create({MakeKnob("a", {"always", "never", "always"})}, &space);
  EXPECT_EQ(std::string(s.CodeName()), "invalid_argument");
  EXPECT_TRUE(Contains(s.message(), "value always appears twice")) << s.message();
}

TEST(SpaceTest, StringAndNumberWithTheSameTextAreDistinct) {
  SearchSpace space;
  Status s = SearchSpace::Create({MakeKnob("a", {28, "28"})}, &space);
  EXPECT_TRUE(s.ok()) << s.message();
}

// A knob may have up to a million values (config.h); duplicates among them are found
// without comparing every pair.
TEST(SpaceTest, CreateAcceptsAKnobWithManyValuesAndFindsADuplicateAmongThem) {
  SearchSpace space;
  Status s = SearchSpace::Create({MakeKnob("big", Sequence(0, 1, 200000))}, &space);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(space.Size(), 200000u);
  std::vector<json> values = Sequence(0, 1, 200000);
  values.push_back(123456.0);
  s = SearchSpace::Create({MakeKnob("big", std::move(values))}, &space);
  EXPECT_TRUE(Contains(s.message(), "value 123456.0 appears twice")) << s.message();
}

TEST(SpaceTest, CreateRejectsDefaultOutOfRange) {
  SearchSpace space;
  Status s = SearchSpace::Create({MakeKnob("a", {1, 2}, /*default_index=*/2)}, &space);
  EXPECT_EQ(std::string(s.CodeName()), "invalid_argument");
  EXPECT_TRUE(Contains(s.message(), "knob 'a': default out of range")) << s.message();
}

TEST(SpaceTest, FailedCreateLeavesTheSpaceAlone) {
  SearchSpace space = ReferenceSpace();
  ASSERT_FALSE(SearchSpace::Create({MakeKnob("a", {})}, &space).ok());
  EXPECT_EQ(space.dims(), 2u);
  EXPECT_EQ(space.knob(0).name, "inter_op");
}

// ---------------------------------------------------------------------------
// Size, Default, Contains.

TEST(SpaceTest, SizeIsTheProductOfOptionCounts) {
  EXPECT_EQ(ReferenceSpace().Size(), 672u);
}

TEST(SpaceTest, SizeOfOneKnobIsItsOptionCount) {
  SearchSpace space;
  ASSERT_TRUE(SearchSpace::Create({MakeKnob("a", {"x"})}, &space).ok());
  EXPECT_EQ(space.Size(), 1u);
}

TEST(SpaceTest, SizeSaturatesAtUint64Max) {
  std::vector<Knob> knobs;
  for (int i = 0; i < 20; ++i)
    knobs.push_back(MakeKnob("k" + std::to_string(i), Sequence(0, 1, 10000)));
  SearchSpace space;
  ASSERT_TRUE(SearchSpace::Create(std::move(knobs), &space).ok());
  EXPECT_EQ(space.Size(), std::numeric_limits<uint64_t>::max());
}

TEST(SpaceTest, SizeJustBelowOverflowIsExact) {
  // 16^15 * 15 = 15 * 2^60 fits in 64 bits.
  std::vector<Knob> knobs;
  for (int i = 0; i < 15; ++i)
    knobs.push_back(MakeKnob("k" + std::to_string(i), Sequence(0, 1, 16)));
  knobs.push_back(MakeKnob("last", Sequence(0, 1, 15)));
  SearchSpace space;
  ASSERT_TRUE(SearchSpace::Create(std::move(knobs), &space).ok());
  EXPECT_EQ(space.Size(), uint64_t{15} << 60);
}

TEST(SpaceTest, SizeOfExactlyTwoToThe64thSaturates) {
  std::vector<Knob> knobs;
  for (int i = 0; i < 16; ++i)
    knobs.push_back(MakeKnob("k" + std::to_string(i), Sequence(0, 1, 16)));
  SearchSpace space;
  ASSERT_TRUE(SearchSpace::Create(std::move(knobs), &space).ok());
  EXPECT_EQ(space.Size(), std::numeric_limits<uint64_t>::max());
}

TEST(SpaceTest, DefaultIsEveryKnobAtItsDefaultIndex) {
  SearchSpace space;
  ASSERT_TRUE(SearchSpace::Create({MakeKnob("a", {1, 2, 3}, 2), MakeKnob("b", {"x", "y"}),
                                   MakeKnob("c", {7, 8}, 1)},
                                  &space)
                  .ok());
  EXPECT_EQ(space.Default(), (Config{2, 0, 1}));
}

TEST(SpaceTest, ContainsChecksLengthAndEveryIndex) {
  SearchSpace space = ReferenceSpace();
  EXPECT_TRUE(space.Contains({0, 0}));
  EXPECT_TRUE(space.Contains({27, 23}));
  EXPECT_FALSE(space.Contains({28, 0}));
  EXPECT_FALSE(space.Contains({0, 24}));
  EXPECT_FALSE(space.Contains({0}));
  EXPECT_FALSE(space.Contains({0, 0, 0}));
}

// ---------------------------------------------------------------------------
// JSON.

TEST(SpaceTest, ToJsonMapsKnobNamesToValues) {
  SearchSpace space = ReferenceSpace();
  EXPECT_EQ(space.ToJson({1, 9}), json({{"inter_op", 2}, {"intra_op", 28}}));
}

TEST(SpaceTest, ToJsonKeepsStringValuesAsStrings) {
  SearchSpace space;
  ASSERT_TRUE(SearchSpace::Create({MakeKnob("thp", {"never", "always"})}, &space).ok());
  EXPECT_EQ(space.ToJson({1}), json({{"thp", "always"}}));
}

TEST(SpaceTest, FromJsonInvertsToJson) {
  SearchSpace space = ReferenceSpace();
  for (const Config& config : {Config{0, 0}, Config{1, 9}, Config{27, 23}}) {
    Config back;
    Status s = space.FromJson(space.ToJson(config), &back);
    ASSERT_TRUE(s.ok()) << s.message();
    EXPECT_EQ(back, config);
  }
}

TEST(SpaceTest, FromJsonAcceptsAnEqualFloatForAnInteger) {
  SearchSpace space = ReferenceSpace();
  Config config;
  Status s = space.FromJson({{"inter_op", 2.0}, {"intra_op", 28}}, &config);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(config, (Config{1, 9}));
}

TEST(SpaceTest, FromJsonRejectsMissingKnob) {
  SearchSpace space = ReferenceSpace();
  Config config = {5, 5};
  Status s = space.FromJson({{"inter_op", 2}}, &config);
  EXPECT_EQ(std::string(s.CodeName()), "invalid_argument");
  EXPECT_TRUE(Contains(s.message(), "lacks knob 'intra_op'")) << s.message();
  EXPECT_EQ(config, (Config{5, 5}));
}

TEST(SpaceTest, FromJsonRejectsValueThatIsNotAnOption) {
  SearchSpace space = ReferenceSpace();
  Config config;
  Status s = space.FromJson({{"inter_op", 2}, {"intra_op", 11}}, &config);
  EXPECT_EQ(std::string(s.CodeName()), "invalid_argument");
  EXPECT_TRUE(Contains(s.message(), "knob 'intra_op': 11 is not one of its values"))
      << s.message();
}

TEST(SpaceTest, FromJsonDoesNotConfuseStringAndNumber) {
  SearchSpace space = ReferenceSpace();
  Config config;
  EXPECT_FALSE(space.FromJson({{"inter_op", "2"}, {"intra_op", 28}}, &config).ok());
}

TEST(SpaceTest, FromJsonRejectsNonObject) {
  SearchSpace space = ReferenceSpace();
  Config config;
  Status s = space.FromJson(json::array({2, 28}), &config);
  EXPECT_EQ(std::string(s.CodeName()), "invalid_argument");
  EXPECT_TRUE(Contains(s.message(), "must be an object")) << s.message();
}

// ---------------------------------------------------------------------------
// Environment and keys.

TEST(SpaceTest, EnvironmentHasKnobNameAndPrefixedName) {
  SearchSpace space = ReferenceSpace();
  std::map<std::string, std::string> env = space.Environment({1, 9});
  EXPECT_EQ(env, (std::map<std::string, std::string>{{"inter_op", "2"},
                                                     {"HONE_KNOB_INTER_OP", "2"},
                                                     {"intra_op", "28"},
                                                     {"HONE_KNOB_INTRA_OP", "28"}}));
}

TEST(SpaceTest, EnvironmentWritesStringsBareAndFloatsAsNumbers) {
  SearchSpace space;
  ASSERT_TRUE(
      SearchSpace::Create(
          {MakeKnob("thp", {"never", "always"}), MakeKnob("ratio", {0.5, 2.5})}, &space)
          .ok());
  std::map<std::string, std::string> env = space.Environment({1, 1});
  EXPECT_EQ(env["thp"], "always");
  EXPECT_EQ(env["HONE_KNOB_THP"], "always");
  EXPECT_EQ(env["ratio"], "2.5");
}

TEST(SpaceTest, EnvironmentOmitsTheBareNameWhenItHoldsAnEqualsSign) {
  SearchSpace space;
  ASSERT_TRUE(SearchSpace::Create({MakeKnob("a=b", {1})}, &space).ok());
  std::map<std::string, std::string> env = space.Environment({0});
  EXPECT_EQ(env, (std::map<std::string, std::string>{{"HONE_KNOB_A_B", "1"}}));
}

TEST(SpaceTest, KnobEnvNameUppercasesAndReplacesOtherCharacters) {
  EXPECT_EQ(KnobEnvName("inter_op"), "HONE_KNOB_INTER_OP");
  EXPECT_EQ(KnobEnvName("shell.my-knob"), "HONE_KNOB_SHELL_MY_KNOB");
  EXPECT_EQ(KnobEnvName("intra-op.threads"), "HONE_KNOB_INTRA_OP_THREADS");
  EXPECT_EQ(KnobEnvName("vm.dirty_ratio2"), "HONE_KNOB_VM_DIRTY_RATIO2");
  EXPECT_EQ(KnobEnvName("caf\xc3\xa9"), "HONE_KNOB_CAF__");
}

TEST(SpaceTest, KeyJoinsIndicesWithCommas) {
  EXPECT_EQ(SearchSpace::Key({1, 9}), "1,9");
  EXPECT_EQ(SearchSpace::Key({0}), "0");
  EXPECT_EQ(SearchSpace::Key({12, 0, 345}), "12,0,345");
  EXPECT_EQ(SearchSpace::Key({}), "");
}

TEST(SpaceTest, KeysOfDifferentConfigsDiffer) {
  EXPECT_NE(SearchSpace::Key({1, 12}), SearchSpace::Key({11, 2}));
}


// ---------------------------------------------------------------------------
// Knob types.

TEST(SpaceTest, TypesAreInferredFromTheValues) {
  EXPECT_EQ(InferKnobType({1, 2, 4}), KnobType::kOrdered);
  EXPECT_EQ(InferKnobType({0, 1}), KnobType::kBoolean);
  EXPECT_EQ(InferKnobType({"on", "off"}), KnobType::kBoolean);
  EXPECT_EQ(InferKnobType({"Disabled", "Enabled"}), KnobType::kBoolean);
  EXPECT_EQ(InferKnobType({false, true}), KnobType::kBoolean);
  EXPECT_EQ(InferKnobType({0, 2}), KnobType::kOrdered);
  EXPECT_EQ(InferKnobType({"always", "madvise", "never"}), KnobType::kCategorical);
  EXPECT_EQ(InferKnobType({"on", "on2"}), KnobType::kCategorical);
}

TEST(SpaceTest, TypeNamesParse) {
  KnobType type;
  ASSERT_TRUE(ParseKnobType("ordinal", &type));
  EXPECT_EQ(type, KnobType::kOrdered);
  ASSERT_TRUE(ParseKnobType("Bool", &type));
  EXPECT_EQ(type, KnobType::kBoolean);
  ASSERT_TRUE(ParseKnobType("enum", &type));
  EXPECT_EQ(type, KnobType::kCategorical);
  EXPECT_FALSE(ParseKnobType("set", &type));
  for (KnobType t : {KnobType::kOrdered, KnobType::kBoolean, KnobType::kCategorical}) {
    ASSERT_TRUE(ParseKnobType(KnobTypeName(t), &type));
    EXPECT_EQ(type, t);
  }
}

TEST(SpaceTest, BooleanNeedsExactlyTwoValues) {
  Knob knob = MakeKnob("b", {0, 1, 2});
  knob.type = KnobType::kBoolean;
  SearchSpace space;
  Status s = SearchSpace::Create({knob}, &space);
  EXPECT_EQ(s.message(), "knob 'b' is boolean but has 3 values; a boolean has two (off and on)");
}

TEST(SpaceTest, CategoricalCoordinatesAreIndicesOrderedOnesAreScaled) {
  Knob mode = MakeKnob("mode", {"a", "b", "c", "d", "e"});
  mode.type = KnobType::kCategorical;
  SearchSpace space;
  ASSERT_TRUE(SearchSpace::Create({MakeKnob("n", Sequence(0, 1, 5)), mode}, &space).ok());
  EXPECT_EQ(space.Normalized({2, 3}), (std::vector<double>{0.5, 3}));
  EXPECT_EQ(space.Categorical(), (std::vector<bool>{false, true}));
}

// ---------------------------------------------------------------------------
// Constraints.

SearchSpace BlockSpace(const std::vector<std::string>& constraints) {
  // block_x, block_y in 1, 2, 4, ..., 1024; mode fast|safe.
  std::vector<json> powers;
  for (int p = 1; p <= 1024; p *= 2) powers.push_back(p);
  Knob mode = MakeKnob("mode", {"fast", "safe"});
  mode.type = KnobType::kCategorical;
  SearchSpace space;
  Status s = SearchSpace::Create(
      {MakeKnob("block_x", powers), MakeKnob("block_y", powers), mode}, constraints,
      &space);
  EXPECT_TRUE(s.ok()) << s.message();
  return space;
}

TEST(SpaceTest, ConstraintsDecideFeasibility) {
  SearchSpace space = BlockSpace({"block_x * block_y <= 1024", "mode == 'safe' or block_x <= 64"});
  ASSERT_EQ(space.constraints().size(), 2u);
  EXPECT_TRUE(space.Feasible({5, 5, 0}));    // 32 x 32, fast
  EXPECT_FALSE(space.Feasible({6, 5, 0}));   // 64 x 32 = 2048
  EXPECT_EQ(space.Violated({6, 5, 0})->text(), "block_x * block_y <= 1024");
  EXPECT_FALSE(space.Feasible({7, 0, 0}));   // 128 x 1, fast
  EXPECT_EQ(space.Violated({7, 0, 0})->text(), "mode == 'safe' or block_x <= 64");
  EXPECT_TRUE(space.Feasible({7, 0, 1}));    // 128 x 1, safe
  EXPECT_EQ(space.Violated({7, 0, 1}), nullptr);
  // Counted by brute force: pairs with x * y <= 1024 are those with i + j <= 10.
  uint64_t feasible = 0;
  for (uint64_t n = 0; n < space.Size(); ++n) {
    Config c = {static_cast<uint32_t>(n / 22), static_cast<uint32_t>(n / 2 % 11),
                static_cast<uint32_t>(n % 2)};
    bool expected = c[0] + c[1] <= 10 && (c[2] == 1 || c[0] <= 6);
    EXPECT_EQ(space.Feasible(c), expected) << SearchSpace::Key(c);
    feasible += space.Feasible(c);
  }
  EXPECT_EQ(space.Size(), 242u);  // the size counts every configuration
  EXPECT_EQ(feasible, 66u + 56u);
}

TEST(SpaceTest, CountFeasibleCountsWhatTheConstraintsAllowUpToALimit) {
  SearchSpace space =
      BlockSpace({"block_x * block_y <= 1024", "mode == 'safe' or block_x <= 64"});
  EXPECT_EQ(space.CountFeasible(242), 122u);  // as counted by brute force above
  EXPECT_EQ(space.CountFeasible(241), std::nullopt) << "larger than the limit";
  // Without constraints every configuration is feasible, whatever the size.
  EXPECT_EQ(ReferenceSpace().CountFeasible(0), 672u);
}

TEST(SpaceTest, ASpaceWithoutConstraintsHasEveryConfigurationFeasible) {
  SearchSpace space = ReferenceSpace();
  EXPECT_TRUE(space.constraints().empty());
  EXPECT_TRUE(space.Feasible({27, 23}));
}

TEST(SpaceTest, BadConstraintsNameTheConstraintAndTheProblem) {
  std::vector<json> values = {1, 2};
  Knob mode = MakeKnob("mode", {"fast", "safe"});
  SearchSpace space;
  auto error = [&](const std::string& constraint) {
    Status s = SearchSpace::Create({MakeKnob("block_x", values), mode},
                                   {"block_x > 0", constraint}, &space);
    EXPECT_FALSE(s.ok());
    return s.message();
  };
  EXPECT_EQ(error("blok_x <= 2"), "constraint 2 'blok_x <= 2': at column 1: unknown knob 'blok_x'");
  EXPECT_EQ(error("mode < 2"),
            "constraint 2 'mode < 2': at column 6: '<' needs numbers, but its left side is text");
  EXPECT_EQ(error("block_x *"),
            "constraint 2 'block_x *': at column 10: expected a value but found end of the expression");
}

TEST(SpaceTest, BooleanKnobsAreOneWhenOnWhateverTheirOrder) {
  Knob on_off = MakeKnob("prefetch", {"on", "off"});
  on_off.type = KnobType::kBoolean;
  Knob numbers = MakeKnob("turbo", {1, 0});
  numbers.type = KnobType::kBoolean;
  SearchSpace space;
  ASSERT_TRUE(SearchSpace::Create({on_off, numbers}, {"prefetch + turbo == 1"}, &space).ok());
  EXPECT_FALSE(space.Feasible({0, 0}));  // on, 1
  EXPECT_TRUE(space.Feasible({0, 1}));   // on, 0
  EXPECT_TRUE(space.Feasible({1, 0}));   // off, 1
  EXPECT_FALSE(space.Feasible({1, 1}));  // off, 0
}

// ---------------------------------------------------------------------------
// Huge spaces: nothing is enumerated.

TEST(SpaceTest, TwentyKnobsSpanMoreThan1e17ConfigurationsWithoutEnumerating) {
  std::vector<Knob> knobs;
  for (int i = 0; i < 20; ++i)
    knobs.push_back(MakeKnob("k" + std::to_string(i), Sequence(0, 1, 8 + i % 3)));
  SearchSpace space;
  ASSERT_TRUE(SearchSpace::Create(knobs, {"k0 + k1 + k2 <= 12", "k19 != 3"}, &space).ok());
  EXPECT_GT(space.Size(), uint64_t{100'000'000'000'000'000});
  Config c = space.Default();
  EXPECT_TRUE(space.Feasible(c));
  c[19] = 3;
  EXPECT_FALSE(space.Feasible(c));
  c[19] = 8;
  EXPECT_TRUE(space.Contains(c));
  EXPECT_TRUE(space.Feasible(c));
  c[0] = c[1] = c[2] = 7;
  EXPECT_FALSE(space.Feasible(c));
}

}  // namespace
}  // namespace hone
