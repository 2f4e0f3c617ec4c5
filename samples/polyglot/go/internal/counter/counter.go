// Package counter is the repository's counter (samples/counter) as a value entity of the Go support library:
// actorstate.samples.counter.Counter, one int64 per key, persistence id "counter".
package counter

import (
	"fmt"

	"github.com/cloudstateio/go-support/cloudstate/encoding"
	"github.com/cloudstateio/go-support/cloudstate/protocol"
	"github.com/cloudstateio/go-support/cloudstate/value"
	"github.com/golang/protobuf/proto"
	"github.com/golang/protobuf/ptypes/any"

	pb "actorstate/samples/polyglot/go/build/gen/counter"
)

// Entity is the registration of the counter with the Cloudstate server.
func Entity() *value.Entity {
	return &value.Entity{
		ServiceName:   "actorstate.samples.counter.Counter",
		PersistenceID: "counter",
		EntityFunc:    New,
	}
}

// Counter is one key's value.
type Counter struct {
	value int64
}

// New is the entity factory: 0 for every key until the proxy hands over a stored state.
func New(value.EntityID) value.EntityHandler {
	return &Counter{}
}

// HandleState takes the state the proxy stored.
func (c *Counter) HandleState(_ *value.Context, state *any.Any) error {
	stored := &pb.Value{}
	if err := encoding.UnmarshalAny(state, stored); err != nil {
		return err
	}
	c.value = stored.GetValue()
	return nil
}

// HandleCommand answers Add (stores value + delta and answers it) and Get.
func (c *Counter) HandleCommand(ctx *value.Context, name string, cmd proto.Message) (*any.Any, error) {
	switch cmd := cmd.(type) {
	case *pb.AddRequest:
		next := &pb.Value{Value: c.value + cmd.GetDelta()}
		if err := ctx.Update(encoding.MarshalAny(next)); err != nil {
			return nil, err
		}
		c.value = next.GetValue()
		return encoding.MarshalAny(next)
	case *pb.GetRequest:
		return encoding.MarshalAny(&pb.Value{Value: c.value})
	}
	return nil, protocol.ClientError{Err: fmt.Errorf("unknown command %s", name)}
}
