// The Go user function of the polyglot samples: the Cloudstate shopping cart (event-sourced), the counter (value
// entity) and a small action, written with the Cloudstate Go support library (github.com/cloudstateio/go-support)
// and served on $HOST:$PORT to actorstate-proxy (or any Cloudstate 0.2 proxy).
package main

import (
	"log"

	"github.com/cloudstateio/go-support/cloudstate"
	"github.com/cloudstateio/go-support/cloudstate/protocol"

	"actorstate/samples/polyglot/go/internal/cart"
	"actorstate/samples/polyglot/go/internal/cartactions"
	"actorstate/samples/polyglot/go/internal/counter"
)

func main() {
	server, err := cloudstate.New(protocol.Config{ServiceName: "polyglot-go", ServiceVersion: "0.1.0"})
	if err != nil {
		log.Fatalf("cloudstate.New: %v", err)
	}
	// Each entity names the proto file of its service (as registered by the generated code) and the files of the
	// messages it persists; the library adds their imports to the descriptor set it sends on discovery.
	if err := server.RegisterEventSourced(cart.Entity(), protocol.DescriptorConfig{
		Service: "shoppingcart/shoppingcart.proto",
	}.AddDomainDescriptor("shoppingcart/persistence/domain.proto")); err != nil {
		log.Fatalf("register the cart: %v", err)
	}
	if err := server.RegisterValueEntity(counter.Entity(), protocol.DescriptorConfig{
		Service: "counter/counter.proto",
	}); err != nil {
		log.Fatalf("register the counter: %v", err)
	}
	if err := server.RegisterAction(cartactions.Entity(), protocol.DescriptorConfig{
		Service: "cartactions/cart_actions.proto",
	}); err != nil {
		log.Fatalf("register the cart actions: %v", err)
	}
	// Run listens on $HOST:$PORT and serves until the process ends.
	if err := server.Run(); err != nil {
		log.Fatalf("run: %v", err)
	}
}
