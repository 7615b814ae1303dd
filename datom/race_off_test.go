//go:build !race

package datom

const raceEnabled = false
