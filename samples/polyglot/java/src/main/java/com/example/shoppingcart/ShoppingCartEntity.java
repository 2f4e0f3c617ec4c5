package com.example.shoppingcart;

import com.example.shoppingcart.persistence.Domain;
import com.google.protobuf.Empty;
import io.cloudstate.javasupport.eventsourced.CommandContext;
import io.cloudstate.javasupport.eventsourced.CommandHandler;
import io.cloudstate.javasupport.eventsourced.EventHandler;
import io.cloudstate.javasupport.eventsourced.EventSourcedEntity;
import io.cloudstate.javasupport.eventsourced.Snapshot;
import io.cloudstate.javasupport.eventsourced.SnapshotHandler;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The Cloudstate shopping cart: an event-sourced entity per user id, persisted as {@code ItemAdded} / {@code
 * ItemRemoved} events with a {@code Cart} snapshot every 5 events. Items are kept in first-added order (a
 * LinkedHashMap keeps a key's place when its quantity grows); adding a product already in the cart adds to its
 * quantity and keeps its first name.
 */
@EventSourcedEntity(persistenceId = "shopping-cart", snapshotEvery = 5)
public class ShoppingCartEntity {
  private final Map<String, Domain.LineItem> cart = new LinkedHashMap<>();

  @Snapshot
  public Domain.Cart snapshot() {
    return Domain.Cart.newBuilder().addAllItems(cart.values()).build();
  }

  @SnapshotHandler
  public void handleSnapshot(Domain.Cart snapshot) {
    cart.clear();
    snapshot.getItemsList().forEach(item -> cart.put(item.getProductId(), item));
  }

  @EventHandler
  public void itemAdded(Domain.ItemAdded event) {
    Domain.LineItem item = event.getItem();
    cart.merge(
        item.getProductId(),
        item,
        (old, added) -> old.toBuilder().setQuantity(old.getQuantity() + added.getQuantity()).build());
  }

  @EventHandler
  public void itemRemoved(Domain.ItemRemoved event) {
    cart.remove(event.getProductId());
  }

  @CommandHandler
  public Shoppingcart.Cart getCart() {
    Shoppingcart.Cart.Builder reply = Shoppingcart.Cart.newBuilder();
    for (Domain.LineItem item : cart.values()) {
      reply.addItems(
          Shoppingcart.LineItem.newBuilder()
              .setProductId(item.getProductId())
              .setName(item.getName())
              .setQuantity(item.getQuantity()));
    }
    return reply.build();
  }

  @CommandHandler
  public Empty addItem(Shoppingcart.AddLineItem item, CommandContext ctx) {
    if (item.getQuantity() < 1) {
      // fail() throws: nothing is emitted and the client gets the failure text.
      ctx.fail("Cannot add negative quantity to item " + item.getProductId());
    }
    ctx.emit(
        Domain.ItemAdded.newBuilder()
            .setItem(
                Domain.LineItem.newBuilder()
                    .setProductId(item.getProductId())
                    .setName(item.getName())
                    .setQuantity(item.getQuantity()))
            .build());
    return Empty.getDefaultInstance();
  }

  @CommandHandler
  public Empty removeItem(Shoppingcart.RemoveLineItem item, CommandContext ctx) {
    if (!cart.containsKey(item.getProductId())) {
      ctx.fail("Item " + item.getProductId() + " not in cart");
    }
    ctx.emit(Domain.ItemRemoved.newBuilder().setProductId(item.getProductId()).build());
    return Empty.getDefaultInstance();
  }
}
