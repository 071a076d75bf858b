package console

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	directoryv1 "github.com/comity-mla/comity/proto/comity/directory/v1"
)

// MinSessionSecretLen is the shortest session secret accepted: 32 bytes of
// randomness, as NewSessionSecret writes.
const MinSessionSecretLen = 32

// maxCookieLen is the largest cookie value browsers are sure to keep
// (RFC 6265 §6.1 asks for at least 4096 bytes per cookie, name included).
const maxCookieLen = 4000

// ReadSessionSecret reads the secret that seals session cookies from path.
// Every gateway replica must read the same secret, so that a session
// started on one continues on another.
func ReadSessionSecret(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("console session secret: %w", err)
	}
	secret := []byte(strings.TrimSpace(string(data)))
	if len(secret) < MinSessionSecretLen {
		return nil, fmt.Errorf("console session secret %s holds %d bytes; at least %d random bytes are needed (e.g. `openssl rand -hex 32 > %s`)",
			path, len(secret), MinSessionSecretLen, path)
	}
	return secret, nil
}

// EnsureSessionSecret returns the secret in path, creating it (64 hex
// digits of randomness, mode 0600) when the file does not exist. Only a
// single-process deployment such as comity-local should create its secret;
// replicas must be given the same one.
func EnsureSessionSecret(path string) ([]byte, error) {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		var b [32]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, fmt.Errorf("console session secret: %w", err)
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		switch {
		case errors.Is(err, os.ErrExist):
			// Another process created it meanwhile: read theirs.
		case err != nil:
			return nil, fmt.Errorf("console session secret: %w", err)
		default:
			_, werr := fmt.Fprintf(f, "%x\n", b)
			if cerr := f.Close(); werr == nil {
				werr = cerr
			}
			if werr != nil {
				os.Remove(path)
				return nil, fmt.Errorf("console session secret: %w", werr)
			}
		}
	}
	return ReadSessionSecret(path)
}

// sealer encrypts and authenticates cookie values with AES-256-GCM under
// a key derived from the shared secret. The cookie's name is the
// additional data, so that one cookie's value cannot be replayed as
// another's (a sign-in flow as a session).
type sealer struct {
	aead cipher.AEAD
}

func newSealer(secret []byte) (*sealer, error) {
	if len(secret) < MinSessionSecretLen {
		return nil, fmt.Errorf("console: the session secret has %d bytes; at least %d are needed", len(secret), MinSessionSecretLen)
	}
	// A label keeps this key apart from any other use of the same secret.
	key := sha256.Sum256(append([]byte("comity console cookie v1\x00"), secret...))
	block, err := aes.NewCipher(key[:])
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &sealer{aead: aead}, nil
}

// seal returns v as JSON, encrypted for the cookie name.
func (s *sealer) seal(name string, v any) (string, error) {
	plain, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plain)+s.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	out := base64.RawURLEncoding.EncodeToString(s.aead.Seal(nonce, nonce, plain, []byte(name)))
	if len(name)+len(out) > maxCookieLen {
		return "", fmt.Errorf("console: the %s cookie would be %d bytes, more than browsers keep (%d): the provider's tokens are too large for a cookie session: %w",
			name, len(name)+len(out), maxCookieLen, errCookieTooLarge)
	}
	return out, nil
}

// errCookieTooLarge is what seal returns when the sealed value would not
// fit in a cookie.
var errCookieTooLarge = errors.New("cookie too large")

// open decrypts a value seal made for the cookie name into v. Any
// tampering, another key or another cookie's value is an error.
func (s *sealer) open(name, value string, v any) error {
	data, err := base64.RawURLEncoding.DecodeString(value)
	if err != nil || len(data) < s.aead.NonceSize() {
		return errors.New("cookie is malformed")
	}
	plain, err := s.aead.Open(nil, data[:s.aead.NonceSize()], data[s.aead.NonceSize():], []byte(name))
	if err != nil {
		return errors.New("cookie was not sealed with this deployment's session secret")
	}
	return json.Unmarshal(plain, v)
}

// session is what the session cookie holds. The tokens never leave the
// server in the clear: the browser stores only the sealed value, in an
// HttpOnly cookie that its scripts cannot read.
type session struct {
	// Provider is the id of the provider the user signed in with.
	Provider string `json:"p"`
	// Access is the access token forwarded to the services; Refresh, when
	// the provider gave one, renews it.
	Access  string `json:"a"`
	Refresh string `json:"r,omitempty"`
	// Expiry is when Access expires (Unix seconds).
	Expiry int64 `json:"e"`
	// Started is when the user signed in (Unix seconds); a session ends
	// after MaxSessionAge whatever the provider says.
	Started int64 `json:"s"`
	// Who is signed in, as the services said at sign-in (GetCaller), for
	// the header.
	Name   string   `json:"n,omitempty"`
	Agency string   `json:"g,omitempty"`
	State  string   `json:"t,omitempty"`
	Roles  []string `json:"o,omitempty"`
	// IDToken is the provider's ID token, the id_token_hint of
	// RP-initiated logout; empty when it did not fit in the cookie, or
	// when Access is the ID token (Provider.IDTokenBearer).
	IDToken string `json:"i,omitempty"`
	// purposes are the purposes of reading the user declared in this
	// session (readpurpose.go), from their own cookie.
	purposes purposeCookie
}

// setCaller keeps who the services say the user is; fallbackName is shown
// when the issuer's claim mapping gives no name.
func (s *session) setCaller(c *directoryv1.Caller, fallbackName string) {
	s.Name = firstNonEmpty(c.GetDisplayName(), fallbackName)
	s.Agency = strings.TrimPrefix(c.GetAgency(), "agencies/")
	s.State = c.GetState()
	s.Roles = c.GetRoles()
}

// signinFlow is what the sign-in cookie holds between the redirect to the
// provider and its answer.
type signinFlow struct {
	Provider string `json:"p"`
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	Expires  int64  `json:"e"`
}

// cookieNames are the console's cookies: with the __Host- prefix over HTTPS
// (bound to this host and path /, never set by a sibling domain).
type cookieNames struct {
	session, signin, lang, ended string
	secure                       bool
}

func newCookieNames(secure bool) cookieNames {
	if secure {
		return cookieNames{session: "__Host-comity-session", signin: "__Host-comity-signin", lang: "__Host-comity-lang",
			ended: "__Host-comity-ended", secure: true}
	}
	return cookieNames{session: "comity-session", signin: "comity-signin", lang: "comity-lang", ended: "comity-ended"}
}

// cookie returns a cookie of the console with value, alive for maxAge
// (negative deletes it).
func (n cookieNames) cookie(name, value string, maxAge time.Duration) *http.Cookie {
	c := &http.Cookie{
		Name: name, Value: value, Path: "/",
		HttpOnly: true, Secure: n.secure, SameSite: http.SameSiteLaxMode,
	}
	if maxAge < 0 {
		c.MaxAge = -1
	} else if maxAge > 0 {
		c.MaxAge = int(maxAge / time.Second)
	}
	return c
}

// randomString returns n random bytes, base64url-encoded.
func randomString(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
