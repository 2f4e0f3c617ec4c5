// Path templates of `google.api.http` rules
// (https://github.com/googleapis/googleapis/blob/master/google/api/http.proto):
//   Template = "/" Segments [ ":" Verb ] ;   Segments = Segment { "/" Segment } ;
//   Segment  = "*" | "**" | LITERAL | Variable ;   Variable = "{" FieldPath [ "=" Segments ] "}" ;
// `{a.b}` stands for `{a.b=*}`. Parsing rejects nested and duplicated variables and a `**` anywhere but last.
// Matching works on a request path split once into raw (still percent-encoded) segments; since every template
// segment but a final `**` matches exactly one request segment, a match is a positional comparison without
// backtracking. As in the reference proxy, `*` and single-segment variables do not match a segment with a raw ':'
// (that character separates the verb; clients percent-encode it inside values).
//
// Thread rules: a parsed template is immutable; all functions here are pure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "actorstate/status.hpp"

namespace actorstate::http::detail {

class path_template {
public:
  enum class segment_kind : uint8_t { literal, single, multi };

  struct segment {
    segment_kind kind = segment_kind::literal;
    std::string literal;
  };

  /// A variable covers the template segments [first, last); a final `**` extends it to the end of the request path.
  struct variable {
    std::string field_path;  ///< As written: "a.b.c".
    size_t first = 0;
    size_t last = 0;
  };

  /// Parses `text`; invalid_argument describing the problem and quoting the template (without naming the method).
  static result<path_template> parse(std::string_view text);

  const std::vector<segment>& segments() const noexcept { return segments_; }
  const std::vector<variable>& variables() const noexcept { return variables_; }
  const std::string& verb() const noexcept { return verb_; }

  /// Whether the (verb-stripped) request segments match.
  bool matches(const std::vector<std::string_view>& segs) const;

  /// The raw text `v` captured from matching `segs`: its segments joined by '/', a view into the request path.
  std::string_view capture(const variable& v, const std::vector<std::string_view>& segs) const;

private:
  std::vector<segment> segments_;
  std::vector<variable> variables_;
  std::string verb_;
  bool ends_with_multi_ = false;
};

/// Splits an absolute request path ("/a/b") into its raw segments ("a", "b"), views into `path`. False if `path`
/// does not start with '/'.
bool split_path(std::string_view path, std::vector<std::string_view>& out);

/// Percent-decodes `in` (and turns '+' into ' ' if `plus_as_space`, as in query strings). False on a broken escape.
bool percent_decode(std::string_view in, bool plus_as_space, std::string& out);

}  // namespace actorstate::http::detail
