// Specification of the constraint language (common/expression.h): what compiles,
// what it evaluates to, and the errors that say what is wrong and where.
#include "common/expression.h"

#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace hone {
namespace {

// Variables a (slot 0) and b (slot 1) are numbers, mode (slot 2) is text,
// `intra-op.threads` (slot 3) is a number.
Expression::Variable Resolve(std::string_view name) {
  static const std::map<std::string, std::pair<size_t, bool>> kVariables = {
      {"a", {0, true}}, {"b", {1, true}}, {"mode", {2, false}},
      {"intra-op.threads", {3, true}}};
  Expression::Variable v;
  auto it = kVariables.find(std::string(name));
  if (it == kVariables.end()) return v;
  v.found = true;
  v.slot = it->second.first;
  v.numeric = it->second.second;
  return v;
}

Status Compile(const std::string& text, Expression* e) {
  return Expression::Compile(text, Resolve, e);
}

// Evaluates `text` with a, b, mode, intra-op.threads.
ExprValue Eval(const std::string& text, double a, double b, std::string mode = "fast",
               double threads = 4) {
  Expression e;
  Status s = Compile(text, &e);
  EXPECT_TRUE(s.ok()) << text << ": " << s.message();
  return e.Evaluate({a, b, mode, threads});
}

bool Holds(const std::string& text, double a, double b, std::string mode = "fast") {
  Expression e;
  Status s = Compile(text, &e);
  EXPECT_TRUE(s.ok()) << text << ": " << s.message();
  return e.Holds({a, b, mode, 4.0});
}

std::string ErrorOf(const std::string& text) {
  Expression e;
  Status s = Compile(text, &e);
  EXPECT_FALSE(s.ok()) << text << " compiled";
  return s.message();
}

TEST(ExpressionTest, ArithmeticFollowsPrecedence) {
  EXPECT_EQ(Eval("a + b * 2", 1, 3), ExprValue(7.0));
  EXPECT_EQ(Eval("(a + b) * 2", 1, 3), ExprValue(8.0));
  EXPECT_EQ(Eval("a - b - 1", 10, 3), ExprValue(6.0));  // left-associative
  EXPECT_EQ(Eval("b / a", 4, 10), ExprValue(2.5));
  EXPECT_EQ(Eval("b % a", 4, 10), ExprValue(2.0));
  EXPECT_EQ(Eval("-a ** 2", 3, 0), ExprValue(-9.0));     // ** binds tighter than -
  EXPECT_EQ(Eval("2 ** 3 ** 2", 0, 0), ExprValue(512.0));  // right-associative
  EXPECT_EQ(Eval("2 ** -1", 0, 0), ExprValue(0.5));
  EXPECT_EQ(Eval("1e3 + .5", 0, 0), ExprValue(1000.5));
}

TEST(ExpressionTest, TheIssueExampleLimitsTheProduct) {
  EXPECT_TRUE(Holds("a * b <= 1024", 32, 32));
  EXPECT_FALSE(Holds("a * b <= 1024", 64, 32));
}

TEST(ExpressionTest, LogicWordsAndSymbolsAgree) {
  for (const char* text : {"a > 1 and b > 1", "a > 1 && b > 1"}) {
    EXPECT_TRUE(Holds(text, 2, 2)) << text;
    EXPECT_FALSE(Holds(text, 2, 0)) << text;
  }
  for (const char* text : {"a > 1 or b > 1", "a > 1 || b > 1"}) {
    EXPECT_TRUE(Holds(text, 0, 2)) << text;
    EXPECT_FALSE(Holds(text, 0, 0)) << text;
  }
  EXPECT_TRUE(Holds("not a > 1", 0, 0));
  EXPECT_TRUE(Holds("!(a > 1)", 0, 0));
  // and binds tighter than or.
  EXPECT_TRUE(Holds("a == 1 or a == 2 and b == 9", 1, 0));
  EXPECT_FALSE(Holds("(a == 1 or a == 2) and b == 9", 1, 0));
}

TEST(ExpressionTest, TextComparesWithTextInEitherQuotes) {
  EXPECT_TRUE(Holds("mode == 'fast'", 0, 0, "fast"));
  EXPECT_TRUE(Holds("mode != \"fast\"", 0, 0, "slow"));
  EXPECT_TRUE(Holds("mode != 'off' or a > 1", 0, 0, "on"));
  EXPECT_FALSE(Holds("mode != 'off' or a > 1", 0, 0, "off"));
}

TEST(ExpressionTest, BackquotesNameAnyKnob) {
  EXPECT_EQ(Eval("`intra-op.threads` % 2", 0, 0, "x", 5), ExprValue(1.0));
}

TEST(ExpressionTest, FunctionsAndBooleanLiterals) {
  EXPECT_EQ(Eval("min(a, b, 7)", 9, 8), ExprValue(7.0));
  EXPECT_EQ(Eval("max(a, b)", 9, 8), ExprValue(9.0));
  EXPECT_EQ(Eval("abs(a - b)", 3, 8), ExprValue(5.0));
  EXPECT_TRUE(Holds("true", 0, 0));
  EXPECT_FALSE(Holds("false", 0, 0));
  EXPECT_TRUE(Holds("(a > 1) == true", 2, 0));
}

TEST(ExpressionTest, DivisionByZeroNeverHolds) {
  // Whatever the comparison, a non-finite intermediate makes the constraint fail.
  EXPECT_FALSE(Holds("b / a <= 10", 0, 1));
  EXPECT_FALSE(Holds("b / a >= 10", 0, 1));
  EXPECT_FALSE(Holds("not (b / a >= 10)", 0, 1));
  EXPECT_FALSE(Holds("b % a == 0 or true", 0, 1));
  EXPECT_TRUE(Holds("b / a >= 10", 0.1, 1));
}

TEST(ExpressionTest, ANumberHoldsWhenNonZero) {
  EXPECT_TRUE(Holds("a", 3, 0));
  EXPECT_FALSE(Holds("a", 0, 0));
  EXPECT_FALSE(Holds("'text'", 0, 0));  // text is never a truth value
}

TEST(ExpressionTest, SyntaxErrorsSayWhereAndWhat) {
  EXPECT_EQ(ErrorOf("a * * 2"), "at column 5: expected a value but found '*'");
  EXPECT_EQ(ErrorOf("a *"), "at column 4: expected a value but found end of the expression");
  EXPECT_EQ(ErrorOf("(a + b"), "at column 7: expected ')' but found end of the expression");
  EXPECT_EQ(ErrorOf("a b"), "at column 3: unexpected 'b'");
  EXPECT_EQ(ErrorOf("a = 2"), "at column 3: unexpected character '=' (use == to compare)");
  EXPECT_EQ(ErrorOf("a & b"), "at column 3: unexpected character '&' (use && or and)");
  EXPECT_EQ(ErrorOf("mode == 'fast"), "at column 9: ' is never closed");
  EXPECT_EQ(ErrorOf("a < b < 3"),
            "at column 7: comparisons do not chain; write 'a < b and b < c'");
  EXPECT_EQ(ErrorOf("12ab > a"), "at column 1: malformed number '12a'");
  EXPECT_EQ(ErrorOf("   "), "it is empty");
}

TEST(ExpressionTest, UnknownNamesAndFunctionsAreErrors) {
  EXPECT_EQ(ErrorOf("blok_x * b <= 1024"), "at column 1: unknown knob 'blok_x'");
  EXPECT_EQ(ErrorOf("intra-op.threads > 2"),
            "at column 1: unknown knob 'intra' (write a knob name with other characters "
            "between backquotes: `intra-op.threads`)");
  EXPECT_EQ(ErrorOf("sqrt(a) < 2"),
            "at column 1: unknown function 'sqrt'; there are min, max, abs");
  EXPECT_EQ(ErrorOf("abs(a, b) < 2"), "at column 1: abs() takes one argument");
  EXPECT_EQ(ErrorOf("min() < 2"), "at column 1: min() takes one or more arguments");
}

TEST(ExpressionTest, TypeErrorsAreFoundBeforeAnyEvaluation) {
  EXPECT_EQ(ErrorOf("mode * 2 > 1"), "at column 6: '*' needs numbers, but its left side is text");
  EXPECT_EQ(ErrorOf("mode == 2"), "at column 6: '==' compares text with a number");
  EXPECT_EQ(ErrorOf("a < 'x'"), "at column 3: '<' needs numbers, but its right side is text");
  EXPECT_EQ(ErrorOf("not mode"), "at column 1: 'not' needs numbers, but its right side is text");
}

TEST(ExpressionTest, UntypedVariablesPassTypeChecks) {
  // The config parser checks syntax and names before knob types are known.
  auto untyped = [](std::string_view name) {
    Expression::Variable v;
    v.found = name == "x";
    v.untyped = true;
    return v;
  };
  Expression e;
  EXPECT_TRUE(Expression::Compile("x == 'fast' or x * 2 > 3", untyped, &e).ok());
  EXPECT_FALSE(Expression::Compile("y > 1", untyped, &e).ok());
}

TEST(ExpressionTest, KeepsItsText) {
  Expression e;
  ASSERT_TRUE(Compile("a * b <= 1024", &e).ok());
  EXPECT_EQ(e.text(), "a * b <= 1024");
  Expression copy = e;  // copies share the compiled form
  EXPECT_TRUE(copy.Holds({2.0, 3.0, std::string("x"), 0.0}));
}

}  // namespace
// ---------------------------------------------------------------------------
// Hostile input (issue 14): no constraint can exhaust the stack, at compile time
// or when evaluated; each refusal names the limit.

std::string Repeat(const std::string& piece, size_t times) {
  std::string text;
  for (size_t i = 0; i < times; ++i) text += piece;
  return text;
}

TEST(ExpressionTest, Issue14FiveThousandNestedParenthesesAreRefusedNotACrash) {
  std::string deep = Repeat("(", 5000) + "a" + Repeat(")", 5000);
  EXPECT_NE(ErrorOf(deep).find("the limit is 4096"), std::string::npos) << ErrorOf(deep);
  // Under the length limit, the depth limit says what is wrong.
  std::string nested = Repeat("(", 200) + "a" + Repeat(")", 200);
  EXPECT_NE(ErrorOf(nested).find("nests deeper than the limit of 64 levels"),
            std::string::npos)
      << ErrorOf(nested);
}

TEST(ExpressionTest, Issue14AHundredThousandUnaryOperatorsAreRefusedNotACrash) {
  EXPECT_NE(ErrorOf(Repeat("-", 100000) + "a").find("the limit is 4096"),
            std::string::npos);
  EXPECT_NE(ErrorOf(Repeat("not ", 500) + "a").find("nests deeper"), std::string::npos);
  EXPECT_NE(ErrorOf(Repeat("- ", 100) + "a").find("nests deeper"), std::string::npos);
  EXPECT_NE(ErrorOf(Repeat("2 ** ", 100) + "a").find("nests deeper"), std::string::npos);
  EXPECT_NE(ErrorOf(Repeat("abs(", 100) + "a" + Repeat(")", 100)).find("nests deeper"),
            std::string::npos);
}

TEST(ExpressionTest, Issue14AFortyFourThousandTermSumIsRefusedNotACrash) {
  std::string sum = "a" + Repeat(" + a", 44000);
  EXPECT_NE(ErrorOf(sum).find("characters long; the limit is 4096"), std::string::npos);
}

TEST(ExpressionTest, TheLongestChainUnderTheLimitEvaluatesWithoutRecursion) {
  // 2,000 terms in 4,000 characters: a left-deep tree 2,000 nodes tall.
  std::string sum = "a" + Repeat("+a", 1999);
  ASSERT_LE(sum.size(), 4096u);
  EXPECT_EQ(std::get<double>(Eval(sum, 1, 0)), 2000);
  std::string nested = Repeat("(", 60) + "a + b" + Repeat(")", 60);
  EXPECT_EQ(std::get<double>(Eval(nested, 2, 3)), 5);
  EXPECT_EQ(std::get<double>(Eval(Repeat("-", 60) + "a", 7, 0)), 7);
}

}  // namespace hone
