package relay_test

import (
	"testing"
	"time"

	"github.com/comity-mla/comity/services/audit/relay"
	"github.com/comity-mla/comity/services/identity"
	"github.com/comity-mla/comity/services/internal/check"
	"github.com/comity-mla/comity/services/platform/cli"
	"github.com/comity-mla/comity/services/trail"
)

// TestProducerOf: each flag and each loaded value reaches its field.
func TestProducerOf(t *testing.T) {
	c := &cli.Common{AuditAddr: "audit.example:9103", AuditBacklogAlarm: 2 * time.Minute, AuditAnonymousClients: 7}
	svc := cli.Service{Credentials: &identity.ServiceCredentials{}, DigestKey: trail.DigestKey("0123456789abcdef0123456789abcdef")}
	check.Equal(t, "producer", relay.ProducerOf(c, svc), relay.Producer{
		AuditAddr: "audit.example:9103", ServiceCredentials: svc.Credentials, AuditDigestKey: svc.DigestKey,
		AuditBacklogAlarm: 2 * time.Minute, AuditAnonymousClients: 7,
	})
}
