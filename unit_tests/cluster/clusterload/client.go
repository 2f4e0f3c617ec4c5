package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// An outcome is what the client knows about one logical operation after all its attempts.
type outcome int

const (
	// outcomeOK: an attempt answered with the counter's value.
	outcomeOK outcome = iota
	// outcomeFailed: every attempt was refused before the server could have applied it (no connection, or a 4xx),
	// so the operation certainly did not happen.
	outcomeFailed
	// outcomeUnknown: at least one attempt may have reached the entity (a timeout, a dropped connection after the
	// request was sent, a 5xx) and none succeeded before the op deadline: it may or may not have happened.
	outcomeUnknown
)

func (o outcome) String() string {
	switch o {
	case outcomeOK:
		return "ok"
	case outcomeFailed:
		return "failed"
	default:
		return "unknown"
	}
}

// clientConfig holds the per-attempt and per-operation time limits.
type clientConfig struct {
	requestTimeout time.Duration
	opDeadline     time.Duration
	// retryBackoff is the pause after every endpoint has failed once more, so that a cluster with no live member is
	// not hammered in a tight loop; it doubles up to maxBackoff.
	retryBackoff time.Duration
	maxBackoff   time.Duration
	// ejectFor: an endpoint that gave no answer to an attempt (no connection, or no reply within the request timeout)
	// is skipped for this long, as a load balancer's outlier detection or a Kubernetes readiness probe takes a hung or
	// dead member out of rotation; with every endpoint out, the client tries them anyway. 0: plain round robin, where
	// a SIGSTOPped member's port (its kernel still accepts connections) costs a request timeout on every third
	// attempt of every client for as long as it is stopped.
	ejectFor time.Duration
}

// endpointStats counts what each member answered, to show in the report which member misbehaved.
type endpointStats struct {
	Attempts  int64 `json:"attempts"`
	Succeeded int64 `json:"succeeded"`
	Errors    int64 `json:"errors"`
	// FirstErrors: the first few failed attempts' errors (retried ones included), to tell what the errors were.
	FirstErrors []string `json:"first_errors,omitempty"`
}

// counterClient sends counter commands to a set of equivalent endpoints (any member accepts any key), moving to the
// next endpoint after an attempt fails.
type counterClient struct {
	endpoints []string
	config    clientConfig
	http      *http.Client
	next      atomic.Uint64
	statsMu   sync.Mutex
	stats     map[string]*endpointStats
	// ejectedUntil: per endpoint, until when it is out of rotation (config.ejectFor); guarded by ejectMu.
	ejectMu      sync.Mutex
	ejectedUntil map[string]time.Time
}

func newCounterClient(endpoints []string, config clientConfig, maxConnsPerHost int) *counterClient {
	transport := &http.Transport{
		// Each attempt has its own deadline (the request context); the dial must fail fast on a dead member so that
		// the next endpoint still gets its chance within the op deadline.
		DialContext:         (&net.Dialer{Timeout: config.requestTimeout}).DialContext,
		MaxIdleConnsPerHost: maxConnsPerHost,
		IdleConnTimeout:     30 * time.Second,
	}
	stats := make(map[string]*endpointStats, len(endpoints))
	for _, endpoint := range endpoints {
		stats[endpoint] = &endpointStats{}
	}
	return &counterClient{endpoints: endpoints, config: config, http: &http.Client{Transport: transport}, stats: stats,
		ejectedUntil: make(map[string]time.Time, len(endpoints))}
}

// pick returns the next endpoint in rotation that is not ejected, or the next one if all are.
func (c *counterClient) pick() string {
	n := uint64(len(c.endpoints))
	start := c.next.Add(1)
	if c.config.ejectFor <= 0 {
		return c.endpoints[start%n]
	}
	now := time.Now()
	c.ejectMu.Lock()
	defer c.ejectMu.Unlock()
	for i := uint64(0); i < n; i++ {
		if endpoint := c.endpoints[(start+i)%n]; !now.Before(c.ejectedUntil[endpoint]) {
			return endpoint
		}
	}
	return c.endpoints[start%n]
}

// eject takes an endpoint that gave no answer out of rotation for config.ejectFor.
func (c *counterClient) eject(endpoint string) {
	if c.config.ejectFor <= 0 {
		return
	}
	c.ejectMu.Lock()
	c.ejectedUntil[endpoint] = time.Now().Add(c.config.ejectFor)
	c.ejectMu.Unlock()
}

// opResult is the client's view of one logical operation.
type opResult struct {
	outcome outcome
	value   int64 // a counter's answer
	// cartItems is GetCart's answer.
	cartItems []cartLine
	attempts  int
	// ambiguousAttempts counts failed attempts that may have been applied: after a success, more than zero means
	// only the idempotency key kept the retry from applying the op twice.
	ambiguousAttempts int
	// lastError describes the last failed attempt (empty after a success on the first attempt), ambiguousError the
	// first that may have been applied (the one that makes an outcome unknown).
	lastError      string
	ambiguousError string
}

// attemptError classifies a failed attempt: whether the request could have been applied by the server.
type attemptError struct {
	mayHaveApplied bool
	// noAnswer: the endpoint answered nothing (no connection, a reset, no reply in time), unlike an HTTP error.
	noAnswer bool
	// retryable is false for answers that a retry cannot change (a 4xx other than a timeout).
	retryable bool
	message   string
}

func (e *attemptError) Error() string { return e.message }

// newIdempotencyKey returns a random UUID (version 4): the server keeps the reply of the first attempt under it, so
// a retry of the same logical operation is answered without applying it twice.
func newIdempotencyKey() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// add applies delta to the counter key, retrying with one idempotency key until the op deadline.
func (c *counterClient) add(ctx context.Context, key string, delta int64) opResult {
	return c.counterOp(ctx, "/counter/"+key+"/add", strconv.FormatInt(delta, 10))
}

// get reads the counter key, retrying until the op deadline.
func (c *counterClient) get(ctx context.Context, key string) opResult {
	return c.counterOp(ctx, "/counter/"+key+"/get", "{}")
}

func (c *counterClient) counterOp(ctx context.Context, path, body string) opResult {
	var value int64
	result := c.do(ctx, http.MethodPost, path, body, func(payload []byte) (err error) {
		value, err = parseCounterValue(payload)
		return err
	})
	result.value = value
	return result
}

// addCartItem is the shopping cart's AddItem (POST /cart/{user_id}/items/add): quantity 1 of product, retried with
// one idempotency key until the op deadline like a counter add.
func (c *counterClient) addCartItem(ctx context.Context, cart, product string) opResult {
	body, _ := json.Marshal(map[string]any{"productId": product, "name": product, "quantity": 1})
	return c.do(ctx, http.MethodPost, "/cart/"+cart+"/items/add", string(body), func(payload []byte) error {
		var empty map[string]json.RawMessage
		if err := json.Unmarshal(payload, &empty); err != nil {
			return fmt.Errorf("AddItem reply %q is not a JSON object", snippet(payload))
		}
		return nil
	})
}

// getCart is the shopping cart's GetCart (GET /carts/{user_id}); the items are in the result's cartItems.
func (c *counterClient) getCart(ctx context.Context, cart string) opResult {
	var items []cartLine
	result := c.do(ctx, http.MethodGet, "/carts/"+cart, "", func(payload []byte) (err error) {
		items, err = parseCart(payload)
		return err
	})
	result.cartItems = items
	return result
}

// parseCart reads GetCart's JSON reply, {"items":[{"productId":..,"name":..,"quantity":..}]}; an empty cart may
// leave "items" out.
func parseCart(payload []byte) ([]cartLine, error) {
	var cart struct {
		Items []cartLine `json:"items"`
	}
	if err := json.Unmarshal(payload, &cart); err != nil {
		return nil, fmt.Errorf("reply %q is not a cart: %v", snippet(payload), err)
	}
	if cart.Items == nil {
		cart.Items = []cartLine{}
	}
	return cart.Items, nil
}

// do runs one logical operation: attempts on the endpoints in turn with one idempotency key, until one answers, the
// answer says a retry cannot help, or the op deadline passes. parse reads a successful reply (an error from it is
// a reply the client does not understand).
func (c *counterClient) do(ctx context.Context, method, path, body string, parse func([]byte) error) opResult {
	opCtx, cancel := context.WithTimeout(ctx, c.config.opDeadline)
	defer cancel()
	idempotencyKey := newIdempotencyKey()
	result := opResult{outcome: outcomeFailed}
	backoff := c.config.retryBackoff
	for {
		endpoint := c.pick()
		result.attempts++
		err := c.attempt(opCtx, endpoint, method, path, body, idempotencyKey, parse)
		if err == nil {
			result.outcome = outcomeOK
			return result
		}
		result.lastError = endpoint + ": " + err.message
		if err.mayHaveApplied {
			result.outcome = outcomeUnknown
			result.ambiguousAttempts++
			if result.ambiguousError == "" {
				result.ambiguousError = result.lastError
			}
		}
		if !err.retryable {
			return result
		}
		if result.attempts%len(c.endpoints) != 0 {
			// Another member may well answer at once: no pause before trying it.
			if opCtx.Err() != nil {
				return result
			}
			continue
		}
		select {
		case <-opCtx.Done():
			return result
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, c.config.maxBackoff)
	}
}

// attempt sends one request to one endpoint, bounded by the request timeout and what is left of the op deadline.
func (c *counterClient) attempt(opCtx context.Context, endpoint, method, path, body, idempotencyKey string,
	parse func([]byte) error) *attemptError {
	stats := c.stats[endpoint]
	c.statsMu.Lock()
	stats.Attempts++
	c.statsMu.Unlock()
	err := c.send(opCtx, endpoint, method, path, body, idempotencyKey, parse)
	if err != nil && err.noAnswer {
		c.eject(endpoint)
	}
	c.statsMu.Lock()
	if err == nil {
		stats.Succeeded++
	} else {
		stats.Errors++
		if len(stats.FirstErrors) < 5 {
			stats.FirstErrors = append(stats.FirstErrors, err.message)
		}
	}
	c.statsMu.Unlock()
	return err
}

func (c *counterClient) send(opCtx context.Context, endpoint, method, path, body, idempotencyKey string,
	parse func([]byte) error) *attemptError {
	ctx, cancel := context.WithTimeout(opCtx, c.config.requestTimeout)
	defer cancel()
	request, err := http.NewRequestWithContext(ctx, method, "http://"+endpoint+path, strings.NewReader(body))
	if err != nil {
		return &attemptError{retryable: false, message: err.Error()}
	}
	request.Header.Set("Content-Type", "application/json")
	request.Header.Set("Idempotency-Key", idempotencyKey)
	// The server can apply only a request it received whole: until it is written, a failure (a refused dial, a
	// deadline that ran out while connecting) leaves no doubt that the op did not happen.
	var written atomic.Bool
	request = request.WithContext(httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		WroteRequest: func(info httptrace.WroteRequestInfo) { written.Store(info.Err == nil) },
	}))
	response, err := c.http.Do(request)
	if err != nil {
		// The URL (with the key) is in every such error: without it, the report's sample of errors is one per kind.
		var urlError *url.Error
		if errors.As(err, &urlError) {
			err = urlError.Err
		}
		return &attemptError{mayHaveApplied: written.Load(), retryable: true, noAnswer: opCtx.Err() == nil,
			message: err.Error()}
	}
	defer response.Body.Close()
	payload, err := io.ReadAll(io.LimitReader(response.Body, 1<<20))
	if err != nil {
		return &attemptError{mayHaveApplied: true, retryable: true, message: "reading the reply: " + err.Error()}
	}
	switch {
	case response.StatusCode == http.StatusOK:
		if err := parse(payload); err != nil {
			// The command was applied but the reply is unreadable: a bug to see, not to retry.
			return &attemptError{mayHaveApplied: true, retryable: false, message: err.Error()}
		}
		return nil
	case response.StatusCode >= 500 || response.StatusCode == http.StatusRequestTimeout ||
		response.StatusCode == http.StatusTooManyRequests:
		// UNAVAILABLE (503) and DEADLINE_EXCEEDED (504) during a failover, or a member that lost its shard while
		// applying: the command may have been applied, so the retry carries the same idempotency key.
		return &attemptError{mayHaveApplied: true, retryable: true,
			message: fmt.Sprintf("HTTP %d: %s", response.StatusCode, snippet(payload))}
	default:
		return &attemptError{mayHaveApplied: false, retryable: false,
			message: fmt.Sprintf("HTTP %d: %s", response.StatusCode, snippet(payload))}
	}
}

// parseCounterValue accepts the counter's int64 as a JSON number or, as the JSON mapping of int64 has it, a string.
func parseCounterValue(payload []byte) (int64, error) {
	trimmed := bytes.TrimSpace(payload)
	var text string
	if err := json.Unmarshal(trimmed, &text); err == nil {
		value, err := strconv.ParseInt(text, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("counter value %q is not an int64", text)
		}
		return value, nil
	}
	var number json.Number
	decoder := json.NewDecoder(bytes.NewReader(trimmed))
	decoder.UseNumber()
	if err := decoder.Decode(&number); err != nil {
		return 0, fmt.Errorf("reply %q is not a counter value", snippet(payload))
	}
	value, err := number.Int64()
	if err != nil {
		return 0, fmt.Errorf("counter value %q is not an int64", number)
	}
	return value, nil
}

func snippet(payload []byte) string {
	const limit = 200
	text := strings.TrimSpace(string(payload))
	if len(text) > limit {
		return text[:limit] + "..."
	}
	return text
}

func (c *counterClient) endpointStats() map[string]endpointStats {
	c.statsMu.Lock()
	defer c.statsMu.Unlock()
	copied := make(map[string]endpointStats, len(c.stats))
	for endpoint, stats := range c.stats {
		s := *stats
		s.FirstErrors = append([]string(nil), stats.FirstErrors...)
		copied[endpoint] = s
	}
	return copied
}
