package cachetiers

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stratadb/strata/anomaly"
	"github.com/stratadb/strata/segment"
)

func newTestDirStore(t *testing.T, opts DirStoreOptions) *DirStore {
	t.Helper()
	s, err := NewDirStore(opts)
	if err != nil {
		t.Fatalf("NewDirStore: %v", err)
	}
	return s
}

func TestDirStoreConformance(t *testing.T) {
	for _, allowRemove := range []bool{false, true} {
		name := "RemoveRefused"
		if allowRemove {
			name = "AllowRemove"
		}
		t.Run(name, func(t *testing.T) {
			testTierConformance(t, func(t *testing.T) Tier {
				return newTestDirStore(t, DirStoreOptions{Dir: t.TempDir(), AllowRemove: allowRemove})
			})
		})
	}
}

func TestDirStoreZeroLengthRead(t *testing.T) {
	s := newTestDirStore(t, DirStoreOptions{Dir: t.TempDir()})
	defer s.Close()
	testZeroLengthRead(t, s)
}

func TestDirStoreRemoveRefused(t *testing.T) {
	s := newTestDirStore(t, DirStoreOptions{Dir: t.TempDir()})
	defer s.Close()
	id := segment.NewID()
	mustPut(t, s, id, []byte("kept"))
	err := s.Remove(context.Background(), id)
	if !errors.Is(err, anomaly.Unsupported) {
		t.Fatalf("Remove: err = %v, want unsupported", err)
	}
	if _, err := os.Stat(s.Path(id)); err != nil {
		t.Fatalf("the segment's file is gone after a refused Remove: %v", err)
	}
}

func TestDirStoreRestart(t *testing.T) {
	dir := t.TempDir()
	s := newTestDirStore(t, DirStoreOptions{Dir: dir})
	id := segment.NewID()
	data := conformanceData(id, 70000)
	mustPut(t, s, id, data)
	s.Close()
	s2 := newTestDirStore(t, DirStoreOptions{Dir: dir})
	defer s2.Close()
	mustReadEqual(t, s2, id, data)
	<-s2.dir.scanDone
	if st := s2.Stats(); st.Entries != 1 || st.Bytes != 70000 || st.Backend != "dir" {
		t.Fatalf("Stats after reopening = %+v, want 1 entry, 70000 bytes, backend dir", st)
	}
}

func TestDirStoreOptions(t *testing.T) {
	for _, c := range []struct {
		opts DirStoreOptions
		want string
	}{
		{DirStoreOptions{}, "Dir"},
		{DirStoreOptions{Dir: t.TempDir(), TempMaxAge: -time.Minute}, "TempMaxAge"},
	} {
		_, err := NewDirStore(c.opts)
		if !errors.Is(err, anomaly.Incorrect) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("NewDirStore(%+v): err = %v, want an incorrect error naming %s", c.opts, err, c.want)
		}
	}
}
