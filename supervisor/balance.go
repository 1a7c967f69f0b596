package supervisor

import (
	"math"
	"sort"
)

// Scaling is what the balancer may do with one supervisor's processes, from its config.
type Scaling struct {
	Balance  string // config.BalanceOff, BalanceSimple or BalanceAuto
	Min, Max int    // per queue (auto) and in total
	MaxShift int    // processes one queue gains or loses per step (auto)
}

// Plan returns how many processes each of queues should have after one balancing step, from
// how many it has now (cur) and its load (ready jobs, or ready jobs times their average run time):
//
//   - "simple" splits Max evenly, the first queues taking the remainder;
//   - "auto" gives each queue Min, then shares what is left of Max in proportion to the loads,
//     moving each queue at most MaxShift towards its share per step, never above Max in total
//     (a queue that must grow waits for the others to shrink first).
//
// The result depends only on its inputs, so a steady load reaches a steady plan and stays there.
// "off" has one pool working every queue, which Plan does not split: it returns nil.
func Plan(queues []string, cur map[string]int, load map[string]float64, s Scaling) map[string]int {
	switch s.Balance {
	case "simple":
		out := make(map[string]int, len(queues))
		for i, q := range queues {
			out[q] = s.Max / len(queues)
			if i < s.Max%len(queues) {
				out[q]++
			}
		}
		return out
	case "auto":
		return stepTowards(queues, cur, share(queues, load, s), s)
	}
	return nil
}

// share is where "auto" heads: Min each, and the rest of Max by load, largest remainders first.
func share(queues []string, load map[string]float64, s Scaling) map[string]int {
	want := make(map[string]int, len(queues))
	total := 0.0
	for _, q := range queues {
		want[q] = s.Min
		total += max(load[q], 0)
	}
	spare := s.Max - s.Min*len(queues)
	if total == 0 || spare <= 0 {
		return want
	}
	type part struct {
		q    string
		frac float64
	}
	var parts []part
	given := 0
	for _, q := range queues {
		exact := float64(spare) * max(load[q], 0) / total
		whole := int(math.Floor(exact))
		want[q] += whole
		given += whole
		if load[q] > 0 {
			parts = append(parts, part{q, exact - float64(whole)})
		}
	}
	sort.SliceStable(parts, func(i, j int) bool { return parts[i].frac > parts[j].frac })
	for i := 0; given < spare && i < len(parts); i++ {
		want[parts[i].q]++
		given++
	}
	return want
}

// stepTowards moves cur towards want by at most MaxShift a queue, shrinking first so that growing
// queues never push the total past Max.
func stepTowards(queues []string, cur, want map[string]int, s Scaling) map[string]int {
	next := make(map[string]int, len(queues))
	used := 0
	for _, q := range queues {
		n := cur[q]
		if n > want[q] {
			n = max(want[q], n-s.MaxShift)
		}
		n = max(n, s.Min)
		next[q] = n
		used += n
	}
	for _, q := range queues { // priority order: the first queues grow first
		if grow := min(want[q]-next[q], s.MaxShift, s.Max-used); grow > 0 {
			next[q] += grow
			used += grow
		}
	}
	return next
}
