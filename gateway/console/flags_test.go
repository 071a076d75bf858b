package console

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseProvider(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	if err := os.WriteFile(secret, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	good := "id=kz-egov,issuer=https://idp.egov.kz,client-id=comity,client-secret-file=" + secret + ",states=KZ/KG,name=eGov IdP,scopes=profile offline_access"
	p, err := ParseProvider(good)
	if err != nil {
		t.Fatal(err)
	}
	want := Provider{ID: "kz-egov", Name: "eGov IdP", Issuer: "https://idp.egov.kz", ClientID: "comity", ClientSecret: "s3cret",
		States: []string{"KZ", "KG"}, Scopes: []string{"profile", "offline_access"}}
	if !reflect.DeepEqual(p, want) {
		t.Errorf("ParseProvider = %+v, want %+v", p, want)
	}
	if p, err := ParseProvider("id=x,issuer=https://i,client-id=comity,states=KG,bearer=id_token"); err != nil || !p.IDTokenBearer {
		t.Errorf("bearer=id_token: %+v, %v; want IDTokenBearer", p, err)
	}
	if p, err := ParseProvider("id=x,issuer=https://i,client-id=comity,states=KG,bearer=access_token"); err != nil || p.IDTokenBearer {
		t.Errorf("bearer=access_token: %+v, %v; want the access token presented", p, err)
	}
	for _, tc := range []struct{ in, wantErr string }{
		{"id=x,issuer=https://i,client-id=c,states=KZ,bearer=jwt", "bearer is access_token (the default) or id_token"},
		{"id=x,issuer=https://i,client-id=c", "states is missing"},
		{"id=x,issuer=https://i,client-id=c,states=KZ,secret=abc", `unknown key "secret"`},
		{"id=x,id=y,issuer=https://i,client-id=c,states=KZ", "id is given twice"},
		{"id=x,issuer,client-id=c,states=KZ", "is not key=value"},
		{"id=x,issuer=https://i,client-id=c,states=KZ,client-secret-file=" + filepath.Join(dir, "none"), "client secret"},
		{"id=x,issuer=https://i,client-id=c,states=KZ,client-secret-file=" + empty, "is empty"},
	} {
		t.Run(tc.wantErr, func(t *testing.T) {
			_, err := ParseProvider(tc.in)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParseProvider(%q) = %v, want an error saying %q", tc.in, err, tc.wantErr)
			}
		})
	}
}
