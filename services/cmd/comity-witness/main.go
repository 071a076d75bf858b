// Command comity-witness is the witness a state's oversight body runs over
// the suite's audit log (DESIGN §6.1): a C2SP tlog-witness that cosigns the
// log's checkpoints only if each is consistent with every one it cosigned
// before. It serves plain HTTP; terminate TLS in front of it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"go.uber.org/zap"
	"k8s.io/klog/v2"

	"github.com/comity-mla/comity/services/platform/cli"
	"github.com/comity-mla/comity/services/witness/witnessd"
)

func main() {
	fs := flag.NewFlagSet("comity-witness", flag.ContinueOnError)
	common := new(cli.Common)
	common.Register(fs, "json", ":9114")
	common.RegisterHTTP(fs)
	addr := fs.String("http-addr", ":9104", "HTTP listen address of POST /add-checkpoint, GET /checkpoint and GET /public-key")
	database := fs.String("database", "sqlite:./var/witness/witness.db", "the witness's state: sqlite:PATH or a postgres:// URL")
	keyDir := fs.String("key-dir", "./var/witness", "directory of the witness's key: witness.key (secret) and witness.pub (its cosignature/v1 verifier key, to publish)")
	name := fs.String("name", "", "name of the witness's key, e.g. witness.kz.comity.local; set on first start, the same on every later one (required)")
	origin := fs.String("log-origin", "comity.local/audit", "origin of the audit log witnessed, the first line of its checkpoints")
	logKey := fs.String("log-public-key", "", "file holding the audit log's note verifier key, e.g. ./var/audit/public.key (required)")
	seed := fs.String("seed-checkpoint", "", "file holding a checkpoint of the log (comityctl audit checkpoint, or the log's checkpoint file) to start from when the witness has none; without it the witness trusts the first checkpoint it is shown")

	os.Exit(cli.Main(fs.Name(), fs, common, os.Args[1:], func(ctx context.Context, env cli.Env) error {
		if *name == "" || *logKey == "" {
			return errors.New("--name and --log-public-key are required")
		}
		// The witness library reports through klog what the witness also
		// logs itself (a fork); keep it out of stderr's JSON stream.
		klog.LogToStderr(false)
		klog.SetOutput(klogWriter{env.Logger.With(zap.String("component", "witness-library"))})
		key, err := os.ReadFile(*logKey)
		if err != nil {
			return fmt.Errorf("--log-public-key: %w", err)
		}
		var seedCP []byte
		if *seed != "" {
			if seedCP, err = os.ReadFile(*seed); err != nil {
				return fmt.Errorf("--seed-checkpoint: %w", err)
			}
		}
		l, err := env.Conns.Listen(*addr, "http")
		if err != nil {
			return err
		}
		return witnessd.Run(ctx, witnessd.Config{
			Listener: l, Database: *database, KeyDir: *keyDir, Name: *name,
			Logs: []witnessd.Log{{Origin: *origin, PublicKey: string(key)}}, Seed: seedCP,
			HTTP: common.HTTP, Logger: env.Logger, Metrics: env.Metrics,
		})
	}))
}

// klogWriter turns klog's formatted lines into zap debug entries.
type klogWriter struct{ log *zap.Logger }

func (w klogWriter) Write(p []byte) (int, error) {
	w.log.Debug(strings.TrimSpace(string(p)))
	return len(p), nil
}
