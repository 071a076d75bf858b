package console

import (
	"fmt"
	"os"
	"strings"
)

// ParseProvider reads a provider from its command-line form:
//
//	id=kz-egov,issuer=https://idp.egov.kz,client-id=comity,client-secret-file=/run/secrets/kz,states=KZ,name=eGov IdP,scopes=profile offline_access
//
// The client secret is read from a file, never given on the command line
// where other users of the machine could see it. states and scopes are
// separated by spaces or slashes; name may not contain a comma. bearer is
// access_token (the default) or id_token (see Provider.IDTokenBearer).
func ParseProvider(s string) (Provider, error) {
	var p Provider
	seen := map[string]bool{}
	for _, part := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(part, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || v == "" {
			return Provider{}, fmt.Errorf("console provider %q: %q is not key=value (keys: id, issuer, client-id, client-secret-file, states, name, scopes, bearer)", s, part)
		}
		if seen[k] {
			return Provider{}, fmt.Errorf("console provider %q: %s is given twice", s, k)
		}
		seen[k] = true
		list := func() []string {
			return strings.FieldsFunc(v, func(r rune) bool { return r == ' ' || r == '/' })
		}
		switch k {
		case "id":
			p.ID = v
		case "issuer":
			p.Issuer = v
		case "client-id":
			p.ClientID = v
		case "client-secret-file":
			data, err := os.ReadFile(v)
			if err != nil {
				return Provider{}, fmt.Errorf("console provider %q: client secret: %w", s, err)
			}
			p.ClientSecret = strings.TrimSpace(string(data))
			if p.ClientSecret == "" {
				return Provider{}, fmt.Errorf("console provider %q: the client secret file %s is empty", s, v)
			}
		case "states":
			p.States = list()
		case "name":
			p.Name = v
		case "scopes":
			p.Scopes = list()
		case "bearer":
			switch v {
			case "access_token":
			case "id_token":
				p.IDTokenBearer = true
			default:
				return Provider{}, fmt.Errorf("console provider %q: bearer is access_token (the default) or id_token, not %q", s, v)
			}
		default:
			return Provider{}, fmt.Errorf("console provider %q: unknown key %q (keys: id, issuer, client-id, client-secret-file, states, name, scopes, bearer)", s, k)
		}
	}
	for _, k := range []string{"id", "issuer", "client-id", "states"} {
		if !seen[k] {
			return Provider{}, fmt.Errorf("console provider %q: %s is missing", s, k)
		}
	}
	return p, nil
}
