package identity

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// FuzzClaims feeds a token's payload decoding arbitrary bytes, as a
// signature check would pass them on. Only a JSON object with distinct
// member names decodes, and only claims of the right types with dates
// within NumericDate's range are read.
func FuzzClaims(f *testing.F) {
	for _, seed := range []string{
		`{"iss":"https://idp.example","sub":"alice","aud":"comity","exp":1900000000,"nbf":1.5,"agency":"kz-gpo","roles":["prosecutor"]}`,
		`{"aud":["comity","other"],"iat":0}`,
		`{"sub":"a","sub":"b"}`,
		`{"exp":-1}`,
		`{"exp":1e300}`,
		`{"exp":"1900000000"}`,
		`{"exp":253402300800}`,
		`{"exp":NaN}`,
		`{"roles":"prosecutor"}`,
		`{"roles":[1]}`,
		`{"iss":null,"aud":null}`,
		`{} {}`,
		`[]`,
		`{"a":{"b":[{"c":1}]}}`,
		"{\"sub\":\"\xff\"}",
		`{"sub":"\ud800"}`,
		``,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := decodeObject(data)
		if err != nil {
			return
		}
		var plain map[string]json.RawMessage
		if !json.Valid(data) || json.Unmarshal(data, &plain) != nil {
			t.Fatalf("decodeObject accepted %q, which is not a JSON object", data)
		}
		if len(plain) != len(m) {
			t.Fatalf("decodeObject(%q) has %d members, encoding/json %d", data, len(m), len(plain))
		}
		c, err := claimsFrom(m)
		if err != nil {
			if err.Error() == "" {
				t.Fatalf("claimsFrom(%q): an error without a message", data)
			}
			return
		}
		for name, d := range map[string]*time.Time{"exp": c.exp, "nbf": c.nbf, "iat": c.iat} {
			if d != nil && (d.Unix() < 0 || d.Unix() > maxNumericDate) {
				t.Fatalf("claimsFrom(%q): %s out of range: %v", data, name, d)
			}
		}
		var iss *string
		if err := json.Unmarshal(m["iss"], &iss); m["iss"] != nil && (err != nil || (iss != nil && *iss != c.iss)) {
			t.Fatalf("claimsFrom(%q): iss %q", data, c.iss)
		}
	})
}

// FuzzParseJWKS feeds parseJWKS arbitrary JWK Sets, as an issuer's JWKS URL
// may serve them. A set either gives public signing keys of the accepted
// types and algorithms only, or is refused with a message.
func FuzzParseJWKS(f *testing.F) {
	edPub, edPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	ec256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ec384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	rsa2048, _ := rsa.GenerateKey(rand.Reader, 2048)
	rsa1024, _ := rsa.GenerateKey(rand.Reader, 1024)
	set := func(keys ...jose.JSONWebKey) []byte {
		b, err := json.Marshal(jose.JSONWebKeySet{Keys: keys})
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	f.Add(set(jose.JSONWebKey{Key: edPub, KeyID: "ed", Algorithm: "EdDSA", Use: "sig"}))
	f.Add(set(jose.JSONWebKey{Key: edPriv, KeyID: "private"}))
	f.Add(set(jose.JSONWebKey{Key: &ec256.PublicKey, KeyID: "ec", Algorithm: "ES256"}, jose.JSONWebKey{Key: &ec384.PublicKey, KeyID: "p384"}))
	f.Add(set(jose.JSONWebKey{Key: &rsa2048.PublicKey, KeyID: "rsa", Algorithm: "RS256"}))
	f.Add(set(jose.JSONWebKey{Key: &rsa1024.PublicKey, KeyID: "short"}))
	f.Add(set(jose.JSONWebKey{Key: edPub, Algorithm: "HS256"}))
	f.Add(set(jose.JSONWebKey{Key: edPub, Use: "enc"}))
	f.Add(set(jose.JSONWebKey{Key: []byte("secret"), KeyID: "oct"}))
	f.Add([]byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"AAAA"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"RSA","n":"AQAB","e":"AAAAAAAAAAAB"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"EC","crv":"P-256","x":"AAAA","y":"AAAA"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"unknown"}, null, 1, "x"]}`))
	f.Add([]byte(`{"keys":{}}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`not json`))

	f.Fuzz(func(t *testing.T, data []byte) {
		keys, err := parseJWKS(data)
		if err != nil {
			if err.Error() == "" || len(keys) != 0 {
				t.Fatalf("parseJWKS(%q) = %d keys, %v", data, len(keys), err)
			}
			return
		}
		if len(keys) == 0 {
			t.Fatalf("parseJWKS(%q) gave no key and no error", data)
		}
		for _, k := range keys {
			if k.alg != "" && !slices.Contains(allowedAlgs, k.alg) {
				t.Fatalf("parseJWKS(%q) kept a key for %q", data, k.alg)
			}
			switch pub := k.pub.(type) {
			case ed25519.PublicKey:
				if len(pub) != ed25519.PublicKeySize {
					t.Fatalf("parseJWKS(%q) kept an Ed25519 key of %d bytes", data, len(pub))
				}
			case *ecdsa.PublicKey:
				if pub.Curve != elliptic.P256() {
					t.Fatalf("parseJWKS(%q) kept an EC key on %v", data, pub.Curve.Params().Name)
				}
			case *rsa.PublicKey:
				if pub.N.BitLen() < minRSABits {
					t.Fatalf("parseJWKS(%q) kept an RSA key of %d bits", data, pub.N.BitLen())
				}
			default:
				t.Fatalf("parseJWKS(%q) kept a %T", data, k.pub)
			}
		}
	})
}
