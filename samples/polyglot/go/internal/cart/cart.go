// Package cart is the Cloudstate shopping cart as an event-sourced entity of the Go support library: commands
// AddItem, RemoveItem and GetCart of com.example.shoppingcart.ShoppingCart, events ItemAdded and ItemRemoved, the
// snapshot Cart (com.example.shoppingcart.persistence), persistence id "shopping-cart", a snapshot every 5 events.
package cart

import (
	"errors"
	"fmt"

	"github.com/cloudstateio/go-support/cloudstate/eventsourced"
	"github.com/golang/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"

	api "actorstate/samples/polyglot/go/build/gen/shoppingcart"
	domain "actorstate/samples/polyglot/go/build/gen/shoppingcart/persistence"
)

// Entity is the registration of the cart with the Cloudstate server.
func Entity() *eventsourced.Entity {
	return &eventsourced.Entity{
		ServiceName:   "com.example.shoppingcart.ShoppingCart",
		PersistenceID: "shopping-cart",
		SnapshotEvery: 5,
		EntityFunc:    New,
	}
}

// Cart is one user's cart: its items in first-added order.
type Cart struct {
	items []*domain.LineItem
}

// New is the entity factory: an empty cart for every user id.
func New(eventsourced.EntityID) eventsourced.EntityHandler {
	return &Cart{}
}

// HandleCommand validates a command against the state and emits its events; the library applies them with
// HandleEvent at once. A returned error is a failure for the client, with the error's text.
func (c *Cart) HandleCommand(ctx *eventsourced.Context, name string, cmd proto.Message) (proto.Message, error) {
	switch cmd := cmd.(type) {
	case *api.AddLineItem:
		if cmd.GetQuantity() < 1 {
			return nil, errors.New("Cannot add negative quantity to item " + cmd.GetProductId())
		}
		ctx.Emit(&domain.ItemAdded{Item: &domain.LineItem{
			ProductId: cmd.GetProductId(),
			Name:      cmd.GetName(),
			Quantity:  cmd.GetQuantity(),
		}})
		return &emptypb.Empty{}, nil
	case *api.RemoveLineItem:
		if c.find(cmd.GetProductId()) < 0 {
			return nil, errors.New("Item " + cmd.GetProductId() + " not in cart")
		}
		ctx.Emit(&domain.ItemRemoved{ProductId: cmd.GetProductId()})
		return &emptypb.Empty{}, nil
	case *api.GetShoppingCart:
		reply := &api.Cart{}
		for _, item := range c.items {
			reply.Items = append(reply.Items, &api.LineItem{
				ProductId: item.GetProductId(),
				Name:      item.GetName(),
				Quantity:  item.GetQuantity(),
			})
		}
		return reply, nil
	}
	return nil, fmt.Errorf("unknown command %s", name)
}

// HandleEvent is the only place the state changes: for replayed events and for those a command emits.
func (c *Cart) HandleEvent(_ *eventsourced.Context, event interface{}) error {
	switch event := event.(type) {
	case *domain.ItemAdded:
		if i := c.find(event.GetItem().GetProductId()); i >= 0 {
			c.items[i].Quantity += event.GetItem().GetQuantity()
		} else {
			c.items = append(c.items, proto.Clone(event.GetItem()).(*domain.LineItem))
		}
		return nil
	case *domain.ItemRemoved:
		if i := c.find(event.GetProductId()); i >= 0 {
			c.items = append(c.items[:i], c.items[i+1:]...)
		}
		return nil
	}
	return fmt.Errorf("unknown event %T", event)
}

// Snapshot is the whole state, taken by the library every 5 events.
func (c *Cart) Snapshot(*eventsourced.Context) (interface{}, error) {
	snapshot := &domain.Cart{}
	for _, item := range c.items {
		snapshot.Items = append(snapshot.Items, proto.Clone(item).(*domain.LineItem))
	}
	return snapshot, nil
}

// HandleSnapshot replaces the state with a snapshot the proxy sends when the entity starts.
func (c *Cart) HandleSnapshot(_ *eventsourced.Context, snapshot interface{}) error {
	cart, ok := snapshot.(*domain.Cart)
	if !ok {
		return fmt.Errorf("unknown snapshot %T", snapshot)
	}
	c.items = c.items[:0]
	for _, item := range cart.GetItems() {
		c.items = append(c.items, proto.Clone(item).(*domain.LineItem))
	}
	return nil
}

func (c *Cart) find(productID string) int {
	for i, item := range c.items {
		if item.GetProductId() == productID {
			return i
		}
	}
	return -1
}
