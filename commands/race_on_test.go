//go:build race

package commands_test

// raceEnabled is true when the tests run under -race, which makes SQLite (Go translated from C)
// about fifteen times slower: the 100,000-job acceptance test shrinks unless asked for in full.
const raceEnabled = true
