#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "http/path_template.hpp"
#include "http/wire.hpp"

using namespace actorstate::http::detail;

namespace {

path_template parsed(std::string_view text) {
  auto t = path_template::parse(text);
  REQUIRE_MESSAGE(t.ok(), t.error().message());
  return std::move(t).value();
}

std::string parse_error(std::string_view text) {
  auto t = path_template::parse(text);
  CHECK_FALSE(t.ok());
  CHECK(t.error().code() == actorstate::status_code::invalid_argument);
  return t.error().message();
}

std::vector<std::string_view> split(std::string_view path) {
  std::vector<std::string_view> segs;
  REQUIRE(split_path(path, segs));
  return segs;
}

}  // namespace

TEST_CASE("path_template.forms") {
  using kind = path_template::segment_kind;
  auto t = parsed("/v1/*/{a.b.c}/{name=shelves/*/books/**}:verb");
  REQUIRE(t.segments().size() == 7);
  CHECK(t.segments()[0].kind == kind::literal);
  CHECK(t.segments()[0].literal == "v1");
  CHECK(t.segments()[1].kind == kind::single);
  CHECK(t.segments()[2].kind == kind::single);
  CHECK(t.segments()[3].literal == "shelves");
  CHECK(t.segments()[6].kind == kind::multi);
  REQUIRE(t.variables().size() == 2);
  CHECK(t.variables()[0].field_path == "a.b.c");
  CHECK(t.variables()[0].first == 2);
  CHECK(t.variables()[0].last == 3);
  CHECK(t.variables()[1].field_path == "name");
  CHECK(t.variables()[1].first == 3);
  CHECK(t.variables()[1].last == 7);
  CHECK(t.verb() == "verb");
  CHECK(parsed("/").segments().size() == 1);
}

TEST_CASE("path_template.syntax_errors") {
  CHECK(parse_error("v1/x").find("must start with '/'") != std::string::npos);
  CHECK(parse_error("").find("must start with '/'") != std::string::npos);
  CHECK(parse_error("/x/{s").find("unexpected end") != std::string::npos);
  CHECK(parse_error("/x/{s={t}}").find("nested variable") != std::string::npos);
  CHECK(parse_error("/x/{s}/{s}").find("duplicate variable 's'") != std::string::npos);
  CHECK(parse_error("/x/**/y").find("'**' must be the last") != std::string::npos);
  CHECK(parse_error("/x/{a=**}/y").find("'**' must be the last") != std::string::npos);
  CHECK(parse_error("/x/*a").find("unexpected 'a'") != std::string::npos);
  CHECK(parse_error("/x:").find("empty verb") != std::string::npos);
  CHECK(parse_error("/x//y").find("unexpected '/'") != std::string::npos);
  CHECK(parse_error("/x/{1a}").find("unexpected '1'") != std::string::npos);
  CHECK(parse_error("/x/{a.}").find("unexpected '}'") != std::string::npos);
  CHECK(parse_error("/x:a/b").find("unexpected '/'") != std::string::npos);
}

TEST_CASE("path_template.matching_and_captures") {
  auto t = parsed("/v1/{a}/*/x/{rest=**}");
  auto segs = split("/v1/A%20B/skip/x/one/two%2Fthree");
  REQUIRE(t.matches(segs));
  CHECK(t.capture(t.variables()[0], segs) == "A%20B");
  CHECK(t.capture(t.variables()[1], segs) == "one/two%2Fthree");
  // `**` also matches nothing.
  auto none = split("/v1/a/b/x");
  REQUIRE(t.matches(none));
  CHECK(t.capture(t.variables()[1], none).empty());
  CHECK_FALSE(t.matches(split("/v1/a/b/y/z")));
  CHECK_FALSE(t.matches(split("/v1/a")));
  // Single-segment matchers do not take a raw ':' (the verb separator).
  CHECK_FALSE(t.matches(split("/v1/a:b/c/x")));

  auto fixed = parsed("/a/{b}/c");
  CHECK(fixed.matches(split("/a/x/c")));
  CHECK(fixed.matches(split("/a//c")));  // an empty segment is a value (the entity key check rejects it later)
  CHECK_FALSE(fixed.matches(split("/a/x/c/")));
  CHECK_FALSE(fixed.matches(split("/a/x")));
  // Literals match escaped spellings too.
  CHECK(fixed.matches(split("/%61/x/c")));
}

TEST_CASE("path_template.split_and_decode") {
  std::vector<std::string_view> segs;
  CHECK_FALSE(split_path("relative", segs));
  CHECK_FALSE(split_path("", segs));
  REQUIRE(split_path("/", segs));
  CHECK(segs == std::vector<std::string_view>{""});
  REQUIRE(split_path("/a/b/", segs));
  CHECK(segs == std::vector<std::string_view>{"a", "b", ""});

  std::string out;
  REQUIRE(percent_decode("a%20b+c%2F%e2%82%AC", false, out));
  CHECK(out == "a b+c/\xe2\x82\xac");
  REQUIRE(percent_decode("a+b", true, out));
  CHECK(out == "a b");
  CHECK_FALSE(percent_decode("a%2", false, out));
  CHECK_FALSE(percent_decode("a%zz", false, out));
  CHECK_FALSE(percent_decode("%", false, out));
}

TEST_CASE("wire.base64_utf8_json_helpers") {
  std::string out;
  REQUIRE(base64_decode("aGVsbG8=", out));
  CHECK(out == "hello");
  REQUIRE(base64_decode("aGVsbG8", out));
  CHECK(out == "hello");
  REQUIRE(base64_decode("-_8=", out));
  CHECK(out == "\xfb\xff");
  REQUIRE(base64_decode("+/8=", out));
  CHECK(out == "\xfb\xff");
  REQUIRE(base64_decode("", out));
  CHECK(out.empty());
  CHECK_FALSE(base64_decode("a", out));
  CHECK_FALSE(base64_decode("ab!c", out));
  CHECK_FALSE(base64_decode("aGVsbG8h=", out));

  CHECK(valid_utf8("h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80"));
  CHECK_FALSE(valid_utf8("\xc3"));
  CHECK_FALSE(valid_utf8("\xc0\xaf"));          // overlong '/'
  CHECK_FALSE(valid_utf8("\xed\xa0\x80"));      // surrogate
  CHECK_FALSE(valid_utf8("\xf4\x90\x80\x80"));  // past U+10FFFF

  std::string_view v;
  std::string_view doc = R"({"a":"x\"}","b":[{"c":1},"]"],"c":{"d":{}},"e":-1.5e3,"f":true})";
  REQUIRE(json_member(doc, "a", v));
  CHECK(v == R"("x\"}")");
  REQUIRE(json_member(doc, "b", v));
  CHECK(v == R"([{"c":1},"]"])");
  REQUIRE(json_member(doc, "c", v));
  CHECK(v == R"({"d":{}})");
  REQUIRE(json_member(doc, "e", v));
  CHECK(v == "-1.5e3");
  REQUIRE(json_member(doc, "f", v));
  CHECK(v == "true");
  CHECK_FALSE(json_member(doc, "d", v));
  CHECK_FALSE(json_member("{}", "a", v));
  CHECK_FALSE(json_member("[1]", "a", v));

  CHECK(is_json_content_type("application/json"));
  CHECK(is_json_content_type("Application/JSON; charset=utf-8"));
  CHECK(is_json_content_type(" application/json ;charset=UTF-8"));
  CHECK_FALSE(is_json_content_type("text/plain"));
  CHECK_FALSE(is_json_content_type("application/jsonx"));
  CHECK_FALSE(is_json_content_type(""));
}

TEST_CASE("wire.scan_reply_bytes") {
  std::string bytes;
  put_length_delimited(bytes, 1, "abc");
  put_tag(bytes, 2, wire_varint);
  put_varint(bytes, 300);
  put_tag(bytes, 2, wire_varint);
  put_varint(bytes, 301);
  uint64_t value = 0;
  CHECK(scan_scalar(bytes, 2, wire_varint, value) == scan_result::ok);
  CHECK(value == 301);  // the last occurrence wins, as a parser would have it
  CHECK(scan_scalar(bytes, 1, wire_varint, value) == scan_result::unsupported);
  CHECK(scan_scalar(bytes.substr(0, bytes.size() - 1), 2, wire_varint, value) == scan_result::malformed);
  CHECK(scan_scalar("\xff", 2, wire_varint, value) == scan_result::malformed);
  std::string merged;
  put_length_delimited(bytes, 1, "def");
  CHECK(scan_length_delimited(bytes, 1, merged) == scan_result::ok);
  CHECK(merged == "abcdef");
}
