package directory_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/comity-mla/comity/services/directory"
	"github.com/comity-mla/comity/services/directory/storedoc"
	"github.com/comity-mla/comity/services/errs"
)

// FuzzInstrumentEntry feeds a state's instrument entry arbitrary values, as
// an administrator's PATCH or an import file gives them: the entry is
// either refused as errs.Invalid naming fields under state.instruments, or
// accepted, and then stored and read back unchanged.
func FuzzInstrumentEntry(f *testing.F) {
	f.Add("BUDAPEST_CONVENTION", "IN_FORCE", "2004-07-01", "29(4)", "dual criminality", "PRESERVATION", "kz-247", "CoE treaty office", true)
	f.Add("UNTOC_2000", "UNKNOWN", "", "", "", "", "", "UNTC", false)
	f.Add("RECIPROCITY", "NOT_IN_FORCE", "2004-02-30", "29 (4)", " ", "EXTRADITION", "KZ-GPO", "", false)
	f.Add("MINSK_CONVENTION_1993", "IN_FORCE", "1994-05-19\x00", "1", "x", "MUTUAL_ASSISTANCE", "kz-gpo", "\u202e", true)
	f.Fuzz(func(t *testing.T, basis, status, since, article, text, stage, agency, source string, confirmed bool) {
		si := directory.StateInstrument{LegalBasis: basis, Status: directory.InstrumentStatus(status), InForceSince: since,
			Source: source, Confirmed: confirmed}
		if article != "" || text != "" {
			si.Reservations = []directory.Reservation{{Article: article, Text: text}}
		}
		if stage != "" || agency != "" {
			si.Authorities = []directory.DesignatedAuthority{{Stage: stage, Agency: agency}}
		}
		st := directory.State{Code: "KZ", DisplayNames: map[string]string{"en": "Kazakhstan"}, AcceptedLanguages: []string{"ru"},
			TimeZone: "Asia/Almaty", Instruments: []directory.StateInstrument{si}}
		err := directory.CheckImportedState(st)
		if err != nil {
			var e *errs.Error
			if !errors.As(err, &e) || e.Code != errs.Invalid || len(e.Violations) == 0 {
				t.Fatalf("refused without a field: %v", err)
			}
			for _, v := range e.Violations {
				if len(v.Field) < len("instruments[0].") || v.Field[:len("instruments[0].")] != "instruments[0]." {
					t.Fatalf("violation on %q, not under instruments[0]", v.Field)
				}
			}
			return
		}
		got, err := storedoc.DecodeStateInstruments(storedoc.EncodeStateInstruments(st.Instruments))
		if err != nil || !reflect.DeepEqual(got, st.Instruments) {
			t.Fatalf("stored and read back: %+v, %v; want %+v", got, err, st.Instruments)
		}
	})
}
