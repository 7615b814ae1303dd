// Package invariants switches on expensive self-checks, as Pebble does: code
// guards them with `if invariants.Enabled { … }` and the compiler drops them
// from normal builds. `make test` runs the storage packages once with
// `-tags invariants`.
package invariants
