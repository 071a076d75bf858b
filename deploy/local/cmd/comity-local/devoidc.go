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
	dir, closeConn, err := directoryAs(directoryAddr, tlsID)
	if err != nil {
		return err
	}
	defer closeConn()
	states, err := listStates(ctx, dir, dataDir, "kz-gpo")
	if err != nil {
		return err
	}
	for _, st := range states {
		if slices.Contains(st.GetTrustedIssuers(), issuer) {
			continue
		}
		cctx, err := asAdmin(ctx, dataDir, strings.ToLower(st.GetCode())+"-gpo", "comity-local (trusts its development OpenID provider)")
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

// directoryAs connects to the directory as the gateway does.
func directoryAs(directoryAddr string, tlsID *mtls.Identity) (directoryv1.DirectoryServiceClient, func(), error) {
	conn, err := grpcclient.New(directoryAddr, grpcclient.Options{TLS: tlsID, Server: mtls.Directory, Timeout: 10 * time.Second})
	if err != nil {
		return nil, nil, err
	}
	return directoryv1.NewDirectoryServiceClient(conn), func() { conn.Close() }, nil
}

// asAdmin is ctx with a short-lived dev token of a directory_admin of
// agency, for comity-local's own changes to the directory, which are
// audited like any other.
func asAdmin(ctx context.Context, dataDir, agency, name string) (context.Context, error) {
	tok, err := identity.MintDevToken(dataDir, identity.TokenRequest{
		Agency: agency, Roles: []identity.Role{identity.DirectoryAdmin},
		Subject: "comity-local", Name: name, TTL: time.Minute,
	}, time.Time{})
	if err != nil {
		return nil, err
	}
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok), nil
}

// listStates lists the directory's states as a directory_admin of agency,
// waiting for a while for a directory that is still starting.
func listStates(ctx context.Context, dir directoryv1.DirectoryServiceClient, dataDir, agency string) ([]*directoryv1.State, error) {
	deadline := time.Now().Add(30 * time.Second)
	for backoff := 50 * time.Millisecond; ; backoff = min(2*backoff, time.Second) {
		cctx, err := asAdmin(ctx, dataDir, agency, "comity-local")
		if err != nil {
			return nil, err
		}
		resp, err := dir.ListStates(cctx, &directoryv1.ListStatesRequest{})
		if err == nil {
			return resp.GetStates(), nil
		}
		if status.Code(err) != codes.Unavailable || time.Now().After(deadline) {
			return nil, fmt.Errorf("list states: %w", err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(backoff):
		}
	}
}
