// Package race tells whether the binary was built with the race detector, so
// that long single-goroutine replays (which the detector slows tenfold and
// cannot find anything in) can skip under -race and run in the race-free pass.
package race
