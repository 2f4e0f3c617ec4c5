#include <doctest/doctest.h>

#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/dynamic_message.h>
#include <google/protobuf/message.h>

#include <optional>
#include <random>

#include "actorstate/frontend/entity_key.hpp"
#include "testing/test_entities.pb.h"

using namespace actorstate;

namespace {

/// The key a full parse gives: the key fields read through reflection and joined as the frontend joins them. The
/// oracle the request scan is checked against.
std::string extract_key(const google::protobuf::Message& msg,
                        const std::vector<const google::protobuf::FieldDescriptor*>& fields) {
  using fd = google::protobuf::FieldDescriptor;
  const auto* refl = msg.GetReflection();
  std::string key;
  for (size_t i = 0; i < fields.size(); ++i) {
    if (i > 0)
      key += '-';
    auto* f = fields[i];
    switch (f->cpp_type()) {
      case fd::CPPTYPE_STRING:
        key += refl->GetString(msg, f);
        break;
      case fd::CPPTYPE_INT32:
        key += std::to_string(refl->GetInt32(msg, f));
        break;
      case fd::CPPTYPE_INT64:
        key += std::to_string(refl->GetInt64(msg, f));
        break;
      case fd::CPPTYPE_UINT32:
        key += std::to_string(refl->GetUInt32(msg, f));
        break;
      case fd::CPPTYPE_UINT64:
        key += std::to_string(refl->GetUInt64(msg, f));
        break;
      case fd::CPPTYPE_BOOL:
        key += refl->GetBool(msg, f) ? "true" : "false";
        break;
      default:
        break;
    }
  }
  return key;
}

}  // namespace

TEST_CASE("frontend.entity_key_joins_fields_in_number_order") {
  auto keys = frontend::key_fields(testing::CompositeKey::descriptor());
  REQUIRE_MESSAGE(keys.ok(), keys.error().message());
  const auto& fields = keys.value();
  REQUIRE(fields.size() == 3);
  testing::CompositeKey k;
  k.set_tenant("acme");
  k.set_number(-42);
  k.set_flag(true);
  k.set_other("ignored");
  CHECK(extract_key(k, fields) == "-42-acme-true");
}

TEST_CASE("frontend.entity_key_rejects_unsupported_types") {
  auto keys = frontend::key_fields(testing::BadKey::descriptor());
  REQUIRE_FALSE(keys.ok());
  CHECK(keys.error().code() == status_code::invalid_argument);
  CHECK(keys.error().message().find("actorstate.testing.BadKey.ratio") != std::string::npos);
}

TEST_CASE("frontend.entity_key_found_in_runtime_descriptors") {
  // A descriptor built at run time from a FileDescriptorProto (as a polyglot user function sends it) carries the
  // option as an unknown field when the pool does not know the extension.
  google::protobuf::FileDescriptorProto file;
  testing::GetText::descriptor()->file()->CopyTo(&file);
  file.clear_dependency();
  for (auto& msg : *file.mutable_message_type())
    for (auto& field : *msg.mutable_field())
      if (field.has_options()) {
        auto bytes = field.options().SerializeAsString();
        field.mutable_options()->Clear();
        field.mutable_options()->ParseFromString(bytes);
      }
  file.set_name("runtime_copy.proto");
  google::protobuf::DescriptorPool pool;
  const auto* fd = pool.BuildFile(file);
  REQUIRE(fd != nullptr);
  const auto* desc = pool.FindMessageTypeByName("actorstate.testing.GetText");
  REQUIRE(desc != nullptr);
  auto keys = frontend::key_fields(desc);
  REQUIRE_MESSAGE(keys.ok(), keys.error().message());
  const auto& fields = keys.value();
  REQUIRE(fields.size() == 1);
  google::protobuf::DynamicMessageFactory factory{&pool};
  std::unique_ptr<google::protobuf::Message> msg{factory.GetPrototype(desc)->New()};
  REQUIRE(msg->ParseFromString(testing::GetText{}.SerializeAsString()));
  testing::GetText g;
  g.set_id("dyn");
  REQUIRE(msg->ParseFromString(g.SerializeAsString()));
  CHECK(extract_key(*msg, fields) == "dyn");
}

namespace {

std::vector<const google::protobuf::FieldDescriptor*> probe_keys() {
  auto keys = frontend::key_fields(testing::ScanProbe::descriptor());
  REQUIRE_MESSAGE(keys.ok(), keys.error().message());
  return std::move(keys).value();
}

/// What the scan says of `wire`: nullopt if it refuses the bytes, else the key.
std::optional<std::string> scanned(const std::string& wire) {
  std::string key;
  if (auto st = frontend::scan_request(testing::ScanProbe::descriptor(), wire, probe_keys(), key); !st.ok()) {
    CHECK(st ==
          actorstate::status{status_code::invalid_argument, "request does not parse as actorstate.testing.ScanProbe"});
    return std::nullopt;
  }
  return key;
}

/// What a full parse says of `wire`.
std::optional<std::string> parsed(const std::string& wire) {
  testing::ScanProbe msg;
  if (!msg.ParseFromString(wire))
    return std::nullopt;
  return extract_key(msg, probe_keys());
}

testing::ScanProbe random_probe(std::mt19937& rng) {
  auto pick = [&rng](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  testing::ScanProbe p;
  if (pick(4) != 0)
    p.set_small(static_cast<int32_t>(rng()) >> pick(31));
  if (pick(4) != 0)
    p.set_big(static_cast<int64_t>((uint64_t{rng()} << 32) | rng()));
  if (pick(4) != 0)
    p.set_count(rng());
  if (pick(4) != 0)
    p.set_name(pick(2) == 0 ? "cart-" + std::to_string(rng() % 1000) : "ünïcødé-€-😀");
  if (pick(2) == 0)
    p.mutable_nested()->set_value(std::string(static_cast<size_t>(pick(20)), 'n'));
  for (int i = pick(5); i > 0; --i)
    p.add_values(static_cast<int64_t>(rng()) - (1 << 30));
  for (int i = pick(5); i > 0; --i)
    p.add_fixed_values(rng());
  for (int i = pick(3); i > 0; --i)
    (*p.mutable_tags())["t" + std::to_string(i)] = pick(1000);
  if (pick(2) == 0)
    p.set_blob(std::string(static_cast<size_t>(pick(8)), '\xff'));
  if (pick(2) == 0)
    p.set_ratio(0.5);
  return p;
}

}  // namespace

TEST_CASE("frontend.scan_reads_every_key_encoding_like_a_parse") {
  testing::ScanProbe p;
  p.set_small(-7);         // zigzag
  p.set_big(-9000000000);  // fixed 64 bits, negative
  p.set_count(4000000000u);
  p.set_name("cart");
  p.mutable_nested()->set_value("x");
  CHECK(scanned(p.SerializeAsString()) == std::optional<std::string>{"-7--9000000000-4000000000-cart"});
  // Absent fields read as their defaults.
  CHECK(scanned("") == std::optional<std::string>{"0-0-0-"});
  // A field that occurs twice: the last occurrence wins, as in a parse.
  testing::ScanProbe first;
  first.set_name("first");
  testing::ScanProbe second;
  second.set_name("second");
  CHECK(scanned(first.SerializeAsString() + second.SerializeAsString()) == std::optional<std::string>{"0-0-0-second"});
}

TEST_CASE("frontend.scan_refuses_what_a_parse_refuses") {
  testing::ScanProbe p;
  p.set_name("cart");
  p.mutable_nested()->set_value("nested");
  auto wire = p.SerializeAsString();
  CHECK_FALSE(scanned(wire.substr(0, wire.size() - 1)));         // truncated inside the nested message
  CHECK_FALSE(scanned(std::string{"\x22\x02\xc3\x28", 4}));      // name: invalid UTF-8 in a proto3 string
  CHECK_FALSE(scanned(std::string{"\x2a\x02\x0a\x05", 4}));      // nested: its string's length runs past its end
  CHECK_FALSE(scanned(std::string{"\x3a\x03\x01\x02\x03", 5}));  // packed fixed32: not a whole element
  CHECK_FALSE(scanned(std::string{"\x00\x01", 2}));              // field number 0
  CHECK_FALSE(scanned(std::string{"\x0f", 1}));                  // wire type 7
  CHECK_FALSE(scanned(std::string{"\x5b\x08\x01", 3}));          // unknown group 11 without its end tag
  CHECK_FALSE(scanned(std::string{"\x5c", 1}));                  // an end tag without a group
  CHECK(scanned(std::string{"\x5b\x08\x01\x5c", 4}) == std::optional<std::string>{"0-0-0-"});  // a whole unknown group
}

TEST_CASE("frontend.scan_agrees_with_a_full_parse_on_random_and_mutated_requests") {
  std::mt19937 rng{20261207};
  size_t refused = 0;
  for (int round = 0; round < 3000; ++round) {
    auto wire = random_probe(rng).SerializeAsString();
    switch (round % 4) {
      case 0:
        break;
      case 1:
        if (!wire.empty())
          wire[rng() % wire.size()] = static_cast<char>(rng());
        break;
      case 2:
        wire.resize(rng() % (wire.size() + 1));
        break;
      case 3:
        wire.insert(rng() % (wire.size() + 1), 1, static_cast<char>(rng()));
        break;
    }
    auto expected = parsed(wire);
    auto got = scanned(wire);
    if (!expected)
      ++refused;
    std::string hex;
    for (unsigned char c : wire)
      hex += "0123456789abcdef"[c >> 4], hex += "0123456789abcdef"[c & 15];
    INFO("round " << round << " bytes " << hex);
    REQUIRE(got.has_value() == expected.has_value());
    if (expected)
      CHECK(*got == *expected);
  }
  CHECK(refused > 300);  // the mutations did produce bytes a parse refuses
}
