package store

import (
	"context"
	"errors"

	"github.com/comity-mla/comity/services/request"
)

// FOUNDATION PLACEHOLDER: the erasure helper replaces this file.

// Erase implements request.Store.
func (s *Store) Erase(ctx context.Context, id string, scope request.EraseScope, fn func(r *request.Request) (request.Change, error)) (request.Request, []request.Attachment, error) {
	return request.Request{}, nil, errors.New("store: Erase not yet written")
}

// Compact implements request.Store.
func (s *Store) Compact(ctx context.Context) error { return errors.New("store: Compact not yet written") }
