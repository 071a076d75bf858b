package console

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	auditv1 "github.com/comity-mla/comity/proto/comity/audit/v1"
)

// TestAuditEntryShowsSafeguards: an entry of the trail whose event carries
// the outcomes of safeguards shows them as a table of check and outcome,
// headed in the reader's language; an entry without them shows none.
func TestAuditEntryShowsSafeguards(t *testing.T) {
	pg := page{T: mustCatalog(t).localizer("ru"), Lang: "ru"}
	accept := &auditv1.Entry{Index: 7, Event: &auditv1.Event{Time: timestamppb.New(time.Now()), Outcome: "OK",
		Action: "/comity.request.v1.RequestService/AcceptRequest", Resource: "requests/01a24f19-ecda-7cec-8adc-67f388d79b32",
		Safeguards: []*auditv1.Safeguard{{Check: "DUAL_CRIMINALITY", Outcome: "MET"}, {Check: "HUMAN_RIGHTS_REVIEW", Outcome: "FAILED"}}}}
	read := &auditv1.Entry{Index: 8, Event: &auditv1.Event{Time: timestamppb.New(time.Now()), Outcome: "OK",
		Action: "/comity.request.v1.RequestService/GetRequest", Resource: "requests/01a24f19-ecda-7cec-8adc-67f388d79b32"}}
	v := auditView{Entries: []auditEntryView{entryOf(pg, zones{}, "KZ", accept), entryOf(pg, zones{}, "KZ", read)}}
	var html strings.Builder
	if err := AuditPage(pg, v).Render(context.Background(), &html); err != nil {
		t.Fatal(err)
	}
	page := html.String()
	for _, want := range []string{
		"<summary>Гарантии (2)</summary>", `<th scope="col">Проверка</th>`, `<th scope="col">Результат</th>`,
		`<tr data-check="DUAL_CRIMINALITY"><td>DUAL_CRIMINALITY</td><td>MET</td>`,
		`<tr data-check="HUMAN_RIGHTS_REVIEW"><td>HUMAN_RIGHTS_REVIEW</td><td class="outcome failed">FAILED</td>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the trail's entry does not show %s", want)
		}
	}
	if n := strings.Count(page, "data-safeguards"); n != 1 {
		t.Errorf("%d entries show safeguards; want the acceptance's alone", n)
	}
}
