// Package paging turns AIP-158 page_size and page_token fields into an
// offset and a limit, and back into the next page's token. Tokens are opaque
// to callers and bound to the request they were issued for: a token reused
// with another filter or order is refused.
package paging

import (
	"go.einride.tech/aip/pagination"

	"github.com/comity-mla/comity/services/errs"
)

// Page is where a list call starts and how many items it returns.
type Page struct {
	Offset int
	Size   int

	token pagination.PageToken
}

// Parse reads the request's page token and size. A size of zero means
// defaultSize; sizes above maxSize are clamped to it.
func Parse(req pagination.Request, defaultSize, maxSize int) (Page, error) {
	tok, err := pagination.ParsePageToken(req)
	if err != nil || tok.Offset < 0 || tok.Offset > 1<<31 {
		return Page{}, (errs.Violations{{Field: "page_token",
			Description: "not a page token issued for this query; start again without page_token"}}).Err(errs.Invalid, "invalid page token")
	}
	size := int(req.GetPageSize())
	switch {
	case size < 0:
		return Page{}, (errs.Violations{{Field: "page_size", Description: "must not be negative"}}).Err(errs.Invalid, "invalid page size")
	case size == 0:
		size = defaultSize
	case size > maxSize:
		size = maxSize
	}
	return Page{Offset: int(tok.Offset), Size: size, token: tok}, nil
}

// NextIf returns the token of the page after p when more items follow, or
// "": for lists that know whether a next page exists without counting
// every item.
func (p Page) NextIf(more bool) string {
	if !more {
		return ""
	}
	t := p.token
	t.Offset = int64(p.Offset + p.Size)
	return t.String()
}

// Next returns the token of the page after p, or "" when p is the last page
// of total items.
func (p Page) Next(total int) string {
	next := p.Offset + p.Size
	if next >= total {
		return ""
	}
	t := p.token
	t.Offset = int64(next)
	return t.String()
}
