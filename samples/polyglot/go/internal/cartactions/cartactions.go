// Package cartactions is a small action (the stateless entity type of Cloudstate) beside the cart:
// actorstate.samples.polyglot.CartActions/AddOne forwards to ShoppingCart/AddItem with quantity 1.
package cartactions

import (
	"fmt"

	"github.com/cloudstateio/go-support/cloudstate/action"
	"github.com/cloudstateio/go-support/cloudstate/encoding"
	"github.com/cloudstateio/go-support/cloudstate/protocol"
	"github.com/golang/protobuf/proto"

	pb "actorstate/samples/polyglot/go/build/gen/cartactions"
	cart "actorstate/samples/polyglot/go/build/gen/shoppingcart"
)

// Entity is the registration of the action with the Cloudstate server.
func Entity() *action.Entity {
	return &action.Entity{
		ServiceName: "actorstate.samples.polyglot.CartActions",
		EntityFunc:  func() action.EntityHandler { return &CartActions{} },
	}
}

// CartActions handles one call at a time and keeps nothing.
type CartActions struct{}

// HandleCommand forwards AddOne to the cart; the cart's reply (or failure) is the client's.
func (*CartActions) HandleCommand(ctx *action.Context, name string, cmd proto.Message) error {
	switch cmd := cmd.(type) {
	case *pb.AddOneRequest:
		payload, err := encoding.MarshalAny(&cart.AddLineItem{
			UserId:    cmd.GetUserId(),
			ProductId: cmd.GetProductId(),
			Name:      cmd.GetName(),
			Quantity:  1,
		})
		if err != nil {
			return err
		}
		ctx.Forward(&protocol.Forward{
			ServiceName: "com.example.shoppingcart.ShoppingCart",
			CommandName: "AddItem",
			Payload:     payload,
		})
		return nil
	}
	return protocol.ClientError{Err: fmt.Errorf("unknown command %s", name)}
}
