package request_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/comity-mla/comity/services/cooperation"
	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/query/aip"
	"github.com/comity-mla/comity/services/request"
)

// TestMatchesAgreesWithList: Matches, which a watch applies to each change,
// selects exactly the requests that ListRequests' SQL selects with the same
// filter, so that a filter means the same in both.
func TestMatchesAgreesWithList(t *testing.T) {
	svc, _, _ := newService(t, request.WatchLimits{})
	ctx := context.Background()
	ca := user("ca-kz", "kz-gpo", identity.CentralAuthority)
	var ids []string
	for i, st := range []string{"UZ", "KG", "UZ", "TJ"} {
		d := completeDraft()
		d.RequestedState = st
		if i == 3 {
			d.Priority = cooperation.Urgent
		}
		v, err := svc.Create(ctx, kzProsecutor, d, "")
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, v.ID)
		if i%2 == 1 {
			continue
		}
		if _, err := svc.Submit(ctx, kzProsecutor, v.ID, "", false); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Transmit(ctx, ca, v.ID, "", false); err != nil {
			t.Fatal(err)
		}
	}
	first, err := svc.Get(ctx, ca, ids[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{
		`status = TRANSMITTED`,
		`status != TRANSMITTED`,
		`NOT status = DRAFT AND requestedState = "UZ"`,
		`requestedState = "KG" OR priority = URGENT`,
		`requestedState > "KG"`,
		`reference <= "` + first.Reference + `"`,
		`createTime > "` + first.CreateTime.Format(time.RFC3339Nano) + `"`,
		`updateTime >= "` + first.UpdateTime.Format(time.RFC3339Nano) + `"`,
		`overdue = false AND type = DATA_PRESERVATION`,
		`overdue = true`,
		`requestingAgency = "agencies/kz-gpo"`,
		`requestedAgency != "agencies/uz-247"`,
	} {
		e, err := aip.ParseFilter(f, request.RequestSchema)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		listed, err := svc.List(ctx, ca, request.ListOptions{Filter: e})
		if err != nil {
			t.Fatalf("List(%s): %v", f, err)
		}
		var want, got []string
		for _, v := range listed.Views {
			want = append(want, v.ID)
		}
		now := time.Now()
		for _, id := range ids {
			v, err := svc.Get(ctx, ca, id)
			if err != nil {
				t.Fatal(err)
			}
			ok, err := request.Matches(e, v.Request, now)
			if err != nil {
				t.Fatalf("Matches(%s): %v", f, err)
			}
			if ok {
				got = append(got, id)
			}
		}
		slices.Sort(want)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("filter %s: Matches selects %v, List %v", f, got, want)
		}
	}
}
