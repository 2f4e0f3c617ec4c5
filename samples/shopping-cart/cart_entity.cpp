#include "cart_entity.hpp"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>

#include <google/protobuf/empty.pb.h>

#include "shoppingcart/shoppingcart.pb.h"

namespace shopping_cart {

namespace api = com::example::shoppingcart;
namespace domain = com::example::shoppingcart::persistence;
using google::protobuf::Empty;

namespace {

domain::LineItem* find_item(domain::Cart& cart, const std::string& product_id) {
  for (auto& item : *cart.mutable_items())
    if (item.productid() == product_id)
      return &item;
  return nullptr;
}

constexpr int32_t max_quantity = std::numeric_limits<int32_t>::max();

int32_t quantity_of(const domain::Cart& cart, const std::string& product_id) {
  for (const auto& item : cart.items())
    if (item.productid() == product_id)
      return item.quantity();
  return 0;
}

bool contains(const domain::Cart& cart, const std::string& product_id) {
  for (const auto& item : cart.items())
    if (item.productid() == product_id)
      return true;
  return false;
}

}  // namespace

actorstate::event_sourced_entity<domain::Cart> make_entity() {
  actorstate::event_sourced_entity<domain::Cart> cart{"com.example.shoppingcart.ShoppingCart", "shopping-cart"};
  cart.snapshot_every(5)
      .on_command<api::AddLineItem, Empty>(
          "AddItem",
          [](const domain::Cart& state, const api::AddLineItem& cmd,
             actorstate::event_context& ctx) -> actorstate::outcome<Empty> {
            if (cmd.quantity() < 1)
              return actorstate::failure{"Cannot add negative quantity to item " + cmd.product_id()};
            // The stored quantity is an int32: refuse the command rather than emit an event whose sum cannot be
            // represented (the event would be durable, and every replay would have to deal with it).
            if (cmd.quantity() > max_quantity - quantity_of(state, cmd.product_id()))
              return actorstate::failure{"Cannot add " + std::to_string(cmd.quantity()) + " to item " +
                                         cmd.product_id() + ": the quantity would exceed " +
                                         std::to_string(max_quantity)};
            domain::ItemAdded added;
            auto* item = added.mutable_item();
            item->set_productid(cmd.product_id());
            item->set_name(cmd.name());
            item->set_quantity(cmd.quantity());
            ctx.emit(added);
            return Empty{};
          })
      .on_command<api::RemoveLineItem, Empty>(
          "RemoveItem",
          [](const domain::Cart& state, const api::RemoveLineItem& cmd,
             actorstate::event_context& ctx) -> actorstate::outcome<Empty> {
            if (!contains(state, cmd.product_id()))
              return actorstate::failure{"Item " + cmd.product_id() + " not in cart"};
            domain::ItemRemoved removed;
            removed.set_productid(cmd.product_id());
            ctx.emit(removed);
            return Empty{};
          })
      .on_command<api::GetShoppingCart, api::Cart>(
          "GetCart",
          [](const domain::Cart& state, const api::GetShoppingCart&, actorstate::event_context&) {
            api::Cart reply;
            for (const auto& item : state.items()) {
              auto* line = reply.add_items();
              line->set_product_id(item.productid());
              line->set_name(item.name());
              line->set_quantity(item.quantity());
            }
            return reply;
          })
      .on_event<domain::ItemAdded>([](domain::Cart& state, const domain::ItemAdded& ev) {
        // Saturating: journals written before AddItem refused overflows may hold events that would overflow.
        if (auto* existing = find_item(state, ev.item().productid()))
          existing->set_quantity(static_cast<int32_t>(
              std::clamp<int64_t>(int64_t{existing->quantity()} + ev.item().quantity(), 0, max_quantity)));
        else
          *state.add_items() = ev.item();
      })
      .on_event<domain::ItemRemoved>([](domain::Cart& state, const domain::ItemRemoved& ev) {
        auto* items = state.mutable_items();
        for (int i = 0; i < items->size(); ++i) {
          if (items->Get(i).productid() == ev.productid()) {
            items->erase(items->begin() + i);
            break;
          }
        }
      });
  return cart;
}

}  // namespace shopping_cart
