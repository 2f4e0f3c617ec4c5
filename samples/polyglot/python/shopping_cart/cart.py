"""The shopping cart: an event-sourced entity keyed by user id, exactly the Cloudstate example.

Commands AddItem, RemoveItem and GetCart of com.example.shoppingcart.ShoppingCart; events ItemAdded and ItemRemoved
and the snapshot Cart of com.example.shoppingcart.persistence; persistence id "shopping-cart", a snapshot every 5
events (as cloudstate 0.1.1 counts them: see library_fixes). The state keeps the items in a dict, which keeps them in
first-added order.
"""
from dataclasses import dataclass, field
from typing import Dict

from google.protobuf.empty_pb2 import Empty

from cloudstate.event_sourced_context import EventSourcedCommandContext
from cloudstate.event_sourced_entity import EventSourcedEntity
from shoppingcart.persistence import domain_pb2 as domain
from shoppingcart import shoppingcart_pb2 as api

from shopping_cart import library_fixes  # noqa: F401  (two bugs of cloudstate 0.1.1, see there)


@dataclass
class CartState:
    entity_id: str
    items: Dict[str, domain.LineItem] = field(default_factory=dict)


def init(entity_id: str) -> CartState:
    return CartState(entity_id)


entity = EventSourcedEntity(
    api.DESCRIPTOR.services_by_name["ShoppingCart"],
    [api.DESCRIPTOR, domain.DESCRIPTOR],
    init,
    persistence_id="shopping-cart",
    snapshot_every=5,
)


@entity.command_handler("AddItem")
def add_item(item: api.AddLineItem, ctx: EventSourcedCommandContext):
    if item.quantity < 1:
        ctx.fail("Cannot add negative quantity to item {}".format(item.product_id))
        return Empty()
    event = domain.ItemAdded()
    event.item.productId = item.product_id
    event.item.name = item.name
    event.item.quantity = item.quantity
    ctx.emit(event)
    return Empty()


@entity.command_handler("RemoveItem")
def remove_item(state: CartState, item: api.RemoveLineItem, ctx: EventSourcedCommandContext):
    if item.product_id not in state.items:
        ctx.fail("Item {} not in cart".format(item.product_id))
        return Empty()
    event = domain.ItemRemoved()
    event.productId = item.product_id
    ctx.emit(event)
    return Empty()


@entity.command_handler("GetCart")
def get_cart(state: CartState):
    cart = api.Cart()
    for line in state.items.values():
        cart.items.add(product_id=line.productId, name=line.name, quantity=line.quantity)
    return cart


@entity.event_handler(domain.ItemAdded)
def item_added(state: CartState, event: domain.ItemAdded):
    existing = state.items.get(event.item.productId)
    if existing is not None:
        existing.quantity += event.item.quantity
    else:
        line = domain.LineItem()
        line.CopyFrom(event.item)
        state.items[line.productId] = line


@entity.event_handler(domain.ItemRemoved)
def item_removed(state: CartState, event: domain.ItemRemoved):
    state.items.pop(event.productId, None)


@entity.snapshot()
def snapshot(state: CartState):
    cart = domain.Cart()
    cart.items.extend(state.items.values())
    return cart


@entity.snapshot_handler()
def handle_snapshot(state: CartState, cart: domain.Cart):
    state.items = {}
    for line in cart.items:
        copy = domain.LineItem()
        copy.CopyFrom(line)
        state.items[copy.productId] = copy
