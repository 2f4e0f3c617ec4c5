// End-to-end tests of the client port's HTTP/2 side for what gRPC C++ cannot serve: gRPC-web (binary and text, unary
// and server-streaming), HTTP/JSON and CORS over HTTP/2 with prior knowledge (as a browser sends them to a TLS port
// that offers h2, or a proxy in front forwards them), natively and through actorstate-proxy; plain gRPC on a
// connection that began with gRPC-web; and gRPC clients, which wait for the server's SETTINGS before their first
// request, still served by the gRPC server.
#include <doctest/doctest.h>

#include "cart_client.hpp"
#include "cloudstate/tck/model/action.pb.h"
#include "cloudstate/tck/model/eventsourced.pb.h"
#include "grpc_web_frames.hpp"
#include "h2_client.hpp"
#include "node_process.hpp"
#include "shoppingcart/shoppingcart.pb.h"

namespace it = actorstate::it;
namespace api = it::cart_api;
using namespace std::chrono_literals;

namespace {

using it::base64;
using it::frame;
using it::frames;
using it::h2_request;
using it::unbase64;

const std::string cart_service = "/com.example.shoppingcart.ShoppingCart/";

h2_request grpc_web(const std::string& path, const std::string& message, const std::string& type = "+proto") {
  bool text = type.rfind("-text", 0) == 0;
  return {"POST",
          path,
          {{"content-type", "application/grpc-web" + type}, {"x-grpc-web", "1"}},
          text ? base64(frame(message)) : frame(message)};
}

h2_request plain_grpc(const std::string& path, const std::string& message) {
  return {"POST", path, {{"content-type", "application/grpc"}, {"te", "trailers"}}, frame(message)};
}

/// The one data frame of a successful gRPC-web answer followed by its trailers frame, whose status is checked.
std::string grpc_web_reply(const std::string& body) {
  auto f = frames(body);
  REQUIRE(f.size() == 2);
  CHECK(f[0].first == 0);
  CHECK(f[1].first == 0x80);
  CHECK(f[1].second.find("grpc-status:0") != std::string::npos);
  return f[0].second;
}

}  // namespace

TEST_CASE("http2.grpc_web_natively") {
  it::temp_dir dir;
  it::node_process node{it::shopping_cart_binary(), dir.path(), {"--cors-allow-origin", "http://allowed.example"}};
  node.start();
  INFO("node log tail:\n" << node.log_tail());
  api::AddLineItem add;
  add.set_user_id("h2");
  add.set_product_id("P1");
  add.set_name("Pen");
  add.set_quantity(2);
  api::GetShoppingCart get;
  get.set_user_id("h2");

  SUBCASE("binary and text unary calls, then plain gRPC on the same connection") {
    auto r = it::h2_exchange(node.port(), {grpc_web(cart_service + "AddItem", add.SerializeAsString()),
                                           grpc_web(cart_service + "GetCart", get.SerializeAsString(), "-text"),
                                           plain_grpc(cart_service + "GetCart", get.SerializeAsString())});
    REQUIRE(r.size() == 3);
    INFO(r[0].error << " / " << r[1].error << " / " << r[2].error);
    CHECK(r[0].status == 200);
    CHECK(r[0].header("content-type") == "application/grpc-web+proto");
    CHECK(grpc_web_reply(r[0].body).empty());  // Empty

    CHECK(r[1].status == 200);
    CHECK(r[1].header("content-type") == "application/grpc-web-text");
    api::Cart cart;
    REQUIRE(cart.ParseFromString(grpc_web_reply(unbase64(r[1].body))));
    REQUIRE(cart.items_size() == 1);
    CHECK(cart.items(0).quantity() == 2);

    // gRPC's own framing: the messages in the body, the status in HTTP/2 trailers.
    CHECK(r[2].status == 200);
    CHECK(r[2].header("content-type") == "application/grpc");
    auto f = frames(r[2].body);
    REQUIRE(f.size() == 1);
    api::Cart again;
    REQUIRE(again.ParseFromString(f[0].second));
    CHECK(again.items_size() == 1);
    CHECK(r[2].trailer("grpc-status") == "0");
  }
  SUBCASE("failures carry the gRPC status in the headers") {
    add.set_quantity(0);
    auto r = it::h2_exchange(
        node.port(), {grpc_web(cart_service + "AddItem", add.SerializeAsString()),
                      grpc_web(cart_service + "Nope", ""),
                      {"POST", cart_service + "GetCart", {{"content-type", "application/grpc-web"}}, "\x01\x02"},
                      plain_grpc(cart_service + "Nope", "")});
    REQUIRE(r.size() == 4);
    CHECK(r[0].status == 200);
    CHECK(r[0].header("grpc-status") == "2");
    CHECK(r[0].header("grpc-message") == "Cannot add negative quantity to item P1");
    CHECK(r[0].body.empty());
    CHECK(r[1].header("grpc-status") == "12");
    CHECK(r[2].header("grpc-status") == "3");
    CHECK(r[3].header("grpc-status") == "12");
  }
  SUBCASE("HTTP/JSON and CORS") {
    auto r = it::h2_exchange(
        node.port(), {{"POST",
                       "/cart/h2/items/add",
                       {{"content-type", "application/json"}},
                       R"({"productId":"A1","name":"Deluxe","quantity":5})"},
                      {"GET", "/carts/h2", {}, ""},
                      {"OPTIONS",
                       cart_service + "GetCart",
                       {{"origin", "http://allowed.example"},
                        {"access-control-request-method", "POST"},
                        {"access-control-request-headers", "content-type,x-grpc-web"}},
                       ""},
                      {"POST", "/cart/h2/items/add", {{"content-type", "application/json"}}, R"({"productId": )"}});
    REQUIRE(r.size() == 4);
    CHECK(r[0].status == 200);
    CHECK(r[0].body == "{}");
    CHECK(r[1].status == 200);
    CHECK(r[1].header("content-type") == "application/json");
    CHECK(r[1].body == R"({"items":[{"productId":"A1","name":"Deluxe","quantity":5}]})");
    CHECK(r[2].status == 204);
    CHECK(r[2].header("access-control-allow-origin") == "http://allowed.example");
    CHECK(r[2].header("access-control-allow-headers") == "content-type,x-grpc-web");
    CHECK(r[3].status == 400);
  }
  SUBCASE("a connection that opens with plain gRPC is the gRPC server's") {
    auto r = it::h2_exchange(node.port(), {plain_grpc(cart_service + "AddItem", add.SerializeAsString()),
                                           plain_grpc(cart_service + "GetCart", get.SerializeAsString())});
    REQUIRE(r.size() == 2);
    INFO(r[0].error << " / " << r[1].error);
    CHECK(r[0].trailer("grpc-status") == "0");
    CHECK(r[1].trailer("grpc-status") == "0");
    // gRPC C++ clients wait for the server's SETTINGS before their first request: they are served too.
    auto stub = it::make_cart_stub(node.target());
    CHECK(it::cart_text(*stub, "h2") == "P1 Pen 2");
  }
}

// Through actorstate-proxy in front of the TCK model user function: an event-sourced entity's unary method and a
// streaming action, as gRPC-web over HTTP/2.
TEST_CASE("http2.grpc_web_through_the_proxy") {
  it::temp_dir dir;
  it::user_function_process uf{it::tck_model_binary(), dir.path() / "uf"};
  uf.start();
  it::node_process proxy{it::proxy_binary(),
                         dir.path() / "proxy",
                         {"--user-function-port", std::to_string(uf.port()), "--store", "memory"}};
  proxy.start();
  INFO("proxy log tail:\n" << proxy.log_tail() << "\nuser function log tail:\n" << uf.log_tail());

  cloudstate::tck::model::Request emit;
  emit.set_id("h2-entity");
  emit.add_actions()->mutable_emit()->set_value("x");
  const std::string process = "/cloudstate.tck.model.EventSourcedTckModel/Process";
  cloudstate::tck::model::action::Request streamed;
  for (const char* m : {"A", "B"})
    streamed.add_groups()->add_steps()->mutable_reply()->set_message(m);
  const std::string out = "/cloudstate.tck.model.action.ActionTckModel/ProcessStreamedOut";

  auto r = it::h2_exchange(
      proxy.port(),
      {grpc_web(process, emit.SerializeAsString()), grpc_web(process, emit.SerializeAsString(), "-text+proto"),
       grpc_web(out, streamed.SerializeAsString()), grpc_web(out, streamed.SerializeAsString(), "-text"),
       plain_grpc(out, streamed.SerializeAsString())});
  REQUIRE(r.size() == 5);
  INFO(r[0].error << " / " << r[1].error << " / " << r[2].error << " / " << r[3].error << " / " << r[4].error);
  cloudstate::tck::model::Response first;
  REQUIRE(first.ParseFromString(grpc_web_reply(r[0].body)));
  CHECK(first.message() == "x");
  cloudstate::tck::model::Response second;
  CHECK(r[1].header("content-type") == "application/grpc-web-text+proto");
  REQUIRE(second.ParseFromString(grpc_web_reply(unbase64(r[1].body))));
  CHECK(second.message() == "xx");

  // Server streaming: one frame per element, then the trailers frame.
  for (const auto* response : {&r[2], &r[3]}) {
    auto body = response == &r[3] ? unbase64(response->body) : response->body;
    auto f = frames(body);
    REQUIRE(f.size() == 3);
    cloudstate::tck::model::action::Response a;
    cloudstate::tck::model::action::Response b;
    REQUIRE(a.ParseFromString(f[0].second));
    REQUIRE(b.ParseFromString(f[1].second));
    CHECK(a.message() == "A");
    CHECK(b.message() == "B");
    CHECK(f[2].first == 0x80);
    CHECK(f[2].second.find("grpc-status:0") != std::string::npos);
  }
  // Plain gRPC on the same connection streams the elements and ends with trailers.
  auto f = frames(r[4].body);
  CHECK(f.size() == 2);
  CHECK(r[4].trailer("grpc-status") == "0");
}
