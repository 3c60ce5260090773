#include "common/expression.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>

#include "common/limits.h"

namespace hone {

enum class Op {
  kConstant, kVariable,
  kOr, kAnd, kNot,
  kEq, kNe, kLt, kLe, kGt, kGe,
  kAdd, kSub, kMul, kDiv, kMod, kPow, kNeg,
  kMin, kMax, kAbs,
};

struct Expression::Node {
  Op op = Op::kConstant;
  ExprValue constant = 0.0;  // kConstant
  size_t slot = 0;           // kVariable
  std::vector<size_t> args;  // indices of earlier nodes
  bool numeric = true;       // the type of its value
  bool untyped = false;      // a variable whose type is not known yet
};

namespace {

struct Token {
  enum Kind { kEnd, kNumber, kText, kName, kSymbol } kind = kEnd;
  std::string text;  // the symbol, the name, or the text literal's contents
  double number = 0;
  int column = 1;    // 1-based, where the token starts
};

bool NameStart(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool NameChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.';
}

class Parser {
 public:
  Parser(std::string_view text, const Expression::Resolver& resolve,
         std::vector<Expression::Node>* nodes, std::string_view noun)
      : text_(text), resolve_(resolve), nodes_(nodes), noun_(noun) {}

  Status Parse() {
    if (text_.size() > limits::kMaxConstraintBytes)
      return Status::InvalidArgument(
          "it is " + std::to_string(text_.size()) + " characters long; the limit is " +
          std::to_string(limits::kMaxConstraintBytes));
    Status s = Lex();
    if (!s.ok()) return s;
    if (tokens_.front().kind == Token::kEnd) return Status::InvalidArgument("it is empty");
    size_t root;
    s = ParseOr(&root);
    if (!s.ok()) return s;
    if (Peek().kind != Token::kEnd) return ErrorAt(Peek(), "unexpected " + Describe(Peek()));
    return Status::OK();
  }

 private:
  Status Lex() {
    size_t i = 0;
    while (i < text_.size()) {
      char c = text_[i];
      Token t;
      t.column = static_cast<int>(i) + 1;
      if (std::isspace(static_cast<unsigned char>(c))) {
        ++i;
        continue;
      }
      if (std::isdigit(static_cast<unsigned char>(c)) ||
          (c == '.' && i + 1 < text_.size() &&
           std::isdigit(static_cast<unsigned char>(text_[i + 1])))) {
        std::string number(text_.substr(i));
        char* end = nullptr;
        t.number = std::strtod(number.c_str(), &end);
        size_t length = static_cast<size_t>(end - number.c_str());
        if (i + length < text_.size() && NameChar(text_[i + length]))
          return Status::InvalidArgument("at column " + std::to_string(t.column) +
                                         ": malformed number '" +
                                         std::string(text_.substr(i, length + 1)) + "'");
        t.kind = Token::kNumber;
        t.text = std::string(text_.substr(i, length));
        i += length;
      } else if (NameStart(c)) {
        size_t start = i;
        while (i < text_.size() && NameChar(text_[i])) ++i;
        t.kind = Token::kName;
        t.text = std::string(text_.substr(start, i - start));
      } else if (c == '`' || c == '\'' || c == '"') {
        size_t close = text_.find(c, i + 1);
        if (close == std::string_view::npos)
          return Status::InvalidArgument("at column " + std::to_string(t.column) +
                                         ": " + std::string(1, c) + " is never closed");
        t.kind = c == '`' ? Token::kName : Token::kText;
        t.text = std::string(text_.substr(i + 1, close - i - 1));
        if (c == '`' && t.text.empty())
          return Status::InvalidArgument("at column " + std::to_string(t.column) +
                                         ": empty knob name ``");
        i = close + 1;
      } else {
        static const char* kSymbols[] = {"**", "==", "!=", "<=", ">=", "&&", "||", "<",
                                         ">",  "+",  "-",  "*",  "/",  "%",  "(",  ")",
                                         ",",  "!"};
        for (const char* symbol : kSymbols)
          if (text_.substr(i).starts_with(symbol)) {
            t.kind = Token::kSymbol;
            t.text = symbol;
            break;
          }
        if (t.kind != Token::kSymbol) {
          std::string hint = c == '=' ? " (use == to compare)"
                             : c == '&' ? " (use && or and)"
                             : c == '|' ? " (use || or or)"
                                        : "";
          return Status::InvalidArgument("at column " + std::to_string(t.column) +
                                         ": unexpected character '" + std::string(1, c) +
                                         "'" + hint);
        }
        i += t.text.size();
      }
      tokens_.push_back(std::move(t));
    }
    Token end;
    end.column = static_cast<int>(text_.size()) + 1;
    tokens_.push_back(end);
    return Status::OK();
  }

  const Token& Peek() const { return tokens_[next_]; }
  const Token& Take() { return tokens_[next_++]; }
  bool IsSymbol(std::string_view symbol) const {
    return Peek().kind == Token::kSymbol && Peek().text == symbol;
  }
  // `and`, `or`, `not` are words too.
  bool IsWord(std::string_view word) const {
    return Peek().kind == Token::kName && Peek().text == word;
  }

  static std::string Describe(const Token& t) {
    switch (t.kind) {
      case Token::kEnd: return "end of the expression";
      case Token::kNumber: return "number " + t.text;
      case Token::kText: return "text '" + t.text + "'";
      case Token::kName: return "'" + t.text + "'";
      case Token::kSymbol: return "'" + t.text + "'";
    }
    return "token";
  }
  static Status ErrorAt(const Token& t, const std::string& message) {
    return Status::InvalidArgument("at column " + std::to_string(t.column) + ": " +
                                   message);
  }

  // Every recursion of the parser passes through Nest, so that no input, however
  // deeply it nests, can exhaust the stack.
  Status Nest(const Token& at) {
    if (++depth_ <= limits::kMaxExpressionDepth) return Status::OK();
    return ErrorAt(at, "it nests deeper than the limit of " +
                           std::to_string(limits::kMaxExpressionDepth) +
                           " levels (parentheses, unary operators, function calls, "
                           "powers)");
  }
  struct Unnest {
    int* depth;
    ~Unnest() { --*depth; }
  };

  size_t Add(Expression::Node node) {
    nodes_->push_back(std::move(node));
    return nodes_->size() - 1;
  }
  bool Numeric(size_t node) const { return (*nodes_)[node].numeric; }
  bool Untyped(size_t node) const { return (*nodes_)[node].untyped; }

  Status NeedNumber(size_t node, const Token& op, const char* side) {
    if (Numeric(node) || Untyped(node)) return Status::OK();
    return ErrorAt(op, "'" + op.text + "' needs numbers, but its " + side +
                           " side is text");
  }

  Status Binary(Op op, const Token& token, size_t left, size_t right, bool numbers,
                size_t* out) {
    if (numbers) {
      Status s = NeedNumber(left, token, "left");
      if (s.ok()) s = NeedNumber(right, token, "right");
      if (!s.ok()) return s;
    } else if (Numeric(left) != Numeric(right) && !Untyped(left) && !Untyped(right)) {
      return ErrorAt(token, "'" + token.text + "' compares text with a number");
    }
    Expression::Node node;
    node.op = op;
    node.args = {left, right};
    *out = Add(std::move(node));
    return Status::OK();
  }

  Status ParseOr(size_t* out) {
    Unnest unnest{&depth_};
    Status s = Nest(Peek());
    if (s.ok()) s = ParseAnd(out);
    while (s.ok() && (IsSymbol("||") || IsWord("or"))) {
      Token op = Take();
      size_t right;
      s = ParseAnd(&right);
      if (s.ok()) s = Binary(Op::kOr, op, *out, right, true, out);
    }
    return s;
  }

  Status ParseAnd(size_t* out) {
    Status s = ParseNot(out);
    while (s.ok() && (IsSymbol("&&") || IsWord("and"))) {
      Token op = Take();
      size_t right;
      s = ParseNot(&right);
      if (s.ok()) s = Binary(Op::kAnd, op, *out, right, true, out);
    }
    return s;
  }

  // A prefix operator whose operand is parsed by `operand_parser` (itself, so
  // that `not not x` and `--x` work).
  Status Prefix(Op kind, Status (Parser::*operand_parser)(size_t*), size_t* out) {
    Token op = Take();
    size_t operand;
    Unnest unnest{&depth_};
    Status s = Nest(op);
    if (s.ok()) s = (this->*operand_parser)(&operand);
    if (s.ok()) s = NeedNumber(operand, op, "right");
    if (!s.ok()) return s;
    Expression::Node node;
    node.op = kind;
    node.args = {operand};
    *out = Add(std::move(node));
    return Status::OK();
  }

  Status ParseNot(size_t* out) {
    if (IsSymbol("!") || IsWord("not")) return Prefix(Op::kNot, &Parser::ParseNot, out);
    return ParseComparison(out);
  }

  Status ParseComparison(size_t* out) {
    Status s = ParseSum(out);
    static const std::pair<const char*, Op> kComparisons[] = {
        {"==", Op::kEq}, {"!=", Op::kNe}, {"<", Op::kLt},
        {"<=", Op::kLe}, {">", Op::kGt},  {">=", Op::kGe}};
    for (int chained = 0; s.ok(); ++chained) {
      const std::pair<const char*, Op>* found = nullptr;
      for (const auto& c : kComparisons)
        if (IsSymbol(c.first)) found = &c;
      if (!found) break;
      if (chained)
        return ErrorAt(Peek(), "comparisons do not chain; write 'a < b and b < c'");
      Token op = Take();
      size_t right;
      s = ParseSum(&right);
      bool numbers = found->second != Op::kEq && found->second != Op::kNe;
      if (s.ok()) s = Binary(found->second, op, *out, right, numbers, out);
    }
    return s;
  }

  Status ParseSum(size_t* out) {
    Status s = ParseProduct(out);
    while (s.ok() && (IsSymbol("+") || IsSymbol("-"))) {
      Token op = Take();
      size_t right;
      s = ParseProduct(&right);
      if (s.ok()) s = Binary(op.text == "+" ? Op::kAdd : Op::kSub, op, *out, right, true, out);
    }
    return s;
  }

  Status ParseProduct(size_t* out) {
    Status s = ParseUnary(out);
    while (s.ok() && (IsSymbol("*") || IsSymbol("/") || IsSymbol("%"))) {
      Token op = Take();
      size_t right;
      s = ParseUnary(&right);
      Op kind = op.text == "*" ? Op::kMul : op.text == "/" ? Op::kDiv : Op::kMod;
      if (s.ok()) s = Binary(kind, op, *out, right, true, out);
    }
    return s;
  }

  Status ParseUnary(size_t* out) {
    if (IsSymbol("-")) return Prefix(Op::kNeg, &Parser::ParseUnary, out);
    return ParsePower(out);
  }

  Status ParsePower(size_t* out) {
    Status s = ParseAtom(out);
    if (s.ok() && IsSymbol("**")) {
      Token op = Take();
      size_t right;
      Unnest unnest{&depth_};
      s = Nest(op);
      if (s.ok()) s = ParseUnary(&right);  // right-associative: 2 ** -1, 2 ** 3 ** 2
      if (s.ok()) s = Binary(Op::kPow, op, *out, right, true, out);
    }
    return s;
  }

  Status ParseAtom(size_t* out) {
    const Token& t = Peek();
    Expression::Node node;
    switch (t.kind) {
      case Token::kEnd:
        return ErrorAt(t, "expected a value but found " + Describe(t));
      case Token::kNumber:
        node.constant = t.number;
        Take();
        *out = Add(std::move(node));
        return Status::OK();
      case Token::kText:
        node.constant = t.text;
        node.numeric = false;
        Take();
        *out = Add(std::move(node));
        return Status::OK();
      case Token::kSymbol:
        if (t.text == "(") {
          Take();
          Status s = ParseOr(out);
          if (!s.ok()) return s;
          if (!IsSymbol(")"))
            return ErrorAt(Peek(), "expected ')' but found " + Describe(Peek()));
          Take();
          return Status::OK();
        }
        return ErrorAt(t, "expected a value but found " + Describe(t));
      case Token::kName:
        break;
    }
    Token name = Take();
    if (name.text == "true" || name.text == "false") {
      node.constant = name.text == "true" ? 1.0 : 0.0;
      *out = Add(std::move(node));
      return Status::OK();
    }
    if (name.text == "and" || name.text == "or" || name.text == "not")
      return ErrorAt(name, "expected a value but found '" + name.text + "'");
    if (IsSymbol("(")) return ParseCall(name, out);
    Expression::Variable variable = resolve_(name.text);
    if (!variable.found) {
      // `intra-op` reads as intra minus op: say how to write such a name.
      size_t end = static_cast<size_t>(name.column - 1) + name.text.size();
      std::string hint = end < text_.size() && (text_[end] == '-' || text_[end] == ':')
                             ? " (write a " + std::string(noun_) +
                                   " name with other characters between backquotes: "
                                   "`intra-op.threads`)"
                             : "";
      return ErrorAt(name,
                     "unknown " + std::string(noun_) + " '" + name.text + "'" + hint);
    }
    node.op = Op::kVariable;
    node.slot = variable.slot;
    node.numeric = variable.numeric;
    node.untyped = variable.untyped;
    *out = Add(std::move(node));
    return Status::OK();
  }

  Status ParseCall(const Token& name, size_t* out) {
    Op op;
    if (name.text == "min") {
      op = Op::kMin;
    } else if (name.text == "max") {
      op = Op::kMax;
    } else if (name.text == "abs") {
      op = Op::kAbs;
    } else {
      return ErrorAt(name, "unknown function '" + name.text + "'; there are min, max, abs");
    }
    Take();  // (
    Expression::Node node;
    node.op = op;
    if (!IsSymbol(")")) {
      for (;;) {
        size_t arg;
        Status s = ParseOr(&arg);
        if (s.ok()) s = NeedNumber(arg, name, "argument's");
        if (!s.ok()) return s;
        node.args.push_back(arg);
        if (!IsSymbol(",")) break;
        Take();
      }
    }
    if (!IsSymbol(")"))
      return ErrorAt(Peek(), "expected ')' or ',' but found " + Describe(Peek()));
    Take();
    if (op == Op::kAbs ? node.args.size() != 1 : node.args.empty())
      return ErrorAt(name, name.text + "() takes " +
                               (op == Op::kAbs ? "one argument" : "one or more arguments"));
    *out = Add(std::move(node));
    return Status::OK();
  }

  std::string_view text_;
  const Expression::Resolver& resolve_;
  std::vector<Expression::Node>* nodes_;
  std::string_view noun_;
  std::vector<Token> tokens_;
  size_t next_ = 0;
  int depth_ = 0;
};

}  // namespace

std::optional<double> Expression::EvaluateNumber(
    const std::vector<double>& variables) const {
  std::vector<ExprValue> values(variables.begin(), variables.end());
  ExprValue value = Evaluate(values);
  const double* number = std::get_if<double>(&value);
  if (!number || !std::isfinite(*number)) return std::nullopt;
  return *number;
}

Status Expression::Compile(std::string_view text, const Resolver& resolve,
                           Expression* expression, std::string_view noun) {
  auto nodes = std::make_shared<std::vector<Node>>();
  Parser parser(text, resolve, nodes.get(), noun);
  Status s = parser.Parse();
  if (!s.ok()) return s;
  expression->text_ = std::string(text);
  expression->nodes_ = std::move(nodes);
  return Status::OK();
}

namespace {

double Number(const ExprValue& v) {
  const double* d = std::get_if<double>(&v);
  return d ? *d : NAN;
}

// Non-finite numbers (division by zero, overflow) become NaN, and NaN spreads
// through every operator, so that the constraint does not hold.
double Finite(double v) { return std::isfinite(v) ? v : NAN; }
ExprValue Truth(bool b) { return b ? 1.0 : 0.0; }

// One node's value from its arguments' values.
ExprValue Apply(const Expression::Node& n, const std::vector<ExprValue>& values,
                const std::vector<ExprValue>& variables) {
  if (n.op == Op::kConstant) return n.constant;
  if (n.op == Op::kVariable) return n.slot < variables.size() ? variables[n.slot] : NAN;
  for (size_t i : n.args)
    if (std::holds_alternative<double>(values[i]) && std::isnan(Number(values[i])))
      return NAN;
  if (n.op == Op::kEq) return Truth(values[n.args[0]] == values[n.args[1]]);
  if (n.op == Op::kNe) return Truth(values[n.args[0]] != values[n.args[1]]);
  std::vector<double> x;
  x.reserve(n.args.size());
  for (size_t i : n.args) x.push_back(Number(values[i]));
  if (std::any_of(x.begin(), x.end(), [](double v) { return std::isnan(v); })) return NAN;
  switch (n.op) {
    case Op::kOr: return Truth(x[0] != 0 || x[1] != 0);
    case Op::kAnd: return Truth(x[0] != 0 && x[1] != 0);
    case Op::kNot: return Truth(x[0] == 0);
    case Op::kLt: return Truth(x[0] < x[1]);
    case Op::kLe: return Truth(x[0] <= x[1]);
    case Op::kGt: return Truth(x[0] > x[1]);
    case Op::kGe: return Truth(x[0] >= x[1]);
    case Op::kAdd: return Finite(x[0] + x[1]);
    case Op::kSub: return Finite(x[0] - x[1]);
    case Op::kMul: return Finite(x[0] * x[1]);
    case Op::kDiv: return Finite(x[0] / x[1]);
    case Op::kMod: return Finite(std::fmod(x[0], x[1]));
    case Op::kPow: return Finite(std::pow(x[0], x[1]));
    case Op::kNeg: return -x[0];
    case Op::kAbs: return std::fabs(x[0]);
    case Op::kMin: return *std::min_element(x.begin(), x.end());
    case Op::kMax: return *std::max_element(x.begin(), x.end());
    default: return NAN;
  }
}

}  // namespace

// Every node's arguments come before it, so one pass in order evaluates the tree
// without recursion, however long a chain like a + a + ... + a is.
ExprValue Expression::Evaluate(const std::vector<ExprValue>& variables) const {
  if (!nodes_ || nodes_->empty()) return NAN;
  std::vector<ExprValue> values;
  values.reserve(nodes_->size());
  for (const Node& node : *nodes_) values.push_back(Apply(node, values, variables));
  return values.back();
}

bool Expression::Holds(const std::vector<ExprValue>& variables) const {
  double v = Number(Evaluate(variables));
  return std::isfinite(v) && v != 0;
}

}  // namespace hone
