package request_test

import (
	"context"
	"errors"

	"github.com/comity-mla/comity/services/request"
	"github.com/comity-mla/comity/services/trail"
)

// FOUNDATION PLACEHOLDER: the data subjects' requests helper replaces this file.

func (m *memStore) CreateDataSubjectRequest(context.Context, request.DataSubjectRequest, trail.Event) (request.DataSubjectRequest, error) {
	return request.DataSubjectRequest{}, errors.New("memStore: not yet written")
}

func (m *memStore) GetDataSubjectRequest(context.Context, string) (request.DataSubjectRequest, error) {
	return request.DataSubjectRequest{}, errors.New("memStore: not yet written")
}

func (m *memStore) ListDataSubjectRequests(context.Context, string, int, int) ([]request.DataSubjectRequest, bool, error) {
	return nil, false, errors.New("memStore: not yet written")
}

func (m *memStore) UpdateDataSubjectRequest(context.Context, string, func(*request.DataSubjectRequest) (trail.Event, error)) (request.DataSubjectRequest, error) {
	return request.DataSubjectRequest{}, errors.New("memStore: not yet written")
}
