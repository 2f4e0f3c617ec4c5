package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeCounter is an in-process counter and shopping-cart server with the real one's HTTP API and idempotency keys: a
// retried key is answered with the stored reply. Its hooks inject the faults the tests need, in both.
type fakeCounter struct {
	mu       sync.Mutex
	values   map[string]int64
	replies  map[string]int64            // idempotency key -> reply
	attempts map[string]int              // idempotency key -> attempts seen
	carts    map[string]map[string]int64 // cart -> product -> quantity
	applied  map[string]bool             // idempotency key -> an AddItem applied under it
	// dropFirstReply applies a command, then closes the connection without answering its first attempt: the reply
	// is lost on the way back, the case retries by idempotency key exist for.
	dropFirstReply bool
	// ignoreIdempotency applies every attempt, as a server without idempotency keys would.
	ignoreIdempotency bool
	// loseEveryNthAdd acknowledges every nth add (counter add or AddItem) without applying it (0: never).
	loseEveryNthAdd int
	adds            int
}

func newFakeCounter() *fakeCounter {
	return &fakeCounter{values: map[string]int64{}, replies: map[string]int64{}, attempts: map[string]int{},
		carts: map[string]map[string]int64{}, applied: map[string]bool{}}
}

func (f *fakeCounter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if parts[0] == "cart" || parts[0] == "carts" {
		f.serveCart(w, r, parts)
		return
	}
	if r.Method != http.MethodPost || len(parts) != 3 || parts[0] != "counter" {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	if r.Header.Get("Content-Type") != "application/json" {
		http.Error(w, "Content-type must be application/json!", http.StatusBadRequest)
		return
	}
	body, _ := io.ReadAll(r.Body)
	key, command, idempotencyKey := parts[1], parts[2], r.Header.Get("Idempotency-Key")
	f.mu.Lock()
	f.attempts[idempotencyKey]++
	firstAttempt := f.attempts[idempotencyKey] == 1
	reply, replayed := f.replies[idempotencyKey]
	if !replayed || f.ignoreIdempotency {
		switch command {
		case "add":
			delta, err := strconv.ParseInt(string(bytes.TrimSpace(body)), 10, 64)
			if err != nil {
				f.mu.Unlock()
				http.Error(w, "bad delta", http.StatusBadRequest)
				return
			}
			f.adds++
			if f.loseEveryNthAdd == 0 || f.adds%f.loseEveryNthAdd != 0 {
				f.values[key] += delta
				reply = f.values[key]
			} else {
				reply = f.values[key] + delta
			}
		case "get":
			reply = f.values[key]
		}
		f.replies[idempotencyKey] = reply
	}
	drop := f.dropFirstReply && firstAttempt
	f.mu.Unlock()
	if drop {
		hangUp(w)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `"`+strconv.FormatInt(reply, 10)+`"`)
}

// serveCart is the shopping cart's AddItem (POST /cart/{id}/items/add) and GetCart (GET /carts/{id}).
func (f *fakeCounter) serveCart(w http.ResponseWriter, r *http.Request, parts []string) {
	switch {
	case r.Method == http.MethodGet && len(parts) == 2 && parts[0] == "carts":
		f.mu.Lock()
		items := []cartLine{}
		for product, quantity := range f.carts[parts[1]] {
			items = append(items, cartLine{ProductID: product, Name: product, Quantity: quantity})
		}
		f.mu.Unlock()
		reply, _ := json.Marshal(map[string]any{"items": items})
		w.Header().Set("Content-Type", "application/json")
		w.Write(reply)
	case r.Method == http.MethodPost && len(parts) == 4 && parts[0] == "cart" && parts[2] == "items" &&
		parts[3] == "add":
		var item cartLine
		if err := json.NewDecoder(r.Body).Decode(&item); err != nil || item.ProductID == "" || item.Quantity < 1 {
			http.Error(w, "bad item", http.StatusBadRequest)
			return
		}
		idempotencyKey := r.Header.Get("Idempotency-Key")
		f.mu.Lock()
		f.attempts[idempotencyKey]++
		firstAttempt := f.attempts[idempotencyKey] == 1
		if !f.applied[idempotencyKey] || f.ignoreIdempotency {
			f.applied[idempotencyKey] = true
			f.adds++
			if f.loseEveryNthAdd == 0 || f.adds%f.loseEveryNthAdd != 0 {
				if f.carts[parts[1]] == nil {
					f.carts[parts[1]] = map[string]int64{}
				}
				f.carts[parts[1]][item.ProductID] += item.Quantity
			}
		}
		drop := f.dropFirstReply && firstAttempt
		f.mu.Unlock()
		if drop {
			hangUp(w)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, "{}")
	default:
		http.Error(w, "not found", http.StatusNotFound)
	}
}

func (f *fakeCounter) value(key string) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.values[key]
}

// hangUp closes the connection without a reply: the request was applied, and the client cannot know it.
func hangUp(w http.ResponseWriter) {
	if connection, _, err := w.(http.Hijacker).Hijack(); err == nil {
		connection.Close()
	}
}

func endpointOf(server *httptest.Server) string {
	return strings.TrimPrefix(server.URL, "http://")
}

// deadEndpoint is an address nothing listens on: a port the OS gave out and that was closed again.
func deadEndpoint(t *testing.T) string {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	address := listener.Addr().String()
	listener.Close()
	return address
}

func testClient(endpoints []string, opDeadline time.Duration) *counterClient {
	return newCounterClient(endpoints, clientConfig{requestTimeout: 500 * time.Millisecond, opDeadline: opDeadline,
		retryBackoff: time.Millisecond, maxBackoff: 10 * time.Millisecond}, 4)
}

func TestARetryAfterALostReplyCarriesTheSameIdempotencyKey(t *testing.T) {
	fake := newFakeCounter()
	fake.dropFirstReply = true
	server := httptest.NewServer(fake)
	defer server.Close()
	client := testClient([]string{endpointOf(server)}, 5*time.Second)

	result := client.add(context.Background(), "k", 1)
	if result.outcome != outcomeOK || result.value != 1 || result.attempts != 2 {
		t.Fatalf("result %+v, want ok with value 1 after 2 attempts", result)
	}
	if got := fake.value("k"); got != 1 {
		t.Fatalf("counter %d: the retry was applied again", got)
	}
	if len(fake.attempts) != 1 {
		t.Fatalf("%d idempotency keys for one op", len(fake.attempts))
	}
}

func TestAnOpNeverAnsweredEndsUnknownAtTheOpDeadline(t *testing.T) {
	hang := make(chan struct{})
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	defer server.Close()
	defer close(hang)
	client := newCounterClient([]string{endpointOf(server)}, clientConfig{requestTimeout: 50 * time.Millisecond,
		opDeadline: 300 * time.Millisecond, retryBackoff: time.Millisecond, maxBackoff: 10 * time.Millisecond}, 1)

	started := time.Now()
	result := client.add(context.Background(), "k", 1)
	if result.outcome != outcomeUnknown || result.attempts < 2 {
		t.Fatalf("result %+v, want unknown after retries", result)
	}
	if elapsed := time.Since(started); elapsed > 2*time.Second {
		t.Fatalf("the op took %v, past its deadline", elapsed)
	}
}

func TestAConnectionRefusedMovesToTheNextEndpoint(t *testing.T) {
	fake := newFakeCounter()
	server := httptest.NewServer(fake)
	defer server.Close()
	client := testClient([]string{deadEndpoint(t), endpointOf(server)}, 5*time.Second)

	for i := int64(1); i <= 4; i++ {
		result := client.add(context.Background(), "k", 1)
		if result.outcome != outcomeOK || result.value != i {
			t.Fatalf("add %d: %+v", i, result)
		}
	}
	stats := client.endpointStats()
	if stats[endpointOf(server)].Succeeded != 4 {
		t.Fatalf("stats %+v", stats)
	}
}

func TestAnEndpointThatAnswersNothingIsSkippedForEjectFor(t *testing.T) {
	hang := make(chan struct{})
	var hungAttempts atomic.Int64
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hungAttempts.Add(1)
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	defer hung.Close()
	defer close(hang)
	fake := newFakeCounter()
	server := httptest.NewServer(fake)
	defer server.Close()
	config := clientConfig{requestTimeout: 50 * time.Millisecond, opDeadline: 5 * time.Second,
		retryBackoff: time.Millisecond, maxBackoff: 10 * time.Millisecond, ejectFor: time.Hour}
	client := newCounterClient([]string{endpointOf(hung), endpointOf(server)}, config, 4)

	for i := int64(1); i <= 10; i++ {
		if result := client.add(context.Background(), "k", 1); result.outcome != outcomeOK || result.value != i {
			t.Fatalf("add %d: %+v", i, result)
		}
	}
	// Round robin alone would have sent about half the attempts to the hung endpoint, each costing a timeout.
	if got := hungAttempts.Load(); got != 1 {
		t.Fatalf("the hung endpoint got %d attempts, want 1 (then ejected)", got)
	}

	// With ejection off, every other attempt goes to it again.
	config.ejectFor = 0
	plain := newCounterClient([]string{endpointOf(hung), endpointOf(server)}, config, 4)
	hungAttempts.Store(0)
	for i := 0; i < 4; i++ {
		plain.add(context.Background(), "k", 1)
	}
	if got := hungAttempts.Load(); got < 3 {
		t.Fatalf("plain round robin sent %d attempts to the hung endpoint, want at least 3", got)
	}
}

func TestWithEveryEndpointEjectedTheClientStillTries(t *testing.T) {
	fake := newFakeCounter()
	server := httptest.NewServer(fake)
	defer server.Close()
	config := clientConfig{requestTimeout: 500 * time.Millisecond, opDeadline: 5 * time.Second,
		retryBackoff: time.Millisecond, maxBackoff: 10 * time.Millisecond, ejectFor: time.Hour}
	client := newCounterClient([]string{endpointOf(server)}, config, 4)
	client.eject(endpointOf(server))
	if result := client.add(context.Background(), "k", 1); result.outcome != outcomeOK {
		t.Fatalf("%+v: a client with every endpoint ejected must still try them", result)
	}
}

func TestUnavailableMovesToTheNextEndpoint(t *testing.T) {
	unavailable := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"code":14,"message":"shard moving"}`, http.StatusServiceUnavailable)
	}))
	defer unavailable.Close()
	fake := newFakeCounter()
	healthy := httptest.NewServer(fake)
	defer healthy.Close()
	client := testClient([]string{endpointOf(unavailable), endpointOf(healthy)}, 5*time.Second)

	for i := 0; i < 4; i++ {
		if result := client.add(context.Background(), "k", 1); result.outcome != outcomeOK {
			t.Fatalf("add %d: %+v", i, result)
		}
	}
	if got := fake.value("k"); got != 4 {
		t.Fatalf("counter %d, want 4", got)
	}
}

func TestNoLiveEndpointFailsTheOpWithoutDoubt(t *testing.T) {
	client := testClient([]string{deadEndpoint(t), deadEndpoint(t)}, 200*time.Millisecond)
	result := client.add(context.Background(), "k", 1)
	// Nothing was ever sent, so the add certainly did not happen.
	if result.outcome != outcomeFailed || result.attempts < 2 {
		t.Fatalf("result %+v, want failed after trying both", result)
	}
}

func TestAClientErrorIsNotRetried(t *testing.T) {
	attempts := 0
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		attempts++
		http.Error(w, `{"code":3,"message":"bad"}`, http.StatusBadRequest)
	}))
	defer server.Close()
	result := testClient([]string{endpointOf(server)}, 5*time.Second).add(context.Background(), "k", 1)
	if result.outcome != outcomeFailed || attempts != 1 {
		t.Fatalf("result %+v after %d attempts", result, attempts)
	}
}

func runAgainst(t *testing.T, fake *fakeCounter, extra ...string) (int, string) {
	t.Helper()
	server := httptest.NewServer(fake)
	defer server.Close()
	var stdout, stderr bytes.Buffer
	args := append([]string{"--endpoints", endpointOf(server) + "," + endpointOf(server), "--duration", "300ms",
		"--max-ops", "400", "--clients", "3", "--op-deadline", "2s"}, extra...)
	code := run(args, &stdout, &stderr)
	return code, stdout.String() + stderr.String()
}

func TestARunAgainstACorrectCounterPasses(t *testing.T) {
	fake := newFakeCounter()
	fake.dropFirstReply = true // every op retried once: idempotency keys keep it exactly-once
	code, output := runAgainst(t, fake)
	if code != exitPass || !strings.Contains(output, "PASS") {
		t.Fatalf("exit %d:\n%s", code, output)
	}
}

func TestARunAgainstACounterWithoutIdempotencyFindsDuplicates(t *testing.T) {
	fake := newFakeCounter()
	fake.dropFirstReply = true
	fake.ignoreIdempotency = true
	code, output := runAgainst(t, fake)
	if code != exitViolation || !strings.Contains(output, "counted adds more than once") ||
		!strings.Contains(output, "cart items applied more than once") {
		t.Fatalf("exit %d:\n%s", code, output)
	}
}

func TestARunAgainstACounterThatLosesAddsFindsThem(t *testing.T) {
	fake := newFakeCounter()
	fake.loseEveryNthAdd = 7
	out := t.TempDir() + "/report.json"
	code, output := runAgainst(t, fake, "--out", out)
	if code != exitViolation || !strings.Contains(output, "lost acknowledged adds") ||
		!strings.Contains(output, "acknowledged cart items lost") || !strings.Contains(output, "not linearizable") {
		t.Fatalf("exit %d:\n%s", code, output)
	}
}

func TestUsageErrorsExitWith2(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"--endpoints", "127.0.0.1:1", "--max-ops", "0"},
		{"--endpoints", "127.0.0.1:1", "--duration", "0s"},
		{"--endpoints", "127.0.0.1:1", "--clients", "0"},
		{"--endpoints", "127.0.0.1:1", "--cart-clients", "-1"},
		{"--endpoints", "127.0.0.1:1", "--carts", "0"},
		{"--endpoints", "127.0.0.1:1", "--no-such-flag"},
		{"--endpoints", "127.0.0.1:1", "stray"},
	} {
		if code := run(args, io.Discard, io.Discard); code != exitUsage {
			t.Errorf("%v: exit %d, want %d", args, code, exitUsage)
		}
	}
}

func TestTheReportHasTheRecoveryAfterTheFaultAndTheHistory(t *testing.T) {
	dir := t.TempDir()
	faultFile, reportFile, historyFile := dir+"/fault-at", dir+"/report.json", dir+"/hot.json"
	// A fault "injected" just before the load: every op is invoked after it.
	if err := os.WriteFile(faultFile, []byte(strconv.FormatInt(time.Now().UnixMilli(), 10)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, output := runAgainst(t, newFakeCounter(), "--fault-at-file", faultFile, "--out", reportFile,
		"--history", historyFile)
	if code != exitPass {
		t.Fatalf("exit %d:\n%s", code, output)
	}
	var written report
	readJSON(t, reportFile, &written)
	if written.Fault == nil || written.Fault.RecoveryMs == nil || written.Fault.Error != "" {
		t.Fatalf("fault %+v", written.Fault)
	}
	if written.Ops.OK == 0 || written.Ops.Done != written.Ops.OK || written.Ops.Done > 400 || written.Verdict != "pass" {
		t.Fatalf("report %+v", written)
	}
	if written.ExactlyOnce.Keys != 3 || written.ExactlyOnce.Unverified != 0 {
		t.Fatalf("exactly-once %+v: one own key per counter client", written.ExactlyOnce)
	}
	if c := written.Carts; c.Carts != 8 || c.Acknowledged == 0 || c.Acknowledged != c.Adds || c.ReadsChecked == 0 ||
		c.Violations() != 0 || c.Unverified != 0 || written.CartClients != 2 {
		t.Fatalf("carts %+v", c)
	}
	var history []hotOp
	readJSON(t, historyFile, &history)
	if len(history) != written.Linearizability.Ops {
		t.Fatalf("%d ops in the history, %d checked", len(history), written.Linearizability.Ops)
	}
}

func readJSON(t *testing.T, path string, value any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, value); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func TestTheLoadStopsAtTheDurationOrTheOpCount(t *testing.T) {
	server := httptest.NewServer(newFakeCounter())
	defer server.Close()
	client := testClient([]string{endpointOf(server)}, time.Second)
	started := time.Now()
	byTime := runLoad(context.Background(), client, loadConfig{clients: 3, duration: 200 * time.Millisecond,
		maxOps: 1 << 40, hotKey: "hot", runID: "t"})
	if elapsed := time.Since(started); elapsed > 2*time.Second || byTime.counts.Done == 0 {
		t.Fatalf("%d ops in %v with a 200 ms duration", byTime.counts.Done, elapsed)
	}
	byCount := runLoad(context.Background(), client, loadConfig{clients: 3, duration: time.Hour, maxOps: 50,
		hotKey: "hot2", runID: "u"})
	if byCount.counts.Done != 50 {
		t.Fatalf("%d ops with at most 50", byCount.counts.Done)
	}
	// Cart clients count against the same bounds.
	withCarts := runLoad(context.Background(), client, loadConfig{clients: 1, duration: time.Hour, maxOps: 50,
		hotKey: "hot3", runID: "v", cartClients: 2, carts: 3})
	if withCarts.counts.Done != 50 || len(withCarts.carts) != 3 || len(withCarts.cartAdds) == 0 {
		t.Fatalf("%d ops with at most 50, %d carts, %d AddItems", withCarts.counts.Done, len(withCarts.carts),
			len(withCarts.cartAdds))
	}
}
