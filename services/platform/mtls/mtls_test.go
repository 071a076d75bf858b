package mtls

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
)

func TestEnsureDevIssuesEveryIdentityOnceAndKeepsThem(t *testing.T) {
	dir := t.TempDir()
	if err := EnsureDev(dir); err != nil {
		t.Fatal(err)
	}
	before := map[string][]byte{}
	for _, name := range Identities {
		id, err := Load(FilesIn(dir, name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if id.Name() != name {
			t.Errorf("certificate of %s names %s", name, id.Name())
		}
		before[name], _ = os.ReadFile(FilesIn(dir, name).Cert)
		info, err := os.Stat(FilesIn(dir, name).Key)
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm() != 0o600 {
			t.Errorf("key of %s is readable by others: %v", name, info.Mode().Perm())
		}
	}
	// A second run changes nothing; a deleted certificate comes back,
	// signed by the same CA.
	if err := os.Remove(FilesIn(dir, Audit).Cert); err != nil {
		t.Fatal(err)
	}
	ca, _ := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err := EnsureDev(dir); err != nil {
		t.Fatal(err)
	}
	if again, _ := os.ReadFile(filepath.Join(dir, "ca.pem")); !bytes.Equal(ca, again) {
		t.Error("a second run replaced the CA")
	}
	for _, name := range Identities {
		now, _ := os.ReadFile(FilesIn(dir, name).Cert)
		if name == Audit {
			if bytes.Equal(now, before[name]) {
				t.Error("the deleted certificate was not issued again")
			}
			if _, err := Load(FilesIn(dir, name)); err != nil {
				t.Errorf("the re-issued certificate: %v", err)
			}
			continue
		}
		if !bytes.Equal(now, before[name]) {
			t.Errorf("a second run replaced the certificate of %s", name)
		}
	}
}

func TestEnsureDevRefusesACAWithoutItsKey(t *testing.T) {
	dir := t.TempDir()
	if err := EnsureDev(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "ca-key.pem")); err != nil {
		t.Fatal(err)
	}
	err := EnsureDev(dir)
	if err == nil || !strings.Contains(err.Error(), "has no key beside it") {
		t.Fatalf("got %v, want a refusal to replace a CA whose key is elsewhere", err)
	}
}

// A CA made anew (its files deleted, or only its key left by an interrupted
// run) signs new certificates for every identity: none of the old ones is
// kept, since the new CA would not vouch for them.
func TestEnsureDevReissuesWhatTheCADoesNotVouchFor(t *testing.T) {
	for _, remove := range [][]string{{"ca.pem", "ca-key.pem"}, {"ca.pem"}} {
		dir := t.TempDir()
		if err := EnsureDev(dir); err != nil {
			t.Fatal(err)
		}
		old, _ := os.ReadFile(FilesIn(dir, Request).Cert)
		for _, f := range remove {
			if err := os.Remove(filepath.Join(dir, f)); err != nil {
				t.Fatal(err)
			}
		}
		if err := EnsureDev(dir); err != nil {
			t.Fatalf("after removing %v: %v", remove, err)
		}
		for _, name := range Identities {
			if _, err := Load(FilesIn(dir, name)); err != nil {
				t.Errorf("after removing %v, %s: %v", remove, name, err)
			}
		}
		if now, _ := os.ReadFile(FilesIn(dir, Request).Cert); bytes.Equal(old, now) {
			t.Errorf("after removing %v the old certificate of %s was kept", remove, Request)
		}
	}
	// A certificate another CA signed is replaced too.
	ours, theirs := t.TempDir(), t.TempDir()
	for _, d := range []string{ours, theirs} {
		if err := EnsureDev(d); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{FilesIn(theirs, Audit).Cert, FilesIn(theirs, Audit).Key} {
		data, _ := os.ReadFile(f)
		if err := os.WriteFile(filepath.Join(ours, filepath.Base(f)), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Load(FilesIn(ours, Audit)); err == nil {
		t.Fatal("the foreign certificate loads")
	}
	if err := EnsureDev(ours); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(FilesIn(ours, Audit)); err != nil {
		t.Errorf("the foreign certificate was not replaced: %v", err)
	}
}

func TestLoadRefusesWhatTheCADidNotSign(t *testing.T) {
	ours, theirs := t.TempDir(), t.TempDir()
	for _, d := range []string{ours, theirs} {
		if err := EnsureDev(d); err != nil {
			t.Fatal(err)
		}
	}
	mixed := FilesIn(theirs, Request)
	mixed.CA = filepath.Join(ours, "ca.pem")
	if _, err := Load(mixed); err == nil || !strings.Contains(err.Error(), "not signed by the CA") {
		t.Fatalf("a certificate of another CA: got %v", err)
	}
	wrongKey := FilesIn(ours, Request)
	wrongKey.Key = FilesIn(ours, Audit).Key
	if _, err := Load(wrongKey); err == nil || !strings.Contains(err.Error(), "private key does not match") {
		t.Fatalf("a certificate with another's key: got %v", err)
	}
	// The CA's own certificate names no identity.
	caAsCert := Files{CA: filepath.Join(ours, "ca.pem"), Cert: filepath.Join(ours, "ca.pem"), Key: filepath.Join(ours, "ca-key.pem")}
	if _, err := Load(caAsCert); err == nil || !strings.Contains(err.Error(), "names no identity") {
		t.Fatalf("the CA certificate as an identity: got %v", err)
	}
	missing := FilesIn(filepath.Join(ours, "nowhere"), Request)
	if _, err := Load(missing); err == nil || !strings.Contains(err.Error(), "CA certificate") {
		t.Fatalf("missing files: got %v", err)
	}
}

func TestPolicyCheck(t *testing.T) {
	p := Policy{
		Gateway: {"/comity.request.v1.RequestService/*"},
		Request: {"/comity.audit.v1.AuditService/Append"},
	}
	// Without a verified peer nothing passes, health checks included.
	if _, err := p.Check(t.Context(), "/grpc.health.v1.Health/Check"); !errors.Is(err, ErrNoIdentity) {
		t.Fatalf("no peer: got %v", err)
	}
	dir := t.TempDir()
	if err := EnsureDev(dir); err != nil {
		t.Fatal(err)
	}
	as := func(name string) context.Context {
		var leaf *x509.Certificate
		if name == "ca" {
			ca, _, err := ensureCA(dir)
			if err != nil {
				t.Fatal(err)
			}
			leaf = ca
		} else {
			id, err := Load(FilesIn(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			leaf = id.cert.Leaf
		}
		info := credentials.TLSInfo{State: tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{leaf}}}}
		return peer.NewContext(t.Context(), &peer.Peer{AuthInfo: info})
	}
	for _, c := range []struct {
		peer, method string
		want         error
	}{
		{Gateway, "/comity.request.v1.RequestService/GetRequest", nil},
		{Gateway, "/comity.audit.v1.AuditService/Append", ErrNotAllowed},
		{Request, "/comity.audit.v1.AuditService/Append", nil},
		{Request, "/comity.audit.v1.AuditService/ListEntries", ErrNotAllowed},
		{Request, "/comity.request.v1.RequestService/GetRequest", ErrNotAllowed},
		// Not a caller of this server at all, yet signed by the CA: it may
		// check health, nothing else.
		{Directory, "/comity.request.v1.RequestService/GetRequest", ErrNotAllowed},
		{Directory, "/grpc.health.v1.Health/Check", nil},
		// A method name that merely starts like an allowed service.
		{Gateway, "/comity.request.v1.RequestServiceX/GetRequest", ErrNotAllowed},
		// A certificate the CA signed that names no identity (here the
		// CA's own) is nobody.
		{"ca", "/grpc.health.v1.Health/Check", ErrNoIdentity},
	} {
		name, err := p.Check(as(c.peer), c.method)
		if name != c.peer && c.want != ErrNoIdentity {
			t.Errorf("%s: peer name %q", c.peer, name)
		}
		if !errors.Is(err, c.want) || (c.want == nil) != (err == nil) {
			t.Errorf("%s calling %s: got %v, want %v", c.peer, c.method, err, c.want)
		}
	}
}
