package request

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"sync"

	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/identity"
)

// TransferLimits bound the attachment transfers (uploads and downloads) one
// Service runs at once. Each holds an open blob file for as long as its
// client takes, so without a bound a caller who starts many slow transfers
// (HTTP/2 multiplexes hundreds on one connection) can take every file
// descriptor of the process: the databases, the audit log's lock file and
// in comity-local Tessera's POSIX driver, which panics when it cannot open
// that lock, share them. The zero value of a field means its default.
type TransferLimits struct {
	// Total bounds the transfers of every caller; default 256. It must fit
	// in the descriptors the process leaves beside its connections (see
	// connlimit.DefaultMaxConns).
	Total int
	// PerAgency bounds the transfers of the users of one agency, so that
	// one agency cannot take the places of the others; default 32.
	PerAgency int
}

// The defaults of TransferLimits.
const (
	DefaultTransfersTotal     = 256
	DefaultTransfersPerAgency = 32
)

// TransferBoundField is the field of the violation a refusal for the
// transfer bound carries: it tells a gateway that this RESOURCE_EXHAUSTED is
// "too many at once, retry" (429), not "file too large" (413).
const TransferBoundField = "attachment_transfers"

// RegisterFlags defines --max-transfers and --max-transfers-per-agency on
// fs (and so COMITY_MAX_TRANSFERS and COMITY_MAX_TRANSFERS_PER_AGENCY).
func (l *TransferLimits) RegisterFlags(fs *flag.FlagSet) {
	fs.IntVar(&l.Total, "max-transfers", DefaultTransfersTotal, "most attachment uploads and downloads in progress at once, each holding a file open; one more is refused (429 / RESOURCE_EXHAUSTED) asking to retry. Must fit in the file descriptors --max-conns leaves")
	fs.IntVar(&l.PerAgency, "max-transfers-per-agency", DefaultTransfersPerAgency, "most attachment uploads and downloads the users of one agency may have in progress at once")
}

// Fit checks that the transfers fit in spare file descriptors, those the
// process's connections and reserve leave (connlimit.Guard.Spare): each
// holds a file, so more would let them take the databases' and the audit
// log's descriptors.
func (l TransferLimits) Fit(spare int) error {
	l, err := l.withDefaults()
	if err != nil {
		return err
	}
	if l.Total > spare {
		return fmt.Errorf("--max-transfers %d does not fit in the %d file descriptors left beside --max-conns and the reserve; lower --max-transfers or --max-conns, or raise the descriptor limit (ulimit -Hn)", l.Total, spare)
	}
	return nil
}

func (l TransferLimits) withDefaults() (TransferLimits, error) {
	if l.Total < 0 || l.PerAgency < 0 {
		return l, errors.New("request: --max-transfers and --max-transfers-per-agency must not be negative")
	}
	if l.Total == 0 {
		l.Total = DefaultTransfersTotal
	}
	if l.PerAgency == 0 {
		l.PerAgency = DefaultTransfersPerAgency
	}
	if l.PerAgency > l.Total {
		l.PerAgency = l.Total
	}
	return l, nil
}

// transfers counts the transfers in progress, in total and per agency.
type transfers struct {
	limits TransferLimits

	mu       sync.Mutex
	total    int
	byAgency map[string]int
}

func newTransfers(l TransferLimits) *transfers {
	return &transfers{limits: l, byAgency: map[string]int{}}
}

// acquire takes a place for a transfer of p, or refuses with
// RESOURCE_EXHAUSTED naming the bound reached; the caller calls release
// once, when the transfer's file is closed.
func (t *transfers) acquire(p identity.Principal) (release func(), err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case t.total >= t.limits.Total:
		return nil, (errs.Violations{{Field: TransferBoundField, Description: "the service's bound on attachment transfers in progress is reached"}}).Err(errs.ResourceExhausted,
			transferMessage(t.limits.Total, "in progress on this service (--max-transfers)"))
	case t.byAgency[p.Agency] >= t.limits.PerAgency:
		return nil, (errs.Violations{{Field: TransferBoundField, Description: "the bound per agency on attachment transfers in progress is reached"}}).Err(errs.ResourceExhausted,
			transferMessage(t.limits.PerAgency, "in progress for agency "+p.Agency+" (--max-transfers-per-agency)"))
	}
	t.total++
	t.byAgency[p.Agency]++
	var once sync.Once
	return func() {
		once.Do(func() {
			t.mu.Lock()
			defer t.mu.Unlock()
			t.total--
			if t.byAgency[p.Agency]--; t.byAgency[p.Agency] <= 0 {
				delete(t.byAgency, p.Agency)
			}
		})
	}, nil
}

func transferMessage(bound int, where string) string {
	return fmt.Sprintf("too many attachment transfers at once: %d uploads and downloads are already %s; retry when one has finished", bound, where)
}

// releasingReader gives its transfer place back when closed.
type releasingReader struct {
	io.ReadCloser
	release func()
}

func (r releasingReader) Close() error {
	err := r.ReadCloser.Close()
	r.release()
	return err
}
