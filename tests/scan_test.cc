// Specification of common/scan.h: numbers and patterns in untrusted text, in linear
// time and constant stack, whatever the text.
#include "common/scan.h"

#include <string>

#include <gtest/gtest.h>

namespace hone {
namespace {

TEST(ScanTest, LastNumberReadsNumbersLeftToRight) {
  EXPECT_EQ(LastNumber("throughput: 12.5 img/s"), 12.5);
  EXPECT_EQ(LastNumber("a=1 b=-2e3"), -2000);
  EXPECT_EQ(LastNumber("+.5"), 0.5);
  EXPECT_EQ(LastNumber("1.2.3"), 0.3);  // 1.2, then .3
  EXPECT_EQ(LastNumber("7 then 1e"), 1);  // an exponent needs digits
  EXPECT_EQ(LastNumber("x7y"), 7);
  EXPECT_FALSE(LastNumber("no numbers here").has_value());
  EXPECT_FALSE(LastNumber("").has_value());
}

TEST(ScanTest, MatchNumberIsTheLongestNumberAtAPosition) {
  EXPECT_EQ(MatchNumber("-12.5e+3x", 0), 8u);
  EXPECT_EQ(MatchNumber("-x", 0), 0u);
  EXPECT_EQ(MatchNumber(".", 0), 0u);
  EXPECT_EQ(MatchNumber("5.", 0), 2u);
  EXPECT_TRUE(IsNumber("3.25"));
  EXPECT_FALSE(IsNumber("3.25s"));
  EXPECT_TRUE(IsInteger("-42"));
  EXPECT_FALSE(IsInteger("4.2"));
  EXPECT_FALSE(IsInteger("-"));
}

TEST(ScanTest, Issue14ANumberOf27000DigitsIsScannedNotACrash) {
  // std::regex recursed once per digit and overflowed the stack here.
  std::string digits(27000, '9');
  EXPECT_FALSE(LastNumber(digits).has_value());  // too large: not finite
  EXPECT_EQ(LastNumber(digits + " 42"), 42);
  std::string huge(4 << 20, '1');
  EXPECT_FALSE(LastNumber(huge).has_value());
  EXPECT_EQ(LastNumber("0." + std::string(100000, '0') + "1 and 3"), 3);
}

TEST(ScanTest, PatternTakesGroupOneOfTheLastMatchThatHoldsANumber) {
  Pattern p;
  ASSERT_TRUE(Pattern::Compile(R"(rate=(\S+))", &p).ok());
  EXPECT_EQ(p.LastValue("rate=1\nrate=2.5\nrate=n/a\n"), 2.5);
  ASSERT_TRUE(Pattern::Compile(R"(\d+ ops)", &p).ok());
  EXPECT_EQ(p.LastValue("10 ops, 20 ops"), 20);
  EXPECT_FALSE(p.LastValue("nothing").has_value());
}

TEST(ScanTest, PatternsThatMatchEmptyStillEnd) {
  Pattern p;
  ASSERT_TRUE(Pattern::Compile("x*", &p).ok());
  EXPECT_FALSE(p.LastValue("abc").has_value());
  ASSERT_TRUE(Pattern::Compile(R"(\d*)", &p).ok());
  EXPECT_EQ(p.LastValue("a1b22c"), 22);
}

TEST(ScanTest, Issue14APatternOverAHugeNumberIsLinearNotACrash) {
  Pattern p;
  ASSERT_TRUE(Pattern::Compile(R"(value: ([0-9.]+))", &p).ok());
  EXPECT_EQ(p.LastValue("value: " + std::string(27000, '9') + "\nvalue: 5\n"), 5);
  ASSERT_TRUE(Pattern::Compile(R"((\d|\d)*x)", &p).ok());
  EXPECT_FALSE(p.LastValue(std::string(1 << 20, '1')).has_value());
}

TEST(ScanTest, BadPatternsAreRefusedWithTheReason) {
  Pattern p;
  Status s = Pattern::Compile("(unclosed", &p);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("missing )"), std::string::npos) << s.message();
  // Backreferences need backtracking; RE2 does not do them.
  EXPECT_FALSE(Pattern::Compile(R"((a)\1)", &p).ok());
  s = Pattern::Compile(std::string(5000, 'a'), &p);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("limit of 4096"), std::string::npos) << s.message();
}

TEST(ScanTest, FullMatchIsAnchoredAtBothEnds) {
  Pattern p;
  ASSERT_TRUE(Pattern::Compile("vm\\..*", &p).ok());
  EXPECT_TRUE(p.FullMatch("vm.swappiness"));
  EXPECT_FALSE(p.FullMatch("xvm.swappiness"));
}

}  // namespace
TEST(ScanTest, Utf8IsCheckedStrictly) {
  EXPECT_TRUE(IsUtf8("plain"));
  EXPECT_TRUE(IsUtf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
  EXPECT_FALSE(IsUtf8("\xff"));
  EXPECT_FALSE(IsUtf8("\xc3"));                  // cut short
  EXPECT_FALSE(IsUtf8("\xc0\xaf"));              // overlong
  EXPECT_FALSE(IsUtf8("\xed\xa0\x80"));          // a surrogate
  EXPECT_FALSE(IsUtf8("\xf4\x90\x80\x80"));      // past U+10FFFF
}

}  // namespace hone
