// The bad-input contract of a shopping-cart server (a native node or the proxy in front of the cart user function),
// checked with raw request bytes: unknown method or service -> UNIMPLEMENTED, bytes that do not parse or an empty
// entity key -> INVALID_ARGUMENT, and none of it harms the server. Call from a doctest test case.
#pragma once

#include <string>

#include <doctest/doctest.h>
#include <grpcpp/grpcpp.h>

#include "cart_client.hpp"

namespace actorstate::it {

inline void check_bad_input(const std::string& target) {
  auto channel = grpc::CreateChannel(target, grpc::InsecureChannelCredentials());
  cart_api::AddLineItem valid;
  valid.set_user_id("dave");
  valid.set_product_id("p1");
  valid.set_name("Pen");
  valid.set_quantity(1);
  auto valid_bytes = valid.SerializeAsString();
  auto nope = raw_call(channel, "/com.example.shoppingcart.ShoppingCart/Nope", valid_bytes);
  CHECK_MESSAGE(nope.error_code() == grpc::StatusCode::UNIMPLEMENTED, status_text(nope));
  auto unknown_service = raw_call(channel, "/com.example.shoppingcart.NoSuchService/AddItem", valid_bytes);
  CHECK_MESSAGE(unknown_service.error_code() == grpc::StatusCode::UNIMPLEMENTED, status_text(unknown_service));
  auto garbage = raw_call(channel, "/com.example.shoppingcart.ShoppingCart/AddItem", std::string{"\xff\xff\xff"});
  CHECK_MESSAGE(garbage.error_code() == grpc::StatusCode::INVALID_ARGUMENT, status_text(garbage));
  cart_api::AddLineItem keyless = valid;
  keyless.set_user_id("");
  auto no_key = raw_call(channel, "/com.example.shoppingcart.ShoppingCart/AddItem", keyless.SerializeAsString());
  CHECK_MESSAGE(no_key.error_code() == grpc::StatusCode::INVALID_ARGUMENT, status_text(no_key));
  cart_api::GetShoppingCart keyless_get;
  auto no_key_get =
      raw_call(channel, "/com.example.shoppingcart.ShoppingCart/GetCart", keyless_get.SerializeAsString());
  CHECK_MESSAGE(no_key_get.error_code() == grpc::StatusCode::INVALID_ARGUMENT, status_text(no_key_get));
  // None of that hurt the server: the same bytes through the right method work.
  auto ok = raw_call(channel, "/com.example.shoppingcart.ShoppingCart/AddItem", valid_bytes);
  CHECK_MESSAGE(ok.ok(), status_text(ok));
  auto stub = make_cart_stub(target);
  CHECK(cart_text(*stub, "dave") == "p1 Pen 1");
  // A quantity that would overflow the int32 total is refused with a clear failure, and the cart keeps its total.
  const int32_t max = 2147483647;
  auto first = add_item(*stub, "dave", "pmax", "Max", max);
  CHECK_MESSAGE(first.ok(), status_text(first));
  auto overflow = add_item(*stub, "dave", "pmax", "Max", max);
  CHECK_MESSAGE(overflow.error_code() == grpc::StatusCode::UNKNOWN, status_text(overflow));
  CHECK(overflow.error_message() == "Cannot add 2147483647 to item pmax: the quantity would exceed 2147483647");
  auto one_more = add_item(*stub, "dave", "pmax", "Max", 1);
  CHECK_MESSAGE(one_more.error_code() == grpc::StatusCode::UNKNOWN, status_text(one_more));
  CHECK(cart_text(*stub, "dave") == "p1 Pen 1; pmax Max 2147483647");
}

}  // namespace actorstate::it
