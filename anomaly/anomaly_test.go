package anomaly

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

var errCause = errors.New("disk on fire")

func TestCategoryMatching(t *testing.T) {
	err := fmt.Errorf("read block: %w", Wrap(Unavailable, "store get 7f3a", errCause))
	if !errors.Is(err, Unavailable) {
		t.Fatalf("errors.Is(%v, Unavailable) = false", err)
	}
	if errors.Is(err, Fault) {
		t.Fatalf("errors.Is(%v, Fault) = true", err)
	}
	if !errors.Is(err, errCause) {
		t.Fatalf("cause not reachable through %v", err)
	}
	if got := CategoryOf(err); got != Unavailable {
		t.Fatalf("CategoryOf = %v, want unavailable", got)
	}
	want := "read block: unavailable: store get 7f3a: disk on fire"
	if err.Error() != want {
		t.Fatalf("Error() = %q, want %q", err.Error(), want)
	}
}

func TestCategoryOf(t *testing.T) {
	cases := []struct {
		err  error
		want Category
	}{
		{nil, 0},
		{New(Incorrect, "parse", "bad %s", "edn"), Incorrect},
		{context.DeadlineExceeded, Interrupted},
		{fmt.Errorf("x: %w", context.Canceled), Interrupted},
		{errCause, Fault},
		{fmt.Errorf("x: %w", NotFound), NotFound},
		{fmt.Errorf("x: %w", isBusy{}), Busy},
	}
	for _, c := range cases {
		if got := CategoryOf(c.err); got != c.want {
			t.Errorf("CategoryOf(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

// isBusy says its category through an Is method, as some error types do.
type isBusy struct{}

func (isBusy) Error() string        { return "queue full" }
func (isBusy) Is(target error) bool { return target == Busy }

func TestNamesRoundTrip(t *testing.T) {
	retryable := map[Category]bool{Unavailable: true, Interrupted: true, Busy: true}
	for c := Unavailable; c <= Fault; c++ {
		got, ok := Parse(c.String())
		if !ok || got != c {
			t.Errorf("Parse(%q) = %v, %v", c.String(), got, ok)
		}
		if c.Retryable() != retryable[c] {
			t.Errorf("%v.Retryable() = %v", c, c.Retryable())
		}
	}
	if _, ok := Parse("bogus"); ok {
		t.Error(`Parse("bogus") succeeded`)
	}
	if s := Category(200).String(); s != "category(200)" {
		t.Errorf("unknown category prints %q", s)
	}
}

func TestWrapNil(t *testing.T) {
	if Wrap(Fault, "op", nil) != nil {
		t.Fatal("Wrap(nil) is not nil")
	}
}
