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

// completedOp is an op's call and return (nanoseconds since the load started) and whether it succeeded.
type completedOp struct {
	call, ret int64
	ok        bool
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
