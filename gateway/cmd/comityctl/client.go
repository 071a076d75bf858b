package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/comity-mla/comity/gateway/cliauth"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// restClient calls a comity-gateway with a bearer token.
type restClient struct {
	base, token string
	// purpose is sent as X-Comity-Purpose on every call; empty: none.
	purpose string
	http    *http.Client
}

// maxAnswerBytes bounds an answer read whole by comityctl (a page of a
// list at most): a larger one is an error, never silently cut.
const maxAnswerBytes = 32 << 20

// callTimeout bounds a call that is not a stream.
const callTimeout = 2 * time.Minute

// client is the REST client for the gateway and token the command line,
// the environment or the config file give (in that order).
func (g *globals) client() (*restClient, error) {
	gateway, token := g.gateway, g.token
	if gateway == "" || token == "" {
		path, cfg, err := g.loadConfigFile()
		if err != nil {
			return nil, err
		}
		if gateway == "" {
			gateway = cfg.Gateway
		}
		if token == "" && cfg.Token != "" {
			// A token about to expire is renewed with its refresh token
			// (comityctl login saved both).
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			cfg, err = refreshSaved(ctx, path, cfg)
			cancel()
			if err != nil {
				return nil, err
			}
			if cfg.TokenExpiry != "" {
				exp, _ := time.Parse(time.RFC3339, cfg.TokenExpiry) // loadConfig checked it
				if !time.Now().Before(exp) {
					return nil, fmt.Errorf("the token in %s expired at %s: run 'comityctl login' for a new one, or pass --token", path, exp.Local().Format(time.RFC3339))
				}
			}
			token = cfg.Token
		}
	}
	if gateway == "" {
		gateway = defaultGateway
	}
	if token == "" {
		return nil, fmt.Errorf("%w: no token: run 'comityctl login', or pass --token (or set COMITY_TOKEN)", errUsage)
	}
	u, err := url.Parse(gateway)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: gateway %q is not an http:// or https:// URL", errUsage, gateway)
	}
	if u.Scheme == "http" && !cliauth.Loopback(u.Hostname()) {
		return nil, fmt.Errorf("%w: gateway %s is plain http: your token would cross the network unencrypted; use its https:// URL (plain http is for a gateway on this computer only)", errUsage, gateway)
	}
	hc, err := newHTTPClient(g.caFile)
	if err != nil {
		return nil, err
	}
	return &restClient{base: strings.TrimSuffix(gateway, "/"), token: token, purpose: g.purpose, http: hc}, nil
}

// newHTTPClient is the default client, or one trusting only the CA in caFile.
func newHTTPClient(caFile string) (*http.Client, error) {
	if caFile == "" {
		return http.DefaultClient, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%w: --ca %s holds no PEM certificate", errUsage, caFile)
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}}, nil
}

// apiError is an answer other than 2xx: the status and the google.rpc.Status
// message with its field violations.
type apiError struct {
	status int
	// message is the status's message with every violation, on one line.
	message string
	// summary and violations are the same, apart ("field: description").
	summary    string
	violations []string
	traceID    string
}

func (e *apiError) Error() string {
	s := fmt.Sprintf("%d %s: %s", e.status, http.StatusText(e.status), e.message)
	if e.traceID != "" {
		s += " (trace id " + e.traceID + ")"
	}
	return s
}

// long says the error over several lines, as the final word of a command:
// the message, each violation, then the HTTP status and the trace id to
// quote when reporting it.
func (e *apiError) long() string {
	var b strings.Builder
	summary, shown := e.summary, e.violations
	// The services' messages often end with their violations, joined on one
	// line: the message is cut before them, and each gets its own line.
	first := -1
	for _, v := range e.violations {
		i := strings.Index(summary, v)
		if i < 0 {
			first = -1
			break
		}
		if first < 0 || i < first {
			first = i
		}
	}
	switch {
	case first > 0:
		summary = strings.TrimRight(summary[:first], " :;") + ":"
	case first == 0 && len(e.violations) == 1:
		shown = nil
	}
	b.WriteString(printable(summary, 0))
	for _, v := range shown {
		b.WriteString("\n  " + printable(v, 0))
	}
	b.WriteString(fmt.Sprintf("\n  (HTTP %d %s", e.status, http.StatusText(e.status)))
	if e.traceID != "" {
		b.WriteString("; trace id " + printable(e.traceID, 100))
	}
	b.WriteString(")")
	if e.status == http.StatusUnauthorized {
		b.WriteString("\nThe gateway did not accept the token: run 'comityctl login' for a new one, or pass a valid --token.")
	}
	return b.String()
}

// describe is how comityctl reports err: a failed call in full, anything
// else as it is.
func describe(err error) string {
	var api *apiError
	if errors.As(err, &api) && err == error(api) {
		return api.long()
	}
	msg := err.Error()
	if errors.Is(err, errUsage) {
		msg = strings.TrimPrefix(msg, errUsage.Error()+": ")
	}
	return msg
}

// newAPIError reads a non-2xx answer.
func newAPIError(resp *http.Response, data []byte) *apiError {
	e := &apiError{status: resp.StatusCode, traceID: resp.Header.Get("X-Trace-Id")}
	e.summary, e.violations = parseStatus(data)
	e.message = e.summary
	for _, v := range e.violations {
		// The services' messages often already name their violations;
		// each is said once.
		if !strings.Contains(e.message, v) {
			e.message += "; " + v
		}
	}
	return e
}

// parseStatus returns the message of a google.rpc.Status answer and its
// violations ("field: description"), or the raw answer when it is not one.
func parseStatus(data []byte) (string, []string) {
	var st struct {
		Message string `json:"message"`
		Details []struct {
			FieldViolations []struct{ Field, Description string }   `json:"fieldViolations"`
			Violations      []struct{ Subject, Description string } `json:"violations"`
		} `json:"details"`
	}
	if err := json.Unmarshal(data, &st); err != nil || st.Message == "" {
		return strings.TrimSpace(string(data)), nil
	}
	var vs []string
	for _, d := range st.Details {
		for _, v := range d.FieldViolations {
			vs = append(vs, v.Field+": "+v.Description)
		}
		for _, v := range d.Violations {
			vs = append(vs, v.Subject+": "+v.Description)
		}
	}
	return st.Message, vs
}

// call sends body (a proto message, as JSON) and reads a 2xx answer into
// out; any other answer is an *apiError.
func (c *restClient) call(ctx context.Context, method, path string, body, out proto.Message) error {
	data, err := c.callRaw(ctx, method, path, body)
	if err != nil {
		return err
	}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: the answer is not what the API sends: %w", method, path, err)
	}
	return nil
}

// callRaw sends body (a proto message, as JSON; none when nil) and
// returns the JSON of a 2xx answer as the gateway sent it (fields this
// comityctl does not know included); any other answer is an *apiError.
func (c *restClient) callRaw(ctx context.Context, method, path string, body proto.Message) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		data, err := protojson.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(data)
	}
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	c.authorise(req)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, unreachable(c.base, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	if len(data) > maxAnswerBytes {
		return nil, fmt.Errorf("%s %s: the answer is larger than %d bytes (ask for a smaller page)", method, path, maxAnswerBytes)
	}
	if resp.StatusCode/100 != 2 {
		return nil, newAPIError(resp, data)
	}
	return data, nil
}

// stream sends a request whose answer is read as it comes (a download, a
// watch) or whose body is large (an upload); a non-2xx answer is an
// *apiError. The caller closes the answer's body.
func (c *restClient) stream(ctx context.Context, method, path string, body io.Reader, header http.Header) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, err
	}
	return c.send(ctx, req, header)
}

// send adds header and the token to req and sends it; a non-2xx answer
// is an *apiError, its body read and closed.
func (c *restClient) send(ctx context.Context, req *http.Request, header http.Header) (*http.Response, error) {
	for k, v := range header {
		req.Header[k] = v
	}
	c.authorise(req)
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, unreachable(c.base, err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return nil, newAPIError(resp, data)
	}
	return resp, nil
}

// authorise adds the token and the declared purpose of reads to req.
func (c *restClient) authorise(req *http.Request) {
	req.Header.Set("Authorization", "Bearer "+c.token)
	if c.purpose != "" {
		req.Header.Set(purposeHeader, c.purpose)
	}
}

// unreachable says that the gateway could not be reached, and where
// comityctl looked for it.
func unreachable(base string, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) && ue.Timeout() {
		return fmt.Errorf("the gateway at %s did not answer in time: %v", base, ue.Err)
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	return fmt.Errorf("cannot reach the gateway at %s (set it with --gateway, COMITY_GATEWAY or 'comityctl config set gateway URL'): %w", base, err)
}

// show gets the resource at name (agencies/…, requests/…) and prints it.
func (g *globals) show(ctx context.Context, name string) error {
	cl, err := g.client()
	if err != nil {
		return err
	}
	data, err := cl.callRaw(ctx, http.MethodGet, "/v1/"+name, nil)
	if err != nil {
		return err
	}
	return g.print(data, objectView{})
}
