package storedoc

import (
	"encoding/json"
	"fmt"
	"reflect"

	"github.com/comity-mla/comity/services/request"
)

// EncodeDataSubjectRequest returns the stored form of d: as for a request,
// the JSON of the domain type with times as StoredTime keeps them.
func EncodeDataSubjectRequest(d request.DataSubjectRequest) string {
	normalize(reflect.ValueOf(&d).Elem(), StoredTime, false, true)
	return Encode(d)
}

// DecodeDataSubjectRequest reads what EncodeDataSubjectRequest stored,
// times in UTC and every empty list nil.
func DecodeDataSubjectRequest(s string) (request.DataSubjectRequest, error) {
	var d request.DataSubjectRequest
	if err := json.Unmarshal([]byte(s), &d); err != nil {
		return request.DataSubjectRequest{}, err
	}
	normalize(reflect.ValueOf(&d).Elem(), ReadTime, true, false)
	return d, nil
}

// StoredDataSubjectRequest returns d as a later read returns it (see
// Stored).
func StoredDataSubjectRequest(d request.DataSubjectRequest) request.DataSubjectRequest {
	out, err := DecodeDataSubjectRequest(EncodeDataSubjectRequest(d))
	if err != nil {
		panic(fmt.Sprintf("request/storedoc: decode what was just encoded: %v", err))
	}
	return out
}
