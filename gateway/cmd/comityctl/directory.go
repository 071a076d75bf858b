package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/durationpb"

	directoryv1 "github.com/comity-mla/comity/proto/comity/directory/v1"
	"github.com/comity-mla/comity/services/directory"
	"github.com/comity-mla/comity/services/directory/directoryd"
	"github.com/comity-mla/comity/services/directory/grpcapi"
	"github.com/comity-mla/comity/services/directory/seed"
	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/platform/dburl"
)

func newDirectoryCmd(g *globals) *cobra.Command {
	return group("directory", "Load a directory snapshot (states and agencies)",
		"  comityctl directory import snapshot.json --gateway https://comity.example.kz --token \"$ADMIN\"",
		newDirectoryImportCmd(g))
}

// newDirectoryImportCmd loads a snapshot in one of two ways. With
// --gateway it changes a running deployment's directory through its API,
// as the directory_admin whose token it sends: validated, scoped to that
// admin's state and audited like any change. Without, it writes the
// snapshot into a database directly, which it refuses while a
// comity-directory uses the database (the service's lock): a change behind
// a running service's back is neither audited nor seen by its caches, and
// one such import once locked every user out.
//
// Here --gateway means what it says on the command line or in
// COMITY_GATEWAY: the config file's gateway does not turn an offline
// import into one through the API.
func newDirectoryImportCmd(g *globals) *cobra.Command {
	var database string
	c := &cobra.Command{
		Use:   "import FILE",
		Short: "Load a directory snapshot into a running directory (--gateway) or a stopped one's database (--database)",
		Long: `Load a directory snapshot (states and agencies, JSON of comity.directory.v1.Snapshot, the shape of
services/directory/seed/default.json).

With --gateway, into a running directory through the gateway, as a directory_admin (--token or
COMITY_TOKEN): only the entries of the admin's own state, each updated with its etag or created,
validated and audited; it prints what became of each entry. Without --gateway, into a database
no running service uses (--database).`,
		Example: `  comityctl directory import snapshot.json --gateway https://comity.example.kz --token "$ADMIN"
  comityctl directory import services/directory/seed/default.json --database sqlite:./var/directory.db`,
		Args:        args(1, "exactly one snapshot FILE"),
		Annotations: map[string]string{envAnnotation: "all"},
		RunE: func(c *cobra.Command, a []string) error {
			return g.directoryImport(c.Context(), a[0], database)
		},
	}
	c.Flags().StringVar(&database, "database", "sqlite:"+filepath.Join("var", "directory.db"),
		"directory database that no running service uses: sqlite:PATH or a postgres:// URL")
	return c
}

func (g *globals) directoryImport(ctx context.Context, file, database string) error {
	throughGateway := g.given["gateway"] || g.envSet["gateway"]
	if throughGateway && g.given["database"] {
		return fmt.Errorf("%w: --gateway and --database exclude each other: a running directory is changed through its gateway, a stopped one in its database", errUsage)
	}
	if !throughGateway && (g.given["token"] || g.given["ca"]) {
		return fmt.Errorf("%w: --token and --ca go with --gateway", errUsage)
	}
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	states, agencies, err := seed.Load(f)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	if throughGateway {
		if g.token == "" {
			return fmt.Errorf("%w: --gateway needs --token (or COMITY_TOKEN): a directory_admin's token", errUsage)
		}
		c, err := g.client()
		if err != nil {
			return err
		}
		return importThroughGateway(ctx, c, states, agencies, g.stdout)
	}
	return importIntoDatabase(ctx, database, file, states, agencies, g.stdout)
}

func importIntoDatabase(ctx context.Context, database, file string, states []directory.State, agencies []directory.Agency, stdout io.Writer) error {
	unlock, err := directoryd.Lock(ctx, database, true, nil)
	if err != nil {
		if errors.Is(err, dburl.ErrLocked) {
			return fmt.Errorf("refusing to import into a database a running service uses: %w.\n"+
				"Change a running directory through it, as a directory_admin: comityctl directory import %s --gateway URL --token TOKEN; "+
				"or stop every comity-directory on this database first", err, file)
		}
		return err
	}
	defer unlock()
	store, closeStore, err := directoryd.OpenStore(ctx, database)
	if err != nil {
		return err
	}
	defer closeStore()
	report, err := directory.Import(ctx, store, states, agencies)
	if err != nil {
		return fmt.Errorf("import (nothing was stored): %w", err)
	}
	if _, err := fmt.Fprintf(stdout, "imported %d states and %d agencies\n", len(states), len(agencies)); err != nil {
		return err
	}
	if len(report.KeptIssuers) > 0 {
		fmt.Fprintf(stdout, "kept the trusted issuers of %s: the snapshot lists none for them\n", strings.Join(report.KeptIssuers, ", "))
	}
	if len(report.NoIssuer) > 0 {
		fmt.Fprintf(stdout, "warning: %s trust no token issuer: none of their users can sign in until a snapshot names one\n", strings.Join(report.NoIssuer, ", "))
	}
	for _, k := range report.KeptAgencies {
		fmt.Fprintf(stdout, "kept %s as %s: the snapshot's %s would leave %s with no active agency where %s counts (%s); create or change another agency first\n",
			k.ID, agencyState(k.Kind, k.Active), agencyState(k.SnapshotKind, k.SnapshotActive), k.State, k.Role, strings.Join(identity.RoleKinds(k.Role), " or "))
	}
	return nil
}

// agencyState is how an import's report shows an agency's kind and active
// flag.
func agencyState(k directory.Kind, active bool) string {
	if active {
		return "active " + string(k)
	}
	return "inactive " + string(k)
}

// The outcomes of one snapshot entry imported through the gateway.
const (
	created   = "created"
	updated   = "updated"
	unchanged = "unchanged"
	skipped   = "skipped"
	failed    = "FAILED"
)

// entryResult is what became of one entry of the snapshot.
type entryResult struct {
	name, outcome string
	// notes say why, or what else the reader should know.
	notes []string
}

// importThroughGateway applies the part of the snapshot that concerns the
// token's state through the API: each entry is one call (two for an agency
// that also gets deactivated), made with the etag just read, so that each
// entry is applied whole or not at all and a concurrent change is not
// overwritten. Entries of other states are skipped and reported, not an
// error: a directory_admin imports a whole-directory snapshot (such as the
// shipped seed) to apply their own state's part of it.
func importThroughGateway(ctx context.Context, c *restClient, states []directory.State, agencies []directory.Agency, stdout io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	mine, err := c.adminState(ctx)
	if err != nil {
		return err
	}
	var results []entryResult
	for _, st := range states {
		if st.Code != mine {
			results = append(results, entryResult{"states/" + st.Code, skipped, []string{"not your state (you administer " + mine + ")"}})
			continue
		}
		results = append(results, c.importState(ctx, st))
	}
	for _, a := range agencies {
		if a.State != mine {
			results = append(results, entryResult{"agencies/" + a.ID, skipped, []string{"an agency of " + a.State + ", not of your state (" + mine + ")"}})
			continue
		}
		results = append(results, c.importAgency(ctx, a))
	}
	counts := map[string]int{}
	width := 0
	for _, r := range results {
		width = max(width, len(r.name))
	}
	for _, r := range results {
		counts[r.outcome]++
		line := fmt.Sprintf("%-*s  %s", width, r.name, r.outcome)
		if len(r.notes) > 0 {
			line += ": " + strings.Join(r.notes, "; ")
		}
		if _, err := fmt.Fprintln(stdout, line); err != nil {
			return err
		}
	}
	if _, err := fmt.Fprintf(stdout, "%s: created %d, updated %d, unchanged %d, skipped %d, failed %d\n", mine,
		counts[created], counts[updated], counts[unchanged], counts[skipped], counts[failed]); err != nil {
		return err
	}
	if counts[failed] > 0 {
		return fmt.Errorf("%d of %d entries failed (listed above); the others were applied", counts[failed], len(results))
	}
	return nil
}

// importState brings the state to what the snapshot says, in one PATCH with
// the etag just read. A snapshot listing no trusted issuer leaves them as
// they are: it would otherwise lock every user of the state out.
func (c *restClient) importState(ctx context.Context, want directory.State) entryResult {
	res := entryResult{name: "states/" + want.Code}
	var got directoryv1.State
	if err := c.call(ctx, http.MethodGet, "/v1/states/"+want.Code, nil, &got); err != nil {
		return res.fail(err)
	}
	cur := grpcapi.StateFromProto(&got)
	if len(want.TrustedIssuers) == 0 && len(cur.TrustedIssuers) > 0 {
		want.TrustedIssuers = cur.TrustedIssuers
		res.notes = append(res.notes, "kept its trusted issuers (the snapshot lists none)")
	}
	patch := &directoryv1.State{Name: "states/" + want.Code, Etag: got.GetEtag()}
	var mask []string
	if !maps.Equal(cur.DisplayNames, want.DisplayNames) {
		mask, patch.DisplayNames = append(mask, "displayNames"), want.DisplayNames
	}
	if !slices.Equal(cur.OfficialLanguages, want.OfficialLanguages) {
		mask, patch.OfficialLanguages = append(mask, "officialLanguages"), want.OfficialLanguages
	}
	if !slices.Equal(cur.AcceptedLanguages, want.AcceptedLanguages) {
		mask, patch.AcceptedLanguages = append(mask, "acceptedLanguages"), want.AcceptedLanguages
	}
	if cur.TimeZone != want.TimeZone {
		mask, patch.TimeZone = append(mask, "timeZone"), want.TimeZone
	}
	if !slices.Equal(cur.TrustedIssuers, want.TrustedIssuers) {
		mask, patch.TrustedIssuers = append(mask, "trustedIssuers"), want.TrustedIssuers
	}
	// A snapshot that names no retention keeps the state's (DESIGN §10), as
	// an import into a database does: removing it would shorten, or
	// lengthen, what the state decided its requests' data is kept for.
	if want.RetentionAfterClose != 0 && want.RetentionAfterClose != cur.RetentionAfterClose {
		mask, patch.RetentionAfterClose = append(mask, "retentionAfterClose"), durationpb.New(want.RetentionAfterClose)
	}
	// Likewise its witness (DESIGN §6.1); a snapshot naming another one is
	// applied, which only a directory_admin of the state's oversight
	// agency may do (the PATCH is refused whole otherwise, saying so).
	if !want.Witness.IsZero() && want.Witness != cur.Witness {
		mask, patch.Witness = append(mask, "witness"), grpcapi.WitnessToProto(want.Witness)
	}
	if len(mask) == 0 {
		res.outcome = unchanged
		return res
	}
	if err := c.call(ctx, http.MethodPatch, "/v1/states/"+want.Code+"?updateMask="+strings.Join(mask, ","), patch, &got); err != nil {
		return res.fail(err)
	}
	res.outcome = updated
	res.notes = append([]string{strings.Join(mask, ", ")}, res.notes...)
	return res
}

// importAgency creates the agency (POST) or brings it to what the snapshot
// says (PATCH with the etag just read, then :deactivate or :activate when
// the snapshot says it is inactive or active and the directory does not).
func (c *restClient) importAgency(ctx context.Context, want directory.Agency) entryResult {
	res := entryResult{name: "agencies/" + want.ID}
	var got directoryv1.Agency
	err := c.call(ctx, http.MethodGet, "/v1/agencies/"+want.ID, nil, &got)
	var apiErr *apiError
	if errors.As(err, &apiErr) && apiErr.status == http.StatusNotFound {
		if !want.Active {
			res.outcome = skipped
			res.notes = append(res.notes, "inactive in the snapshot and not in the directory: nothing to create")
			return res
		}
		body := grpcapi.AgencyToProto(want)
		body.Name, body.Etag, body.Active, body.UpdateTime = "", "", false, nil
		if err := c.call(ctx, http.MethodPost, "/v1/agencies?agencyId="+url.QueryEscape(want.ID), body, &got); err != nil {
			return res.fail(err)
		}
		res.outcome = created
		return res
	}
	if err != nil {
		return res.fail(err)
	}
	cur := grpcapi.AgencyFromProto(&got)
	wantProto := grpcapi.AgencyToProto(want)
	patch := &directoryv1.Agency{Name: "agencies/" + want.ID, Etag: got.GetEtag()}
	var mask []string
	if cur.Kind != want.Kind {
		mask, patch.Kind = append(mask, "kind"), wantProto.GetKind()
	}
	if !maps.Equal(cur.DisplayNames, want.DisplayNames) {
		mask, patch.DisplayNames = append(mask, "displayNames"), want.DisplayNames
	}
	if !slices.Equal(cur.Receives, want.Receives) {
		mask, patch.Receives = append(mask, "receives"), wantProto.GetReceives()
	}
	if !slices.Equal(cur.AcceptedLanguages, want.AcceptedLanguages) {
		mask, patch.AcceptedLanguages = append(mask, "acceptedLanguages"), want.AcceptedLanguages
	}
	if !slices.Equal(cur.ContactPoints, want.ContactPoints) {
		mask, patch.ContactPoints = append(mask, "contactPoints"), wantProto.GetContactPoints()
	}
	deactivate := cur.Active && !want.Active
	activate := !cur.Active && want.Active
	if len(mask) == 0 && !deactivate && !activate {
		res.outcome = unchanged
		return res
	}
	if len(mask) > 0 {
		if err := c.call(ctx, http.MethodPatch, "/v1/agencies/"+want.ID+"?updateMask="+strings.Join(mask, ","), patch, &got); err != nil {
			return res.fail(err)
		}
		res.outcome = updated
		res.notes = append(res.notes, strings.Join(mask, ", "))
	}
	if activate {
		body := &directoryv1.ActivateAgencyRequest{Etag: got.GetEtag()}
		if err := c.call(ctx, http.MethodPost, "/v1/agencies/"+want.ID+":activate", body, &got); err != nil {
			return res.fail(fmt.Errorf("NOT activated: %w", err))
		}
		res.outcome = updated
		res.notes = append(res.notes, "activated")
	}
	if deactivate {
		body := &directoryv1.DeactivateAgencyRequest{Etag: got.GetEtag()}
		if err := c.call(ctx, http.MethodPost, "/v1/agencies/"+want.ID+":deactivate", body, &got); err != nil {
			// An update made just before stands on its own (its fields are
			// listed); say plainly what did not happen.
			return res.fail(fmt.Errorf("NOT deactivated: %w", err))
		}
		res.outcome = updated
		res.notes = append(res.notes, "deactivated")
	}
	return res
}

func (r entryResult) fail(err error) entryResult {
	r.outcome = failed
	r.notes = append(r.notes, err.Error())
	return r
}

// adminState is the state whose directory the token's holder administers:
// that of the agency the token names. The token is read, not verified, only
// to learn which agency to ask about; the gateway verifies it on every call.
func (c *restClient) adminState(ctx context.Context) (string, error) {
	parts := strings.Split(c.token, ".")
	var claims struct {
		Agency string   `json:"agency"`
		Roles  []string `json:"roles"`
	}
	if len(parts) != 3 {
		return "", fmt.Errorf("%w: --token is not a JWT", errUsage)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil || json.Unmarshal(payload, &claims) != nil || claims.Agency == "" {
		return "", fmt.Errorf("%w: --token is not a JWT naming an agency", errUsage)
	}
	if !slices.Contains(claims.Roles, "directory_admin") {
		return "", fmt.Errorf("%w: --token is not a directory_admin's (its roles are %q): only a directory_admin may change the directory", errUsage, claims.Roles)
	}
	var a directoryv1.Agency
	if err := c.call(ctx, http.MethodGet, "/v1/agencies/"+url.PathEscape(claims.Agency), nil, &a); err != nil {
		return "", fmt.Errorf("look up your agency %s: %w", claims.Agency, err)
	}
	return a.GetState(), nil
}
