package main

import (
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

func ok(client int, kind string, call, ret, value int64) hotOp {
	op := hotOp{Client: client, Kind: kind, Call: call, Return: ret, Outcome: "ok", Value: value}
	if kind == "add" {
		op.Delta = 1
	}
	return op
}

func unknownAdd(client int, call, ret int64) hotOp {
	return hotOp{Client: client, Kind: "add", Delta: 1, Call: call, Return: ret, Outcome: "unknown"}
}

func checkResult(t *testing.T, initial int64, ops []hotOp) string {
	t.Helper()
	report, err := checkLinearizable("hot", initial, ops, 10*time.Second, "")
	if err != nil {
		t.Fatal(err)
	}
	return report.Result
}

func TestConcurrentAddsAndGetsAreLinearizable(t *testing.T) {
	history := []hotOp{
		ok(0, "add", 0, 10, 2), // overlaps client 1's add, which took effect first
		ok(1, "add", 1, 5, 1),
		ok(2, "get", 6, 8, 1), // between the two adds
		ok(2, "get", 11, 12, 2),
	}
	if got := checkResult(t, 0, history); got != "ok" {
		t.Fatalf("linearizable history judged %s", got)
	}
}

func TestStaleGetAfterAcknowledgedAddIsNotLinearizable(t *testing.T) {
	history := []hotOp{
		ok(0, "add", 0, 10, 6),
		ok(1, "get", 20, 30, 5), // the add completed before this get began: 5 is stale
	}
	if got := checkResult(t, 5, history); got != "illegal" {
		t.Fatalf("stale read judged %s", got)
	}
}

func TestAddAnsweringAValueNoOrderExplainsIsNotLinearizable(t *testing.T) {
	history := []hotOp{
		ok(0, "add", 0, 10, 1),
		ok(1, "add", 20, 30, 1), // a second add that did not see the first: a lost update
	}
	if got := checkResult(t, 0, history); got != "illegal" {
		t.Fatalf("lost update judged %s", got)
	}
}

func TestAnAddWithUnknownOutcomeMayOrMayNotHaveHappened(t *testing.T) {
	// A get after the unknown add sees 1 if it happened, 0 if not (yet, or ever); the next add agrees.
	for seen := int64(0); seen <= 1; seen++ {
		history := []hotOp{
			unknownAdd(0, 0, 10),
			ok(1, "get", 20, 30, seen),
			ok(1, "add", 40, 50, seen+1),
		}
		if got := checkResult(t, 0, history); got != "ok" {
			t.Fatalf("an unknown add, then a get of %d, judged %s", seen, got)
		}
	}
}

func TestAnAddWithUnknownOutcomeHappensAtMostOnce(t *testing.T) {
	history := []hotOp{
		unknownAdd(0, 0, 10),
		ok(1, "get", 20, 30, 2), // one pending add cannot explain 2
	}
	if got := checkResult(t, 0, history); got != "illegal" {
		t.Fatalf("a pending add counted twice judged %s", got)
	}
}

func TestFailedOpsAndUnansweredGetsAreLeftOut(t *testing.T) {
	history := []hotOp{
		{Client: 0, Kind: "add", Delta: 1, Call: 0, Return: 10, Outcome: "failed"},
		{Client: 1, Kind: "get", Call: 0, Return: 10, Outcome: "unknown"},
		ok(2, "get", 20, 30, 0),
	}
	if got := len(porcupineHistory(history)); got != 1 {
		t.Fatalf("history has %d ops, want only the answered get", got)
	}
	if got := checkResult(t, 0, history); got != "ok" {
		t.Fatalf("judged %s", got)
	}
}

func TestExactlyOnceVerdicts(t *testing.T) {
	value := func(v int64) *int64 { return &v }
	cases := []struct {
		name                  string
		acknowledged, unknown int64
		final                 *int64
		want                  string
	}{
		{"every acknowledged add counted once", 10, 0, value(10), "ok"},
		{"an acknowledged add missing", 10, 0, value(9), "lost"},
		{"an add counted twice", 10, 0, value(11), "duplicate"},
		{"unknown adds that did not happen", 10, 3, value(10), "ok"},
		{"unknown adds that all happened", 10, 3, value(13), "ok"},
		{"more than the unknown adds explain", 10, 3, value(14), "duplicate"},
		{"lost even with unknown adds", 10, 3, value(9), "lost"},
		{"final read failed", 10, 0, nil, "unverified"},
	}
	for _, c := range cases {
		if got := exactlyOnceVerdict(c.acknowledged, c.unknown, c.final); got != c.want {
			t.Errorf("%s: got %s, want %s", c.name, got, c.want)
		}
	}
}

func TestExactlyOnceSummaryCountsEachVerdict(t *testing.T) {
	value := func(v int64) *int64 { return &v }
	summary := summarizeExactlyOnce([]ownKeyCount{
		{Key: "a", Acknowledged: 3, Final: value(3)},
		{Key: "b", Acknowledged: 3, Final: value(2)},
		{Key: "c", Acknowledged: 3, Unknown: 1, Final: value(5)},
		{Key: "d", Acknowledged: 3},
	})
	if summary.Keys != 4 || summary.Lost != 1 || summary.Duplicates != 1 || summary.Unverified != 1 {
		t.Fatalf("summary %+v", summary)
	}
	if summary.PerKey[0].Verdict != "ok" {
		t.Fatalf("key a: %s", summary.PerKey[0].Verdict)
	}
}

func TestLongestGapWithoutSuccessIncludesTheStartAndTheEnd(t *testing.T) {
	if got := longestGapWithoutSuccess([]int64{50, 10, 20}, 60); got != (gap{start: 20, end: 50}) {
		t.Fatalf("got %+v", got)
	}
	if got := longestGapWithoutSuccess([]int64{40, 45}, 50); got != (gap{start: 0, end: 40}) {
		t.Fatalf("from the start: got %+v", got)
	}
	if got := longestGapWithoutSuccess(nil, 70); got != (gap{start: 0, end: 70}) {
		t.Fatalf("no success: got %+v", got)
	}
}

func TestRecoveryCountsOnlyOpsInvokedAfterTheFault(t *testing.T) {
	ops := []completedOp{
		{call: 90, ret: 110, ok: true},   // in flight at the fault: may have been served before it
		{call: 100, ret: 130, ok: false}, // failed
		{call: 120, ret: 180, ok: true},
		{call: 105, ret: 150, ok: true}, // the first success invoked after the fault
	}
	recovery, found := recoveryAfterFault(ops, 100)
	if !found || recovery != 50 {
		t.Fatalf("recovery %v found %v, want 50ns", recovery, found)
	}
	if _, found := recoveryAfterFault(ops, 200); found {
		t.Fatal("found a recovery with no op after the fault")
	}
}

func TestPercentileIsNearestRank(t *testing.T) {
	var sorted []time.Duration
	for i := 1; i <= 100; i++ {
		sorted = append(sorted, time.Duration(i))
	}
	if percentile(sorted, 50) != 50 || percentile(sorted, 99) != 99 || percentile(sorted, 100) != 100 {
		t.Fatalf("p50 %v p99 %v max %v", percentile(sorted, 50), percentile(sorted, 99), percentile(sorted, 100))
	}
	if percentile(nil, 50) != 0 {
		t.Fatal("no samples")
	}
}

func TestCounterValueIsANumberOrAString(t *testing.T) {
	accepted := map[string]int64{`5`: 5, `"5"`: 5, " -12\n": -12, `"9223372036854775807"`: 9223372036854775807}
	for payload, want := range accepted {
		got, err := parseCounterValue([]byte(payload))
		if err != nil || got != want {
			t.Errorf("%q: got %d, %v", payload, got, err)
		}
	}
	for _, payload := range []string{`{}`, `"x"`, `1.5`, ``} {
		if _, err := parseCounterValue([]byte(payload)); err == nil {
			t.Errorf("%q accepted", payload)
		}
	}
}

// pendingToTheEnd is the textbook encoding the credit model replaces: an add with an unknown outcome stays pending
// until after the last return and may take effect anywhere after its call. Exponential in pending adds, so only
// for small histories, as the oracle the credit model must agree with.
func pendingToTheEnd(initial int64, ops []hotOp) porcupine.CheckResult {
	var end int64
	for _, op := range ops {
		end = max(end, op.Return)
	}
	var history []porcupine.Operation
	for _, op := range ops {
		switch {
		case op.Outcome == "ok":
			history = append(history, porcupine.Operation{ClientId: op.Client, Input: counterInput{op.Kind, op.Delta},
				Output: counterOutput{Known: true, Value: op.Value}, Call: op.Call, Return: op.Return})
		case op.Outcome == "unknown" && op.Kind == "add":
			history = append(history, porcupine.Operation{ClientId: op.Client, Input: counterInput{op.Kind, op.Delta},
				Output: counterOutput{}, Call: op.Call, Return: end + 1})
		}
	}
	model := porcupine.Model{
		Init: func() interface{} { return initial },
		Step: func(state, input, output interface{}) (bool, interface{}) {
			value, in, out := state.(int64), input.(counterInput), output.(counterOutput)
			if in.Kind == "add" {
				return !out.Known || out.Value == value+in.Delta, value + in.Delta
			}
			return out.Value == value, value
		},
	}
	return porcupine.CheckOperationsTimeout(model, history, 10*time.Second)
}

// randomHistory simulates clients on a real counter: each op takes effect at a random point of its interval; an
// unknown add took effect or not; with corrupt set, one answer is off by one, which may or may not be explainable.
func randomHistory(random *rand.Rand, clients, opsPerClient int, corrupt bool) []hotOp {
	type event struct {
		at     int64
		client int
		index  int
	}
	var ops []hotOp
	var effects []event
	for client := 0; client < clients; client++ {
		now := int64(random.IntN(5))
		for i := 0; i < opsPerClient; i++ {
			call := now
			ret := call + 1 + int64(random.IntN(20))
			op := hotOp{Client: client, Kind: "add", Delta: 1, Call: call, Return: ret, Outcome: "ok"}
			if random.IntN(2) == 0 {
				op.Kind, op.Delta = "get", 0
			}
			if op.Kind == "add" && random.IntN(4) == 0 {
				op.Outcome = "unknown"
			}
			ops = append(ops, op)
			if op.Outcome == "ok" || random.IntN(2) == 0 {
				at := call + int64(random.IntN(int(ret-call)+1))
				effects = append(effects, event{at: at, client: client, index: len(ops) - 1})
			}
			now = ret + 1 + int64(random.IntN(3))
		}
	}
	sort.Slice(effects, func(i, j int) bool { return effects[i].at < effects[j].at })
	value := int64(0)
	for _, effect := range effects {
		op := &ops[effect.index]
		value += op.Delta
		op.Value = value
	}
	if corrupt {
		ops[random.IntN(len(ops))].Value += int64(random.IntN(2)*2 - 1)
	}
	return ops
}

func TestTheCreditModelAgreesWithPendingToTheEnd(t *testing.T) {
	random := rand.New(rand.NewPCG(14, 14))
	verdicts := map[string]int{}
	for round := 0; round < 400; round++ {
		history := randomHistory(random, 3, 6, round%2 == 1)
		want := pendingToTheEnd(0, history)
		got := checkResult(t, 0, history)
		if (want == porcupine.Ok) != (got == "ok") || want == porcupine.Unknown {
			t.Fatalf("round %d: credit model %s, pending to the end %s, history %+v", round, got, want, history)
		}
		verdicts[got]++
	}
	// Both verdicts must have come up, or the comparison says little.
	if verdicts["ok"] < 50 || verdicts["illegal"] < 50 {
		t.Fatalf("verdicts %v", verdicts)
	}
}

func TestManyUnknownAddsInALongHistoryAreCheckedQuickly(t *testing.T) {
	// 10,000 ops with 64 adds of unknown outcome, half of which took effect: pending to the end, this timed out.
	var ops []hotOp
	value, now := int64(0), int64(0)
	for i := 0; i < 10000; i++ {
		switch {
		case i%150 == 5:
			ops = append(ops, unknownAdd(i%4, now, now+5))
			if i%300 == 5 {
				value++
			}
		case i%2 == 0:
			value++
			ops = append(ops, ok(i%4, "add", now, now+5, value))
		default:
			ops = append(ops, ok(i%4, "get", now, now+5, value))
		}
		now += 10
	}
	started := time.Now()
	if got := checkResult(t, 0, ops); got != "ok" {
		t.Fatalf("judged %s", got)
	}
	if elapsed := time.Since(started); elapsed > 5*time.Second {
		t.Fatalf("the check took %v", elapsed)
	}
}

// cartAdds and cartLines build the cart check's inputs: "product:outcome" and "product:quantity".
func cartAddsOf(cart string, specs ...string) []cartAdd {
	var adds []cartAdd
	for i, spec := range specs {
		product, outcome, _ := strings.Cut(spec, ":")
		adds = append(adds, cartAdd{Cart: cart, Product: product, Outcome: outcome, Call: int64(10 * i),
			Return: int64(10*i + 5)})
	}
	return adds
}

func cartLinesOf(specs ...string) []cartLine {
	lines := []cartLine{}
	for _, spec := range specs {
		product, quantity, _ := strings.Cut(spec, ":")
		n, _ := strconv.ParseInt(quantity, 10, 64)
		lines = append(lines, cartLine{ProductID: product, Name: product, Quantity: n})
	}
	return lines
}

func verdicts(report cartReport) map[string]string {
	found := map[string]string{}
	for _, finding := range report.Findings {
		found[finding.Product] = finding.Verdict
	}
	return found
}

func TestCartItemsAcknowledgedOnceAndUnknownAtMostOncePass(t *testing.T) {
	adds := cartAddsOf("c", "p1:ok", "p2:ok", "p3:unknown", "p4:unknown", "p5:failed")
	// p3 applied (its reply lost), p4 not: both are fine; p5 was refused and is absent.
	report := checkCarts(adds, []cartRead{{Cart: "c", Items: cartLinesOf("p1:1", "p2:1", "p3:1")}}, nil)
	if report.Violations() != 0 || report.Unverified != 0 || len(report.Findings) != 0 {
		t.Fatalf("%+v", report)
	}
	if report.Acknowledged != 2 || report.Unknown != 2 || report.Failed != 1 || report.UnknownPresent != 1 ||
		report.UnknownAbsent != 1 || report.Adds != 5 || report.Carts != 1 {
		t.Fatalf("counts %+v", report)
	}
}

func TestAnAcknowledgedCartItemMissingIsLost(t *testing.T) {
	report := checkCarts(cartAddsOf("c", "p1:ok", "p2:ok"), []cartRead{{Cart: "c", Items: cartLinesOf("p1:1")}}, nil)
	if report.Lost != 1 || report.Violations() != 1 || verdicts(report)["p2"] != "lost" {
		t.Fatalf("%+v", report)
	}
}

func TestACartItemWithQuantityTwoIsADuplicateWhateverItsOutcome(t *testing.T) {
	adds := cartAddsOf("c", "p1:ok", "p2:unknown", "p3:ok")
	// p3 is listed twice with quantity 1: applied twice all the same.
	final := []cartRead{{Cart: "c", Items: cartLinesOf("p1:2", "p2:2", "p3:1", "p3:1")}}
	report := checkCarts(adds, final, nil)
	found := verdicts(report)
	if report.Duplicates != 3 || report.Violations() != 3 || found["p1"] != "duplicate" ||
		found["p2"] != "duplicate" || found["p3"] != "duplicate" {
		t.Fatalf("%+v", report)
	}
}

func TestACartItemNoAddSentIsUnexpected(t *testing.T) {
	adds := cartAddsOf("c", "p1:ok")
	// p9 was never sent; p1 in cart d was sent to cart c only.
	final := []cartRead{{Cart: "c", Items: cartLinesOf("p1:1", "p9:1")}, {Cart: "d", Items: cartLinesOf("p1:1")}}
	report := checkCarts(adds, final, nil)
	if report.Unexpected != 2 || report.Violations() != 2 || verdicts(report)["p9"] != "unexpected" {
		t.Fatalf("%+v", report)
	}
}

func TestACartItemEveryAttemptOfWhichWasRefusedMustBeAbsent(t *testing.T) {
	report := checkCarts(cartAddsOf("c", "p1:failed"), []cartRead{{Cart: "c", Items: cartLinesOf("p1:1")}}, nil)
	if report.AppliedRefused != 1 || report.Violations() != 1 {
		t.Fatalf("%+v", report)
	}
}

func TestAnUnreadCartIsUnverifiedNotAViolation(t *testing.T) {
	adds := append(cartAddsOf("c", "p1:ok"), cartAddsOf("d", "p2:ok")...)
	report := checkCarts(adds, []cartRead{{Cart: "c", Items: nil}, {Cart: "d", Items: cartLinesOf("p2:1")}}, nil)
	if report.Unverified != 1 || report.Violations() != 0 {
		t.Fatalf("%+v", report)
	}
}

func TestACartReadMustSeeEveryAddAcknowledgedBeforeIt(t *testing.T) {
	// p1 returned at 5, p2 at 15, p3 (unknown) at 25.
	adds := cartAddsOf("c", "p1:ok", "p2:ok", "p3:unknown")
	final := []cartRead{{Cart: "c", Items: cartLinesOf("p1:1", "p2:1")}}
	reads := []cartRead{
		{Cart: "c", Call: 12, Items: cartLinesOf("p1:1")},         // p2 still in flight: fine
		{Cart: "c", Call: 30, Items: cartLinesOf("p1:1", "p2:1")}, // p3 may not have happened: fine
		{Cart: "c", Call: 40, Items: cartLinesOf("p2:1")},         // p1 acknowledged at 5, gone: stale
		{Cart: "c", Call: 50, Items: cartLinesOf("p1:1", "p2:2")}, // applied twice, seen during the load
	}
	report := checkCarts(adds, final, reads)
	if report.ReadsChecked != 4 || report.Stale != 1 || report.Duplicates != 1 || report.Violations() != 2 {
		t.Fatalf("%+v", report)
	}
	if found := verdicts(report); found["p1"] != "stale" || found["p2"] != "duplicate" {
		t.Fatalf("%+v", report.Findings)
	}
}

func TestGetCartRepliesAreParsed(t *testing.T) {
	items, err := parseCart([]byte(`{"items":[{"productId":"p1","name":"n","quantity":1}]}`))
	if err != nil || len(items) != 1 || items[0] != (cartLine{ProductID: "p1", Name: "n", Quantity: 1}) {
		t.Fatalf("%v %+v", err, items)
	}
	if items, err := parseCart([]byte(`{}`)); err != nil || items == nil || len(items) != 0 {
		t.Fatalf("an empty cart: %v %+v", err, items)
	}
	if _, err := parseCart([]byte(`"3"`)); err == nil {
		t.Fatal("a counter's reply read as a cart")
	}
}

// failoverOps: "moved" recovers last, "local" first, "before" is touched only before the fault, "in-flight" succeeds
// only with an op invoked before the fault, and "down" has ops after the fault that all fail.
func failoverOps() []completedOp {
	return []completedOp{
		{call: 10, ret: 20, ok: true, entity: "before"},
		{call: 90, ret: 5000, ok: true, entity: "before"}, // in flight at the fault: ignored
		{call: 95, ret: 110, ok: true, entity: "in-flight"},
		{call: 90, ret: 120, ok: true, entity: "moved"}, // in flight: may have been served before the fault
		{call: 100, ret: 400, ok: false, entity: "moved"},
		{call: 410, ret: 900, ok: true, entity: "moved"}, // its first success invoked after the fault
		{call: 500, ret: 700, ok: true, entity: "moved"}, // invoked later, completed earlier: the first
		{call: 950, ret: 960, ok: true, entity: "moved"},
		{call: 101, ret: 105, ok: true, entity: "local"},
		{call: 102, ret: 130, ok: true, entity: "middle"},
		{call: 120, ret: 140, ok: false, entity: "down"},
		{call: 150, ret: 300, ok: false, entity: "down"},
	}
}

func TestEntityRecoveryFindsTheSlowestEntity(t *testing.T) {
	got := entityRecoveryAfterFault(failoverOps(), 100)
	// Measured: moved (600), local (5), middle (30), and down (no success); before and in-flight are not.
	if got.Entities != 4 || got.Recovered != 3 {
		t.Fatalf("entities %d recovered %d, want 4 and 3: %+v", got.Entities, got.Recovered, got)
	}
	if got.Slowest != "moved" || got.SlowestAfter != 600 {
		t.Fatalf("slowest %q after %v, want moved after 600ns", got.Slowest, got.SlowestAfter)
	}
	if got.Median != 30 {
		t.Fatalf("median %v, want 30ns", got.Median)
	}
	if strings.Join(got.NotRecovered, ",") != "down" {
		t.Fatalf("not recovered %v, want [down]", got.NotRecovered)
	}
}

func TestEntityRecoveryIgnoresEntitiesTouchedOnlyBeforeTheFault(t *testing.T) {
	ops := []completedOp{
		{call: 10, ret: 20, ok: true, entity: "early"},
		{call: 50, ret: 9000, ok: true, entity: "early"}, // in flight at the fault, however late it returned
		{call: 200, ret: 230, ok: true, entity: "late"},
	}
	got := entityRecoveryAfterFault(ops, 100)
	if got.Entities != 1 || got.Slowest != "late" || got.SlowestAfter != 130 || len(got.NotRecovered) != 0 {
		t.Fatalf("got %+v, want only late, 130ns", got)
	}
}

func TestEntityRecoveryDoesNotCountOpsInFlightAtTheFault(t *testing.T) {
	ops := []completedOp{
		{call: 99, ret: 150, ok: true, entity: "a"},   // invoked before the fault
		{call: 100, ret: 180, ok: false, entity: "a"}, // at the fault: counts, but failed
		{call: 190, ret: 250, ok: true, entity: "a"},
	}
	got := entityRecoveryAfterFault(ops, 100)
	if got.Slowest != "a" || got.SlowestAfter != 150 || got.Median != 150 {
		t.Fatalf("got %+v, want a after 150ns", got)
	}
}

func TestEntityRecoveryReportsAnEntityWithNoSuccessAfterTheFault(t *testing.T) {
	ops := []completedOp{
		{call: 50, ret: 150, ok: true, entity: "b"}, // a success, but in flight at the fault
		{call: 110, ret: 200, ok: false, entity: "b"},
		{call: 120, ret: 210, ok: false, entity: "c"},
	}
	got := entityRecoveryAfterFault(ops, 100)
	if got.Entities != 2 || got.Recovered != 0 || got.Slowest != "" || got.SlowestAfter != 0 || got.Median != 0 {
		t.Fatalf("got %+v, want 2 entities, none recovered", got)
	}
	if strings.Join(got.NotRecovered, ",") != "b,c" {
		t.Fatalf("not recovered %v, want [b c]", got.NotRecovered)
	}
	fault := faultRecovery(1700000000000, 100, ops)
	if fault.EntitiesAfterFault != 2 || fault.EntitiesNotRecovered != 2 || fault.SlowestEntityRecoveryMs != nil ||
		fault.MedianEntityRecoveryMs != nil || fault.SlowestEntity != "" || fault.RecoveryMs != nil {
		t.Fatalf("fault report %+v", fault)
	}
}

func TestEntityRecoveryMedian(t *testing.T) {
	op := func(entity string, ret int64) completedOp {
		return completedOp{call: 100, ret: ret, ok: true, entity: entity}
	}
	odd := entityRecoveryAfterFault([]completedOp{op("a", 400), op("b", 110), op("c", 1100), op("d", 130),
		op("e", 200)}, 100)
	if odd.Median != 100 || odd.Slowest != "c" || odd.SlowestAfter != 1000 {
		t.Fatalf("odd: median %v slowest %q %v, want 100ns, c 1000ns", odd.Median, odd.Slowest, odd.SlowestAfter)
	}
	even := entityRecoveryAfterFault([]completedOp{op("a", 400), op("b", 110), op("c", 1100), op("d", 130)}, 100)
	if even.Median != 165 { // (30 + 300) / 2
		t.Fatalf("even: median %v, want 165ns", even.Median)
	}
	one := entityRecoveryAfterFault([]completedOp{op("a", 150)}, 100)
	if one.Median != 50 || one.SlowestAfter != 50 {
		t.Fatalf("one: %+v", one)
	}
	// A tie for the slowest goes to the first name.
	tie := entityRecoveryAfterFault([]completedOp{op("z", 300), op("y", 300), op("x", 120)}, 100)
	if tie.Slowest != "y" {
		t.Fatalf("tie: slowest %q, want y", tie.Slowest)
	}
}

func TestFaultReportInMilliseconds(t *testing.T) {
	ms := int64(time.Millisecond)
	ops := []completedOp{
		{call: 6000 * ms, ret: 6010 * ms, ok: true, entity: "own-0"},
		{call: 6001 * ms, ret: 8500 * ms, ok: true, entity: "cart-x-3"},
		{call: 6002 * ms, ret: 6040 * ms, ok: true, entity: "hot-x"},
		{call: 6003 * ms, ret: 6100 * ms, ok: false, entity: "cart-x-4"},
	}
	fault := faultRecovery(1700000006000, 6000*ms, ops)
	if fault.RecoveryMs == nil || *fault.RecoveryMs != 10 {
		t.Fatalf("recovery %v, want 10 ms", fault.RecoveryMs)
	}
	if fault.SlowestEntityRecoveryMs == nil || *fault.SlowestEntityRecoveryMs != 2500 ||
		fault.SlowestEntity != "cart-x-3" || fault.MedianEntityRecoveryMs == nil ||
		*fault.MedianEntityRecoveryMs != 40 || fault.EntitiesAfterFault != 4 || fault.EntitiesNotRecovered != 1 ||
		strings.Join(fault.NotRecovered, ",") != "cart-x-4" {
		t.Fatalf("fault report %+v", fault)
	}
	var out strings.Builder
	printSummary(&out, report{Fault: fault, Verdict: "pass"})
	for _, want := range []string{
		"fault                  at 1700000006000: first success 10 ms after it\n",
		"fault per entity       slowest first success 2500 ms after it (cart-x-3); median 40 ms; 4 entities\n",
		"not recovered          1 entities had ops after the fault but no success: cart-x-4\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("summary lacks %q:\n%s", want, out.String())
		}
	}
}
