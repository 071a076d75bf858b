package devprovider

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/op"
)

// devicePath is the device page, the verification_uri of the device
// authorization grant (RFC 8628): there the user enters the code the
// command line printed, picks who to be, and approves or denies.
const devicePath = "/device"

const (
	// maxPendingDevices bounds the device authorizations kept at once:
	// anyone may start one, and each lives in memory.
	maxPendingDevices = 1000
	// deviceKeep is how long an expired device authorization is kept, so
	// that its client is told that the code expired, not that it was
	// refused.
	deviceKeep = 10 * time.Minute
	// maxCodeFailures wrong user codes within codeFailureWindow close the
	// device page for the rest of the window (RFC 8628 §5.1): user codes
	// are short enough to type, so guessing must be slow. The bound is for
	// the whole provider, not per address: one guesser with many
	// addresses would otherwise go as fast as they like.
	maxCodeFailures   = 10
	codeFailureWindow = time.Minute
	// maxUserCodeLen bounds what is looked up as a user code.
	maxUserCodeLen = 64
	// maxDeviceForm bounds the device page's form.
	maxDeviceForm = 64 << 10
)

// deviceAuth is a device authorization from its request until its device
// code is exchanged for tokens.
type deviceAuth struct {
	clientID, userCode string
	scopes             []string
	expires            time.Time
	done, denied       bool
	subject            string
	authTime           time.Time
}

var _ op.DeviceAuthorizationStorage = (*storage)(nil)

var (
	errWrongUserCode  = errors.New("unknown, expired or used user code")
	errTooManyGuesses = errors.New("too many wrong user codes")
)

// normalizeUserCode lets the user type the code in either case, with or
// without its dash or spaces.
func normalizeUserCode(code string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '-' || r == ' ' || r == '\t':
			return -1
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		}
		return r
	}, code)
}

func (s *storage) StoreDeviceAuthorization(_ context.Context, clientID, deviceCode, userCode string, expires time.Time, scopes []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for dc, d := range s.devices {
		if now.After(d.expires.Add(deviceKeep)) {
			delete(s.devices, dc)
			delete(s.userCodes, normalizeUserCode(d.userCode))
		}
	}
	if len(s.devices) >= maxPendingDevices {
		return errors.New("too many device sign-ins are waiting at the development provider: try again when some have expired")
	}
	key := normalizeUserCode(userCode)
	if _, ok := s.userCodes[key]; ok {
		return op.ErrDuplicateUserCode
	}
	s.devices[deviceCode] = &deviceAuth{clientID: clientID, userCode: userCode, scopes: scopes, expires: expires}
	s.userCodes[key] = deviceCode
	return nil
}

func (s *storage) GetDeviceAuthorizatonState(_ context.Context, clientID, deviceCode string) (*op.DeviceAuthorizationState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.devices[deviceCode]
	if !ok || d.clientID != clientID {
		return nil, errNotFound
	}
	st := &op.DeviceAuthorizationState{
		ClientID: clientID, Audience: audience(clientID), Scopes: d.scopes, Expires: d.expires,
		Done: d.done, Denied: d.denied, Subject: d.subject, AMR: []string{"pwd"}, AuthTime: d.authTime,
	}
	if d.done {
		// A device code gives its tokens once.
		delete(s.devices, deviceCode)
		delete(s.userCodes, normalizeUserCode(d.userCode))
	}
	return st, nil
}

// pendingDevice returns the device authorization of userCode while it
// waits for the user; s.mu is held. Every miss counts against the bound of
// guesses, and once it is reached no code is looked up, right or wrong,
// until the window ends.
func (s *storage) pendingDevice(userCode string) (*deviceAuth, error) {
	now := s.now()
	if now.Sub(s.failuresSince) >= codeFailureWindow {
		s.codeFailures, s.failuresSince = 0, now
	}
	if s.codeFailures >= maxCodeFailures {
		return nil, errTooManyGuesses
	}
	var d *deviceAuth
	if len(userCode) <= maxUserCodeLen {
		d = s.devices[s.userCodes[normalizeUserCode(userCode)]]
	}
	if d == nil || d.done || d.denied || now.After(d.expires) {
		s.codeFailures++
		return nil, errWrongUserCode
	}
	return d, nil
}

// checkUserCode returns the client waiting for userCode (see
// pendingDevice for its errors).
func (s *storage) checkUserCode(userCode string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, err := s.pendingDevice(userCode)
	if err != nil {
		return "", err
	}
	return d.clientID, nil
}

// decideDevice approves the device authorization of userCode for u, or
// denies it when u is nil.
func (s *storage) decideDevice(userCode string, u *user) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, err := s.pendingDevice(userCode)
	if err != nil {
		return err
	}
	if u == nil {
		d.denied = true
		return nil
	}
	d.subject, d.authTime, d.done = subjectOf(*u), s.now(), true
	s.users[d.subject] = u
	return nil
}

func (p *Provider) devicePage(w http.ResponseWriter, r *http.Request) {
	code := r.URL.Query().Get("user_code")
	if len(code) > maxUserCodeLen {
		code = ""
	}
	pageHeaders(w)
	deviceForm(code, p.choices, roleNames(), "").Render(r.Context(), w)
}

// device approves or denies the device authorization whose user code the
// form gives.
func (p *Provider) device(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxDeviceForm)
	if err := r.ParseForm(); err != nil {
		pageHeaders(w)
		w.WriteHeader(http.StatusBadRequest)
		deviceForm("", p.choices, roleNames(), "The form could not be read: load this page again and fill it in.").Render(r.Context(), w)
		return
	}
	code := r.PostForm.Get("user_code")
	if len(code) > maxUserCodeLen {
		code = ""
	}
	refuse := func(status int, problem string) {
		pageHeaders(w)
		if status == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", strconv.Itoa(int(codeFailureWindow/time.Second)))
		}
		w.WriteHeader(status)
		deviceForm(code, p.choices, roleNames(), problem).Render(r.Context(), w)
	}
	action := r.PostForm.Get("action")
	if action != "approve" && action != "deny" {
		refuse(http.StatusBadRequest, "Choose Approve or Deny.")
		return
	}
	var u *user
	if action == "approve" {
		// The code is checked first, so that a wrong one is said to be
		// wrong whatever else the form holds.
		if _, err := p.storage.checkUserCode(code); err != nil {
			refuse(codeRefusal(err))
			return
		}
		chosen, problem := p.chosenUser(r.PostForm)
		if problem != "" {
			refuse(http.StatusBadRequest, problem)
			return
		}
		u = &chosen
	}
	if err := p.storage.decideDevice(code, u); err != nil {
		refuse(codeRefusal(err))
		return
	}
	pageHeaders(w)
	deviceDone(u != nil).Render(r.Context(), w)
}

// codeRefusal is the status and the words for a user code not accepted.
func codeRefusal(err error) (int, string) {
	if errors.Is(err, errTooManyGuesses) {
		return http.StatusTooManyRequests, "Too many wrong codes were entered here: wait a minute, then enter the code again."
	}
	return http.StatusBadRequest, "This code is unknown, expired or already used: check it against the code the command printed, or start the sign-in again."
}
