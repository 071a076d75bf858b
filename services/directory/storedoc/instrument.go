package storedoc

import (
	"encoding/json"
	"time"

	"github.com/comity-mla/comity/services/directory"
)

// stateInstrumentJSON is the stored form of a state's instrument entry, with
// explicit names like contactPointJSON.
type stateInstrumentJSON struct {
	LegalBasis   string            `json:"legal_basis"`
	Status       string            `json:"status"`
	InForceSince string            `json:"in_force_since,omitempty"`
	Reservations []reservationJSON `json:"reservations,omitempty"`
	Authorities  []authorityJSON   `json:"authorities,omitempty"`
	Source       string            `json:"source"`
	Confirmed    bool              `json:"confirmed"`
}

type reservationJSON struct {
	Article string `json:"article"`
	Text    string `json:"text"`
}

type authorityJSON struct {
	Stage  string `json:"stage"`
	Agency string `json:"agency"`
}

// instrumentJSON is the stored form of an instrument profile. Clocks are
// whole seconds.
type instrumentJSON struct {
	LegalBasis        string   `json:"legal_basis"`
	DisplayName       string   `json:"display_name"`
	RequiredFields    []string `json:"required_fields,omitempty"`
	RefusalGrounds    []string `json:"refusal_grounds,omitempty"`
	AcknowledgeWithin int64    `json:"acknowledge_within_seconds,omitempty"`
	AnswerWithin      int64    `json:"answer_within_seconds,omitempty"`
	Languages         []string `json:"languages,omitempty"`
	LanguageRule      string   `json:"language_rule,omitempty"`
	Rank              int      `json:"rank"`
	Source            string   `json:"source"`
}

// EncodeStateInstruments stores a state's instrument entries as a JSON
// array ([] for none).
func EncodeStateInstruments(list []directory.StateInstrument) string {
	out := make([]stateInstrumentJSON, len(list))
	for i, si := range list {
		j := stateInstrumentJSON{LegalBasis: si.LegalBasis, Status: string(si.Status), InForceSince: si.InForceSince,
			Source: si.Source, Confirmed: si.Confirmed}
		for _, r := range si.Reservations {
			j.Reservations = append(j.Reservations, reservationJSON(r))
		}
		for _, a := range si.Authorities {
			j.Authorities = append(j.Authorities, authorityJSON(a))
		}
		out[i] = j
	}
	return Encode(out)
}

// DecodeStateInstruments reads what EncodeStateInstruments stored; nil for
// none.
func DecodeStateInstruments(s string) ([]directory.StateInstrument, error) {
	return decodeListAs(s, func(j stateInstrumentJSON) directory.StateInstrument {
		si := directory.StateInstrument{LegalBasis: j.LegalBasis, Status: directory.InstrumentStatus(j.Status),
			InForceSince: j.InForceSince, Source: j.Source, Confirmed: j.Confirmed}
		for _, r := range j.Reservations {
			si.Reservations = append(si.Reservations, directory.Reservation(r))
		}
		for _, a := range j.Authorities {
			si.Authorities = append(si.Authorities, directory.DesignatedAuthority(a))
		}
		return si
	})
}

// EncodeInstrument stores an instrument profile as a JSON object.
func EncodeInstrument(in directory.Instrument) string {
	return Encode(instrumentJSON{LegalBasis: in.LegalBasis, DisplayName: in.DisplayName,
		RequiredFields: in.RequiredFields, RefusalGrounds: in.RefusalGrounds,
		AcknowledgeWithin: int64(in.AcknowledgeWithin / time.Second), AnswerWithin: int64(in.AnswerWithin / time.Second),
		Languages: in.Languages, LanguageRule: in.LanguageRule, Rank: in.Rank, Source: in.Source})
}

// DecodeInstrument reads what EncodeInstrument stored.
func DecodeInstrument(s string) (directory.Instrument, error) {
	var j instrumentJSON
	if err := json.Unmarshal([]byte(s), &j); err != nil {
		return directory.Instrument{}, err
	}
	return directory.Instrument{LegalBasis: j.LegalBasis, DisplayName: j.DisplayName,
		RequiredFields: j.RequiredFields, RefusalGrounds: j.RefusalGrounds,
		AcknowledgeWithin: time.Duration(j.AcknowledgeWithin) * time.Second, AnswerWithin: time.Duration(j.AnswerWithin) * time.Second,
		Languages: j.Languages, LanguageRule: j.LanguageRule, Rank: j.Rank, Source: j.Source}, nil
}
