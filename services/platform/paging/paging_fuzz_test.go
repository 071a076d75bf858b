package paging

import (
	"errors"
	"testing"

	directoryv1 "github.com/comity-mla/comity/proto/comity/directory/v1"
	"github.com/comity-mla/comity/services/errs"
)

const (
	fuzzDefaultSize = 50
	fuzzMaxSize     = 1000
)

// FuzzParse feeds Parse arbitrary page tokens and sizes for a list request
// (any filter). A token either parses to a page within the bounds, whose
// next-page token parses back to the next page of the same query and is
// refused for another query, or is refused with an Invalid error naming
// page_token or page_size.
func FuzzParse(f *testing.F) {
	issued := func(filter string, offset int) string {
		req := &directoryv1.ListAgenciesRequest{Filter: filter}
		p, err := Parse(req, fuzzDefaultSize, fuzzMaxSize)
		if err != nil {
			f.Fatal(err)
		}
		p.Offset, p.Size = offset, 0
		return p.Next(offset + 1)
	}
	f.Add("", "", int32(0))
	f.Add(`state = "KZ"`, "", int32(10))
	f.Add(`state = "KZ"`, issued(`state = "KZ"`, 50), int32(50))
	f.Add(`state = "KZ"`, issued(`state = "UZ"`, 50), int32(50))
	f.Add("", issued("", 1<<31), int32(1))
	f.Add("", issued("", 1<<31+1), int32(1))
	f.Add("", issued("", 0), int32(-1))
	f.Add("", issued("", 7), int32(1<<31-1))
	f.Add("", "not a token", int32(0))
	f.Add("", "Kf-BAwEBCVBhZ2VUb2tlbgH_ggABAgEGT2Zmc2V0AQQAAQ9SZXF1ZXN0Q2hlY2tzdW0BBgAAAA==", int32(0))
	f.Add("", "\n", int32(0))
	f.Add("", "=", int32(0))
	f.Add("\xff", "", int32(0))

	f.Fuzz(func(t *testing.T, filter, token string, size int32) {
		req := &directoryv1.ListAgenciesRequest{Filter: filter, PageToken: token, PageSize: size}
		p, err := Parse(req, fuzzDefaultSize, fuzzMaxSize)
		if err != nil {
			var e *errs.Error
			if !errors.As(err, &e) || e.Code != errs.Invalid || len(e.Violations) != 1 || e.Violations[0].Description == "" {
				t.Fatalf("Parse(%q, %q, %d): %v; want one Invalid violation", filter, token, size, err)
			}
			if field := e.Violations[0].Field; field != "page_token" && field != "page_size" {
				t.Fatalf("Parse(%q, %q, %d): violation of %q; want page_token or page_size", filter, token, size, field)
			}
			if field := e.Violations[0].Field; field == "page_size" && size >= 0 {
				t.Fatalf("Parse(%q, %q, %d): size %d refused", filter, token, size, size)
			}
			return
		}
		switch {
		case p.Offset < 0 || p.Offset > 1<<31:
			t.Fatalf("Parse(%q, %q, %d): offset %d out of bounds", filter, token, size, p.Offset)
		case p.Size < 1 || p.Size > fuzzMaxSize:
			t.Fatalf("Parse(%q, %q, %d): size %d out of bounds", filter, token, size, p.Size)
		case size > 0 && size <= fuzzMaxSize && p.Size != int(size):
			t.Fatalf("Parse(%q, %q, %d): size %d", filter, token, size, p.Size)
		case token == "" && p.Offset != 0:
			t.Fatalf("Parse(%q, no token): offset %d", filter, p.Offset)
		}
		if next := p.Next(p.Offset + p.Size); next != "" {
			t.Fatalf("Next on the last page = %q, want no token", next)
		}
		next := p.Next(p.Offset + p.Size + 1)
		if next == "" {
			t.Fatal("Next before the last page gave no token")
		}
		// The next token is one of this query: it parses to the next page,
		// whatever the page size of the next call, and not for another query.
		req.PageToken, req.PageSize = next, 0
		q, err := Parse(req, fuzzDefaultSize, fuzzMaxSize)
		if p.Offset+p.Size <= 1<<31 {
			if err != nil || q.Offset != p.Offset+p.Size {
				t.Fatalf("the next token of %+v parsed to %+v, %v; want offset %d", p, q, err, p.Offset+p.Size)
			}
		} else if err == nil {
			t.Fatalf("the next token of %+v, beyond the offset limit, parsed to %+v", p, q)
		}
		other := &directoryv1.ListAgenciesRequest{Filter: filter + " ", PageToken: next}
		if q, err := Parse(other, fuzzDefaultSize, fuzzMaxSize); err == nil {
			t.Fatalf("the next token of filter %q parsed for filter %q: %+v", filter, other.Filter, q)
		}
	})
}
