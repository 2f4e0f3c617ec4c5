package main

import (
	"fmt"
	"sort"
	"time"

	"github.com/anishathalye/porcupine"
)

// hotOp is one operation on the hot key as the client saw it; times are nanoseconds since the load started
// (monotonic clock), so that Porcupine compares them without wall-clock jumps.
type hotOp struct {
	Client  int    `json:"client"`
	Kind    string `json:"op"` // "add" or "get"
	Delta   int64  `json:"delta,omitempty"`
	Call    int64  `json:"call_ns"`
	Return  int64  `json:"return_ns"`
	Outcome string `json:"outcome"` // "ok", "failed" or "unknown"
	Value   int64  `json:"value"`   // the answer, when Outcome is "ok"
	// Attempts, AmbiguousAttempts (failed attempts that may have been applied) and their errors tell, for an op in
	// a violation, whether a retry may have applied it twice.
	Attempts          int    `json:"attempts"`
	AmbiguousAttempts int    `json:"ambiguous_attempts,omitempty"`
	AmbiguousError    string `json:"ambiguous_error,omitempty"`
	LastError         string `json:"last_error,omitempty"`
}

// counterInput and counterOutput are the counter model's operation and answer; an unknown outcome has Known false.
type counterInput struct {
	Kind  string
	Delta int64
}

type counterOutput struct {
	Known bool
	Value int64
}

// counterState is the model's state: the counter's value, and the deltas of adds with unknown outcomes that have
// been invoked but not yet taken effect (Credit). Credit keeps the search small (below).
type counterState struct {
	Value  int64
	Credit int64
}

// counterModel is the sequential specification of one counter that starts at initial: add(d) makes it state+d and
// answers the new value; get answers it.
//
// An add whose answer the client never saw may take effect at any point after its call, or never. Left pending to
// the end of the history, as Porcupine would take it, every such add is concurrent with everything after it and
// the search grows as 2^(pending adds): a history of 10,000 ops with 32 of them did not finish in a minute. So an
// add with an unknown outcome is instead an op of no duration at its call that puts its delta in Credit, and any
// later op with a known answer may first take effect from Credit the deltas that answer needs (for unit deltas,
// exactly answer - value - own delta of them; the model accepts it when that many are in Credit). The histories
// accepted are the same: an increment taking effect at any time between its call and the next op that sees it is
// indistinguishable from one taking effect just before that op, and one never seen may never have happened.
// Credit is a count of adds as long as every delta is 1 (the workload's); with other deltas it would accept sums
// that no subset of the pending adds makes.
func counterModel(initial int64) porcupine.Model {
	return porcupine.Model{
		Init: func() interface{} { return counterState{Value: initial} },
		Step: func(state, input, output interface{}) (bool, interface{}) {
			current := state.(counterState)
			in := input.(counterInput)
			out := output.(counterOutput)
			if !out.Known {
				return true, counterState{Value: current.Value, Credit: current.Credit + in.Delta}
			}
			own := int64(0)
			if in.Kind == "add" {
				own = in.Delta
			}
			takenFromCredit := out.Value - own - current.Value
			if takenFromCredit < 0 || takenFromCredit > current.Credit {
				return false, current
			}
			return true, counterState{Value: out.Value, Credit: current.Credit - takenFromCredit}
		},
		DescribeOperation: func(input, output interface{}) string {
			in := input.(counterInput)
			out := output.(counterOutput)
			answer := "?"
			if out.Known {
				answer = fmt.Sprint(out.Value)
			}
			if in.Kind == "add" {
				return fmt.Sprintf("add(%d) -> %s", in.Delta, answer)
			}
			return "get() -> " + answer
		},
		DescribeState: func(state interface{}) string {
			current := state.(counterState)
			if current.Credit == 0 {
				return fmt.Sprint(current.Value)
			}
			return fmt.Sprintf("%d (+ up to %d unknown adds)", current.Value, current.Credit)
		},
	}
}

// porcupineHistory turns the hot key's ops into Porcupine's form: a failed op certainly did not happen and a get
// with no answer changed nothing, so both are left out; an add with an unknown outcome becomes an op of no duration
// at its call that adds to the model's credit (see counterModel).
func porcupineHistory(ops []hotOp) []porcupine.Operation {
	history := make([]porcupine.Operation, 0, len(ops))
	for _, op := range ops {
		input := counterInput{Kind: op.Kind, Delta: op.Delta}
		switch {
		case op.Outcome == "ok":
			history = append(history, porcupine.Operation{ClientId: op.Client, Input: input,
				Output: counterOutput{Known: true, Value: op.Value}, Call: op.Call, Return: op.Return})
		case op.Outcome == "unknown" && op.Kind == "add":
			history = append(history, porcupine.Operation{ClientId: op.Client, Input: input,
				Output: counterOutput{}, Call: op.Call, Return: op.Call})
		}
	}
	return history
}

// linearizabilityReport is check (2) of the report.
type linearizabilityReport struct {
	Key      string `json:"key"`
	Initial  int64  `json:"initial"`
	Ops      int    `json:"ops_checked"`
	Pending  int    `json:"pending_adds"`
	Result   string `json:"result"` // "ok", "illegal" or "timeout"
	Duration string `json:"check_duration"`
	// Visualization is the HTML file Porcupine wrote for a violation (empty otherwise).
	Visualization string `json:"visualization,omitempty"`
}

// checkLinearizable runs Porcupine on the hot key's history; when it is not linearizable and visualizePath is set,
// Porcupine renders the partial linearizations there.
func checkLinearizable(key string, initial int64, ops []hotOp, timeout time.Duration,
	visualizePath string) (linearizabilityReport, error) {
	history := porcupineHistory(ops)
	report := linearizabilityReport{Key: key, Initial: initial, Ops: len(history)}
	for _, op := range history {
		if !op.Output.(counterOutput).Known {
			report.Pending++
		}
	}
	model := counterModel(initial)
	started := time.Now()
	result, info := porcupine.CheckOperationsVerbose(model, history, timeout)
	report.Duration = time.Since(started).Round(time.Millisecond).String()
	switch result {
	case porcupine.Ok:
		report.Result = "ok"
	case porcupine.Illegal:
		report.Result = "illegal"
		if visualizePath != "" {
			if err := porcupine.VisualizePath(model, info, visualizePath); err != nil {
				return report, fmt.Errorf("writing the visualization: %w", err)
			}
			report.Visualization = visualizePath
		}
	default:
		report.Result = "timeout"
	}
	return report, nil
}

// ownKeyCount is what one client did to its own key, and what the key held afterwards.
type ownKeyCount struct {
	Key          string `json:"key"`
	Acknowledged int64  `json:"acknowledged"`
	Unknown      int64  `json:"unknown"`
	Final        *int64 `json:"final"` // nil when the final read failed
	Verdict      string `json:"verdict"`
}

// exactlyOnceVerdict is check (1): every acknowledged add counted once, and an add with an unknown outcome at most
// once. "lost": fewer than acknowledged; "duplicate": more than acknowledged plus unknown.
func exactlyOnceVerdict(acknowledged, unknown int64, final *int64) string {
	switch {
	case final == nil:
		return "unverified"
	case *final < acknowledged:
		return "lost"
	case *final > acknowledged+unknown:
		return "duplicate"
	default:
		return "ok"
	}
}

// exactlyOnceReport sums up check (1) over all own keys.
type exactlyOnceReport struct {
	Keys       int           `json:"keys"`
	Lost       int           `json:"lost"`
	Duplicates int           `json:"duplicates"`
	Unverified int           `json:"unverified"`
	PerKey     []ownKeyCount `json:"per_key"`
}

func summarizeExactlyOnce(counts []ownKeyCount) exactlyOnceReport {
	report := exactlyOnceReport{Keys: len(counts), PerKey: counts}
	for i := range counts {
		counts[i].Verdict = exactlyOnceVerdict(counts[i].Acknowledged, counts[i].Unknown, counts[i].Final)
		switch counts[i].Verdict {
		case "lost":
			report.Lost++
		case "duplicate":
			report.Duplicates++
		case "unverified":
			report.Unverified++
		}
	}
	return report
}

// percentile is the nearest-rank percentile of sorted durations (0 for none).
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(p/100*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}

// gap is a stretch of the run, in nanoseconds since the load started.
type gap struct {
	start, end int64
}

// longestGapWithoutSuccess is the client's view of unavailability: the longest stretch between the load's start,
// the completions of successful ops, and the load's end.
func longestGapWithoutSuccess(successReturns []int64, loadEnd int64) gap {
	sorted := append([]int64(nil), successReturns...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	longest := gap{}
	previous := int64(0)
	for _, at := range append(sorted, loadEnd) {
		if at-previous > longest.end-longest.start {
			longest = gap{start: previous, end: at}
		}
		previous = max(previous, at)
	}
	return longest
}

// completedOp is an op's call and return (nanoseconds since the load started), whether it succeeded, and the entity
// it addressed (a counter key or a cart id).
type completedOp struct {
	call, ret int64
	ok        bool
	entity    string
}

// recoveryAfterFault is the time from the fault to the completion of the first successful op invoked at or after
// it (an op already in flight may have been served before the fault took effect); false when none succeeded.
func recoveryAfterFault(ops []completedOp, faultAt int64) (time.Duration, bool) {
	var first int64 = -1
	for _, op := range ops {
		if op.ok && op.call >= faultAt && (first < 0 || op.ret < first) {
			first = op.ret
		}
	}
	if first < 0 {
		return 0, false
	}
	return time.Duration(first - faultAt), true
}

// entityRecovery is, per entity with at least one op invoked at or after the fault, the time from the fault to the
// completion of its first successful op invoked at or after it. The entities whose shards were on a crashed member
// are among them, and the others recover within milliseconds, so the slowest entity bounds the time until commands
// on the moved entities succeed again (it also includes any wait of the entity's client on other entities).
type entityRecovery struct {
	Entities     int           // entities with an op invoked at or after the fault
	Recovered    int           // of them, those with a success among those ops
	Slowest      string        // the recovered entity whose first success came last ("" when none recovered)
	SlowestAfter time.Duration // its time from the fault to that success
	Median       time.Duration // the median of the recovered entities' times (the mean of the middle two if even)
	NotRecovered []string      // the entities with ops invoked at or after the fault but no success, sorted
}

// entityRecoveryAfterFault measures each entity as recoveryAfterFault measures them all: ops invoked before the
// fault (in flight at it, perhaps served before it took effect) do not count, and an entity touched only before the
// fault is not measured.
func entityRecoveryAfterFault(ops []completedOp, faultAt int64) entityRecovery {
	firstSuccess := map[string]int64{} // per entity touched after the fault: its first success's return, or -1
	for _, op := range ops {
		if op.call < faultAt {
			continue
		}
		first, seen := firstSuccess[op.entity]
		if !seen {
			first = -1
		}
		if op.ok && (first < 0 || op.ret < first) {
			first = op.ret
		}
		firstSuccess[op.entity] = first
	}
	result := entityRecovery{Entities: len(firstSuccess)}
	var times []time.Duration
	for entity, first := range firstSuccess {
		if first < 0 {
			result.NotRecovered = append(result.NotRecovered, entity)
			continue
		}
		after := time.Duration(first - faultAt)
		times = append(times, after)
		// Ties go to the first name, so that the answer does not depend on the map's order.
		slower := after > result.SlowestAfter || (after == result.SlowestAfter && entity < result.Slowest)
		if result.Slowest == "" || slower {
			result.Slowest, result.SlowestAfter = entity, after
		}
	}
	sort.Strings(result.NotRecovered)
	result.Recovered = len(times)
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	switch n := len(times); {
	case n == 0:
	case n%2 == 1:
		result.Median = times[n/2]
	default:
		result.Median = (times[n/2-1] + times[n/2]) / 2
	}
	return result
}

// cartLine is one item of GetCart's answer (the proto's LineItem in its JSON mapping).
type cartLine struct {
	ProductID string `json:"productId"`
	Name      string `json:"name"`
	Quantity  int64  `json:"quantity"`
}

// cartAdd is one AddItem as the client saw it: quantity 1 of a product no other op adds (the product is the op's
// identity), to one cart. Call and Return are nanoseconds since the load started.
type cartAdd struct {
	Cart    string `json:"cart"`
	Product string `json:"product"`
	Outcome string `json:"outcome"` // "ok", "failed" or "unknown"
	Call    int64  `json:"call_ns"`
	Return  int64  `json:"return_ns"`
}

// cartRead is one successful GetCart during the load (Items) or after it (the final read; Items nil if it failed).
type cartRead struct {
	Cart  string
	Call  int64
	Items []cartLine
}

// cartFinding is one product the check found wrong, or could not verify.
type cartFinding struct {
	Cart    string `json:"cart"`
	Product string `json:"product"`
	// Verdict: "lost" (acknowledged, absent from the final cart), "duplicate" (quantity above 1: applied twice),
	// "unexpected" (a product no AddItem sent, or a quantity below 1), "applied-though-refused" (every attempt was
	// refused before the server could apply it, yet it is there), "stale" (a read invoked after the add was
	// acknowledged did not list it).
	Verdict  string `json:"verdict"`
	Quantity int64  `json:"quantity"`
	Outcome  string `json:"add_outcome,omitempty"`
	// ReadAt is the call time (ns since the load started) of the read that showed it, for a read during the load.
	ReadAt int64 `json:"read_at_ns,omitempty"`
}

// cartReport is check (3): every acknowledged AddItem in its cart exactly once (quantity 1), every unacknowledged
// one at most once, nothing in a cart that the client did not add, and no read during the load that misses an add
// acknowledged before it was invoked.
type cartReport struct {
	Carts        int `json:"carts"`
	Unverified   int `json:"carts_unverified"` // carts whose final read failed: their products are not checked
	Adds         int `json:"adds"`
	Acknowledged int `json:"acknowledged"`
	Unknown      int `json:"unknown"` // outcome unknown: may or may not have been applied
	Failed       int `json:"failed"`  // certainly not applied
	// UnknownPresent and UnknownAbsent: what became of the adds with unknown outcomes (both are fine).
	UnknownPresent int `json:"unknown_present"`
	UnknownAbsent  int `json:"unknown_absent"`
	ReadsChecked   int `json:"reads_checked"` // reads during the load, each checked against the acknowledged adds
	Lost           int `json:"lost"`
	Duplicates     int `json:"duplicates"`
	Unexpected     int `json:"unexpected"`
	AppliedRefused int `json:"applied_though_refused"`
	Stale          int `json:"stale_reads"`
	// Findings lists the first violations (at most maxCartFindings), to say which product went wrong.
	Findings []cartFinding `json:"findings"`
}

const maxCartFindings = 20

// Violations counts the products and reads the check found wrong.
func (r cartReport) Violations() int {
	return r.Lost + r.Duplicates + r.Unexpected + r.AppliedRefused + r.Stale
}

func (r *cartReport) find(finding cartFinding) {
	switch finding.Verdict {
	case "lost":
		r.Lost++
	case "duplicate":
		r.Duplicates++
	case "unexpected":
		r.Unexpected++
	case "applied-though-refused":
		r.AppliedRefused++
	case "stale":
		r.Stale++
	}
	if len(r.Findings) < maxCartFindings {
		r.Findings = append(r.Findings, finding)
	}
}

// quantities sums a cart's lines per product (a product listed twice counts as its total).
func quantities(items []cartLine) map[string]int64 {
	sums := make(map[string]int64, len(items))
	for _, item := range items {
		sums[item.ProductID] += item.Quantity
	}
	return sums
}

// checkCarts checks the carts: finals holds each cart's final read (every cart the load used, Items nil when the
// read failed), reads the successful reads during the load, adds every AddItem.
func checkCarts(adds []cartAdd, finals []cartRead, reads []cartRead) cartReport {
	report := cartReport{Carts: len(finals), Adds: len(adds), Findings: []cartFinding{}}
	byProduct := make(map[string]cartAdd, len(adds))
	acknowledged := map[string][]cartAdd{} // per cart, the acknowledged adds, for the reads during the load
	for _, add := range adds {
		byProduct[add.Cart+"\x00"+add.Product] = add
		switch add.Outcome {
		case "ok":
			report.Acknowledged++
			acknowledged[add.Cart] = append(acknowledged[add.Cart], add)
		case "unknown":
			report.Unknown++
		default:
			report.Failed++
		}
	}

	// A product in a cart: its quantity must be 1 and an AddItem of it to this cart must have been sent (and not
	// certainly refused).
	checkPresent := func(cart, product string, quantity int64, readAt int64) {
		add, known := byProduct[cart+"\x00"+product]
		finding := cartFinding{Cart: cart, Product: product, Quantity: quantity, Outcome: add.Outcome, ReadAt: readAt}
		switch {
		case !known || quantity < 1:
			finding.Verdict = "unexpected"
		case quantity > 1:
			finding.Verdict = "duplicate"
		case add.Outcome == "failed":
			finding.Verdict = "applied-though-refused"
		default:
			return
		}
		report.find(finding)
	}

	finalOf := make(map[string]map[string]int64, len(finals))
	for _, final := range finals {
		if final.Items == nil {
			report.Unverified++
			continue
		}
		// Summed per product: a product listed twice is a duplicate even with quantity 1 on each line.
		sums := quantities(final.Items)
		finalOf[final.Cart] = sums
		for product, quantity := range sums {
			checkPresent(final.Cart, product, quantity, 0)
		}
	}
	for _, add := range adds {
		sums, read := finalOf[add.Cart]
		if !read {
			continue // an unverified cart
		}
		_, present := sums[add.Product]
		switch {
		case add.Outcome == "ok" && !present:
			report.find(cartFinding{Cart: add.Cart, Product: add.Product, Verdict: "lost", Outcome: add.Outcome})
		case add.Outcome == "unknown" && present:
			report.UnknownPresent++
		case add.Outcome == "unknown":
			report.UnknownAbsent++
		}
	}

	// A read during the load sees every add acknowledged before it was invoked, and nothing wrong.
	for _, read := range reads {
		report.ReadsChecked++
		sums := quantities(read.Items)
		for product, quantity := range sums {
			checkPresent(read.Cart, product, quantity, read.Call)
		}
		for _, add := range acknowledged[read.Cart] {
			if add.Return < read.Call {
				if _, present := sums[add.Product]; !present {
					report.find(cartFinding{Cart: read.Cart, Product: add.Product, Verdict: "stale", Outcome: add.Outcome,
						ReadAt: read.Call})
				}
			}
		}
	}
	return report
}
