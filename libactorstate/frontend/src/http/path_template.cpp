#include "http/path_template.hpp"

#include <algorithm>

namespace actorstate::http::detail {

namespace {

bool ident_start(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

bool ident_part(char c) {
  return ident_start(c) || (c >= '0' && c <= '9');
}

// Characters with a meaning in the template grammar; everything else may appear in a literal.
bool literal_char(char c) {
  return c != '/' && c != '*' && c != '{' && c != '}' && c != ':';
}

int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

class parser {
public:
  parser(std::string_view text, std::vector<path_template::segment>& segs, std::vector<path_template::variable>& vars,
         std::string& verb)
      : text_(text), segs_(segs), vars_(vars), verb_(verb) {}

  /// Fills the segments, variables and verb; invalid_argument naming the problem and the template.
  status run() {
    if (text_.empty() || text_[0] != '/')
      return fail("a path template must start with '/'");
    pos_ = 1;
    if (auto st = segments(false); !st.ok())
      return st;
    if (pos_ < text_.size() && text_[pos_] == ':') {
      ++pos_;
      auto start = pos_;
      while (pos_ < text_.size() && literal_char(text_[pos_]))
        ++pos_;
      if (pos_ == start)
        return fail("empty verb");
      verb_ = std::string{text_.substr(start, pos_ - start)};
    }
    if (pos_ != text_.size())
      return unexpected();
    return {};
  }

private:
  status fail(std::string_view what) const {
    return {status_code::invalid_argument, std::string{what} + " in path template '" + std::string{text_} + "'"};
  }

  status unexpected() const {
    if (pos_ >= text_.size())
      return fail("unexpected end");
    return fail("unexpected '" + std::string(1, text_[pos_]) + "' at position " + std::to_string(pos_ + 1));
  }

  status segments(bool in_variable) {
    for (;;) {
      if (auto st = segment(in_variable); !st.ok())
        return st;
      if (pos_ < text_.size() && text_[pos_] == '/') {
        ++pos_;
        continue;
      }
      return {};
    }
  }

  status segment(bool in_variable) {
    using kind = path_template::segment_kind;
    if (text_.substr(pos_, 2) == "**") {
      pos_ += 2;
      segs_.push_back({kind::multi, {}});
      return {};
    }
    if (pos_ < text_.size() && text_[pos_] == '*') {
      ++pos_;
      segs_.push_back({kind::single, {}});
      return {};
    }
    if (pos_ < text_.size() && text_[pos_] == '{') {
      if (in_variable)
        return fail("nested variable");
      return variable();
    }
    auto start = pos_;
    while (pos_ < text_.size() && literal_char(text_[pos_]))
      ++pos_;
    // An empty literal is a syntax error except as the whole template "/" (the reference accepts that).
    if (pos_ == start && !(start == 1 && text_.size() == 1))
      return unexpected();
    segs_.push_back({kind::literal, std::string{text_.substr(start, pos_ - start)}});
    return {};
  }

  status variable() {
    ++pos_;  // '{'
    auto start = pos_;
    for (;;) {
      if (pos_ >= text_.size() || !ident_start(text_[pos_]))
        return pos_ < text_.size() && text_[pos_] == '{' ? fail("nested variable") : unexpected();
      while (pos_ < text_.size() && ident_part(text_[pos_]))
        ++pos_;
      if (pos_ < text_.size() && text_[pos_] == '.') {
        ++pos_;
        continue;
      }
      break;
    }
    path_template::variable v;
    v.field_path = std::string{text_.substr(start, pos_ - start)};
    for (const auto& other : vars_)
      if (other.field_path == v.field_path)
        return fail("duplicate variable '" + v.field_path + "'");
    v.first = segs_.size();
    if (pos_ < text_.size() && text_[pos_] == '=') {
      ++pos_;
      if (auto st = segments(true); !st.ok())
        return st;
    } else {
      segs_.push_back({path_template::segment_kind::single, {}});
    }
    v.last = segs_.size();
    if (pos_ >= text_.size() || text_[pos_] != '}')
      return pos_ < text_.size() && text_[pos_] == '{' ? fail("nested variable") : unexpected();
    ++pos_;
    vars_.push_back(std::move(v));
    return {};
  }

  std::string_view text_;
  size_t pos_ = 0;
  std::vector<path_template::segment>& segs_;
  std::vector<path_template::variable>& vars_;
  std::string& verb_;
};

}  // namespace

result<path_template> path_template::parse(std::string_view text) {
  path_template t;
  parser p{text, t.segments_, t.variables_, t.verb_};
  if (auto st = p.run(); !st.ok())
    return st;
  for (size_t i = 0; i + 1 < t.segments_.size(); ++i) {
    if (t.segments_[i].kind == segment_kind::multi)
      return status{status_code::invalid_argument,
                    "'**' must be the last segment of path template '" + std::string{text} + "'"};
  }
  t.ends_with_multi_ = !t.segments_.empty() && t.segments_.back().kind == segment_kind::multi;
  return t;
}

bool path_template::matches(const std::vector<std::string_view>& segs) const {
  auto fixed = ends_with_multi_ ? segments_.size() - 1 : segments_.size();
  if (ends_with_multi_ ? segs.size() < fixed : segs.size() != fixed)
    return false;
  for (size_t i = 0; i < fixed; ++i) {
    const auto& t = segments_[i];
    auto s = segs[i];
    if (t.kind == segment_kind::single) {
      if (s.find(':') != std::string_view::npos)
        return false;
    } else if (s != t.literal) {
      // Literals compare after decoding only when the client escaped something, which is rare.
      std::string decoded;
      if (s.find('%') == std::string_view::npos || !percent_decode(s, false, decoded) || decoded != t.literal)
        return false;
    }
  }
  return true;
}

std::string_view path_template::capture(const variable& v, const std::vector<std::string_view>& segs) const {
  auto end = (ends_with_multi_ && v.last == segments_.size()) ? segs.size() : v.last;
  if (v.first >= end || end > segs.size())
    return {};
  const char* b = segs[v.first].data();
  const char* e = segs[end - 1].data() + segs[end - 1].size();
  return {b, static_cast<size_t>(e - b)};
}

bool split_path(std::string_view path, std::vector<std::string_view>& out) {
  out.clear();
  if (path.empty() || path[0] != '/')
    return false;
  size_t start = 1;
  for (;;) {
    auto slash = path.find('/', start);
    if (slash == std::string_view::npos) {
      out.push_back(path.substr(start));
      return true;
    }
    out.push_back(path.substr(start, slash - start));
    start = slash + 1;
  }
}

bool percent_decode(std::string_view in, bool plus_as_space, std::string& out) {
  out.clear();
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size())
        return false;
      int hi = hex_value(in[i + 1]);
      int lo = hex_value(in[i + 2]);
      if (hi < 0 || lo < 0)
        return false;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_as_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return true;
}

}  // namespace actorstate::http::detail
