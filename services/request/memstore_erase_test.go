package request_test

import (
	"context"
	"errors"

	"github.com/comity-mla/comity/services/request"
)

// FOUNDATION PLACEHOLDER: the erasure helper replaces this file.

func (m *memStore) Erase(context.Context, string, request.EraseScope, func(*request.Request) (request.Change, error)) (request.Request, []request.Attachment, error) {
	return request.Request{}, nil, errors.New("memStore: Erase not yet written")
}

func (m *memStore) Compact(context.Context) error { return nil }
