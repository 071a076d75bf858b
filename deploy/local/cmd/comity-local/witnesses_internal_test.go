package main

import (
	"net"
	"strings"
	"testing"
)

// TestWitnessAddrsNotLoopback: comity-local serves its witnesses over plain
// HTTP, so a --witness-addrs address that is not loopback is refused,
// naming the flag and the state, before any witness starts.
func TestWitnessAddrsNotLoopback(t *testing.T) {
	ls := make([]net.Listener, len(witnessStates))
	for i := range ls {
		addr := "127.0.0.1:0"
		if i == 1 {
			addr = "0.0.0.0:0" // KZ's, on every interface
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		ls[i] = l
	}
	_, _, err := localWitnesses(t.TempDir(), "comity.test/audit", ls)
	if err == nil {
		t.Fatal("a witness on every interface was accepted")
	}
	for _, want := range []string{"--witness-addrs", "KZ", "loopback"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}
