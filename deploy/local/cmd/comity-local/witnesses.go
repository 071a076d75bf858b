package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"

	"go.uber.org/zap"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	directoryv1 "github.com/comity-mla/comity/proto/comity/directory/v1"
	"github.com/comity-mla/comity/services/audit/bundle"
	"github.com/comity-mla/comity/services/audit/tlog"
	"github.com/comity-mla/comity/services/platform/mtls"
	"github.com/comity-mla/comity/services/witness/witnessd"
)

// witnessStates are the states whose oversight bodies' witnesses
// comity-local runs in process, one each, in the order of --witness-addrs.
var witnessStates = []string{"KG", "KZ", "TJ", "TM", "UZ"}

// localWitness is one state's witness as comity-local runs it.
type localWitness struct {
	state string
	cfg   witnessd.Config
	url   string
	vkey  string
}

// localWitnesses prepares the five states' witnesses of the audit log in
// dataDir/audit, each with its key and SQLite database under
// dataDir/witness/<state>, serving on its listener, and returns them with
// the witness policy the audit log must satisfy.
//
// The log's key is created first if need be (tlog.LoadOrCreatePublicKey):
// the witnesses must know it before the log publishes its first witnessed
// checkpoint, and the log must know the witnesses' keys to open at all.
// A witness without a database (new, or its directory lost) while the log
// has a checkpoint is seeded with that checkpoint, so that it starts from
// the log's history instead of trusting whatever it is shown first.
//
// The URLs follow the listeners, so the policy is rewritten at each start;
// the keys, which are what a cosignature is checked against, do not change.
func localWitnesses(dataDir, origin string, ls []net.Listener) ([]localWitness, []byte, error) {
	// Checked before any key is made: the witnesses serve plain HTTP,
	// which a policy allows only on loopback.
	for i, state := range witnessStates {
		host, _, _ := net.SplitHostPort(ls[i].Addr().String())
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return nil, nil, fmt.Errorf("--witness-addrs: the witness of %s would listen on %s, which is not a loopback address: "+
				"comity-local serves its witnesses over plain HTTP, allowed only on loopback (127.0.0.1, ::1); "+
				"give loopback addresses", state, ls[i].Addr())
		}
	}
	logDir := filepath.Join(dataDir, "audit")
	logKey, err := tlog.LoadOrCreatePublicKey(logDir, origin)
	if err != nil {
		return nil, nil, err
	}
	seed, err := os.ReadFile(filepath.Join(logDir, "log", "checkpoint"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("audit log checkpoint: %w", err)
	}
	ws := make([]localWitness, len(witnessStates))
	pws := make([]bundle.PolicyWitness, len(witnessStates))
	for i, state := range witnessStates {
		dir := filepath.Join(dataDir, "witness", state)
		name := "witness." + strings.ToLower(state) + ".comity.local"
		_, vkey, err := witnessd.LoadOrCreateKey(dir, name)
		if err != nil {
			return nil, nil, fmt.Errorf("witness of %s: %w", state, err)
		}
		db := filepath.Join(dir, "witness.db")
		cfg := witnessd.Config{
			Listener: ls[i], Database: "sqlite:" + db, KeyDir: dir, Name: name,
			Logs: []witnessd.Log{{Origin: origin, PublicKey: logKey}},
		}
		if _, err := os.Stat(db); errors.Is(err, fs.ErrNotExist) && seed != nil {
			cfg.Seed = seed
		}
		url := "http://" + ls[i].Addr().String()
		ws[i] = localWitness{state: state, cfg: cfg, url: url, vkey: vkey}
		pws[i] = bundle.PolicyWitness{Name: state, PublicKey: vkey, URL: url}
	}
	policy, err := bundle.WitnessPolicy(logKey, pws)
	if err != nil {
		return nil, nil, err
	}
	return ws, policy, nil
}

// recordWitnesses records each state's witness in the directory, as the
// state's oversight body's directory administrator (<xx>-oversight), where
// it differs, so that `comityctl audit policy` derives the policy the audit
// log follows.
func recordWitnesses(ctx context.Context, dataDir, directoryAddr string, tlsID *mtls.Identity, ws []localWitness, log *zap.Logger) error {
	dir, closeConn, err := directoryAs(directoryAddr, tlsID)
	if err != nil {
		return err
	}
	defer closeConn()
	states, err := listStates(ctx, dir, dataDir, "kz-oversight")
	if err != nil {
		return err
	}
	for _, w := range ws {
		for _, st := range states {
			if st.GetCode() != w.state {
				continue
			}
			if st.GetWitness().GetUrl() == w.url && st.GetWitness().GetPublicKey() == w.vkey {
				break
			}
			cctx, err := asAdmin(ctx, dataDir, strings.ToLower(w.state)+"-oversight", "comity-local (records its state's witness)")
			if err != nil {
				return err
			}
			upd := &directoryv1.State{Name: st.GetName(), Etag: st.GetEtag(), Witness: &directoryv1.StateWitness{Url: w.url, PublicKey: w.vkey}}
			if _, err := dir.UpdateState(cctx, &directoryv1.UpdateStateRequest{
				State: upd, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"witness"}},
			}); err != nil {
				return fmt.Errorf("state %s: record its witness: %w", w.state, err)
			}
			log.Info("the directory now records the state's witness", zap.String("state", w.state), zap.String("url", w.url))
		}
	}
	return nil
}
