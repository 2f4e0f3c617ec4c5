/*
 * The Cloudstate shopping cart, written with the npm cloudstate support library: an event-sourced entity per user id,
 * persisted as ItemAdded / ItemRemoved events with a Cart snapshot every 5 events. Items are kept in first-added
 * order; adding a product already in the cart adds to its quantity (and keeps its first name).
 *
 * The protos are the native C++ sample's (samples/shopping-cart/proto), loaded at run time from the repository, with
 * its proto/ folder for google/api/*.proto and cloudstate/entity_key.proto. The descriptor set sent to the proxy,
 * user-function.desc, is built from the same files by build.sh.
 *
 * Listens on $HOST:$PORT (default 127.0.0.1:8080).
 */
const path = require("path");
const EventSourced = require("cloudstate").EventSourced;

const repo = path.resolve(__dirname, "..", "..", "..");

const entity = new EventSourced(
  ["shoppingcart/shoppingcart.proto", "shoppingcart/persistence/domain.proto"],
  "com.example.shoppingcart.ShoppingCart",
  {
    persistenceId: "shopping-cart",
    snapshotEvery: 5,
    includeDirs: [path.join(repo, "samples", "shopping-cart", "proto"), path.join(repo, "proto")],
  }
);

const domain = "com.example.shoppingcart.persistence.";
const ItemAdded = entity.lookupType(domain + "ItemAdded");
const ItemRemoved = entity.lookupType(domain + "ItemRemoved");
const Cart = entity.lookupType(domain + "Cart");

// The state is the persistence Cart message itself, so it is also the snapshot.
entity.setInitial(() => Cart.create({ items: [] }));

entity.setBehavior(() => ({
  commandHandlers: {
    AddItem: addItem,
    RemoveItem: removeItem,
    GetCart: getCart,
  },
  eventHandlers: {
    ItemAdded: itemAdded,
    ItemRemoved: itemRemoved,
  },
}));

function addItem(command, cart, ctx) {
  if (command.quantity < 1) {
    ctx.fail("Cannot add negative quantity to item " + command.productId); // throws: nothing is emitted
  }
  ctx.emit(
    ItemAdded.create({
      item: { productId: command.productId, name: command.name, quantity: command.quantity },
    })
  );
  return {};
}

function removeItem(command, cart, ctx) {
  if (!cart.items.some((item) => item.productId === command.productId)) {
    ctx.fail("Item " + command.productId + " not in cart");
  }
  ctx.emit(ItemRemoved.create({ productId: command.productId }));
  return {};
}

function getCart(request, cart) {
  // The reply is a com.example.shoppingcart.Cart, whose LineItem has the same field names in JavaScript.
  return { items: cart.items.map(({ productId, name, quantity }) => ({ productId, name, quantity })) };
}

function itemAdded(added, cart) {
  const existing = cart.items.find((item) => item.productId === added.item.productId);
  if (existing) {
    existing.quantity += added.item.quantity;
  } else {
    cart.items.push(added.item);
  }
  return cart;
}

function itemRemoved(removed, cart) {
  cart.items = cart.items.filter((item) => item.productId !== removed.productId);
  return cart;
}

entity.start({
  bindAddress: process.env.HOST || "127.0.0.1",
  bindPort: parseInt(process.env.PORT || "8080", 10),
});
