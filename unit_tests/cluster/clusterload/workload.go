package main

import (
	"context"
	"math/rand/v2"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// loadConfig bounds the load in time and in count: a loop stops starting ops when either runs out.
type loadConfig struct {
	clients  int
	duration time.Duration
	maxOps   int64
	hotKey   string
	runID    string
	// cartClients send shopping-cart commands to carts carts (none when 0), besides the clients' counter commands.
	cartClients int
	carts       int
}

// clientLog is what one client recorded; each client appends only to its own, so the load needs no shared lock.
type clientLog struct {
	ownKey    string
	ownCount  ownKeyCount
	hotOps    []hotOp
	completed []completedOp
	latencies []time.Duration
	counts    opCounts
	// A cart client's AddItems and successful GetCarts.
	cartAdds  []cartAdd
	cartReads []cartRead
}

// opCounts counts logical operations (own key, hot key and carts together) by what became of them.
type opCounts struct {
	Done    int64 `json:"done"`
	OK      int64 `json:"ok"`
	Failed  int64 `json:"failed"`
	Unknown int64 `json:"unknown"`
	// Retried: ops that needed more than one attempt, whatever their outcome.
	Retried int64 `json:"retried"`
	// RetriedAfterAmbiguous: successful ops retried after an attempt that may have been applied; each is counted
	// once only if the server honours idempotency keys.
	RetriedAfterAmbiguous int64 `json:"retried_after_ambiguous"`
}

func (c *opCounts) add(other opCounts) {
	c.Done += other.Done
	c.OK += other.OK
	c.Failed += other.Failed
	c.Unknown += other.Unknown
	c.Retried += other.Retried
	c.RetriedAfterAmbiguous += other.RetriedAfterAmbiguous
}

func (c *opCounts) record(result opResult) {
	c.Done++
	switch result.outcome {
	case outcomeOK:
		c.OK++
	case outcomeFailed:
		c.Failed++
	default:
		c.Unknown++
	}
	if result.attempts > 1 {
		c.Retried++
	}
	if result.outcome == outcomeOK && result.ambiguousAttempts > 0 {
		c.RetriedAfterAmbiguous++
	}
}

// loadResult is every client's log merged, with the load's start on both clocks.
type loadResult struct {
	startWall time.Time
	loadEnd   int64 // nanoseconds since the start, when the last client stopped
	hotOps    []hotOp
	ownCounts []ownKeyCount
	completed []completedOp
	latencies []time.Duration
	counts    opCounts
	// lastErrors: a few distinct errors of failed attempts, to tell in the report what went wrong.
	lastErrors []string
	// carts: every cart the cart clients may have used; cartAdds and cartReads (successful GetCarts during the load)
	// are every cart client's, by call time.
	carts     []string
	cartAdds  []cartAdd
	cartReads []cartRead
}

func ownKeyName(client int, runID string) string {
	return "own-" + strconv.Itoa(client) + "-" + runID
}

func cartName(runID string, cart int) string {
	return "cart-" + runID + "-" + strconv.Itoa(cart)
}

// productName is the product of a cart client's nth AddItem: unique in the run, the op's identity in the cart.
func productName(client, n int) string {
	return "p-" + strconv.Itoa(client) + "-" + strconv.Itoa(n)
}

// recordCommon adds what every finished op contributes to the client's log: its count, time, entity (the counter
// key or cart id it addressed) and errors.
func (log *clientLog) recordCommon(entity string, call, ret int64, result opResult, errorSet *errorSample) {
	log.counts.record(result)
	log.completed = append(log.completed, completedOp{call: call, ret: ret, ok: result.outcome == outcomeOK,
		entity: entity})
	if result.outcome == outcomeOK {
		log.latencies = append(log.latencies, time.Duration(ret-call))
	} else {
		errorSet.add(result.lastError)
	}
	errorSet.add(result.ambiguousError)
}

// record adds one finished counter op on key to the client's log.
func (log *clientLog) record(client int, kind, key string, onHotKey bool, call, ret int64, result opResult,
	errorSet *errorSample) {
	log.recordCommon(key, call, ret, result, errorSet)
	if onHotKey {
		op := hotOp{Client: client, Kind: kind, Call: call, Return: ret, Outcome: result.outcome.String(),
			Value: result.value, Attempts: result.attempts, AmbiguousAttempts: result.ambiguousAttempts,
			AmbiguousError: result.ambiguousError, LastError: result.lastError}
		if kind == "add" {
			op.Delta = 1
		}
		log.hotOps = append(log.hotOps, op)
		return
	}
	switch result.outcome {
	case outcomeOK:
		log.ownCount.Acknowledged++
	case outcomeUnknown:
		log.ownCount.Unknown++
	}
}

// recordCart adds one finished cart op to the client's log: an AddItem of product (empty for a GetCart).
func (log *clientLog) recordCart(cart, product string, call, ret int64, result opResult, errorSet *errorSample) {
	log.recordCommon(cart, call, ret, result, errorSet)
	if product != "" {
		log.cartAdds = append(log.cartAdds, cartAdd{Cart: cart, Product: product, Outcome: result.outcome.String(),
			Call: call, Return: ret})
	} else if result.outcome == outcomeOK {
		log.cartReads = append(log.cartReads, cartRead{Cart: cart, Call: call, Items: result.cartItems})
	}
}

// cartReadEvery: one cart op in this many is a GetCart, the others AddItems.
const cartReadEvery = 5

// runLoad starts the clients; each alternates an add on its own key with an add or get on the hot key, and each
// cart client sends AddItems of new products (and now and then a GetCart) to carts picked at random, until the
// duration is over, maxOps ops have been started across all clients, or ctx is cancelled.
func runLoad(ctx context.Context, client *counterClient, config loadConfig) loadResult {
	start := time.Now()
	since := func() int64 { return int64(time.Since(start)) }
	var started atomic.Int64
	logs := make([]clientLog, config.clients+config.cartClients)
	errorSet := newErrorSample(8)
	var wg sync.WaitGroup
	for id := 0; id < config.clients; id++ {
		wg.Add(1)
		go func(id int) {
			defer wg.Done()
			log := &logs[id]
			log.ownKey = ownKeyName(id, config.runID)
			log.ownCount.Key = log.ownKey
			random := rand.New(rand.NewPCG(uint64(start.UnixNano()), uint64(id)))
			for turn := 0; ctx.Err() == nil && time.Since(start) < config.duration; turn++ {
				if started.Add(1) > config.maxOps {
					return
				}
				call := since()
				var result opResult
				onHotKey := turn%2 == 1
				kind := "add"
				if onHotKey && random.IntN(2) == 0 {
					kind = "get"
				}
				key := log.ownKey
				if onHotKey {
					key = config.hotKey
				}
				if kind == "get" {
					result = client.get(ctx, key)
				} else {
					result = client.add(ctx, key, 1)
				}
				log.record(id, kind, key, onHotKey, call, since(), result, errorSet)
			}
		}(id)
	}
	for id := config.clients; id < config.clients+config.cartClients; id++ {
		wg.Add(1)
		go func(id int) {
			defer wg.Done()
			log := &logs[id]
			random := rand.New(rand.NewPCG(uint64(start.UnixNano()), uint64(id)))
			for n := 0; ctx.Err() == nil && time.Since(start) < config.duration; n++ {
				if started.Add(1) > config.maxOps {
					return
				}
				cart := cartName(config.runID, random.IntN(config.carts))
				product := ""
				call := since()
				var result opResult
				if random.IntN(cartReadEvery) == 0 {
					result = client.getCart(ctx, cart)
				} else {
					product = productName(id, n)
					result = client.addCartItem(ctx, cart, product)
				}
				log.recordCart(cart, product, call, since(), result, errorSet)
			}
		}(id)
	}
	wg.Wait()
	result := loadResult{startWall: start, loadEnd: since(), lastErrors: errorSet.list()}
	if config.cartClients > 0 {
		for cart := 0; cart < config.carts; cart++ {
			result.carts = append(result.carts, cartName(config.runID, cart))
		}
	}
	for i := range logs {
		result.cartAdds = append(result.cartAdds, logs[i].cartAdds...)
		result.cartReads = append(result.cartReads, logs[i].cartReads...)
		result.hotOps = append(result.hotOps, logs[i].hotOps...)
		if i < config.clients { // a cart client has no own key
			result.ownCounts = append(result.ownCounts, logs[i].ownCount)
		}
		result.completed = append(result.completed, logs[i].completed...)
		result.latencies = append(result.latencies, logs[i].latencies...)
		result.counts.add(logs[i].counts)
	}
	sort.Slice(result.hotOps, func(i, j int) bool { return result.hotOps[i].Call < result.hotOps[j].Call })
	sort.Slice(result.latencies, func(i, j int) bool { return result.latencies[i] < result.latencies[j] })
	return result
}

// readFinal reads a counter once the load has stopped, trying again (each try bounded by the op deadline) so that
// a cluster still recovering from a fault gets its chance; nil when every try failed.
func readFinal(ctx context.Context, client *counterClient, key string, tries int) (*int64, string) {
	lastError := ""
	for try := 0; try < tries && ctx.Err() == nil; try++ {
		result := client.get(ctx, key)
		if result.outcome == outcomeOK {
			value := result.value
			return &value, ""
		}
		lastError = result.lastError
	}
	return nil, lastError
}

// readFinalCart reads a cart once the load has stopped, tried like readFinal; nil when every try failed.
func readFinalCart(ctx context.Context, client *counterClient, cart string, tries int) ([]cartLine, string) {
	lastError := ""
	for try := 0; try < tries && ctx.Err() == nil; try++ {
		result := client.getCart(ctx, cart)
		if result.outcome == outcomeOK {
			return result.cartItems, ""
		}
		lastError = result.lastError
	}
	return nil, lastError
}

// errorSample keeps the first few distinct error messages.
type errorSample struct {
	mu       sync.Mutex
	limit    int
	messages []string
	seen     map[string]bool
}

func newErrorSample(limit int) *errorSample {
	return &errorSample{limit: limit, seen: map[string]bool{}}
}

func (s *errorSample) add(message string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if message == "" || s.seen[message] || len(s.messages) >= s.limit {
		return
	}
	s.seen[message] = true
	s.messages = append(s.messages, message)
}

func (s *errorSample) list() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.messages...)
}
