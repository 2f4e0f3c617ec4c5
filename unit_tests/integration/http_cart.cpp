#include "http_cart.hpp"

#include <doctest/doctest.h>

namespace actorstate::it {

http_response post(uint16_t port, const std::string& path, const std::string& body,
                   const std::vector<std::string>& headers) {
  return http_request(port, "POST", path, headers, body);
}

void cart_session(uint16_t port, const std::string& user) {
  auto empty = http_get(port, "/carts/" + user);
  CHECK(empty.status == 200);
  CHECK(empty.header("content-type") == "application/json");
  CHECK(empty.body == R"({"items":[]})");

  auto added = post(port, "/cart/" + user + "/items/add", R"({"productId":"A14362347","name":"Deluxe","quantity":5})");
  CHECK(added.status == 200);
  CHECK(added.body == "{}");
  CHECK(post(port, "/cart/" + user + "/items/add", R"({"productId":"B14623482","name":"Basic","quantity":1})").body ==
        "{}");
  // proto field names are accepted too.
  CHECK(post(port, "/cart/" + user + "/items/add", R"({"product_id":"A14362347","name":"Deluxe","quantity":2})").body ==
        "{}");

  CHECK(http_get(port, "/carts/" + user).body == R"({"items":[{"productId":"A14362347","name":"Deluxe","quantity":7},)"
                                                 R"({"productId":"B14623482","name":"Basic","quantity":1}]})");
  // The additional binding renders only the items.
  CHECK(
      http_get(port, "/carts/" + user + "/items").body ==
      R"([{"productId":"A14362347","name":"Deluxe","quantity":7},{"productId":"B14623482","name":"Basic","quantity":1}])");

  auto removed = post(port, "/cart/" + user + "/items/A14362347/remove", "", {});
  CHECK(removed.status == 200);
  CHECK(removed.body == "{}");
  CHECK(http_get(port, "/carts/" + user).body ==
        R"({"items":[{"productId":"B14623482","name":"Basic","quantity":1}]})");

  // A user failure: 500 with the description as text.
  auto failed = post(port, "/cart/" + user + "/items/add", R"({"productId":"C1","name":"Zero","quantity":0})");
  CHECK(failed.status == 500);
  CHECK(failed.header("content-type").rfind("text/plain", 0) == 0);
  CHECK(failed.body == "Cannot add negative quantity to item C1");
  auto absent = post(port, "/cart/" + user + "/items/nope/remove", "", {});
  CHECK(absent.status == 500);
  CHECK(absent.body == "Item nope not in cart");
}

void cart_bad_input(uint16_t port, const std::string& user) {
  auto before = http_get(port, "/carts/" + user).body;
  auto malformed = post(port, "/cart/" + user + "/items/add", R"({"productId": )");
  CHECK(malformed.status == 400);
  CHECK(malformed.body.find("Malformed request") != std::string::npos);
  auto wrong_type =
      post(port, "/cart/" + user + "/items/add", R"({"productId":"X","quantity":1})", {"Content-Type: text/plain"});
  CHECK(wrong_type.status == 400);
  CHECK(wrong_type.body == "Content-type must be application/json!");
  CHECK(http_get(port, "/no/such/route").status == 404);
  CHECK(http_request(port, "DELETE", "/carts/" + user).status == 404);
  CHECK(http_get(port, "/carts/" + user).body == before);
}

}  // namespace actorstate::it
