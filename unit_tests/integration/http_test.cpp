// End-to-end tests of the client port's HTTP/1.1 side, against real nodes: the shopping cart's HTTP/JSON session
// (the one Cloudstate's TCK ran up to v0.5.1), the counter the peer benchmark drives, gRPC-web (binary and text),
// CORS, the error contract, and gRPC still served on the same port; then the same cart through actorstate-proxy in
// front of the cart as a user function.
#include <doctest/doctest.h>

#include "cart_client.hpp"
#include "cloudstate/tck/model/action.pb.h"
#include "grpc_web_frames.hpp"
#include "http_cart.hpp"
#include "node_process.hpp"
#include "shoppingcart/shoppingcart.pb.h"

namespace it = actorstate::it;
namespace api = it::cart_api;
using namespace std::chrono_literals;

namespace {

using it::base64;
using it::cart_bad_input;
using it::cart_session;
using it::frame;
using it::frames;
using it::post;
using it::unbase64;

}  // namespace

TEST_CASE("http.shopping_cart_session_on_the_grpc_port") {
  it::temp_dir dir;
  it::node_process node{it::shopping_cart_binary(), dir.path()};
  node.start();
  INFO("node log tail:\n" << node.log_tail());
  cart_session(node.port(), "foo");
  cart_bad_input(node.port(), "foo");
  // gRPC on the same port sees what HTTP did.
  auto stub = it::make_cart_stub(node.target());
  CHECK(it::cart_text(*stub, "foo") == "B14623482 Basic 1");
  REQUIRE(it::add_item(*stub, "foo", "Z9", "Zeta", 3).ok());
  CHECK(it::http_get(node.port(), "/carts/foo/items").body ==
        R"([{"productId":"B14623482","name":"Basic","quantity":1},{"productId":"Z9","name":"Zeta","quantity":3}])");
  // Methods with rules get no implicit POST /<package.Service>/<Method> route (as in Cloudstate).
  CHECK(post(node.port(), "/com.example.shoppingcart.ShoppingCart/GetCart", R"({"userId":"foo"})").status == 404);
  CHECK(node.terminate() == 0);
}

TEST_CASE("http.counter_native_and_durable") {
  it::temp_dir dir;
  it::node_process node{it::counter_binary(), dir.path()};
  node.start();
  INFO("node log tail:\n" << node.log_tail());
  auto add = [&](const std::string& key, const std::string& delta) {
    return post(node.port(), "/counter/" + key + "/add", delta);
  };
  auto first = add("k1", "5");
  CHECK(first.status == 200);
  CHECK(first.body == "\"5\"");
  CHECK(add("k1", "-2").body == "\"3\"");
  CHECK(add("k1", "\"10\"").body == "\"13\"");  // int64 as a JSON string, as canonical JSON prints it
  CHECK(add("k2", "1").body == "\"1\"");
  // Get: no body at all, or an empty one with a JSON content type.
  CHECK(post(node.port(), "/counter/k1/get", "", {}).body == "\"13\"");
  CHECK(post(node.port(), "/counter/k1/get", "").body == "\"13\"");
  CHECK(post(node.port(), "/counter/never/get", "").body == "\"0\"");
  CHECK(add("k1", "not-a-number").status == 400);
  node.kill();
  node.start();
  CHECK(post(node.port(), "/counter/k1/get", "").body == "\"13\"");
  CHECK(post(node.port(), "/counter/k2/get", "").body == "\"1\"");
}

TEST_CASE("http.idempotency_key_applies_a_command_once") {
  it::temp_dir dir;
  it::node_process node{it::counter_binary(), dir.path()};
  node.start();
  INFO("node log tail:\n" << node.log_tail());
  auto add = [&](const std::string& delta, const std::string& key) {
    auto headers = it::json_content;
    if (!key.empty())
      headers.push_back("Idempotency-Key: " + key);
    return post(node.port(), "/counter/visits/add", delta, headers);
  };
  CHECK(add("5", "k1").body == "\"5\"");
  // The client timed out and retries: the stored answer, and the value added once.
  auto retry = add("5", "k1");
  CHECK(retry.status == 200);
  CHECK(retry.body == "\"5\"");
  CHECK(post(node.port(), "/counter/visits/get", "").body == "\"5\"");
  CHECK(add("2", "k2").body == "\"7\"");
  CHECK(add("2", "").body == "\"9\"");  // no key: applied every time
  // A crash (the failover of a node that runs alone): the key was committed with the write.
  node.kill();
  node.start();
  CHECK(add("5", "k1").body == "\"5\"");
  CHECK(add("2", "k2").body == "\"7\"");
  CHECK(post(node.port(), "/counter/visits/get", "").body == "\"9\"");
  auto metrics = it::http_get(node.management_port(), "/metrics").body;
  CHECK(metrics.find("actorstate_idempotent_replays_total") != std::string::npos);
  CHECK(node.terminate() == 0);
}

TEST_CASE("http.grpc_web") {
  it::temp_dir dir;
  it::node_process node{it::shopping_cart_binary(), dir.path()};
  node.start();
  INFO("node log tail:\n" << node.log_tail());
  api::AddLineItem add;
  add.set_user_id("web");
  add.set_product_id("P1");
  add.set_name("Pen");
  add.set_quantity(2);
  api::GetShoppingCart get;
  get.set_user_id("web");

  SUBCASE("binary") {
    auto r = post(node.port(), "/com.example.shoppingcart.ShoppingCart/AddItem", frame(add.SerializeAsString()),
                  {"Content-Type: application/grpc-web+proto", "X-Grpc-Web: 1"});
    CHECK(r.status == 200);
    CHECK(r.header("content-type") == "application/grpc-web+proto");
    auto f = frames(r.body);
    REQUIRE(f.size() == 2);
    CHECK(f[0].first == 0);
    CHECK(f[1].first == 0x80);
    CHECK(f[1].second.find("grpc-status:0") != std::string::npos);

    r = post(node.port(), "/com.example.shoppingcart.ShoppingCart/GetCart", frame(get.SerializeAsString()),
             {"Content-Type: application/grpc-web"});
    f = frames(r.body);
    REQUIRE(f.size() == 2);
    api::Cart cart;
    REQUIRE(cart.ParseFromString(f[0].second));
    REQUIRE(cart.items_size() == 1);
    CHECK(cart.items(0).quantity() == 2);
  }
  SUBCASE("text") {
    REQUIRE(post(node.port(), "/com.example.shoppingcart.ShoppingCart/AddItem", base64(frame(add.SerializeAsString())),
                 {"Content-Type: application/grpc-web-text"})
                .status == 200);
    auto r = post(node.port(), "/com.example.shoppingcart.ShoppingCart/GetCart", base64(frame(get.SerializeAsString())),
                  {"Content-Type: application/grpc-web-text+proto"});
    CHECK(r.header("content-type") == "application/grpc-web-text+proto");
    auto f = frames(unbase64(r.body));
    REQUIRE(f.size() == 2);
    api::Cart cart;
    REQUIRE(cart.ParseFromString(f[0].second));
    CHECK(cart.items_size() == 1);
  }
  SUBCASE("failures carry the gRPC status") {
    add.set_quantity(0);
    auto r = post(node.port(), "/com.example.shoppingcart.ShoppingCart/AddItem", frame(add.SerializeAsString()),
                  {"Content-Type: application/grpc-web+proto"});
    CHECK(r.status == 200);
    CHECK(r.header("grpc-status") == "2");
    CHECK(r.header("grpc-message") == "Cannot add negative quantity to item P1");
    auto unknown = post(node.port(), "/com.example.shoppingcart.ShoppingCart/Nope", frame(""),
                        {"Content-Type: application/grpc-web+proto"});
    CHECK(unknown.header("grpc-status") == "12");
    auto garbage = post(node.port(), "/com.example.shoppingcart.ShoppingCart/GetCart", "\x01\x02",
                        {"Content-Type: application/grpc-web+proto"});
    CHECK(garbage.header("grpc-status") == "3");
  }
}

TEST_CASE("http.cors") {
  it::temp_dir dir;
  it::node_process node{
      it::shopping_cart_binary(), dir.path(), {"--cors-allow-origin", "http://allowed.example,http://other.example"}};
  node.start();
  INFO("node log tail:\n" << node.log_tail());
  auto preflight = it::http_request(node.port(), "OPTIONS", "/com.example.shoppingcart.ShoppingCart/GetCart",
                                    {"Origin: http://allowed.example", "Access-Control-Request-Method: POST",
                                     "Access-Control-Request-Headers: content-type,x-grpc-web"});
  CHECK(preflight.status == 204);
  CHECK(preflight.header("access-control-allow-origin") == "http://allowed.example");
  CHECK(preflight.header("access-control-allow-headers") == "content-type,x-grpc-web");
  CHECK(preflight.header("access-control-allow-methods").find("POST") != std::string::npos);

  auto refused = it::http_request(node.port(), "OPTIONS", "/carts/x",
                                  {"Origin: http://evil.example", "Access-Control-Request-Method: GET"});
  CHECK(refused.header("access-control-allow-origin").empty());

  auto call = it::http_request(node.port(), "GET", "/carts/x", {"Origin: http://other.example"});
  CHECK(call.status == 200);
  CHECK(call.header("access-control-allow-origin") == "http://other.example");
  CHECK(call.header("access-control-expose-headers").find("grpc-status") != std::string::npos);
}

TEST_CASE("http.error_contract") {
  it::temp_dir dir;
  it::node_process node{it::shopping_cart_binary(), dir.path(), {"--max-message-size", "1KiB"}};
  node.start();
  INFO("node log tail:\n" << node.log_tail());
  auto big =
      post(node.port(), "/cart/u/items/add", R"({"productId":")" + std::string(4000, 'x') + R"(","quantity":1})");
  CHECK(big.status == 413);
  CHECK(big.header("content-type") == "application/json");
  CHECK(big.body.find("\"code\":8") != std::string::npos);
  // An empty entity key is a bad request.
  auto no_key = post(node.port(), "/com.example.shoppingcart.ShoppingCart/GetCart", frame(""),
                     {"Content-Type: application/grpc-web+proto"});
  CHECK(no_key.header("grpc-status") == "3");
  CHECK(no_key.header("grpc-message") == "the entity key is empty");
}

TEST_CASE("http.through_the_proxy") {
  it::temp_dir dir;
  it::user_function_process uf{it::shopping_cart_binary(), dir.path() / "uf"};
  uf.start();
  it::node_process proxy{it::proxy_binary(),
                         dir.path() / "proxy",
                         {"--user-function-port", std::to_string(uf.port()), "--store", "memory"}};
  proxy.start();
  INFO("proxy log tail:\n" << proxy.log_tail() << "\nuser function log tail:\n" << uf.log_tail());
  cart_session(proxy.port(), "bar");
  cart_bad_input(proxy.port(), "bar");
  auto stub = it::make_cart_stub(proxy.target());
  CHECK(it::cart_text(*stub, "bar") == "B14623482 Basic 1");
}

// Streaming methods over HTTP, through the proxy in front of the TCK model user function (its ActionTckModel has
// every call shape and no HTTP rules, so each is served on its implicit route).
TEST_CASE("http.streaming_through_the_proxy") {
  it::temp_dir dir;
  it::user_function_process uf{it::tck_model_binary(), dir.path() / "uf"};
  uf.start();
  it::node_process proxy{it::proxy_binary(),
                         dir.path() / "proxy",
                         {"--user-function-port", std::to_string(uf.port()), "--store", "memory"}};
  proxy.start();
  INFO("proxy log tail:\n" << proxy.log_tail() << "\nuser function log tail:\n" << uf.log_tail());
  const std::string out = "/cloudstate.tck.model.action.ActionTckModel/ProcessStreamedOut";
  const std::string abc = R"({"groups":[{"steps":[{"reply":{"message":"A"}}]},{"steps":[{"reply":{"message":"B"}}]},)"
                          R"({"steps":[{"reply":{"message":"C"}}]}]})";

  SUBCASE("newline-delimited JSON") {
    auto r = post(proxy.port(), out, abc);
    CHECK(r.status == 200);
    CHECK(r.header("content-type") == "application/x-ndjson");
    CHECK(r.body == "{\"message\":\"A\"}\n{\"message\":\"B\"}\n{\"message\":\"C\"}\n");
  }
  SUBCASE("server-sent events") {
    auto r = post(proxy.port(), out, abc, {"Content-Type: application/json", "Accept: text/event-stream"});
    CHECK(r.status == 200);
    CHECK(r.header("content-type") == "text/event-stream");
    CHECK(r.body == "data: {\"message\":\"A\"}\n\ndata: {\"message\":\"B\"}\n\ndata: {\"message\":\"C\"}\n\n");
  }
  SUBCASE("a failure after the first element ends the stream with an error element") {
    auto r = post(proxy.port(), out,
                  R"({"groups":[{"steps":[{"reply":{"message":"A"}}]},{"steps":[{"fail":{"message":"boom"}}]}]})");
    CHECK(r.status == 200);
    CHECK(r.body == "{\"message\":\"A\"}\n{\"error\":{\"code\":2,\"message\":\"boom\"}}\n");
  }
  SUBCASE("a failure before any element is the response's status") {
    auto r = post(proxy.port(), out, R"({"groups":[{"steps":[{"fail":{"message":"boom"}}]}]})");
    CHECK(r.status == 500);
    CHECK(r.body == "boom");
  }
  SUBCASE("gRPC-web streams frames, then the trailers") {
    cloudstate::tck::model::action::Request request;
    for (const char* m : {"A", "B"})
      request.add_groups()->add_steps()->mutable_reply()->set_message(m);
    auto r = post(proxy.port(), out, frame(request.SerializeAsString()), {"Content-Type: application/grpc-web+proto"});
    auto f = frames(r.body);
    REQUIRE(f.size() == 3);
    cloudstate::tck::model::action::Response a;
    REQUIRE(a.ParseFromString(f[0].second));
    CHECK(a.message() == "A");
    CHECK(f[2].first == 0x80);
    CHECK(f[2].second.find("grpc-status:0") != std::string::npos);
  }
  SUBCASE("client streaming takes the one JSON request") {
    auto r = post(proxy.port(), "/cloudstate.tck.model.action.ActionTckModel/ProcessStreamedIn",
                  R"({"groups":[{"steps":[{"reply":{"message":"in"}}]}]})");
    CHECK(r.status == 200);
    CHECK(r.body == R"({"message":"in"})");
  }
}
