package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	directoryv1 "github.com/comity-mla/comity/proto/comity/directory/v1"
)

var agencyIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// agencyName reads an agency given as agencies/ID or ID.
func agencyName(arg string) (string, error) {
	id := strings.TrimPrefix(strings.TrimSpace(arg), "agencies/")
	if !agencyIDPattern.MatchString(id) {
		return "", fmt.Errorf("%w: %q is not an agency: give its id (kz-gpo) or name (agencies/kz-gpo)", errUsage, arg)
	}
	return "agencies/" + id, nil
}

var agencyColumns = []column{
	{header: "NAME", path: "name"}, {header: "STATE", path: "state"}, {header: "KIND", path: "kind"},
	{header: "ACTIVE", path: "active"}, {header: "DISPLAY NAME (EN)", path: "displayNames.en", width: 50},
	{header: "RECEIVES", path: "receives", width: 60},
}

func newAgenciesCmd(g *globals) *cobra.Command {
	c := group("agencies", "The directory's agencies: list, show, change (a directory_admin)",
		`  comityctl agencies list --filter 'state = "UZ"'
  comityctl agencies get kz-police-cyber
  comityctl agencies deactivate kz-police-cyber`,
		newAgenciesListCmd(g), newAgenciesGetCmd(g), newAgenciesUpdateCmd(g),
		newAgencyStateCmd(g, "deactivate", "Deactivate an agency: its users are refused until it is activated again"),
		newAgencyStateCmd(g, "activate", "Activate an agency again (reverses deactivate)"))
	c.Aliases = []string{"agency"}
	return c
}

func newAgenciesListCmd(g *globals) *cobra.Command {
	var l listFlags
	c := &cobra.Command{
		Use:     "list",
		Short:   "List agencies (filter on state, kind and active)",
		Example: "  comityctl agencies list --filter 'state = \"UZ\" AND kind = CENTRAL_AUTHORITY'\n  comityctl agencies list --all -o json",
		Args:    noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cl, err := g.client()
			if err != nil {
				return err
			}
			data, err := l.list(c.Context(), cl, "/v1/agencies", "agencies")
			if err != nil {
				return err
			}
			return g.print(data, listView{key: "agencies", columns: agencyColumns})
		},
	}
	l.register(c, true, true)
	return c
}

func newAgenciesGetCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "get AGENCY",
		Short:   "Show an agency",
		Example: "  comityctl agencies get kz-police-cyber",
		Args:    args(1, "one AGENCY"),
		RunE: func(c *cobra.Command, a []string) error {
			name, err := agencyName(a[0])
			if err != nil {
				return err
			}
			return g.show(c.Context(), name)
		},
	}
}

// currentAgencyEtag is the agency's etag now.
func currentAgencyEtag(ctx context.Context, c *restClient, name string) (string, error) {
	var a directoryv1.Agency
	if err := c.call(ctx, http.MethodGet, "/v1/"+name, nil, &a); err != nil {
		return "", err
	}
	return a.GetEtag(), nil
}

// agencyConflict says in words that an agency changed since its etag was
// read.
func agencyConflict(name, etag string, err error) error {
	var api *apiError
	if errors.As(err, &api) && api.status == http.StatusConflict {
		return fmt.Errorf("%s changed since you read it (etag %s): nothing was done. Read it again ('comityctl agencies get %s') and retry. (%v)",
			name, etag, strings.TrimPrefix(name, "agencies/"), err)
	}
	return err
}

func newAgenciesUpdateCmd(g *globals) *cobra.Command {
	var (
		file, etag, kind              string
		displayNames, langs, receives []string
	)
	c := &cobra.Command{
		Use:   "update AGENCY",
		Short: "Change an agency: the fields the file and the flags give, and only those",
		Long: `Change an agency (a directory_admin of its state). The fields given (the top-level fields of
--from-file, and each flag) are changed, and only those: a list or a map given replaces it whole.
The change is made against --etag, else the agency's current etag.`,
		Example: `  comityctl agencies update kz-police-cyber --accepted-language ru --accepted-language kk
  comityctl agencies get kz-police-cyber -o yaml > a.yaml; $EDITOR a.yaml
  comityctl agencies update kz-police-cyber --from-file a.yaml`,
		Args: args(1, "one AGENCY"),
		RunE: func(c *cobra.Command, a []string) error {
			name, err := agencyName(a[0])
			if err != nil {
				return err
			}
			ag := &directoryv1.Agency{}
			var mask []string
			if file != "" {
				if mask, err = readBody(file, c.InOrStdin(), ag); err != nil {
					return err
				}
			}
			if c.Flags().Changed("kind") {
				n, err := enumValue("kind", kind, directoryv1.Agency_Kind(0).Descriptor())
				if err != nil {
					return err
				}
				ag.Kind, mask = directoryv1.Agency_Kind(n), append(mask, "kind")
			}
			if c.Flags().Changed("display-name") {
				ag.DisplayNames = map[string]string{}
				for _, s := range displayNames {
					lang, text, ok := strings.Cut(s, "=")
					if !ok {
						return fmt.Errorf("%w: --display-name %q: want LANG=TEXT, e.g. en='Cybercrime unit'", errUsage, s)
					}
					ag.DisplayNames[lang] = text
				}
				mask = append(mask, "displayNames")
			}
			if c.Flags().Changed("accepted-language") {
				ag.AcceptedLanguages, mask = langs, append(mask, "acceptedLanguages")
			}
			if c.Flags().Changed("receives") {
				ag.Receives = nil
				for _, r := range receives {
					n, err := enumValue("receives", r, directoryv1.RequestType(0).Descriptor())
					if err != nil {
						return err
					}
					ag.Receives = append(ag.Receives, directoryv1.RequestType(n))
				}
				mask = append(mask, "receives")
			}
			if len(mask) == 0 {
				return fmt.Errorf("%w: nothing to change: give --from-file or a field's flag (see 'comityctl agencies update -h')", errUsage)
			}
			cl, err := g.client()
			if err != nil {
				return err
			}
			ctx := c.Context()
			if etag == "" {
				if etag, err = currentAgencyEtag(ctx, cl, name); err != nil {
					return err
				}
			}
			ag.Name, ag.Etag = name, etag
			data, err := cl.callRaw(ctx, http.MethodPatch, "/v1/"+name+"?updateMask="+url.QueryEscape(strings.Join(dedupe(mask), ",")), ag)
			if err != nil {
				return agencyConflict(name, etag, err)
			}
			return g.print(data, objectView{})
		},
	}
	f := c.Flags()
	f.StringVarP(&file, "from-file", "f", "", "JSON or YAML file with the fields to change (- for standard input)")
	f.StringVar(&etag, "etag", "", "the etag you read (default: the agency's current one)")
	enumFlag(c, &kind, "kind", "kind of authority", directoryv1.Agency_Kind(0).Descriptor())
	f.StringArrayVar(&displayNames, "display-name", nil, "LANG=TEXT (repeatable; replaces every display name)")
	f.StringSliceVar(&langs, "accepted-language", nil, "a language the agency accepts requests in (repeatable; replaces the list)")
	f.StringSliceVar(&receives, "receives", nil, "a request type the agency receives (repeatable; replaces the list)")
	return c
}

func newAgencyStateCmd(g *globals, verb, short string) *cobra.Command {
	var etag string
	c := &cobra.Command{
		Use:     verb + " AGENCY",
		Short:   short,
		Long:    short + ".\nA directory_admin of the agency's state; made against --etag, else the agency's current etag.",
		Example: "  comityctl agencies " + verb + " kz-police-cyber",
		Args:    args(1, "one AGENCY"),
		RunE: func(c *cobra.Command, a []string) error {
			name, err := agencyName(a[0])
			if err != nil {
				return err
			}
			cl, err := g.client()
			if err != nil {
				return err
			}
			ctx := c.Context()
			if etag == "" {
				if etag, err = currentAgencyEtag(ctx, cl, name); err != nil {
					return err
				}
			}
			var body proto.Message = &directoryv1.DeactivateAgencyRequest{Etag: etag}
			if verb == "activate" {
				body = &directoryv1.ActivateAgencyRequest{Etag: etag}
			}
			data, err := cl.callRaw(ctx, http.MethodPost, "/v1/"+name+":"+verb, body)
			if err != nil {
				return agencyConflict(name, etag, err)
			}
			return g.print(data, listOfOne{columns: agencyColumns})
		},
	}
	c.Flags().StringVar(&etag, "etag", "", "the etag you read (default: the agency's current one)")
	return c
}

func newStatesCmd(g *globals) *cobra.Command {
	list := &cobra.Command{
		Use:     "list",
		Short:   "List the states",
		Example: "  comityctl states list",
		Args:    noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cl, err := g.client()
			if err != nil {
				return err
			}
			data, err := cl.callRaw(c.Context(), http.MethodGet, "/v1/states", nil)
			if err != nil {
				return err
			}
			return g.print(data, listView{key: "states", columns: []column{
				{header: "NAME", path: "name"}, {header: "DISPLAY NAME (EN)", path: "displayNames.en"},
				{header: "OFFICIAL LANGUAGES", path: "officialLanguages"}, {header: "ACCEPTED LANGUAGES", path: "acceptedLanguages"},
				{header: "TIME ZONE", path: "timeZone"},
			}})
		},
	}
	get := &cobra.Command{
		Use:     "get STATE",
		Short:   "Show a state: its languages, time zone, trusted token issuers, retention after close and witness",
		Example: "  comityctl states get UZ",
		Args:    args(1, "one STATE (its ISO code, e.g. UZ)"),
		RunE: func(c *cobra.Command, a []string) error {
			code := strings.ToUpper(strings.TrimPrefix(a[0], "states/"))
			if !regexp.MustCompile(`^[A-Z]{2}$`).MatchString(code) {
				return fmt.Errorf("%w: %q is not a state: give its ISO code, e.g. UZ", errUsage, a[0])
			}
			cl, err := g.client()
			if err != nil {
				return err
			}
			data, err := cl.callRaw(c.Context(), http.MethodGet, "/v1/states/"+code, nil)
			if err != nil {
				return err
			}
			return g.print(data, objectView{})
		},
	}
	c := group("states", "The directory's states", "  comityctl states list\n  comityctl states get UZ\n  comityctl states update KZ --retention-after-close 5y",
		list, get, newStatesUpdateCmd(g))
	c.Aliases = []string{"state"}
	return c
}

func newRoutesCmd(g *globals) *cobra.Command {
	var state, typ, priority, legalBasis string
	resolve := &cobra.Command{
		Use:   "resolve",
		Short: "Which agency of a state receives a type of request at a priority",
		Example: "  comityctl routes resolve --requested-state UZ --type DATA_PRESERVATION --priority URGENT\n" +
			"  comityctl routes resolve --requested-state UZ --type DATA_PRESERVATION --priority ROUTINE\n" +
			"  comityctl routes resolve --requested-state UZ --type SUBSCRIBER_INFORMATION --priority ROUTINE --legal-basis UNTOC_2000",
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if state == "" || typ == "" || priority == "" {
				return fmt.Errorf("%w: --requested-state, --type and --priority are required", errUsage)
			}
			t, err := enumValue("type", typ, directoryv1.RequestType(0).Descriptor())
			if err != nil {
				return err
			}
			p, err := enumValue("priority", priority, directoryv1.Priority(0).Descriptor())
			if err != nil {
				return err
			}
			cl, err := g.client()
			if err != nil {
				return err
			}
			q := url.Values{"requestedState": {strings.ToUpper(state)}, "requestType": {directoryv1.RequestType(t).String()},
				"priority": {directoryv1.Priority(p).String()}}
			if legalBasis != "" {
				q.Set("legalBasis", strings.ToUpper(legalBasis))
			}
			data, err := cl.callRaw(c.Context(), http.MethodGet, "/v1/routes:resolve?"+q.Encode(), nil)
			if err != nil {
				return err
			}
			return g.print(data, listOfOne{columns: []column{
				{header: "AGENCY", path: "agency.name"}, {header: "KIND", path: "agency.kind"}, {header: "RATIONALE", path: "rationale"},
			}})
		},
	}
	resolve.Flags().StringVar(&state, "requested-state", "", "ISO code of the requested state, e.g. UZ (required)")
	enumFlag(resolve, &typ, "type", "what is asked for (required)", directoryv1.RequestType(0).Descriptor())
	enumFlag(resolve, &priority, "priority", "how fast (required)", directoryv1.Priority(0).Descriptor())
	resolve.Flags().StringVar(&legalBasis, "legal-basis", "", "the instrument the request is made under, e.g. UNTOC_2000: the authority the state designated for it, if any")
	c := group("routes", "The directory's routes: who receives which request", "  comityctl routes resolve --requested-state UZ --type DATA_PRESERVATION --priority URGENT", resolve)
	c.Aliases = []string{"route"}
	return c
}
