#include <doctest/doctest.h>

#include <limits>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/dynamic_message.h>
#include <google/protobuf/empty.pb.h>
#include <google/protobuf/unknown_field_set.h>

#include "counter/counter.pb.h"
#include "google/api/annotations.pb.h"
#include "google/api/httpbody.pb.h"
#include "http/exchange.hpp"
#include "http/transcoder.hpp"
#include "httptest/http_test.pb.h"
#include "shoppingcart/shoppingcart.pb.h"

namespace pb = google::protobuf;
namespace counter = actorstate::samples::counter;
using namespace actorstate::http;

namespace {

struct outcome {
  bool ok = false;
  call c;
  actorstate::status why;
};

const pb::ServiceDescriptor* find_service(const pb::DescriptorPool* pool, const std::string& name) {
  const auto* s = pool->FindServiceByName(name);
  REQUIRE_MESSAGE(s != nullptr, name);
  return s;
}

/// Adds every method of the services, in order, from the generated pool (or `pool` with `factory`).
void add_services(transcoder& t, std::initializer_list<std::string> names,
                  const pb::DescriptorPool* pool = pb::DescriptorPool::generated_pool(),
                  pb::MessageFactory* factory = pb::MessageFactory::generated_factory()) {
  for (const auto& name : names) {
    const auto* s = find_service(pool, name);
    for (int i = 0; i < s->method_count(); ++i) {
      auto st = t.add(s->method(i), factory);
      REQUIRE_MESSAGE(st.ok(), st.message());
    }
  }
}

outcome send(const transcoder& t, std::string method, std::string target, std::string content_type = {},
             std::string body = {}) {
  request r;
  r.method = std::move(method);
  auto q = target.find('?');
  r.path = target.substr(0, q);
  r.query = q == std::string::npos ? std::string{} : target.substr(q + 1);
  r.content_type = std::move(content_type);
  r.body = std::move(body);
  auto matched = t.match(r);
  outcome o;
  o.ok = matched.ok();
  if (o.ok)
    o.c = std::move(matched).value();
  else
    o.why = matched.error();
  return o;
}

outcome send_json(const transcoder& t, std::string method, std::string target, std::string body) {
  return send(t, std::move(method), std::move(target), "application/json", std::move(body));
}

std::string method_of(const outcome& o) {
  REQUIRE_MESSAGE(o.ok, o.why.message());
  return o.c.method->full_name();
}

template <class M>
M payload(const outcome& o) {
  REQUIRE_MESSAGE(o.ok, o.why.message());
  M m;
  REQUIRE(m.ParseFromString(o.c.payload));
  return m;
}

httptest::Scalars scalars(const outcome& o) {
  return payload<httptest::Scalars>(o);
}

rendered render(const transcoder& t, const outcome& o, const pb::Message& reply) {
  REQUIRE_MESSAGE(o.ok, o.why.message());
  auto out = t.render(*o.c.rule, reply.SerializeAsString());
  REQUIRE_MESSAGE(out.ok(), out.error().message());
  return std::move(out).value();
}

std::string json(const transcoder& t, const outcome& o, const pb::Message& reply) {
  auto out = render(t, o, reply);
  CHECK(out.content_type == "application/json");
  return out.body;
}

/// `status` is the HTTP status the client gets.
void check_rejected(const outcome& o, int status, const std::string& fragment) {
  CHECK_FALSE(o.ok);
  CHECK(http_status(o.why.code()) == status);
  CHECK_MESSAGE(o.why.message().find(fragment) != std::string::npos, o.why.message());
}

}  // namespace

TEST_CASE("transcoder.verbs") {
  transcoder t;
  add_services(t, {"httptest.Verbs"});
  CHECK(method_of(send(t, "GET", "/v/x")) == "httptest.Verbs.Get");
  CHECK(method_of(send_json(t, "PUT", "/v/x", "{}")) == "httptest.Verbs.Put");
  CHECK(method_of(send_json(t, "POST", "/v/x", "{}")) == "httptest.Verbs.Post");
  CHECK(method_of(send(t, "DELETE", "/v/x")) == "httptest.Verbs.Delete");
  CHECK(method_of(send_json(t, "PATCH", "/v/x", "{}")) == "httptest.Verbs.Patch");
  CHECK(method_of(send(t, "OPTIONS", "/v/x")) == "httptest.Verbs.Custom");
  CHECK(scalars(send(t, "DELETE", "/v/gone")).s() == "gone");
  // Methods compare case-sensitively; the custom kind "*" takes any method.
  check_rejected(send(t, "get", "/v/x"), 404, "Not found");
  check_rejected(send(t, "HEAD", "/v/x"), 404, "Not found");
  CHECK(method_of(send(t, "GET", "/any/x")) == "httptest.Verbs.AnyMethod");
  CHECK(method_of(send(t, "BREW", "/any/x")) == "httptest.Verbs.AnyMethod");
  CHECK(scalars(send(t, "PURGE", "/any/y")).s() == "y");
}

TEST_CASE("transcoder.template_literal_star_and_rest") {
  transcoder t;
  add_services(t, {"httptest.Templates"});
  CHECK(method_of(send(t, "GET", "/t/literal/only")) == "httptest.Templates.Literal");
  check_rejected(send(t, "GET", "/t/literal/other"), 404, "Not found");
  auto star = send(t, "GET", "/t/star/anything/val");
  CHECK(method_of(star) == "httptest.Templates.Star");
  CHECK(scalars(star).s() == "val");
  check_rejected(send(t, "GET", "/t/star/anything"), 404, "Not found");
  CHECK(method_of(send(t, "GET", "/t/rest/a/b/c")) == "httptest.Templates.Rest");
  CHECK(method_of(send(t, "GET", "/t/rest/a:b/c")) == "httptest.Templates.Rest");
  CHECK(method_of(send(t, "GET", "/t/rest")) == "httptest.Templates.Rest");
  // A single-segment variable does not take a raw ':'; an escaped one is a value.
  check_rejected(send(t, "GET", "/t/star/x/a:b"), 404, "Not found");
  CHECK(scalars(send(t, "GET", "/t/star/x/a%3Ab")).s() == "a:b");
}

TEST_CASE("transcoder.template_nested_fields") {
  transcoder t;
  add_services(t, {"httptest.Templates"});
  auto m = scalars(send(t, "GET", "/t/nested/leafy/named/-42"));
  CHECK(m.inner().deep().leaf() == "leafy");
  CHECK(m.inner().name() == "named");
  CHECK(m.inner().deep().big() == -42);
  // JSON names work in templates too.
  CHECK(scalars(send(t, "GET", "/t/json/someone")).user_name() == "someone");
}

TEST_CASE("transcoder.template_variable_patterns") {
  transcoder t;
  add_services(t, {"httptest.Templates"});
  auto m = scalars(send(t, "GET", "/t/pattern/shelves/s1/books/b1/c%2Fd%20e"));
  CHECK(m.path() == "shelves/s1/books/b1/c/d e");
  CHECK(scalars(send(t, "GET", "/t/pattern/shelves/s1/books")).path() == "shelves/s1/books");
  check_rejected(send(t, "GET", "/t/pattern/racks/s1/books/b1"), 404, "Not found");
  auto mid = scalars(send(t, "GET", "/t/middle/a/x/end/y"));
  CHECK(mid.path() == "a/x");
  CHECK(mid.s() == "y");
  check_rejected(send(t, "GET", "/t/middle/b/x/end/y"), 404, "Not found");
}

TEST_CASE("transcoder.template_verb") {
  transcoder t;
  add_services(t, {"httptest.Templates"});
  auto m = send(t, "POST", "/t/things/abc:cancel");
  CHECK(method_of(m) == "httptest.Templates.Verb");
  CHECK(scalars(m).s() == "abc");
  check_rejected(send(t, "POST", "/t/things/abc"), 404, "Not found");
  check_rejected(send(t, "POST", "/t/things/abc:undo"), 404, "Not found");
  auto rest = send(t, "POST", "/t/topics/a/b/c:publish");
  CHECK(method_of(rest) == "httptest.Templates.VerbRest");
  CHECK(scalars(rest).path() == "a/b/c");
}

TEST_CASE("transcoder.path_percent_decoding") {
  transcoder t;
  add_services(t, {"httptest.Verbs"});
  CHECK(scalars(send(t, "GET", "/v/hello%20w%C3%B6rld%21")).s() == "hello w\xc3\xb6rld!");
  CHECK(scalars(send(t, "GET", "/v/a+b")).s() == "a+b");  // '+' is a space only in query strings
  check_rejected(send(t, "GET", "/v/bad%2"), 400, "percent-encoding");
  check_rejected(send(t, "GET", "/v/%C3%28"), 400, "UTF-8");
}

TEST_CASE("transcoder.path_scalar_types") {
  transcoder t;
  add_services(t, {"httptest.Templates"});
  auto m = scalars(send(t, "GET",
                        "/types/str/aGk=/true/-5/-9000000000/7/18000000000000000000/-3/-4000000000/4000000000/"
                        "18000000000000000001/-6/-7000000000/1.5/-2.25"));
  CHECK(m.s() == "str");
  CHECK(m.b() == "hi");
  CHECK(m.flag());
  CHECK(m.i32() == -5);
  CHECK(m.i64() == -9000000000LL);
  CHECK(m.u32() == 7U);
  CHECK(m.u64() == 18000000000000000000ULL);
  CHECK(m.s32() == -3);
  CHECK(m.s64() == -4000000000LL);
  CHECK(m.f32() == 4000000000U);
  CHECK(m.f64() == 18000000000000000001ULL);
  CHECK(m.sf32() == -6);
  CHECK(m.sf64() == -7000000000LL);
  CHECK(m.d() == 1.5);
  CHECK(m.f() == -2.25F);
  // URL-safe base64, FALSE in capitals, extreme values, infinity.
  auto n = scalars(send(t, "GET",
                        "/types/x/-_8/FALSE/-2147483648/9223372036854775807/4294967295/0/2147483647/"
                        "-9223372036854775808/0/0/2147483647/-9223372036854775808/Infinity/-1e10"));
  CHECK(n.b() == "\xfb\xff");
  CHECK_FALSE(n.flag());
  CHECK(n.i32() == -2147483648LL);
  CHECK(n.i64() == 9223372036854775807LL);
  CHECK(n.u32() == 4294967295U);
  CHECK(n.s32() == 2147483647);
  CHECK(n.s64() == std::numeric_limits<int64_t>::min());
  CHECK(n.sf64() == std::numeric_limits<int64_t>::min());
  CHECK(n.d() == std::numeric_limits<double>::infinity());
  CHECK(n.f() == -1e10F);
}

TEST_CASE("transcoder.bad_values_in_path") {
  transcoder t;
  add_services(t, {"httptest.Templates"});
  const std::string good[] = {"s", "aGk=", "true", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "1.5", "2.5"};
  auto with = [&](size_t index, const std::string& value) {
    std::string target = "/types";
    for (size_t i = 0; i < std::size(good); ++i)
      target += "/" + (i == index ? value : good[i]);
    return send(t, "GET", target);
  };
  REQUIRE(with(0, "s").ok);
  check_rejected(with(1, "!!"), 400, "path variable [b] is not base64");
  check_rejected(with(2, "yes"), 400, "path variable [flag] is not a bool");
  check_rejected(with(3, "abc"), 400, "path variable [i32] is not a valid int32");
  check_rejected(with(3, "2147483648"), 400, "[i32]");
  check_rejected(with(3, "1.0"), 400, "[i32]");
  check_rejected(with(4, "9223372036854775808"), 400, "[i64]");
  check_rejected(with(5, "-1"), 400, "[u32] is not a valid uint32");
  check_rejected(with(6, "-1"), 400, "[u64]");
  check_rejected(with(9, "x"), 400, "[f32] is not a valid fixed32");
  check_rejected(with(13, "1.5.1"), 400, "[d] is not a valid double");
  check_rejected(with(14, "1e39"), 400, "[f] is not a valid float");
  check_rejected(with(3, ""), 400, "[i32]");
}

TEST_CASE("transcoder.query_parameters") {
  transcoder t;
  add_services(t, {"httptest.Bodies"});
  auto m = scalars(send(t, "POST",
                        "/body/none/p?i32=5&inner.name=a+b%21&inner.deep.leaf=%C3%A9&inner.deep.big=-7&userName=u"
                        "&tags=x&tags=y&nums=1&nums=2&nums=3&color=GREEN&flag=true&d=0.5&b=aGk%3D&u64=9&&sf32=-1"));
  CHECK(m.s() == "p");
  CHECK(m.i32() == 5);
  CHECK(m.inner().name() == "a b!");
  CHECK(m.inner().deep().leaf() == "\xc3\xa9");
  CHECK(m.inner().deep().big() == -7);
  CHECK(m.user_name() == "u");
  REQUIRE(m.tags_size() == 2);
  CHECK(m.tags(0) == "x");
  CHECK(m.tags(1) == "y");
  REQUIRE(m.nums_size() == 3);
  CHECK(m.nums(2) == 3);
  CHECK(m.color() == httptest::GREEN);
  CHECK(m.flag());
  CHECK(m.d() == 0.5);
  CHECK(m.b() == "hi");
  CHECK(m.u64() == 9U);
  CHECK(m.sf32() == -1);
  // Proto names work as well as JSON names, enums by number too; path variables win over the query.
  auto n = scalars(send(t, "POST", "/body/none/path?user_name=v&color=1&s=query&text=t"));
  CHECK(n.user_name() == "v");
  CHECK(n.color() == httptest::GREEN);
  CHECK(n.s() == "path");
  CHECK(n.text() == "t");
  // body "" discards any entity, whatever its content type.
  CHECK(scalars(send(t, "POST", "/body/none/x?i32=1", "text/plain", "ignored")).i32() == 1);
}

TEST_CASE("transcoder.query_rejections") {
  transcoder t;
  add_services(t, {"httptest.Bodies"});
  check_rejected(send(t, "POST", "/body/none/x?nope=1"), 400, "Unknown query parameter [nope]");
  check_rejected(send(t, "POST", "/body/none/x?inner.nope=1"), 400, "Unknown query parameter [inner.nope]");
  check_rejected(send(t, "POST", "/body/none/x?i32=1&i32=2"), 400, "Multiple values");
  check_rejected(send(t, "POST", "/body/none/x?i32=1&inner.n=1&i32=2"), 400, "[i32]");
  check_rejected(send(t, "POST", "/body/none/x?inner=1"), 400, "refers to a message field");
  check_rejected(send(t, "POST", "/body/none/x?items.name=1"), 400, "not a singular message field");
  check_rejected(send(t, "POST", "/body/none/x?i32=x"), 400, "query parameter [i32] is not a valid int32");
  check_rejected(send(t, "POST", "/body/none/x?color=BLUE"), 400, "httptest.Color");
  check_rejected(send(t, "POST", "/body/none/x?s=%zz"), 400, "percent-encoding");
}

TEST_CASE("transcoder.body_star") {
  transcoder t;
  add_services(t, {"httptest.Bodies"});
  auto m = scalars(send(t, "POST", "/body/all/p?nope=1&i32=9", "application/json; charset=utf-8",
                        R"({"i32": 3, "inner": {"name": "n"}, "s": "from-body", "userName": "u", "i64": "12"})"));
  CHECK(m.i32() == 3);  // the query is ignored with body "*", unknown names included
  CHECK(m.inner().name() == "n");
  CHECK(m.s() == "p");  // the path wins over the body
  CHECK(m.user_name() == "u");
  CHECK(m.i64() == 12);
  CHECK(scalars(send(t, "POST", "/body/all/p", "Application/JSON", R"({"user_name":"w"})")).user_name() == "w");
}

TEST_CASE("transcoder.body_field_message") {
  transcoder t;
  add_services(t, {"httptest.Bodies"});
  auto m = scalars(send_json(t, "POST", "/body/field/p?i32=4", R"({"name":"n","deep":{"big":"5","leaf":"l"}})"));
  CHECK(m.s() == "p");
  CHECK(m.i32() == 4);
  CHECK(m.inner().name() == "n");
  CHECK(m.inner().deep().big() == 5);
  CHECK(m.inner().deep().leaf() == "l");
  check_rejected(send_json(t, "POST", "/body/field/p", R"({"nope":1})"), 400, "Malformed request");
}

TEST_CASE("transcoder.body_field_scalar_and_repeated") {
  transcoder t;
  add_services(t, {"httptest.Bodies"});
  CHECK(scalars(send_json(t, "POST", "/body/scalar/p", "5")).i64() == 5);
  CHECK(scalars(send_json(t, "POST", "/body/scalar/p", "\"6\"")).i64() == 6);
  CHECK(scalars(send_json(t, "POST", "/body/scalar/p", " -9223372036854775808\n")).i64() ==
        std::numeric_limits<int64_t>::min());
  CHECK(scalars(send_json(t, "POST", "/body/scalar/p", "1e2")).i64() == 100);  // the JSON parser's reading
  auto m = scalars(send_json(t, "POST", "/body/scalar/p?i32=2", "7"));
  CHECK(m.s() == "p");
  CHECK(m.i32() == 2);
  CHECK(m.i64() == 7);
  check_rejected(send_json(t, "POST", "/body/scalar/p", "\"abc\""), 400, "Malformed request");
  check_rejected(send_json(t, "POST", "/body/scalar/p", "9223372036854775808"), 400, "Malformed request");
  CHECK(scalars(send_json(t, "POST", "/body/string", "\"hello\"")).text() == "hello");
  auto r = scalars(send_json(t, "POST", "/body/repeated", "[1, 2, 3]"));
  REQUIRE(r.nums_size() == 3);
  CHECK(r.nums(0) == 1);
  CHECK(r.nums(2) == 3);
}

TEST_CASE("transcoder.http_body_in") {
  transcoder t;
  add_services(t, {"httptest.Bodies"});
  auto whole = payload<google::api::HttpBody>(send(t, "POST", "/raw/in", "text/plain", "raw \x01 bytes"));
  CHECK(whole.content_type() == "text/plain");
  CHECK(whole.data() == "raw \x01 bytes");
  auto m = scalars(send(t, "POST", "/raw/field/p?i32=3", "image/png", std::string("\x89PNG\0", 5)));
  CHECK(m.s() == "p");
  CHECK(m.i32() == 3);
  CHECK(m.http().content_type() == "image/png");
  CHECK(m.http().data() == std::string("\x89PNG\0", 5));
  CHECK(payload<google::api::HttpBody>(send(t, "POST", "/raw/in")).data().empty());
}

TEST_CASE("transcoder.json_body_rejections") {
  transcoder t;
  add_services(t, {"httptest.Bodies"});
  auto bad = send_json(t, "POST", "/body/all/p", R"({"i32": )");
  check_rejected(bad, 400, "Malformed request: ");
  CHECK(bad.why.message().size() > std::string{"Malformed request: "}.size());
  check_rejected(send_json(t, "POST", "/body/all/p", R"({"nope": 1})"), 400, "Malformed request");
  check_rejected(send_json(t, "POST", "/body/all/p", R"({"i32": "x"})"), 400, "Malformed request");
  check_rejected(send(t, "POST", "/body/all/p", "text/plain", "{}"), 400, "Content-type must be application/json!");
  check_rejected(send(t, "POST", "/body/field/p", "application/xml", "{}"), 400,
                 "Content-type must be application/json!");
  check_rejected(send(t, "POST", "/body/all/p", "", "{}"), 400, "Content-type must be application/json!");
  // An empty entity is an empty message, with or without a content type.
  CHECK(scalars(send_json(t, "POST", "/body/all/p", "")).s() == "p");
  CHECK(scalars(send(t, "POST", "/body/all/p")).s() == "p");
  CHECK(scalars(send_json(t, "POST", "/body/field/p", " ")).s() == "p");
}

TEST_CASE("transcoder.unknown_routes") {
  transcoder t;
  add_services(t, {"httptest.Verbs", "httptest.Bodies"});
  check_rejected(send(t, "GET", "/nowhere"), 404, "Not found");
  check_rejected(send(t, "GET", "/v"), 404, "Not found");
  check_rejected(send(t, "GET", "/v/x/y"), 404, "Not found");
  check_rejected(send(t, "GET", "/body/all/p"), 404, "Not found");  // known path, other method
  check_rejected(send(t, "GET", "v/x"), 404, "Not found");
  check_rejected(send(t, "GET", ""), 404, "Not found");
  transcoder empty;
  check_rejected(send(empty, "GET", "/"), 404, "Not found");
}

TEST_CASE("transcoder.render_whole_message") {
  transcoder t;
  add_services(t, {"httptest.Replies"});
  auto o = send(t, "GET", "/resp/whole");
  httptest::Scalars reply;
  reply.set_i32(7);
  reply.set_i64(42);
  reply.set_d(1.5);
  reply.set_user_name("u");
  reply.add_items()->set_n(3);
  auto body = json(t, o, reply);
  CHECK(body.find(R"("i32":7,)") != std::string::npos);
  CHECK(body.find(R"("i64":"42")") != std::string::npos);
  CHECK(body.find(R"("d":1.5)") != std::string::npos);
  CHECK(body.find(R"("userName":"u")") != std::string::npos);
  CHECK(body.find(R"("u32":0)") != std::string::npos);  // defaults printed
  CHECK(body.find(R"("s":"")") != std::string::npos);
  CHECK(body.find(R"("tags":[])") != std::string::npos);
  CHECK(body.find(R"("color":"RED")") != std::string::npos);
  CHECK(body.find(R"("items":[{"name":"","n":3}])") != std::string::npos);
  CHECK(body.find(' ') == std::string::npos);  // compact
  CHECK(json(t, o, httptest::Scalars{}).find(R"("i64":"0")") != std::string::npos);
}

TEST_CASE("transcoder.render_response_body") {
  transcoder t;
  add_services(t, {"httptest.Replies"});
  httptest::Scalars reply;
  reply.mutable_inner()->set_name("n");
  reply.mutable_inner()->mutable_deep()->set_big(5);
  auto* item = reply.add_items();
  item->set_name("a");
  item->set_n(7);
  reply.add_items()->set_name("b");
  reply.set_i32(7);
  reply.set_i64(42);
  reply.set_s32(-3);
  reply.set_flag(true);
  reply.set_s("q\"uote");
  reply.set_d(1.5);
  reply.set_color(httptest::GREEN);
  (*reply.mutable_labels())["k"] = "v";
  CHECK(json(t, send(t, "GET", "/resp/inner"), reply) == R"({"name":"n","n":0,"deep":{"leaf":"","big":"5"}})");
  CHECK(json(t, send(t, "GET", "/resp/items"), reply) == R"([{"name":"a","n":7},{"name":"b","n":0}])");
  CHECK(json(t, send(t, "GET", "/resp/i32"), reply) == "7");
  CHECK(json(t, send(t, "GET", "/resp/i64"), reply) == R"("42")");
  CHECK(json(t, send(t, "GET", "/resp/s32"), reply) == "-3");
  CHECK(json(t, send(t, "GET", "/resp/flag"), reply) == "true");
  CHECK(json(t, send(t, "GET", "/resp/s"), reply) == R"("q\"uote")");
  CHECK(json(t, send(t, "GET", "/resp/d"), reply) == "1.5");
  CHECK(json(t, send(t, "GET", "/resp/color"), reply) == R"("GREEN")");
  CHECK(json(t, send(t, "GET", "/resp/labels"), reply) == R"({"k":"v"})");
  CHECK(json(t, send(t, "GET", "/resp/count"), reply) == R"("0")");  // unset oneof member: its default
  reply.set_count(9);
  CHECK(json(t, send(t, "GET", "/resp/count"), reply) == R"("9")");

  // Defaults of an empty reply.
  httptest::Scalars empty;
  CHECK(json(t, send(t, "GET", "/resp/inner"), empty) == R"({"name":"","n":0})");
  CHECK(json(t, send(t, "GET", "/resp/items"), empty) == "[]");
  CHECK(json(t, send(t, "GET", "/resp/i32"), empty) == "0");
  CHECK(json(t, send(t, "GET", "/resp/i64"), empty) == R"("0")");
  CHECK(json(t, send(t, "GET", "/resp/flag"), empty) == "false");
  CHECK(json(t, send(t, "GET", "/resp/s"), empty) == R"("")");
  CHECK(json(t, send(t, "GET", "/resp/color"), empty) == R"("RED")");
  CHECK(json(t, send(t, "GET", "/resp/labels"), empty) == "{}");
}

TEST_CASE("transcoder.render_http_body") {
  transcoder t;
  add_services(t, {"httptest.Replies"});
  google::api::HttpBody body;
  body.set_content_type("image/png");
  body.set_data(std::string("\x89PNG\0", 5));
  auto out = render(t, send(t, "GET", "/raw/out"), body);
  CHECK(out.content_type == "image/png");
  CHECK(out.body == std::string("\x89PNG\0", 5));
  httptest::Scalars reply;
  reply.mutable_http()->set_content_type("text/html");
  reply.mutable_http()->set_data("<p>hi</p>");
  auto field = render(t, send(t, "GET", "/raw/outfield"), reply);
  CHECK(field.content_type == "text/html");
  CHECK(field.body == "<p>hi</p>");
  auto bare = render(t, send(t, "GET", "/raw/out"), google::api::HttpBody{});
  CHECK(bare.content_type == "application/octet-stream");
  CHECK(bare.body.empty());
}

TEST_CASE("transcoder.render_malformed_reply") {
  transcoder t;
  add_services(t, {"httptest.Replies"});
  for (const char* path : {"/resp/whole", "/resp/i64", "/resp/items", "/raw/out", "/raw/outfield"}) {
    auto o = send(t, "GET", path);
    REQUIRE(o.ok);
    auto out = t.render(*o.c.rule,
                        "\x0a\x05"
                        "ab");
    CHECK_FALSE(out.ok());
    CHECK(out.error().code() == actorstate::status_code::internal);
    CHECK_MESSAGE(out.error().message().find("does not parse") != std::string::npos, out.error().message());
  }
}

TEST_CASE("transcoder.server_streaming") {
  transcoder t;
  add_services(t, {"httptest.Replies"});
  auto s = send(t, "GET", "/resp/stream");
  REQUIRE(s.ok);
  CHECK(transcoder::server_streaming(*s.c.rule));
  auto u = send(t, "GET", "/resp/whole");
  REQUIRE(u.ok);
  CHECK_FALSE(transcoder::server_streaming(*u.c.rule));
}

TEST_CASE("transcoder.additional_bindings_and_precedence") {
  transcoder t;
  add_services(t, {"httptest.Precedence"});
  auto first = send(t, "GET", "/p/foo");
  CHECK(method_of(first) == "httptest.Precedence.First");
  CHECK(scalars(first).s() == "foo");
  // Three bindings match "/p/special": the last defined (Second) wins.
  CHECK(method_of(send(t, "GET", "/p/special")) == "httptest.Precedence.Second");
  // Later bindings win even when they are less specific.
  auto generic = send(t, "GET", "/q/literal");
  CHECK(method_of(generic) == "httptest.Precedence.Generic");
  CHECK(scalars(generic).s() == "literal");
  // The additional binding has its own method, body and response_body.
  auto extra = send_json(t, "POST", "/p2/x", R"({"name":"n"})");
  CHECK(method_of(extra) == "httptest.Precedence.First");
  auto m = scalars(extra);
  CHECK(m.s() == "x");
  CHECK(m.inner().name() == "n");
  httptest::Scalars reply;
  reply.mutable_inner()->set_n(2);
  CHECK(json(t, extra, reply) == R"({"name":"","n":2})");
  CHECK(json(t, first, reply).find(R"("inner":{"name":"","n":2})") != std::string::npos);
}

TEST_CASE("transcoder.implicit_rule") {
  transcoder t;
  add_services(t, {"httptest.Implicit"});
  auto o = send_json(t, "POST", "/httptest.Implicit/Echo", R"({"s":"a","i32":1})");
  CHECK(method_of(o) == "httptest.Implicit.Echo");
  CHECK(scalars(o).s() == "a");
  CHECK(scalars(o).i32() == 1);
  check_rejected(send(t, "GET", "/httptest.Implicit/Echo"), 404, "Not found");
  check_rejected(send_json(t, "POST", "/v1/Echo", "{}"), 404, "Not found");
}

TEST_CASE("transcoder.invalid_rules_are_rejected_with_the_method_named") {
  const auto* s = find_service(pb::DescriptorPool::generated_pool(), "httptest.Invalid");
  struct expectation {
    const char* method;
    const char* fragment;
  };
  const expectation cases[] = {
      {"MissingField", "unknown field 'nope'"},
      {"EnumVariable", "enum path variables are not supported"},
      {"MessageVariable", "message path variables are not supported"},
      {"RepeatedVariable", "repeated field"},
      {"NotAMessage", "'s' is not a singular message field"},
      {"Duplicate", "duplicate variable 's'"},
      {"MultiNotLast", "'**' must be the last"},
      {"NoSlash", "must start with '/'"},
      {"Unclosed", "unexpected end"},
      {"NestedVariable", "nested variable"},
      {"Trailing", "unexpected 'a'"},
      {"NestedBindings", "additional_bindings may not be nested"},
      {"BadBody", "body field 'nope' does not exist"},
      {"BadResponse", "response_body field 'nope' does not exist"},
      {"NoPattern", "no pattern"},
      {"BadAdditional", "additional binding: path variable 'nope'"},
      {"EmptyResult", "unexpected '='"},
  };
  REQUIRE(s->method_count() == static_cast<int>(std::size(cases)));
  for (const auto& c : cases) {
    CAPTURE(c.method);
    const auto* m = s->FindMethodByName(c.method);
    REQUIRE(m != nullptr);
    transcoder t;
    auto st = t.add(m, pb::MessageFactory::generated_factory());
    CHECK_FALSE(st.ok());
    CHECK(st.code() == actorstate::status_code::invalid_argument);
    CHECK_MESSAGE(st.message().find("httptest.Invalid." + std::string{c.method}) != std::string::npos, st.message());
    CHECK_MESSAGE(st.message().find(c.fragment) != std::string::npos, st.message());
    // A rejected method adds none of its bindings.
    check_rejected(send(t, "GET", "/x"), 404, "Not found");
  }
}

TEST_CASE("transcoder.shopping_cart") {
  namespace cart = com::example::shoppingcart;
  transcoder t;
  add_services(t, {"com.example.shoppingcart.ShoppingCart"});
  auto get = send(t, "GET", "/carts/foo");
  CHECK(method_of(get) == "com.example.shoppingcart.ShoppingCart.GetCart");
  CHECK(payload<cart::GetShoppingCart>(get).user_id() == "foo");
  CHECK(json(t, get, cart::Cart{}) == R"({"items":[]})");

  cart::Cart full;
  auto* item = full.add_items();
  item->set_product_id("A14362347");
  item->set_name("Deluxe");
  item->set_quantity(7);
  CHECK(json(t, get, full) == R"({"items":[{"productId":"A14362347","name":"Deluxe","quantity":7}]})");

  auto items = send(t, "GET", "/carts/foo/items");
  CHECK(method_of(items) == "com.example.shoppingcart.ShoppingCart.GetCart");
  CHECK(payload<cart::GetShoppingCart>(items).user_id() == "foo");
  CHECK(json(t, items, full) == R"([{"productId":"A14362347","name":"Deluxe","quantity":7}])");
  CHECK(json(t, items, cart::Cart{}) == "[]");

  auto add = send_json(t, "POST", "/cart/foo/items/add", R"({"productId":"A14362347","name":"Deluxe","quantity":7})");
  CHECK(method_of(add) == "com.example.shoppingcart.ShoppingCart.AddItem");
  auto line = payload<cart::AddLineItem>(add);
  CHECK(line.user_id() == "foo");
  CHECK(line.product_id() == "A14362347");
  CHECK(line.name() == "Deluxe");
  CHECK(line.quantity() == 7);
  CHECK(json(t, add, pb::Empty{}) == "{}");

  auto remove = send(t, "POST", "/cart/foo/items/A14362347/remove");
  CHECK(method_of(remove) == "com.example.shoppingcart.ShoppingCart.RemoveItem");
  auto removed = payload<cart::RemoveLineItem>(remove);
  CHECK(removed.user_id() == "foo");
  CHECK(removed.product_id() == "A14362347");
}

TEST_CASE("transcoder.counter") {
  transcoder t;
  add_services(t, {"actorstate.samples.counter.Counter"});
  auto add = send_json(t, "POST", "/counter/foo/add", "5");
  CHECK(method_of(add) == "actorstate.samples.counter.Counter.Add");
  auto request = payload<counter::AddRequest>(add);
  CHECK(request.key() == "foo");
  CHECK(request.delta() == 5);
  CHECK(payload<counter::AddRequest>(send_json(t, "POST", "/counter/foo/add", "\"-3\"")).delta() == -3);
  counter::Value value;
  value.set_value(42);
  CHECK(json(t, add, value) == R"("42")");
  CHECK(json(t, add, counter::Value{}) == R"("0")");

  auto get = send_json(t, "POST", "/counter/bar/get", "");
  CHECK(method_of(get) == "actorstate.samples.counter.Counter.Get");
  CHECK(payload<counter::GetRequest>(get).key() == "bar");
  CHECK(payload<counter::GetRequest>(send(t, "POST", "/counter/bar/get")).key() == "bar");
  value.set_value(-9000000000LL);
  CHECK(json(t, get, value) == R"("-9000000000")");
}

namespace {

// Copies `file` and its imports into `out`, imports first, with every google.api.http option moved into the
// methods' unknown fields (as a pool built from a user function's FileDescriptorSet may hold it).
void collect(const pb::FileDescriptor* file, std::set<std::string>& seen, std::vector<pb::FileDescriptorProto>& out) {
  if (!seen.insert(file->name()).second)
    return;
  for (int i = 0; i < file->dependency_count(); ++i)
    collect(file->dependency(i), seen, out);
  pb::FileDescriptorProto proto;
  file->CopyTo(&proto);
  for (auto& service : *proto.mutable_service()) {
    for (auto& method : *service.mutable_method()) {
      auto* options = method.mutable_options();
      if (!options->HasExtension(google::api::http))
        continue;
      auto bytes = options->GetExtension(google::api::http).SerializeAsString();
      options->ClearExtension(google::api::http);
      options->mutable_unknown_fields()->AddLengthDelimited(google::api::kHttpFieldNumber, bytes);
    }
  }
  out.push_back(std::move(proto));
}

}  // namespace

TEST_CASE("transcoder.descriptors_built_at_run_time") {
  std::vector<pb::FileDescriptorProto> files;
  std::set<std::string> seen;
  collect(httptest::Scalars::descriptor()->file(), seen, files);
  collect(counter::Value::descriptor()->file(), seen, files);
  pb::DescriptorPool pool;
  for (const auto& f : files)
    REQUIRE_MESSAGE(pool.BuildFile(f) != nullptr, f.name());
  pb::DynamicMessageFactory factory{&pool};
  transcoder t;
  add_services(t, {"actorstate.samples.counter.Counter", "httptest.Bodies", "httptest.Replies", "httptest.Templates"},
               &pool, &factory);

  auto add = send_json(t, "POST", "/counter/foo/add", "5");
  REQUIRE(add.ok);
  CHECK(add.c.method->file()->pool() == &pool);
  auto request = payload<counter::AddRequest>(add);  // the same wire format as the generated type
  CHECK(request.key() == "foo");
  CHECK(request.delta() == 5);
  counter::Value value;
  value.set_value(42);
  CHECK(json(t, add, value) == R"("42")");

  auto all = send_json(t, "POST", "/body/all/p", R"({"i32":3,"inner":{"name":"n"},"color":"GREEN"})");
  CHECK(all.c.method->full_name() == "httptest.Bodies.All");
  auto m = scalars(all);
  CHECK(m.s() == "p");
  CHECK(m.i32() == 3);
  CHECK(m.inner().name() == "n");
  CHECK(m.color() == httptest::GREEN);
  check_rejected(send_json(t, "POST", "/body/all/p", "{"), 400, "Malformed request");
  CHECK(scalars(send(t, "GET", "/t/nested/l/n/1")).inner().deep().leaf() == "l");

  httptest::Scalars reply;
  reply.add_items()->set_name("a");
  reply.set_i32(7);
  CHECK(json(t, send(t, "GET", "/resp/items"), reply) == R"([{"name":"a","n":0}])");
  CHECK(json(t, send(t, "GET", "/resp/i32"), reply) == "7");
  CHECK(json(t, send(t, "GET", "/resp/whole"), reply).find(R"("i32":7,)") != std::string::npos);
}

namespace {

/// The top-level field numbers of `bytes`, in order (varint and length-delimited fields, as these requests have).
std::vector<int> top_level_fields(const std::string& bytes) {
  pb::UnknownFieldSet fields;
  REQUIRE(fields.ParseFromString(bytes));
  std::vector<int> out;
  for (int i = 0; i < fields.field_count(); ++i)
    out.push_back(fields.field(i).number());
  return out;
}

/// The payload is what protobuf makes of the request message: the same bytes, fields in number order (a repeated
/// field's elements next to each other).
void check_canonical(const outcome& o) {
  auto m = scalars(o);
  CHECK(o.c.payload == m.SerializeAsString());
  auto numbers = top_level_fields(o.c.payload);
  for (size_t i = 1; i < numbers.size(); ++i)
    CHECK_MESSAGE(numbers[i - 1] <= numbers[i], "field " << numbers[i] << " after field " << numbers[i - 1]);
}

}  // namespace

TEST_CASE("transcoder.payloads_are_serialized_in_field_order_as_protobuf_does") {
  transcoder t;
  add_services(t, {"httptest.Bodies", "httptest.Templates", "httptest.Precedence"});
  // Path, query and body fields mixed: each arrives in its own piece, the payload has them in field order.
  check_canonical(send(t, "POST", "/body/none/p?userName=u&i32=5&inner.name=n&tags=x&tags=y&flag=true"));
  check_canonical(send_json(t, "POST", "/body/field/p?i32=4", R"({"name":"n","deep":{"big":"5","leaf":"l"}})"));
  check_canonical(send(t, "POST", "/body/all/p", "application/json",
                       R"({"userName": "u", "i32": 3, "inner": {"name": "n"}, "s": "from-body"})"));
  // Nested path fields: one wrapper per variable in the pieces, one merged field in the payload.
  auto nested = send(t, "GET", "/t/nested/leafy/named/-42");
  check_canonical(nested);
  CHECK(top_level_fields(nested.c.payload).size() == 1);
  // An additional binding, with a body field.
  check_canonical(send_json(t, "POST", "/p2/x", R"({"name":"n"})"));
  // The path wins over the body, and appears once.
  auto both = send(t, "POST", "/body/all/p", "application/json", R"({"s": "from-body", "i32": 1})");
  check_canonical(both);
  CHECK(scalars(both).s() == "p");
  // A proto3 default bound from the path or query is left out, as protobuf leaves it out.
  auto zero = send(t, "POST", "/body/none/p?i32=0");
  check_canonical(zero);
}

TEST_CASE("transcoder.a_json_only_body_is_serialized_in_field_order_too") {
  // No path or query: the JSON converter alone writes members in the client's order, proto3 zeros included.
  transcoder t;
  add_services(t, {"httptest.Implicit"});
  auto o = send_json(t, "POST", "/httptest.Implicit/Echo", R"({"userName":"u","flag":false,"i32":1,"s":"a"})");
  check_canonical(o);
}

TEST_CASE("transcoder.the_counters_path_and_body_arrive_in_field_order") {
  transcoder t;
  add_services(t, {"actorstate.samples.counter.Counter"});
  auto add = send_json(t, "POST", "/counter/foo/add", "5");
  counter::AddRequest expected;
  expected.set_key("foo");
  expected.set_delta(5);
  CHECK(add.c.payload == expected.SerializeAsString());
}
