// The shopping cart entity type (com.example.shoppingcart.ShoppingCart), persistence id "shopping-cart", with a
// snapshot every 5 events. Behaviour is the Cloudstate example's: quantities below 1 and removing an absent item
// fail; adding a product already in the cart adds to its quantity; GetCart lists items in first-added order.
#pragma once

#include <actorstate/entity.hpp>

#include "shoppingcart/persistence/domain.pb.h"

namespace shopping_cart {

actorstate::event_sourced_entity<com::example::shoppingcart::persistence::Cart> make_entity();

}  // namespace shopping_cart
