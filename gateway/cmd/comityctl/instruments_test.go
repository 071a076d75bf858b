package main

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
)

// TestInstrumentsCommands: 'instruments applicable --from kz --to uz' asks
// the gateway for the instruments between KZ and UZ and shows each with both
// states' status and whether it is unconfirmed; 'instruments list' shows
// the profiles; a missing or malformed state is a usage error, refused
// before anything is sent.
func TestInstrumentsCommands(t *testing.T) {
	var asked []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked = append(asked, r.URL.Path+"?"+r.URL.RawQuery)
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/v1/instruments:applicable":
			_, _ = w.Write([]byte(`{"instruments": [
				{"instrument": {"legalBasis": "UNTOC_2000", "displayName": "United Nations Convention against Transnational Organized Crime (2000)", "rank": 6},
				 "requestingStateStatus": "IN_FORCE", "requestedStateStatus": "IN_FORCE", "unconfirmed": true},
				{"instrument": {"legalBasis": "CIS_IT_CRIME_AGREEMENT_2018", "displayName": "CIS agreement (2018)", "rank": 1},
				 "requestingStateStatus": "UNKNOWN", "requestedStateStatus": "UNKNOWN", "unconfirmed": true}]}`))
		case "/v1/instruments":
			_, _ = w.Write([]byte(`{"instruments": [{"legalBasis": "MINSK_CONVENTION_1993", "displayName": "CIS Convention on legal assistance (Minsk, 1993)",
				"requiredFields": ["facts_summary", "offence.statute_text"], "languages": ["ru"], "rank": 5}]}`))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	cfg := filepath.Join(t.TempDir(), "none.json")

	out, err := ctl(t, cfg, "instruments", "applicable", "--from", "kz", "--to", "uz", "--gateway", srv.URL, "--token", "t", "-o", "table")
	if err != nil {
		t.Fatal(err)
	}
	if len(asked) != 1 || asked[0] != "/v1/instruments:applicable?requestedState=UZ&requestingState=KZ" {
		t.Errorf("asked %v", asked)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], "REQUESTING") || !strings.Contains(lines[0], "UNCONFIRMED") ||
		!strings.HasPrefix(lines[1], "UNTOC_2000") || !strings.Contains(lines[1], "IN_FORCE") ||
		!strings.HasPrefix(lines[2], "CIS_IT_CRIME_AGREEMENT_2018") || !strings.Contains(lines[2], "UNKNOWN") {
		t.Errorf("applicable printed:\n%s", out)
	}

	out, err = ctl(t, cfg, "instruments", "list", "--gateway", srv.URL, "--token", "t", "-o", "table")
	if err != nil || !strings.Contains(out, "MINSK_CONVENTION_1993") || !strings.Contains(out, "offence.statute_text") {
		t.Errorf("list printed %v:\n%s", err, out)
	}

	asked = nil
	for _, bad := range [][]string{{"--to", "UZ"}, {"--from", "KAZ", "--to", "UZ"}} {
		_, err := ctl(t, cfg, append([]string{"instruments", "applicable", "--gateway", srv.URL, "--token", "t"}, bad...)...)
		if !errors.Is(err, errUsage) {
			t.Errorf("instruments applicable %v: %v; want a usage error", bad, err)
		}
	}
	if len(asked) != 0 {
		t.Errorf("a usage error still asked the gateway: %v", asked)
	}
}
