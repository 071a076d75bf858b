package gateway_test

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/comity-mla/comity/services/identity"
)

// TestAuditEntriesNewestFirst lists the trail through REST newest first
// (orderBy "index desc"): the pages follow one another down the log and
// hold the same entries as the log-order list, reversed; a token of one
// order is refused in the other, and an unknown order names the field.
func TestAuditEntriesNewestFirst(t *testing.T) {
	s := startSuite(t, suiteOptions{})
	kz := s.token("kz-gpo", identity.Prosecutor)
	name, _ := s.mustDo(http.MethodPost, "/v1/requests", kz, preservation(), http.StatusOK).body["name"].(string)
	for range 6 {
		s.mustDo(http.MethodGet, "/v1/"+name, kz, nil, http.StatusOK)
	}
	auditor := s.token("kz-oversight", identity.Auditor)
	filter := `resource = "` + name + `"`
	list := func(order, token string, size int) ([]uint64, string, response) {
		t.Helper()
		q := url.Values{"filter": {filter}, "pageSize": {strconv.Itoa(size)}}
		if order != "" {
			q.Set("orderBy", order)
		}
		if token != "" {
			q.Set("pageToken", token)
		}
		r := s.do(http.MethodGet, "/v1/audit/entries?"+q.Encode(), auditor, nil)
		var idx []uint64
		es, _ := r.body["entries"].([]any)
		for _, e := range es {
			idx = append(idx, auditEntryIndex(t, e))
		}
		next, _ := r.body["nextPageToken"].(string)
		return idx, next, r
	}
	// The 7 events of the request reach the trail through the relay.
	var forward []uint64
	for deadline := time.Now().Add(20 * time.Second); len(forward) < 7; time.Sleep(200 * time.Millisecond) {
		forward, _, _ = list("", "", 9)
		if time.Now().After(deadline) {
			t.Fatalf("the request's events did not reach the trail: %v", forward)
		}
	}

	var backward []uint64
	token := ""
	for pages := 0; ; pages++ {
		idx, next, r := list("index desc", token, 3)
		if r.status != http.StatusOK {
			t.Fatalf("newest first = %d %s", r.status, r.raw)
		}
		backward = append(backward, idx...)
		if next == "" || pages > 5 {
			break
		}
		if _, _, other := list("index", next, 3); other.status != http.StatusBadRequest || !strings.Contains(other.raw, "page_token") {
			t.Errorf("a newest-first token in log order = %d %s, want 400 naming page_token", other.status, other.raw)
		}
		token = next
	}
	slices.Reverse(backward)
	if !slices.Equal(backward, forward) {
		t.Errorf("newest first, reversed: %v; log order: %v", backward, forward)
	}
	if _, _, r := list("time desc", "", 3); r.status != http.StatusBadRequest || !strings.Contains(r.raw, "order_by") {
		t.Errorf("an unknown order = %d %s, want 400 naming order_by", r.status, r.raw)
	}
}

// auditEntryIndex reads the index of an entry of a JSON answer: a uint64,
// which protojson writes as a string, and leaves out when it is 0.
func auditEntryIndex(t *testing.T, e any) uint64 {
	t.Helper()
	m, _ := e.(map[string]any)
	v, ok := m["index"].(string)
	if !ok {
		return 0
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		t.Fatalf("entry index %q: %v", v, err)
	}
	return n
}
