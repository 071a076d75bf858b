package identity

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/comity-mla/comity/services/errs"
)

// ServiceIssuerID is the `iss` of the tokens Comity's services present to
// each other in a deployment without mTLS.
const ServiceIssuerID = "urn:comity:service-issuer"

const serviceIssuerDir = "service-issuer"

// Services are the service identities a service token may name.
var Services = []string{"comity-directory", "comity-request", "comity-audit", "comity-gateway"}

// serviceTokenTTL is short: a leaked service token is worth little.
const serviceTokenTTL = 10 * time.Minute

// EnsureServiceIssuer creates on first call, under dataDir/service-issuer/,
// the signing key of the service issuer and its JWK Set, like
// EnsureDevIssuer; later calls keep them. Configure verifiers with the
// returned issuer and WithServiceIssuers(ServiceIssuerID).
func EnsureServiceIssuer(dataDir string) (Issuer, error) {
	return ensureIssuer(dataDir, serviceIssuerDir, ServiceIssuerID)
}

// ServiceCredentials attach a service token to every gRPC call a service
// makes (it implements google.golang.org/grpc/credentials.PerRPCCredentials),
// minting a fresh token with the service issuer's key before the last one
// expires.
type ServiceCredentials struct {
	key     jose.JSONWebKey
	service string
	now     func() time.Time

	mu      sync.Mutex
	token   string
	expires time.Time
}

// NewServiceCredentials loads the service issuer key from dataDir for
// service (one of Services).
func NewServiceCredentials(dataDir, service string) (*ServiceCredentials, error) {
	if !slices.Contains(Services, service) {
		return nil, fmt.Errorf("identity: %q is not a Comity service", service)
	}
	path := filepath.Join(dataDir, serviceIssuerDir, signingKeyFile)
	key, err := loadDevKey(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errs.Wrap(err, errs.FailedPrecondition, "no service issuer key at %s", path)
	}
	if err != nil {
		return nil, err
	}
	return &ServiceCredentials{key: key, service: service, now: time.Now}, nil
}

// GetRequestMetadata returns the authorization header of a call.
func (c *ServiceCredentials) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	tok, err := c.Token()
	if err != nil {
		return nil, err
	}
	return map[string]string{"authorization": "Bearer " + tok}, nil
}

// RequireTransportSecurity is false: without mTLS the services talk on
// loopback or a private network; mTLS deployments add transport security.
func (c *ServiceCredentials) RequireTransportSecurity() bool { return false }

// Token returns a valid service token, minting one when needed.
func (c *ServiceCredentials) Token() (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if c.token != "" && now.Before(c.expires.Add(-time.Minute)) {
		return c.token, nil
	}
	var jti [16]byte
	_, _ = rand.Read(jti[:])
	payload, err := json.Marshal(map[string]any{
		"iss": ServiceIssuerID, "sub": "service:" + c.service, "aud": []string{Audience},
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(serviceTokenTTL).Unix(),
		"jti": base64.RawURLEncoding.EncodeToString(jti[:]), "service": c.service,
	})
	if err != nil {
		return "", err
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: c.key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", c.key.KeyID))
	if err != nil {
		return "", fmt.Errorf("service token: %w", err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("service token: %w", err)
	}
	tok, err := jws.CompactSerialize()
	if err != nil {
		return "", fmt.Errorf("service token: %w", err)
	}
	c.token, c.expires = tok, now.Add(serviceTokenTTL)
	return tok, nil
}
