package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	directoryv1 "github.com/comity-mla/comity/proto/comity/directory/v1"
	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/platform/grpcclient"
	"github.com/comity-mla/comity/services/platform/mtls"
)

// trustDevOIDC makes every state of the directory trust the development
// OpenID provider's issuer. A new directory is seeded with it; one made
// before comity-local served the provider (or with another
// --dev-oidc-addr) gets it here, through the directory's own API, as each
// state's directory administrator (<xx>-gpo), so that the change is audited
// like any other.
func trustDevOIDC(ctx context.Context, dataDir, directoryAddr string, tlsID *mtls.Identity, issuer string, log *zap.Logger) error {
	conn, err := grpcclient.New(directoryAddr, grpcclient.Options{TLS: tlsID, Server: mtls.Directory, Timeout: 10 * time.Second})
	if err != nil {
		return err
	}
	defer conn.Close()
	dir := directoryv1.NewDirectoryServiceClient(conn)
	as := func(state string) (context.Context, error) {
		tok, err := identity.MintDevToken(dataDir, identity.TokenRequest{
			Agency: strings.ToLower(state) + "-gpo", Roles: []identity.Role{identity.DirectoryAdmin},
			Subject: "comity-local", Name: "comity-local (trusts its development OpenID provider)", TTL: time.Minute,
		}, time.Time{})
		if err != nil {
			return nil, err
		}
		return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok), nil
	}
	// The directory may still be starting: wait for it, for a while.
	var states []*directoryv1.State
	deadline := time.Now().Add(30 * time.Second)
	for backoff := 50 * time.Millisecond; ; backoff = min(2*backoff, time.Second) {
		cctx, err := as("KZ")
		if err != nil {
			return err
		}
		resp, err := dir.ListStates(cctx, &directoryv1.ListStatesRequest{})
		if err == nil {
			states = resp.GetStates()
			break
		}
		if status.Code(err) != codes.Unavailable || time.Now().After(deadline) {
			return fmt.Errorf("list states: %w", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
	}
	for _, st := range states {
		if slices.Contains(st.GetTrustedIssuers(), issuer) {
			continue
		}
		cctx, err := as(st.GetCode())
		if err != nil {
			return err
		}
		upd := &directoryv1.State{Name: st.GetName(), Etag: st.GetEtag(), TrustedIssuers: append(slices.Clone(st.GetTrustedIssuers()), issuer)}
		if _, err := dir.UpdateState(cctx, &directoryv1.UpdateStateRequest{
			State: upd, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"trusted_issuers"}},
		}); err != nil {
			return fmt.Errorf("state %s: trust %s: %w", st.GetCode(), issuer, err)
		}
		log.Info("the directory now trusts the development OpenID provider", zap.String("state", st.GetCode()), zap.String("issuer", issuer))
	}
	return nil
}
