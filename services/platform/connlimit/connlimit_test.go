package connlimit

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

func TestClientKey(t *testing.T) {
	for _, tc := range []struct{ addr, want string }{
		{"192.0.2.7:443", "192.0.2.7"},
		{"[::ffff:192.0.2.7]:443", "192.0.2.7"},
		{"[2001:db8:1:2:aaaa::1]:443", "2001:db8:1:2::/64"},
		{"[2001:db8:1:2:bbbb::9]:80", "2001:db8:1:2::/64"},
	} {
		t.Run(tc.addr, func(t *testing.T) {
			a, err := net.ResolveTCPAddr("tcp", tc.addr)
			if err != nil {
				t.Fatal(err)
			}
			if got := clientKey(a); got != tc.want {
				t.Errorf("clientKey(%s) = %s, want %s", tc.addr, got, tc.want)
			}
		})
	}
}

func TestNewRefusesABoundThatEatsTheReserve(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cfg    Config
		want   int    // MaxConns, when accepted
		errHas string // when refused
	}{
		{"default of 20000", Config{FileLimit: 20000}, 7500, ""},
		{"default of 1024", Config{FileLimit: 1024}, 256, ""},
		{"explicit within", Config{FileLimit: 20000, MaxConns: 15000}, 15000, ""},
		{"explicit over", Config{FileLimit: 20000, MaxConns: 15001}, 0, "use at most 15000"},
		{"negative", Config{FileLimit: 20000, MaxConnsPerClient: -1}, 0, "must not be negative"},
		{"reserve within", Config{FileLimit: 20000, MaxConns: 100, InternalReserve: 99}, 100, ""},
		{"reserve takes all", Config{FileLimit: 20000, MaxConns: 100, InternalReserve: 100}, 0, "leaves no connection for public listeners"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, err := New(tc.cfg)
			switch {
			case tc.errHas != "":
				if err == nil || !strings.Contains(err.Error(), tc.errHas) {
					t.Fatalf("New = %v, want an error saying %q", err, tc.errHas)
				}
			case err != nil:
				t.Fatal(err)
			case g.MaxConns() != tc.want:
				t.Errorf("MaxConns = %d, want %d", g.MaxConns(), tc.want)
			}
		})
	}
}

// dial connects from local to l and reports whether the connection was
// kept (true) or closed by the guard at once (false).
func dial(t *testing.T, l net.Listener, local string) (net.Conn, bool) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	c, err := d.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	_, err = c.Read(make([]byte, 1))
	var ne net.Error
	return c, errors.As(err, &ne) && ne.Timeout()
}

// Over the per-client bound a client's connections are closed at once while
// other clients still get in; over the total bound everyone's are; a closed
// connection gives its place back.
func TestBounds(t *testing.T) {
	g, err := New(Config{FileLimit: 20000, MaxConns: 3, MaxConnsPerClient: 2})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := g.Wrap(raw, "test")
	defer l.Close()
	// The server side: keep every accepted connection open, close them on
	// demand.
	accepted := make(chan net.Conn, 10)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	steps := []struct {
		from string
		kept bool
	}{
		{"127.0.0.1", true},
		{"127.0.0.1", true},
		{"127.0.0.1", false}, // per client
		{"127.0.0.2", true},
		{"127.0.0.3", false}, // total
	}
	for i, st := range steps {
		if _, kept := dial(t, l, st.from); kept != st.kept {
			t.Fatalf("step %d from %s: kept = %v, want %v", i, st.from, kept, st.kept)
		}
	}
	if total, perClient := g.Refused(); total != 1 || perClient != 1 {
		t.Errorf("Refused = %d total, %d per client; want 1 and 1", total, perClient)
	}
	if g.Open() != 3 {
		t.Errorf("Open = %d, want 3", g.Open())
	}
	c := <-accepted
	c.Close()
	c.Close() // twice: the place is given back once
	if g.Open() != 2 {
		t.Errorf("after a close, Open = %d, want 2", g.Open())
	}
	if _, kept := dial(t, l, "127.0.0.3"); !kept {
		t.Error("a place given back was not taken by the next client")
	}
}

// The files of requests have the descriptors the connections leave: with
// the default bound, as many as the connections.
func TestSpare(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want int
	}{
		{Config{FileLimit: 20000}, 7500},
		{Config{FileLimit: 1024}, 256},
		{Config{FileLimit: 20000, MaxConns: 15000}, 0},
	} {
		t.Run(fmt.Sprint(tc.cfg.FileLimit, "/", tc.cfg.MaxConns), func(t *testing.T) {
			g, err := New(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if g.Spare() != tc.want {
				t.Errorf("Spare = %d, want %d", g.Spare(), tc.want)
			}
		})
	}
}

// A public listener stops at MaxConns less the internal reserve, from any
// number of addresses; an internal listener still gets the reserved places.
func TestInternalReserve(t *testing.T) {
	g, err := New(Config{FileLimit: 20000, MaxConns: 3, InternalReserve: 1})
	if err != nil {
		t.Fatal(err)
	}
	serve := func(l net.Listener) {
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				t.Cleanup(func() { c.Close() })
			}
		}()
	}
	listen := func(wrap func(net.Listener, string) net.Listener) net.Listener {
		raw, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		l := wrap(raw, "test")
		t.Cleanup(func() { l.Close() })
		serve(l)
		return l
	}
	public, internal := listen(g.WrapPublic), listen(g.Wrap)
	for i, st := range []struct {
		l    net.Listener
		from string
		kept bool
	}{
		{public, "127.0.0.1", true},
		{public, "127.0.0.2", true},
		{public, "127.0.0.3", false}, // the public share is taken
		{internal, "127.0.0.1", true},
		{internal, "127.0.0.1", false}, // the total
	} {
		if _, kept := dial(t, st.l, st.from); kept != st.kept {
			t.Fatalf("step %d from %s: kept = %v, want %v", i, st.from, kept, st.kept)
		}
	}
	if g.MaxPublicConns() != 2 {
		t.Errorf("MaxPublicConns = %d, want 2", g.MaxPublicConns())
	}
}
