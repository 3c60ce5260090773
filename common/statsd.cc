#include "common/statsd.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "common/scan.h"

namespace hone {

namespace {

// How much of a hostile line or token a message quotes.
constexpr size_t kExcerptBytes = 60;
constexpr size_t kTokenExcerptBytes = 20;

bool NameByte(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '_' || c == '.' || c == '-';
}

// The finite number that is the whole of `text` (a decimal, as scan.h reads it).
bool ToFinite(std::string_view text, double* value) {
  if (!IsNumber(text)) return false;
  std::string copy(text);  // bounded by the line's length
  *value = std::strtod(copy.c_str(), nullptr);
  return std::isfinite(*value);
}

// Reads one line, already stripped and within the length limit.
class LineParser {
 public:
  explicit LineParser(std::string_view line) : line_(line) {}

  Status Parse(StatsdValue* out);

 private:
  Status Error(const std::string& what) const {
    return Status::InvalidArgument("statsd line '" + Printable(line_, kExcerptBytes) +
                                   "': " + what);
  }
  Status CheckName(std::string_view name) const;
  Status ReadType(std::string_view type, StatsdValue* out) const;
  Status ReadValue(std::string_view text, StatsdValue* out) const;
  Status ReadSection(std::string_view section, StatsdValue* out);

  std::string_view line_;
  bool seen_rate_ = false;
  bool seen_tags_ = false;
};

Status LineParser::Parse(StatsdValue* out) {
  size_t colon = line_.find(':');
  if (colon == std::string_view::npos)
    return Error("no ':' between the name and the value");
  Status s = CheckName(line_.substr(0, colon));
  if (!s.ok()) return s;
  std::string_view rest = line_.substr(colon + 1);
  size_t pipe = rest.find('|');
  if (pipe == std::string_view::npos)
    return Error("no '|' between the value and the type");
  std::string_view value = rest.substr(0, pipe);
  rest = rest.substr(pipe + 1);
  pipe = rest.find('|');
  s = ReadType(rest.substr(0, pipe), out);
  if (s.ok()) s = ReadValue(value, out);
  while (s.ok() && pipe != std::string_view::npos) {
    rest = rest.substr(pipe + 1);
    pipe = rest.find('|');
    s = ReadSection(rest.substr(0, pipe), out);
  }
  if (s.ok()) out->name = std::string(line_.substr(0, colon));
  return s;
}

Status LineParser::CheckName(std::string_view name) const {
  if (name.empty()) return Error("the name is empty");
  if (name.size() > kMaxStatsdNameBytes)
    return Error("the name is " + std::to_string(name.size()) +
                 " bytes, longer than the limit of " +
                 std::to_string(kMaxStatsdNameBytes));
  for (char c : name)
    if (!NameByte(c))
      return Error("the name has the character '" +
                   Printable(std::string_view(&c, 1), kExcerptBytes) +
                   "', which is not a letter, a digit, '_', '.' or '-'");
  return Status::OK();
}

Status LineParser::ReadType(std::string_view type, StatsdValue* out) const {
  if (type == "g") {
    out->type = 'g';
  } else if (type == "c") {
    out->type = 'c';
  } else if (type == "ms") {
    out->type = 'm';
  } else {
    return Error("type '" + Printable(type, kTokenExcerptBytes) + "' is not g, c or ms");
  }
  return Status::OK();
}

Status LineParser::ReadValue(std::string_view text, StatsdValue* out) const {
  if (text.empty()) return Error("the value is empty");
  if (!ToFinite(text, &out->value)) {
    std::string quoted = "value '" + Printable(text, kTokenExcerptBytes) + "'";
    if (IsNumber(text)) return Error(quoted + " is out of range");
    return Error(quoted + " is not a decimal number");
  }
  out->relative = out->type == 'g' && (text[0] == '+' || text[0] == '-');
  if (out->type == 'm' && out->value < 0)
    return Error("a timing cannot be negative (value '" +
                 Printable(text, kTokenExcerptBytes) + "')");
  return Status::OK();
}

Status LineParser::ReadSection(std::string_view section, StatsdValue* out) {
  if (section.empty()) return Error("an empty section after '|'");
  if (section[0] == '@') {
    if (seen_rate_) return Error("more than one sample rate");
    seen_rate_ = true;
    std::string_view text = section.substr(1);
    double rate = 0;
    if (!ToFinite(text, &rate) || !(rate > 0 && rate <= 1))
      return Error("sample rate '" + Printable(text, kTokenExcerptBytes) +
                   "' is not a number in (0, 1]");
    out->sample_rate = rate;
    return Status::OK();
  }
  if (section[0] == '#') {
    if (seen_tags_) return Error("more than one set of tags");
    seen_tags_ = true;  // DogStatsD tags: honed does not use them
    return Status::OK();
  }
  return Error("section '" + Printable(section, kTokenExcerptBytes) +
               "' is neither a sample rate (@0.5) nor tags (#tag:value)");
}

std::string_view StripLineEnd(std::string_view line) {
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r'))
    line.remove_suffix(1);
  return line;
}

}  // namespace

bool IsStatsdName(std::string_view name) {
  if (name.empty() || name.size() > kMaxStatsdNameBytes) return false;
  for (char c : name)
    if (!NameByte(c)) return false;
  return true;
}

Status ParseStatsdLine(std::string_view line, StatsdValue* out) {
  line = StripLineEnd(line);
  if (line.empty()) return Status::InvalidArgument("empty statsd line");
  if (line.size() > kMaxStatsdLineBytes)
    return Status::InvalidArgument("statsd line '" + Printable(line, kExcerptBytes) +
                                   "' is longer than the limit of " +
                                   std::to_string(kMaxStatsdLineBytes) + " bytes");
  *out = StatsdValue();
  return LineParser(line).Parse(out);
}

Status ParseStatsdPacket(std::string_view text, std::vector<StatsdValue>* out,
                         std::vector<std::string>* errors) {
  size_t refused = 0;
  std::string first_error;
  auto refuse = [&](std::string message) {
    if (refused++ == 0) first_error = message;
    if (errors) errors->push_back(std::move(message));
  };
  size_t lines = 0;
  size_t line_number = 0;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = StripLineEnd(text.substr(start, end - start));
    ++line_number;
    if (!line.empty()) {
      if (++lines > kMaxStatsdPacketLines) {
        refuse("line " + std::to_string(line_number) + ": the packet has more than " +
               std::to_string(kMaxStatsdPacketLines) + " lines; the last " +
               std::to_string(text.size() - start) + " bytes were not read");
        break;
      }
      StatsdValue value;
      Status s = ParseStatsdLine(line, &value);
      if (s.ok()) {
        out->push_back(std::move(value));
      } else {
        refuse("line " + std::to_string(line_number) + ": " + s.message());
      }
    }
    start = end + 1;
  }
  if (refused == 0) return Status::OK();
  return Status::InvalidArgument("statsd packet: " + std::to_string(refused) +
                                 (refused == 1 ? " error" : " errors") +
                                 "; the first: " + first_error);
}

}  // namespace hone
