// Package mtls gives Comity's services their identities on the wire: each
// service and the gateway hold a certificate signed by the deployment's CA
// that names them, present it on every connection, and accept connections
// only from peers whose certificates the same CA signed. A server then
// decides per method which of its peers may call it (Policy).
//
// A certificate names its holder twice: as the URI SAN spiffe://comity/NAME
// (the identity the servers authorise) and as the DNS SAN NAME (what a client
// checks the server's certificate against, so that a caller of the audit
// service knows it reached the audit service and not another of the suite).
package mtls

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
)

// The identities of the suite.
const (
	Directory = "comity-directory"
	Request   = "comity-request"
	Audit     = "comity-audit"
	Gateway   = "comity-gateway"
)

// Identities are every identity of the suite, the ones `comityctl dev certs`
// issues certificates for.
var Identities = []string{Directory, Request, Audit, Gateway}

// trustDomain is the SPIFFE trust domain of the identities' URIs.
const trustDomain = "comity"

// IdentityURI is the URI SAN that names identity name in its certificate.
func IdentityURI(name string) *url.URL {
	return &url.URL{Scheme: "spiffe", Host: trustDomain, Path: "/" + name}
}

// nameOf returns the identity a certificate names, from its URI SANs.
func nameOf(cert *x509.Certificate) (string, bool) {
	for _, u := range cert.URIs {
		if u.Scheme == "spiffe" && u.Host == trustDomain && strings.Count(u.Path, "/") == 1 && len(u.Path) > 1 {
			return u.Path[1:], true
		}
	}
	return "", false
}

// Files are the PEM files of one identity: the CA's certificate, and the
// identity's certificate and private key.
type Files struct {
	CA, Cert, Key string
}

// FilesIn names the files of identity name in dir, as `comityctl dev certs`
// lays them out: ca.pem, NAME.pem and NAME-key.pem.
func FilesIn(dir, name string) Files {
	return Files{
		CA:   filepath.Join(dir, "ca.pem"),
		Cert: filepath.Join(dir, name+".pem"),
		Key:  filepath.Join(dir, name+"-key.pem"),
	}
}

// Identity is one service's certificate and the CA it trusts.
type Identity struct {
	name  string
	cert  tls.Certificate
	roots *x509.CertPool
}

// Load reads an identity from its files. It fails when the certificate does
// not name an identity or the CA did not sign it, so that a wrong file is
// found at start and not at the first call.
func Load(f Files) (*Identity, error) {
	caPEM, err := os.ReadFile(f.CA)
	if err != nil {
		return nil, fmt.Errorf("mtls: CA certificate: %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("mtls: CA certificate %s: no PEM certificate in it", f.CA)
	}
	cert, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		return nil, fmt.Errorf("mtls: certificate %s with key %s: %w", f.Cert, f.Key, err)
	}
	leaf := cert.Leaf
	name, ok := nameOf(leaf)
	if !ok {
		return nil, fmt.Errorf("mtls: certificate %s names no identity (want a URI SAN spiffe://%s/NAME)", f.Cert, trustDomain)
	}
	inter := x509.NewCertPool()
	for _, der := range cert.Certificate[1:] {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("mtls: certificate chain of %s: %w", f.Cert, err)
		}
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return nil, fmt.Errorf("mtls: certificate %s is not signed by the CA of %s: %w", f.Cert, f.CA, err)
	}
	return &Identity{name: name, cert: cert, roots: roots}, nil
}

// Name is the identity the certificate names, e.g. "comity-request".
func (id *Identity) Name() string { return id.name }

// ServerCredentials are a gRPC server's: present the certificate, and
// require every client to present one the CA signed.
func (id *Identity) ServerCredentials() credentials.TransportCredentials {
	return credentials.NewTLS(&tls.Config{
		Certificates: []tls.Certificate{id.cert},
		ClientCAs:    id.roots,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS13,
	})
}

// ClientCredentials are a gRPC client's for calls to the service with
// identity server: present the certificate, and accept only a server whose
// certificate the CA signed for that identity.
func (id *Identity) ClientCredentials(server string) credentials.TransportCredentials {
	return credentials.NewTLS(&tls.Config{
		Certificates: []tls.Certificate{id.cert},
		RootCAs:      id.roots,
		ServerName:   server,
		MinVersion:   tls.VersionTLS13,
		// The DNS name is checked against the CA above; the identity the
		// servers authorise by must match too, so that a certificate the
		// same CA issued for a mere host name cannot pose as a service.
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("mtls: the server presented no certificate")
			}
			if name, ok := nameOf(cs.PeerCertificates[0]); !ok || name != server {
				return fmt.Errorf("mtls: the server's certificate names identity %q, want %s", name, server)
			}
			return nil
		},
	})
}

// PeerName returns the identity of the caller of a gRPC call, from the
// certificate it presented and the server verified; false when the
// connection carries no verified certificate.
func PeerName(ctx context.Context) (string, bool) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return "", false
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.VerifiedChains) == 0 || len(info.State.VerifiedChains[0]) == 0 {
		return "", false
	}
	return nameOf(info.State.VerifiedChains[0][0])
}

// Policy says which methods each peer identity may call on a server: full
// gRPC method names ("/comity.audit.v1.AuditService/Append"), or a service
// followed by "/*" for all of its methods. Every peer the CA vouches for may
// call grpc.health.v1 and server reflection.
type Policy map[string][]string

// What Check reports: ErrNoIdentity when the connection carries no
// verified certificate naming an identity; ErrNotAllowed when the identity
// may not call the method, or not this server at all.
var (
	ErrNoIdentity = errors.New("the caller presented no certificate naming a Comity identity")
	ErrNotAllowed = errors.New("the calling service may not call this method")
)

// Check reports whether the peer of ctx may call fullMethod.
func (p Policy) Check(ctx context.Context, fullMethod string) (string, error) {
	name, ok := PeerName(ctx)
	if !ok {
		return "", ErrNoIdentity
	}
	if strings.HasPrefix(fullMethod, "/grpc.health.v1.Health/") || strings.HasPrefix(fullMethod, "/grpc.reflection.") {
		return name, nil
	}
	allowed, known := p[name]
	if !known {
		return name, fmt.Errorf("%w: %s is not one of this server's callers", ErrNotAllowed, name)
	}
	service := fullMethod[:strings.LastIndexByte(fullMethod, '/')+1]
	if slices.Contains(allowed, fullMethod) || slices.Contains(allowed, service+"*") {
		return name, nil
	}
	return name, fmt.Errorf("%w: %s may not call %s", ErrNotAllowed, name, fullMethod)
}
