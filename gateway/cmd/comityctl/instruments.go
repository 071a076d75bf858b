package main

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/spf13/cobra"
)

var statePattern = regexp.MustCompile(`^[A-Za-z]{2}$`)

var instrumentColumns = []column{
	{header: "RANK", path: "rank"}, {header: "LEGAL BASIS", path: "legalBasis"}, {header: "NAME", path: "displayName", width: 60},
	{header: "REQUIRED FIELDS", path: "requiredFields", width: 50}, {header: "LANGUAGES", path: "languages"},
}

var applicableColumns = []column{
	{header: "LEGAL BASIS", path: "instrument.legalBasis"}, {header: "REQUESTING", path: "requestingStateStatus"},
	{header: "REQUESTED", path: "requestedStateStatus"}, {header: "UNCONFIRMED", path: "unconfirmed"},
	{header: "NAME", path: "instrument.displayName", width: 60},
}

func newInstrumentsCmd(g *globals) *cobra.Command {
	c := group("instruments", "Treaty profiles: the instruments, and which apply between two states",
		`  comityctl instruments list
  comityctl instruments applicable --from KZ --to UZ`,
		newInstrumentsListCmd(g), newInstrumentsApplicableCmd(g))
	c.Aliases = []string{"instrument", "treaties"}
	return c
}

func newInstrumentsListCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Short:   "List the instrument profiles, best first: required fields, refusal grounds, clocks, language rule",
		Example: "  comityctl instruments list\n  comityctl instruments list -o json",
		Args:    noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cl, err := g.client()
			if err != nil {
				return err
			}
			data, err := cl.callRaw(c.Context(), http.MethodGet, "/v1/instruments", nil)
			if err != nil {
				return err
			}
			return g.print(data, listView{key: "instruments", columns: instrumentColumns})
		},
	}
}

func newInstrumentsApplicableCmd(g *globals) *cobra.Command {
	var from, to string
	c := &cobra.Command{
		Use:   "applicable",
		Short: "The instruments between two states that the directory does not record as not in force, best first",
		Long: `The instruments between a requesting and a requested state that the directory does not record as
not in force for either, best first: those in force for both, then those whose status is unknown
for one of them, each by rank. UNCONFIRMED marks an entry unknown or not yet confirmed by its
state's administrators; a request under an unknown one is accepted and shown as unconfirmed.`,
		Example: "  comityctl instruments applicable --from KZ --to UZ",
		Args:    noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			for _, f := range []struct{ name, v string }{{"from", from}, {"to", to}} {
				if !statePattern.MatchString(f.v) {
					return fmt.Errorf("%w: --%s is required: the ISO code of a state, e.g. KZ", errUsage, f.name)
				}
			}
			cl, err := g.client()
			if err != nil {
				return err
			}
			q := url.Values{"requestingState": {strings.ToUpper(from)}, "requestedState": {strings.ToUpper(to)}}
			data, err := cl.callRaw(c.Context(), http.MethodGet, "/v1/instruments:applicable?"+q.Encode(), nil)
			if err != nil {
				return err
			}
			return g.print(data, listView{key: "instruments", columns: applicableColumns})
		},
	}
	c.Flags().StringVar(&from, "from", "", "ISO code of the requesting state, e.g. KZ (required)")
	c.Flags().StringVar(&to, "to", "", "ISO code of the requested state, e.g. UZ (required)")
	return c
}
