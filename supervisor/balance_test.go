package supervisor

import (
	"reflect"
	"testing"
)

func TestPlan(t *testing.T) {
	ab := []string{"a", "b"}
	auto := Scaling{Balance: "auto", Min: 1, Max: 10, MaxShift: 2}
	for _, tc := range []struct {
		name   string
		queues []string
		cur    map[string]int
		load   map[string]float64
		s      Scaling
		want   map[string]int
	}{
		{"simple splits evenly, remainder first", []string{"a", "b", "c"}, nil, nil,
			Scaling{Balance: "simple", Max: 5}, map[string]int{"a": 2, "b": 2, "c": 1}},
		{"auto: no load keeps the minimum", ab, map[string]int{"a": 1, "b": 1}, nil, auto, map[string]int{"a": 1, "b": 1}},
		{"auto: a backlog on a grows a by the shift", ab, map[string]int{"a": 1, "b": 1}, map[string]float64{"a": 500}, auto,
			map[string]int{"a": 3, "b": 1}},
		{"auto: ...up to its share", ab, map[string]int{"a": 8, "b": 1}, map[string]float64{"a": 500}, auto,
			map[string]int{"a": 9, "b": 1}},
		{"auto: at its share it stays (no flapping)", ab, map[string]int{"a": 9, "b": 1}, map[string]float64{"a": 500}, auto,
			map[string]int{"a": 9, "b": 1}},
		{"auto: drained, back down by the shift", ab, map[string]int{"a": 9, "b": 1}, nil, auto,
			map[string]int{"a": 7, "b": 1}},
		{"auto: proportional shares", ab, map[string]int{"a": 4, "b": 4}, map[string]float64{"a": 300, "b": 100}, Scaling{Balance: "auto", Min: 1, Max: 10, MaxShift: 10},
			map[string]int{"a": 7, "b": 3}},
		{"auto: a growing queue waits for the other to shrink (never above max)", ab, map[string]int{"a": 1, "b": 9}, map[string]float64{"a": 100}, auto,
			map[string]int{"a": 3, "b": 7}},
		{"auto: never below min", ab, map[string]int{"a": 0, "b": 0}, map[string]float64{"b": 1}, Scaling{Balance: "auto", Min: 2, Max: 6, MaxShift: 1},
			map[string]int{"a": 2, "b": 3}},
		{"off is one pool: no plan", ab, nil, nil, Scaling{Balance: "off", Max: 3}, nil},
	} {
		got := Plan(tc.queues, tc.cur, tc.load, tc.s)
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
		total := 0
		for _, n := range got {
			total += n
		}
		if total > tc.s.Max {
			t.Errorf("%s: %d processes, above max %d", tc.name, total, tc.s.Max)
		}
	}
}

// A steady load settles and then never moves: repeated steps from any start reach a fixed point.
func TestPlanSettles(t *testing.T) {
	s := Scaling{Balance: "auto", Min: 1, Max: 7, MaxShift: 1}
	cur := map[string]int{"a": 1, "b": 1, "c": 1}
	load := map[string]float64{"a": 120, "b": 40, "c": 3}
	var prev map[string]int
	for step := 0; step < 20; step++ {
		prev, cur = cur, Plan([]string{"a", "b", "c"}, cur, load, s)
	}
	if !reflect.DeepEqual(prev, cur) {
		t.Fatalf("still moving after 20 steps: %v -> %v", prev, cur)
	}
}
