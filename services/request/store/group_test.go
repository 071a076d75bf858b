package store

import (
	"fmt"
	"testing"

	"github.com/comity-mla/comity/services/request"
)

// TestNextGroup: the next group takes the queue in arrival order, at most
// maxGroup creates, and leaves for the one after a create whose
// idempotency key (issuer, subject, agency, key) is already in it.
func TestNextGroup(t *testing.T) {
	key := func(subject, k string) request.IdempotencyKey {
		return request.IdempotencyKey{Issuer: "https://idp.kz.example/", Subject: subject, Agency: "kz-gpo", Key: k, BodySHA256: subject + k}
	}
	p := func(id string, k request.IdempotencyKey) *pendingCreate {
		return &pendingCreate{r: request.Request{ID: id}, key: k}
	}
	ids := func(ps []*pendingCreate) string {
		var out []string
		for _, p := range ps {
			out = append(out, p.r.ID)
		}
		return fmt.Sprint(out)
	}
	queue := []*pendingCreate{
		p("a", key("alice", "k1")), p("b", request.IdempotencyKey{}), p("c", key("alice", "k1")),
		p("d", key("bob", "k1")), p("e", request.IdempotencyKey{}), p("f", key("alice", "k2")),
	}
	group, rest := nextGroup(queue)
	if ids(group) != "[a b d e f]" || ids(rest) != "[c]" {
		t.Errorf("group %s, rest %s; want [a b d e f] and the retry [c]", ids(group), ids(rest))
	}
	var many []*pendingCreate
	for i := range maxGroup + 3 {
		many = append(many, p(fmt.Sprint(i), request.IdempotencyKey{}))
	}
	group, rest = nextGroup(many)
	if len(group) != maxGroup || len(rest) != 3 || rest[0].r.ID != fmt.Sprint(maxGroup) {
		t.Errorf("%d creates: a group of %d and %d left (first %s); want %d and 3", len(many), len(group), len(rest), rest[0].r.ID, maxGroup)
	}
}
