package com.example.shoppingcart;

import com.example.shoppingcart.persistence.Domain;
import io.cloudstate.javasupport.CloudState;

/**
 * Serves the shopping cart to a Cloudstate proxy. The support library listens on $HOST:$PORT (its reference.conf:
 * cloudstate.user-function-interface / user-function-port, defaults 127.0.0.1:8080).
 */
public final class Main {
  private Main() {}

  public static void main(String[] args) throws Exception {
    new CloudState()
        .registerEventSourcedEntity(
            ShoppingCartEntity.class,
            Shoppingcart.getDescriptor().findServiceByName("ShoppingCart"),
            Domain.getDescriptor())
        .start()
        .toCompletableFuture()
        .get();
  }
}
