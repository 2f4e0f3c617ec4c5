#include "cart_entity.hpp"

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
          [](const domain::Cart&, const api::AddLineItem& cmd,
             actorstate::event_context& ctx) -> actorstate::outcome<Empty> {
            if (cmd.quantity() < 1)
              return actorstate::failure{"Cannot add negative quantity to item " + cmd.product_id()};
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
        if (auto* existing = find_item(state, ev.item().productid()))
          existing->set_quantity(existing->quantity() + ev.item().quantity());
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
