// clusterload drives a bounded load against the members of a cluster serving the counter and the shopping cart, and
// checks what it saw: every acknowledged add counted exactly once per key, the history of one key shared by all
// clients linearizable (Porcupine), and every acknowledged AddItem (each of its own product) in its cart exactly
// once. The cluster fault tests run it while they kill, stop, partition or restart members.
//
// Exit codes: 0 every check passed, 1 a violation (lost or duplicated adds or cart items, a non-linearizable history,
// a stale cart read), 2 a usage error, 3 inconclusive (a final read failed, the checker timed out, or no op
// succeeded at all).
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const (
	exitPass         = 0
	exitViolation    = 1
	exitUsage        = 2
	exitInconclusive = 3
)

type options struct {
	endpoints      []string
	duration       time.Duration
	maxOps         int64
	clients        int
	cartClients    int
	carts          int
	hotKey         string
	requestTimeout time.Duration
	ejectFor       time.Duration
	opDeadline     time.Duration
	checkTimeout   time.Duration
	finalReadTries int
	outPath        string
	historyPath    string
	visualizePath  string
	faultAtPath    string
}

func parseOptions(args []string, stderr io.Writer) (options, error) {
	var opts options
	flags := flag.NewFlagSet("clusterload", flag.ContinueOnError)
	flags.SetOutput(stderr)
	endpoints := flags.String("endpoints", "", "client ports of the members, host:port,host:port,... (required)")
	flags.DurationVar(&opts.duration, "duration", 10*time.Second, "stop starting ops after this long")
	flags.Int64Var(&opts.maxOps, "max-ops", 100000, "stop after starting this many ops across all clients")
	flags.IntVar(&opts.clients, "clients", 4, "concurrent counter clients")
	flags.IntVar(&opts.cartClients, "cart-clients", 2,
		"concurrent shopping-cart clients (AddItem of a new product, now and then GetCart; 0: none)")
	flags.IntVar(&opts.carts, "carts", 8, "the carts the cart clients share, cart-<run id>-<i>")
	flags.StringVar(&opts.hotKey, "hot-key", "",
		"the counter all clients share, whose history is checked (default hot-<run id>)")
	flags.DurationVar(&opts.requestTimeout, "request-timeout", 2*time.Second, "time limit of one attempt")
	flags.DurationVar(&opts.ejectFor, "eject-for", 5*time.Second,
		"skip an endpoint this long after it answered nothing (a load balancer's outlier detection); 0: plain round robin")
	flags.DurationVar(&opts.opDeadline, "op-deadline", 15*time.Second,
		"give up an op (outcome unknown) after this long across retries")
	flags.DurationVar(&opts.checkTimeout, "check-timeout", 60*time.Second, "time limit of the linearizability check")
	flags.IntVar(&opts.finalReadTries, "final-read-tries", 3,
		"ops (each bounded by --op-deadline) to read a counter after the load")
	flags.StringVar(&opts.outPath, "out", "", "write the JSON report to this file")
	flags.StringVar(&opts.historyPath, "history", "", "write the hot key's history (JSON) to this file")
	flags.StringVar(&opts.visualizePath, "visualize", "",
		"on a linearizability violation, write Porcupine's HTML visualization to this file")
	flags.StringVar(&opts.faultAtPath, "fault-at-file", "",
		"file with the unix-ms time the test injected a fault; reports the time to the first success after it, "+
			"overall and per entity")
	if err := flags.Parse(args); err != nil {
		return opts, err
	}
	if flags.NArg() > 0 {
		return opts, fmt.Errorf("unexpected arguments: %s", strings.Join(flags.Args(), " "))
	}
	for _, endpoint := range strings.Split(*endpoints, ",") {
		if endpoint = strings.TrimSpace(endpoint); endpoint != "" {
			opts.endpoints = append(opts.endpoints, endpoint)
		}
	}
	switch {
	case len(opts.endpoints) == 0:
		return opts, errors.New("--endpoints is required")
	case opts.duration <= 0 || opts.maxOps <= 0:
		return opts, errors.New("--duration and --max-ops must both be positive: the load is bounded by both")
	case opts.clients <= 0:
		return opts, errors.New("--clients must be positive")
	case opts.cartClients < 0 || opts.carts <= 0:
		return opts, errors.New("--cart-clients must not be negative and --carts must be positive")
	case opts.requestTimeout <= 0 || opts.opDeadline <= 0 || opts.checkTimeout <= 0:
		return opts, errors.New("--request-timeout, --op-deadline and --check-timeout must be positive")
	case opts.ejectFor < 0:
		return opts, errors.New("--eject-for must not be negative (0: plain round robin)")
	case opts.finalReadTries <= 0:
		return opts, errors.New("--final-read-tries must be positive")
	}
	return opts, nil
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	opts, err := parseOptions(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitPass
	}
	if err != nil {
		fmt.Fprintln(stderr, "clusterload:", err)
		return exitUsage
	}
	// A first SIGINT/SIGTERM during the load stops it early; the checks still run on what was recorded.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	runID := randomRunID()
	if opts.hotKey == "" {
		opts.hotKey = "hot-" + runID
	}
	client := newCounterClient(opts.endpoints, clientConfig{
		requestTimeout: opts.requestTimeout,
		opDeadline:     opts.opDeadline,
		retryBackoff:   20 * time.Millisecond,
		maxBackoff:     500 * time.Millisecond,
		ejectFor:       opts.ejectFor,
	}, opts.clients+opts.cartClients)

	// The model needs the hot key's value before the first add (a fixed --hot-key may have history of its own).
	initial, readError := readFinal(ctx, client, opts.hotKey, opts.finalReadTries)
	if initial == nil {
		fmt.Fprintf(stderr, "clusterload: cannot read the hot key %q before the load: %s\n", opts.hotKey, readError)
		return exitInconclusive
	}

	load := runLoad(ctx, client, loadConfig{clients: opts.clients, duration: opts.duration, maxOps: opts.maxOps,
		hotKey: opts.hotKey, runID: runID, cartClients: opts.cartClients, carts: opts.carts})
	// A signal from now on ends the process as usual: the final reads of a dead cluster may take a while.
	stop()

	for i := range load.ownCounts {
		var finalError string
		key := load.ownCounts[i].Key
		load.ownCounts[i].Final, finalError = readFinal(context.Background(), client, key, opts.finalReadTries)
		if finalError != "" {
			load.lastErrors = append(load.lastErrors, "final read of "+key+": "+finalError)
		}
	}
	var finalCarts []cartRead
	for _, cart := range load.carts {
		items, finalError := readFinalCart(context.Background(), client, cart, opts.finalReadTries)
		if finalError != "" {
			load.lastErrors = append(load.lastErrors, "final read of "+cart+": "+finalError)
		}
		finalCarts = append(finalCarts, cartRead{Cart: cart, Items: items})
	}

	result := buildReport(opts, runID, *initial, load, finalCarts, client)
	if opts.historyPath != "" {
		if err := writeJSON(opts.historyPath, load.hotOps); err != nil {
			fmt.Fprintln(stderr, "clusterload:", err)
		}
	}
	if opts.outPath != "" {
		if err := writeJSON(opts.outPath, result); err != nil {
			fmt.Fprintln(stderr, "clusterload:", err)
			return exitInconclusive
		}
	}
	printSummary(stdout, result)
	switch result.Verdict {
	case "pass":
		return exitPass
	case "violation":
		return exitViolation
	default:
		return exitInconclusive
	}
}

func randomRunID() string {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return hex.EncodeToString(b[:])
}

type latencyReport struct {
	P50 float64 `json:"p50_ms"`
	P99 float64 `json:"p99_ms"`
	Max float64 `json:"max_ms"`
}

type unavailabilityReport struct {
	// LongestMs is the longest stretch with no successful op (from the load's start to its end, client's view);
	// FromMs and ToMs place it, in ms since the load started.
	LongestMs float64 `json:"longest_ms"`
	FromMs    float64 `json:"from_ms"`
	ToMs      float64 `json:"to_ms"`
}

type faultReport struct {
	FaultAtUnixMs int64 `json:"fault_at_unix_ms"`
	// RecoveryMs: from the fault to the completion of the first successful op invoked after it; nil if none did.
	RecoveryMs *float64 `json:"recovery_ms"`
	// Per entity (counter key or cart id) with an op invoked at or after the fault: from the fault to the completion
	// of its first successful such op. EntitiesAfterFault is how many were measured; the slowest (nil when none
	// recovered) bounds the time until commands on a crashed member's entities succeed again; the median is that of
	// the recovered entities. EntitiesNotRecovered had ops after the fault but no success (NotRecovered names the
	// first few): worth a look, not a verdict of its own.
	SlowestEntityRecoveryMs *float64 `json:"slowest_entity_recovery_ms"`
	SlowestEntity           string   `json:"slowest_entity"`
	EntitiesAfterFault      int      `json:"entities_after_fault"`
	MedianEntityRecoveryMs  *float64 `json:"median_entity_recovery_ms"`
	EntitiesNotRecovered    int      `json:"entities_not_recovered"`
	NotRecovered            []string `json:"not_recovered,omitempty"`
	Error                   string   `json:"error,omitempty"`
}

// maxNotRecoveredNamed bounds the entities the fault report names as not recovered.
const maxNotRecoveredNamed = 10

type report struct {
	RunID           string                   `json:"run_id"`
	Endpoints       []string                 `json:"endpoints"`
	Clients         int                      `json:"clients"`
	CartClients     int                      `json:"cart_clients"`
	Duration        string                   `json:"duration"`
	MaxOps          int64                    `json:"max_ops"`
	RequestTimeout  string                   `json:"request_timeout"`
	OpDeadline      string                   `json:"op_deadline"`
	StartedUnixMs   int64                    `json:"started_unix_ms"`
	ElapsedMs       float64                  `json:"elapsed_ms"`
	Ops             opCounts                 `json:"ops"`
	Latency         latencyReport            `json:"latency"`
	Unavailability  unavailabilityReport     `json:"unavailability"`
	Fault           *faultReport             `json:"fault"`
	ExactlyOnce     exactlyOnceReport        `json:"exactly_once"`
	Linearizability linearizabilityReport    `json:"linearizability"`
	Carts           cartReport               `json:"carts"`
	PerEndpoint     map[string]endpointStats `json:"per_endpoint"`
	SampleErrors    []string                 `json:"sample_errors"`
	// Verdict is "pass", "violation" or "inconclusive"; Problems says why it is not "pass".
	Verdict  string   `json:"verdict"`
	Problems []string `json:"problems"`
}

func milliseconds(nanoseconds int64) float64 {
	return float64(nanoseconds) / float64(time.Millisecond)
}

func buildReport(opts options, runID string, initial int64, load loadResult, finalCarts []cartRead,
	client *counterClient) report {
	result := report{
		RunID: runID, Endpoints: opts.endpoints, Clients: opts.clients, CartClients: opts.cartClients,
		Duration: opts.duration.String(),
		MaxOps:   opts.maxOps, RequestTimeout: opts.requestTimeout.String(), OpDeadline: opts.opDeadline.String(),
		StartedUnixMs: load.startWall.UnixMilli(), ElapsedMs: milliseconds(load.loadEnd), Ops: load.counts,
		PerEndpoint: client.endpointStats(), SampleErrors: load.lastErrors, Problems: []string{},
	}
	result.Latency = latencyReport{
		P50: milliseconds(int64(percentile(load.latencies, 50))),
		P99: milliseconds(int64(percentile(load.latencies, 99))),
		Max: milliseconds(int64(percentile(load.latencies, 100))),
	}
	var successReturns []int64
	for _, op := range load.completed {
		if op.ok {
			successReturns = append(successReturns, op.ret)
		}
	}
	longest := longestGapWithoutSuccess(successReturns, load.loadEnd)
	result.Unavailability = unavailabilityReport{LongestMs: milliseconds(longest.end - longest.start),
		FromMs: milliseconds(longest.start), ToMs: milliseconds(longest.end)}
	if opts.faultAtPath != "" {
		result.Fault = faultAfter(opts.faultAtPath, load)
	}

	result.ExactlyOnce = summarizeExactlyOnce(load.ownCounts)
	linearizability, err := checkLinearizable(opts.hotKey, initial, load.hotOps, opts.checkTimeout, opts.visualizePath)
	if err != nil {
		result.Problems = append(result.Problems, err.Error())
	}
	result.Linearizability = linearizability
	result.Carts = checkCarts(load.cartAdds, finalCarts, load.cartReads)
	c := result.Carts

	// Each finding, whether it is a violation (else it leaves the run inconclusive), and what to say of it.
	findings := []struct {
		found     bool
		violation bool
		problem   string
	}{
		{result.ExactlyOnce.Lost > 0, true, fmt.Sprintf("%d own keys lost acknowledged adds", result.ExactlyOnce.Lost)},
		{result.ExactlyOnce.Duplicates > 0, true,
			fmt.Sprintf("%d own keys counted adds more than once", result.ExactlyOnce.Duplicates)},
		{linearizability.Result == "illegal", true, "the hot key's history is not linearizable"},
		{c.Lost > 0, true, fmt.Sprintf("%d acknowledged cart items lost", c.Lost)},
		{c.Duplicates > 0, true, fmt.Sprintf("%d cart items applied more than once", c.Duplicates)},
		{c.Unexpected > 0, true, fmt.Sprintf("%d cart items no AddItem sent", c.Unexpected)},
		{c.AppliedRefused > 0, true, fmt.Sprintf("%d cart items applied though every attempt was refused",
			c.AppliedRefused)},
		{c.Stale > 0, true, fmt.Sprintf("%d times a cart read missed an item acknowledged before it", c.Stale)},
		{result.ExactlyOnce.Unverified > 0, false,
			fmt.Sprintf("%d own keys could not be read after the load", result.ExactlyOnce.Unverified)},
		{linearizability.Result == "timeout", false, "the linearizability check timed out"},
		{c.Unverified > 0, false, fmt.Sprintf("%d carts could not be read after the load", c.Unverified)},
		// Cart clients that got no AddItem through checked nothing of the carts.
		{opts.cartClients > 0 && c.Acknowledged == 0, false, "no AddItem succeeded"},
		// Nothing acknowledged means nothing was checked: not a pass.
		{load.counts.OK == 0, false, "no op succeeded"},
	}
	violation, inconclusive := false, false
	for _, finding := range findings {
		if !finding.found {
			continue
		}
		result.Problems = append(result.Problems, finding.problem)
		violation = violation || finding.violation
		inconclusive = inconclusive || !finding.violation
	}
	switch {
	case violation:
		result.Verdict = "violation"
	case inconclusive:
		result.Verdict = "inconclusive"
	default:
		result.Verdict = "pass"
	}
	return result
}

// faultAfter reads the fault's unix-ms time (written by the test while the load ran) and finds the recovery.
func faultAfter(path string, load loadResult) *faultReport {
	text, err := os.ReadFile(path)
	if err != nil {
		return &faultReport{Error: err.Error()}
	}
	faultUnixMs, err := strconv.ParseInt(strings.TrimSpace(string(text)), 10, 64)
	if err != nil {
		return &faultReport{Error: fmt.Sprintf("%s: not a unix-ms time: %q", path, strings.TrimSpace(string(text)))}
	}
	faultAt := (faultUnixMs - load.startWall.UnixMilli()) * int64(time.Millisecond)
	return faultRecovery(faultUnixMs, faultAt, load.completed)
}

// faultRecovery is the fault report of a fault at faultAt (nanoseconds since the load started; faultUnixMs on the
// wall clock): the first success after it over all entities, and per entity.
func faultRecovery(faultUnixMs, faultAt int64, completed []completedOp) *faultReport {
	fault := &faultReport{FaultAtUnixMs: faultUnixMs}
	if recovery, ok := recoveryAfterFault(completed, faultAt); ok {
		ms := milliseconds(int64(recovery))
		fault.RecoveryMs = &ms
	}
	entities := entityRecoveryAfterFault(completed, faultAt)
	fault.EntitiesAfterFault = entities.Entities
	fault.EntitiesNotRecovered = len(entities.NotRecovered)
	fault.NotRecovered = entities.NotRecovered[:min(len(entities.NotRecovered), maxNotRecoveredNamed)]
	if entities.Recovered > 0 {
		slowest, median := milliseconds(int64(entities.SlowestAfter)), milliseconds(int64(entities.Median))
		fault.SlowestEntityRecoveryMs, fault.MedianEntityRecoveryMs = &slowest, &median
		fault.SlowestEntity = entities.Slowest
	}
	return fault
}

func writeJSON(path string, value any) error {
	data, err := json.MarshalIndent(value, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

func printSummary(out io.Writer, r report) {
	row := func(name, format string, values ...any) {
		fmt.Fprintf(out, "%-22s "+format+"\n", append([]any{name}, values...)...)
	}
	row("run", "%s: %d counter + %d cart clients, %s / %d ops max, %d endpoints", r.RunID, r.Clients,
		r.CartClients, r.Duration, r.MaxOps, len(r.Endpoints))
	row("ops", "done %d  ok %d  failed %d  unknown %d  retried %d (%d after an attempt that may have applied)",
		r.Ops.Done, r.Ops.OK, r.Ops.Failed, r.Ops.Unknown, r.Ops.Retried, r.Ops.RetriedAfterAmbiguous)
	row("latency", "p50 %.1f ms  p99 %.1f ms  max %.1f ms", r.Latency.P50, r.Latency.P99, r.Latency.Max)
	row("unavailability", "longest %.0f ms without a success (%.0f..%.0f ms)", r.Unavailability.LongestMs,
		r.Unavailability.FromMs, r.Unavailability.ToMs)
	if r.Fault != nil {
		switch {
		case r.Fault.Error != "":
			row("fault", "%s", r.Fault.Error)
		case r.Fault.RecoveryMs == nil:
			row("fault", "at %d: no op invoked after it succeeded", r.Fault.FaultAtUnixMs)
		default:
			row("fault", "at %d: first success %.0f ms after it", r.Fault.FaultAtUnixMs, *r.Fault.RecoveryMs)
		}
		printEntityRecovery(row, r.Fault)
	}
	e := r.ExactlyOnce
	row("exactly-once", "%d keys: lost %d  duplicates %d  unverified %d", e.Keys, e.Lost, e.Duplicates, e.Unverified)
	l := r.Linearizability
	row("linearizable", "%s (%d ops, %d pending adds, %s)", l.Result, l.Ops, l.Pending, l.Duration)
	if l.Visualization != "" {
		row("visualization", "%s", l.Visualization)
	}
	if r.CartClients > 0 {
		printCarts(row, r.Carts)
	}
	for _, problem := range r.Problems {
		row("problem", "%s", problem)
	}
	row("verdict", "%s", strings.ToUpper(r.Verdict))
}

// printEntityRecovery prints the per-entity recovery after the fault, below the fault's first success: the slowest
// entity's first success, the median, and the entities that had ops after the fault but no success.
func printEntityRecovery(row func(name, format string, values ...any), f *faultReport) {
	switch {
	case f.Error != "":
		return
	case f.EntitiesAfterFault == 0:
		row("fault per entity", "no op invoked after it")
	case f.SlowestEntityRecoveryMs == nil:
		row("fault per entity", "no entity succeeded after it (%d entities)", f.EntitiesAfterFault)
	default:
		row("fault per entity", "slowest first success %.0f ms after it (%s); median %.0f ms; %d entities",
			*f.SlowestEntityRecoveryMs, f.SlowestEntity, *f.MedianEntityRecoveryMs, f.EntitiesAfterFault)
	}
	if f.EntitiesNotRecovered > 0 {
		more := ""
		if f.EntitiesNotRecovered > len(f.NotRecovered) {
			more = fmt.Sprintf(" and %d more", f.EntitiesNotRecovered-len(f.NotRecovered))
		}
		row("not recovered", "%d entities had ops after the fault but no success: %s%s", f.EntitiesNotRecovered,
			strings.Join(f.NotRecovered, ", "), more)
	}
}

// printCarts prints the cart check's counts, and its first findings.
func printCarts(row func(name, format string, values ...any), c cartReport) {
	row("carts", "%d carts, %d AddItems: acknowledged %d  unknown %d (present %d, absent %d)  failed %d",
		c.Carts, c.Adds, c.Acknowledged, c.Unknown, c.UnknownPresent, c.UnknownAbsent, c.Failed)
	row("cart exactly-once", "lost %d  duplicates %d  unexpected %d  applied-though-refused %d  unverified carts %d",
		c.Lost, c.Duplicates, c.Unexpected, c.AppliedRefused, c.Unverified)
	row("cart reads", "%d checked during the load, %d stale", c.ReadsChecked, c.Stale)
	for _, finding := range c.Findings {
		row("cart finding", "%s %s: %s (quantity %d, add %s)", finding.Cart, finding.Product, finding.Verdict,
			finding.Quantity, finding.Outcome)
	}
}
