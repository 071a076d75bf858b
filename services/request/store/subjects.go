package store

import (
	"context"
	"errors"

	"github.com/comity-mla/comity/services/request"
	"github.com/comity-mla/comity/services/trail"
)

// FOUNDATION PLACEHOLDER: the data subjects' requests helper replaces this file.

// CreateDataSubjectRequest implements request.Store.
func (s *Store) CreateDataSubjectRequest(ctx context.Context, d request.DataSubjectRequest, ev trail.Event) (request.DataSubjectRequest, error) {
	return request.DataSubjectRequest{}, errors.New("store: not yet written")
}

// GetDataSubjectRequest implements request.Store.
func (s *Store) GetDataSubjectRequest(ctx context.Context, id string) (request.DataSubjectRequest, error) {
	return request.DataSubjectRequest{}, errors.New("store: not yet written")
}

// ListDataSubjectRequests implements request.Store.
func (s *Store) ListDataSubjectRequests(ctx context.Context, state string, offset, limit int) ([]request.DataSubjectRequest, bool, error) {
	return nil, false, errors.New("store: not yet written")
}

// UpdateDataSubjectRequest implements request.Store.
func (s *Store) UpdateDataSubjectRequest(ctx context.Context, id string, fn func(*request.DataSubjectRequest) (trail.Event, error)) (request.DataSubjectRequest, error) {
	return request.DataSubjectRequest{}, errors.New("store: not yet written")
}
