package mtls

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"time"
)

// Validity of the development certificates.
const (
	devCAValidity   = 10 * 365 * 24 * time.Hour
	devCertValidity = 2 * 365 * 24 * time.Hour
)

// EnsureDev makes dir hold a development CA and a certificate for every
// identity of the suite, creating what is missing and keeping what is valid:
// a second run changes nothing, and a service certificate that is missing,
// expires within 30 days, or was not signed by the CA in dir (say, after the
// CA was made anew) is issued again. The certificates name their identity, "localhost",
// 127.0.0.1 and ::1, so that they serve on loopback. Private keys are
// written readable by the owner only.
//
// It is what `comityctl dev certs` and comity-local run; a deployment
// issues its certificates from its own CA, with the same names.
func EnsureDev(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("mtls: certificate directory: %w", err)
	}
	caCert, caKey, err := ensureCA(dir)
	if err != nil {
		return err
	}
	roots := x509.NewCertPool()
	roots.AddCert(caCert)
	for _, name := range Identities {
		f := FilesIn(dir, name)
		if valid(f, name, roots) {
			continue
		}
		if err := issue(f, name, caCert, caKey); err != nil {
			return err
		}
	}
	return nil
}

// renewBefore is how long before its expiry EnsureDev replaces a certificate.
const renewBefore = 30 * 24 * time.Hour

// valid reports whether f holds a certificate for name, with its key, that
// roots signed and that is good for another renewBefore.
func valid(f Files, name string, roots *x509.CertPool) bool {
	cert, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		return false
	}
	got, ok := nameOf(cert.Leaf)
	if !ok || got != name {
		return false
	}
	_, err = cert.Leaf.Verify(x509.VerifyOptions{
		Roots: roots, CurrentTime: time.Now().Add(renewBefore),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	})
	return err == nil
}

func ensureCA(dir string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	certPath, keyPath := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem")
	certPEM, certErr := os.ReadFile(certPath)
	keyPEM, keyErr := os.ReadFile(keyPath)
	switch {
	case certErr == nil && keyErr == nil:
		return parseCA(certPath, certPEM, keyPEM)
	case certErr != nil && !errors.Is(certErr, fs.ErrNotExist):
		return nil, nil, fmt.Errorf("mtls: %w", certErr)
	case keyErr != nil && !errors.Is(keyErr, fs.ErrNotExist):
		return nil, nil, fmt.Errorf("mtls: %w", keyErr)
	case certErr == nil:
		// A CA certificate without its key may be a deployment's CA whose
		// key is kept elsewhere: not ours to replace.
		return nil, nil, fmt.Errorf("mtls: %s has no key beside it (%s); development certificates need both, or neither", certPath, keyPath)
	}
	// Neither, or a key whose certificate was never written (an
	// interrupted first run): a new CA, which signed nothing yet.
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("mtls: CA key: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "Comity development CA", Organization: []string{"Comity"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(devCAValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("mtls: CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("mtls: CA certificate: %w", err)
	}
	// The key first: a CA certificate without its key would block the
	// next run, while a key without its certificate is replaced.
	if err := writeKey(keyPath, key); err != nil {
		return nil, nil, err
	}
	if err := writePEM(certPath, "CERTIFICATE", der, 0o644); err != nil {
		return nil, nil, err
	}
	return cert, key, nil
}

func parseCA(certPath string, certPEM, keyPEM []byte) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	cb, _ := pem.Decode(certPEM)
	if cb == nil || cb.Type != "CERTIFICATE" {
		return nil, nil, fmt.Errorf("mtls: %s holds no PEM certificate", certPath)
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("mtls: %s: %w", certPath, err)
	}
	kb, _ := pem.Decode(keyPEM)
	if kb == nil {
		return nil, nil, fmt.Errorf("mtls: the CA key beside %s holds no PEM key", certPath)
	}
	key, err := x509.ParseECPrivateKey(kb.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("mtls: the CA key beside %s: %w", certPath, err)
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return nil, nil, fmt.Errorf("mtls: the CA key beside %s does not match its certificate", certPath)
	}
	return cert, key, nil
}

func issue(f Files, name string, ca *x509.Certificate, caKey *ecdsa.PrivateKey) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("mtls: key of %s: %w", name, err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: name, Organization: []string{"Comity"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(devCertValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:     []string{name, "localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		URIs:         []*url.URL{IdentityURI(name)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return fmt.Errorf("mtls: certificate of %s: %w", name, err)
	}
	if err := writeKey(f.Key, key); err != nil {
		return err
	}
	return writePEM(f.Cert, "CERTIFICATE", der, 0o644)
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return n
}

func writeKey(path string, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return fmt.Errorf("mtls: %s: %w", path, err)
	}
	return writePEM(path, "EC PRIVATE KEY", der, 0o600)
}

// writePEM writes a file whole or not at all: into a temporary file that
// replaces path once synced.
func writePEM(path, typ string, der []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	if err != nil {
		return fmt.Errorf("mtls: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return fmt.Errorf("mtls: %w", err)
	}
	if err := pem.Encode(tmp, &pem.Block{Type: typ, Bytes: der}); err != nil {
		tmp.Close()
		return fmt.Errorf("mtls: %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("mtls: %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("mtls: %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("mtls: %w", err)
	}
	return nil
}
