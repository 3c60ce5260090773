// Expression: the small language of `constraints` between knobs.
//
//   constraints:
//     - block_x * block_y <= 1024
//     - mode != 'off' or threads > 1
//     - `intra-op.threads` % inter_op == 0
//
// Values are numbers or text. Operators, loosest first: `or` (`||`), `and` (`&&`),
// `not` (`!`), comparisons (== != < <= > >=, not chained), + -, * / %, unary -,
// ** (right-associative). Functions: min(a, b, ...), max(a, b, ...), abs(x).
// Literals: numbers (12, 2.5, 1e3), text in single or double quotes, true and
// false (1 and 0). A name is a knob's value: letters, digits, `_` and `.`, not
// starting with a digit; any other knob name is written between backquotes.
// Arithmetic and ordering need numbers, == and != need both sides of one type;
// these are checked when the expression is compiled, so a misspelt knob or a
// comparison of text with a number is an error before any run, not a silent
// never-true. A constraint holds when its value is a non-zero number; division by
// zero (or any other non-finite result) makes it not hold. Boolean knobs count as
// 1 when on (1, true, on, yes, enabled) and 0 when off.
//
// Immutable after compiling; Evaluate is thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/status.h"

namespace hone {

// A value during evaluation.
using ExprValue = std::variant<double, std::string>;

class Expression {
 public:
  // What the compiler needs to know of a name: its slot in the evaluation's
  // variables and whether it holds numbers or text. Unknown names get `found`
  // false.
  struct Variable {
    bool found = false;
    size_t slot = 0;
    bool numeric = true;
    bool untyped = false;  // type not known yet: passes every type check
  };
  using Resolver = std::function<Variable(std::string_view name)>;

  // Parses and type-checks `text`. Errors say what is wrong and where:
  // "at column 9: expected a value after '*'", "unknown knob 'blok_x'" (`noun`
  // names what a name stands for: a live job's target expression names metrics).
  static Status Compile(std::string_view text, const Resolver& resolve,
                        Expression* expression, std::string_view noun = "knob");

  // The value with `variables` (indexed by slot).
  ExprValue Evaluate(const std::vector<ExprValue>& variables) const;
  // The value over numeric variables only, when it is a finite number (nullopt
  // otherwise: text, a division by zero, an overflow).
  std::optional<double> EvaluateNumber(const std::vector<double>& variables) const;
  // True when the value is a finite non-zero number.
  bool Holds(const std::vector<ExprValue>& variables) const;

  const std::string& text() const { return text_; }

  struct Node;

 private:
  std::string text_;
  std::shared_ptr<const std::vector<Node>> nodes_;  // the root is the last node
};

}  // namespace hone
