// Discovery as a proxy performs it: the EntitySpec must describe every registered entity type and carry a
// descriptor set the proxy can build on its own, entity-key options included.
#include <set>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/empty.pb.h>

#include "cart_entity.hpp"
#include "cloudstate/entity_key.pb.h"
#include "fixture.hpp"

namespace uf_test {

namespace {

cloudstate::EntitySpec discover(fixture& f, const std::vector<std::string>& types) {
  grpc::ClientContext ctx;
  ctx.set_deadline(deadline());
  cloudstate::ProxyInfo info;
  info.set_protocol_major_version(0);
  info.set_protocol_minor_version(2);
  info.set_proxy_name("uf-test-proxy");
  info.set_proxy_version("0.0.1");
  for (const auto& t : types)
    info.add_supported_entity_types(t);
  cloudstate::EntitySpec spec;
  auto status = f.discovery->discover(&ctx, info, &spec);
  REQUIRE_MESSAGE(status.ok(), status.error_message());
  return spec;
}

const std::vector<std::string> all_types{"cloudstate.eventsourced.EventSourced", "cloudstate.valueentity.ValueEntity",
                                         "cloudstate.action.ActionProtocol"};

const cloudstate::Entity* find_entity(const cloudstate::EntitySpec& spec, const std::string& service) {
  for (const auto& e : spec.entities())
    if (e.service_name() == service)
      return &e;
  return nullptr;
}

}  // namespace

TEST_CASE_FIXTURE(fixture, "discovery.entities") {
  auto spec = discover(*this, all_types);
  REQUIRE(spec.entities_size() == 4);
  // Registration order is kept.
  CHECK(spec.entities(0).service_name() == "com.example.shoppingcart.ShoppingCart");

  const auto* cart = find_entity(spec, "com.example.shoppingcart.ShoppingCart");
  REQUIRE(cart != nullptr);
  CHECK(cart->entity_type() == "cloudstate.eventsourced.EventSourced");
  CHECK(cart->persistence_id() == "shopping-cart");
  CHECK_FALSE(cart->has_passivation_strategy());

  const auto* journal = find_entity(spec, "actorstate.uftest.Journal");
  REQUIRE(journal != nullptr);
  CHECK(journal->entity_type() == "cloudstate.eventsourced.EventSourced");
  CHECK(journal->persistence_id() == "journal");
  REQUIRE(journal->passivation_strategy().has_timeout());
  CHECK(journal->passivation_strategy().timeout().timeout() == 1234);

  const auto* reg = find_entity(spec, "actorstate.uftest.Register");
  REQUIRE(reg != nullptr);
  CHECK(reg->entity_type() == "cloudstate.valueentity.ValueEntity");
  CHECK(reg->persistence_id() == "register");

  const auto* echo = find_entity(spec, "actorstate.uftest.Echo");
  REQUIRE(echo != nullptr);
  CHECK(echo->entity_type() == "cloudstate.action.ActionProtocol");
  CHECK(echo->persistence_id().empty());
}

TEST_CASE_FIXTURE(fixture, "discovery.service_info") {
  // A proxy lacking a type only causes a warning in the log; the spec is the same.
  auto spec = discover(*this, {"cloudstate.action.ActionProtocol"});
  const auto& info = spec.service_info();
  CHECK(info.protocol_major_version() == 0);
  CHECK(info.protocol_minor_version() == 2);
  CHECK(info.service_name() == "uf-test");
  CHECK(info.service_version() == "1.2.3");
  CHECK(info.support_library_name() == "actorstate-cpp");
  CHECK_FALSE(info.support_library_version().empty());
  CHECK(info.service_runtime().rfind("C++ (", 0) == 0);
  CHECK(spec.entities_size() == 4);
}

TEST_CASE_FIXTURE(fixture, "discovery.descriptor_set") {
  auto spec = discover(*this, all_types);
  google::protobuf::FileDescriptorSet files;
  REQUIRE(files.ParseFromString(spec.proto()));

  // Each file once, after all of its dependencies: building them in order must succeed without any lookups.
  std::set<std::string> seen;
  for (const auto& file : files.file()) {
    CHECK_MESSAGE(seen.insert(file.name()).second, "duplicate " << file.name());
    for (const auto& dep : file.dependency())
      CHECK_MESSAGE(seen.count(dep) == 1, file.name() << " before " << dep);
  }
  for (const char* name :
       {"shoppingcart/shoppingcart.proto", "cloudstate/entity_key.proto", "google/protobuf/descriptor.proto",
        "google/protobuf/empty.proto", "google/api/annotations.proto", "google/api/http.proto", "uftest/uf_test.proto"})
    CHECK_MESSAGE(seen.count(name) == 1, "missing " << name);
  // Only what the services need: the protocol's own files are not part of the user's API.
  CHECK(seen.count("cloudstate/entity.proto") == 0);

  google::protobuf::DescriptorPool pool;
  for (const auto& file : files.file())
    REQUIRE_MESSAGE(pool.BuildFile(file) != nullptr, file.name());
  const auto* service = pool.FindServiceByName("com.example.shoppingcart.ShoppingCart");
  REQUIRE(service != nullptr);
  const auto* add = service->FindMethodByName("AddItem");
  REQUIRE(add != nullptr);
  CHECK(add->input_type()->full_name() == "com.example.shoppingcart.AddLineItem");
  const auto* user_id = add->input_type()->FindFieldByName("user_id");
  REQUIRE(user_id != nullptr);
  CHECK(user_id->options().GetExtension(cloudstate::entity_key));
  const auto* product_id = add->input_type()->FindFieldByName("product_id");
  REQUIRE(product_id != nullptr);
  CHECK_FALSE(product_id->options().GetExtension(cloudstate::entity_key));
  CHECK(pool.FindServiceByName("actorstate.uftest.Register") != nullptr);
  CHECK(pool.FindServiceByName("actorstate.uftest.Echo") != nullptr);
  // json names are there for HTTP transcoding, as protoc writes them.
  const auto* raw = &files.file(0);
  for (const auto& file : files.file())
    if (file.name() == "shoppingcart/shoppingcart.proto")
      raw = &file;
  REQUIRE(raw->name() == "shoppingcart/shoppingcart.proto");
  CHECK(raw->message_type(0).field(0).json_name() == "userId");
}

TEST_CASE_FIXTURE(fixture, "discovery.report_error") {
  grpc::ClientContext ctx;
  ctx.set_deadline(deadline());
  cloudstate::UserFunctionError error;
  error.set_message("Warning: reply type mismatch (from the test)");
  google::protobuf::Empty empty;
  CHECK(discovery->reportError(&ctx, error, &empty).ok());
}

TEST_CASE("registration.rejects_what_a_proxy_would") {
  namespace t = actorstate::uftest;
  actorstate::user_function_server server{actorstate::user_function_options{}};

  SUBCASE("unknown service") {
    actorstate::event_sourced_entity<t::JournalState> e{"actorstate.uftest.Nope", "nope"};
    CHECK(server.add(e).code() == actorstate::status_code::invalid_argument);
  }
  SUBCASE("handler types differ from the service's") {
    actorstate::event_sourced_entity<t::JournalState> e{"actorstate.uftest.Journal", "journal"};
    e.on_command<t::GetRequest, t::TextReply>("Append", [](const t::JournalState&, const t::GetRequest&,
                                                           actorstate::event_context&) { return t::TextReply{}; });
    CHECK(server.add(e).code() == actorstate::status_code::invalid_argument);
  }
  SUBCASE("unary handler for a streaming method, stream handler for a unary one") {
    actorstate::action unary{"actorstate.uftest.Echo"};
    unary.on_call<t::Shout, t::Shout>(
        "Chorus", [](const t::Shout& s, actorstate::action_context&) -> actorstate::outcome<t::Shout> { return s; });
    CHECK(server.add(unary).code() == actorstate::status_code::invalid_argument);
    actorstate::action streamed{"actorstate.uftest.Echo"};
    streamed.on_stream<t::Shout, t::Shout>("Say", [] { return actorstate::stream_handlers<t::Shout, t::Shout>{}; });
    CHECK(server.add(streamed).code() == actorstate::status_code::invalid_argument);
  }
  SUBCASE("entity without persistence id") {
    actorstate::value_entity<t::RegisterState> e{"actorstate.uftest.Register", ""};
    CHECK(server.add(e).code() == actorstate::status_code::invalid_argument);
  }
  SUBCASE("entity method without an entity key") {
    actorstate::value_entity<t::RegisterState> e{"actorstate.uftest.Keyless", "keyless"};
    CHECK(server.add(e).code() == actorstate::status_code::invalid_argument);
    // The same service is fine as an action: actions need no key.
    CHECK(server.add(actorstate::action{"actorstate.uftest.Keyless"}).ok());
  }
  SUBCASE("registered twice") {
    CHECK(server.add(make_echo()).ok());
    CHECK(server.add(make_echo()).code() == actorstate::status_code::already_exists);
  }
  SUBCASE("after start") {
    actorstate::user_function_options opts;
    opts.port = 0;
    actorstate::user_function_server started{opts};
    REQUIRE(started.add(make_echo()).ok());
    REQUIRE(started.start().ok());
    CHECK(started.add(make_register()).code() == actorstate::status_code::failed_precondition);
  }
}

}  // namespace uf_test
