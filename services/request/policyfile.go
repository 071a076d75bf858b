package request

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/comity-mla/comity/services/cooperation"
	"github.com/comity-mla/comity/services/internal/enum"
)

// A deadline policy file is a JSON object that changes entries of
// DefaultPolicy; an entry it does not name keeps its default:
//
//	{
//	  "acknowledge": {"EMERGENCY": "8h", "URGENT": "24h", "ROUTINE": "5d"},
//	  "answer": {"EMERGENCY": "8h", "URGENT": "10d", "ROUTINE": "90d"},
//	  "preservation": "90d",
//	  "confirmation": "72h",
//	  "execute_before_confirmation": ["DATA_PRESERVATION"],
//	  "extension_notice": "10d",
//	  "hold_return": "30d"
//	}
//
// acknowledge is counted from transmission, answer from acknowledgement
// (a requested response date that comes earlier still wins), preservation
// from execution and again for each extension, confirmation (the written
// confirmation of a request recorded from a call) from the call.
// execute_before_confirmation lists the request types the requested side
// may accept and execute before that confirmation ([] for none). A period is a whole number
// from execution and again for each extension of the requested side's own
// (it is also the most days the requesting side may ask for at once).
// extension_notice is how long before a preservation's expiry the
// requesting side is to ask for an extension (extension_request_by), and
// must be shorter than preservation; hold_return is how long a preservation
// holds again once the follow-up that held it (Budapest 29(7)) is executed,
// refused or withdrawn. A period is a whole number
// of days ("5d") or a Go duration ("36h", "90m"), and must be positive.
// Anything else (an unknown key or priority, a period that does not parse)
// is refused, naming the entry.

// policyKeys are the keys of a policy file, in the order errors list them.
var policyKeys = []string{"acknowledge", "answer", "preservation", "confirmation", "execute_before_confirmation", "extension_notice", "hold_return"}

// LoadPolicy reads the deadline policy file at path; an empty path is
// DefaultPolicy.
func LoadPolicy(path string) (Policy, error) {
	if path == "" {
		return DefaultPolicy(), nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return Policy{}, fmt.Errorf("deadline policy: %w", err)
	}
	p, err := parsePolicy(data)
	if err != nil {
		return Policy{}, fmt.Errorf("deadline policy %s: %w", path, err)
	}
	return p, nil
}

// ParsePolicy parses a deadline policy file (see the format above) into
// DefaultPolicy with the file's entries changed. An error names the entry
// at fault.
func ParsePolicy(data []byte) (Policy, error) {
	p, err := parsePolicy(data)
	if err != nil {
		return Policy{}, fmt.Errorf("deadline policy: %w", err)
	}
	return p, nil
}

func parsePolicy(data []byte) (Policy, error) {
	var top map[string]json.RawMessage
	if err := strictJSON(data, &top); err != nil || top == nil {
		if err == nil {
			err = fmt.Errorf("null")
		}
		return Policy{}, fmt.Errorf("want a JSON object with %s: %w", strings.Join(policyKeys, ", "), err)
	}
	p := DefaultPolicy()
	keys := make([]string, 0, len(top))
	for k := range top {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		var err error
		switch k {
		case "acknowledge":
			err = parsePeriods(k, top[k], p.Acknowledge)
		case "answer":
			err = parsePeriods(k, top[k], p.Answer)
		case "preservation":
			p.Preservation, err = parsePeriod(k, top[k])
		case "confirmation":
			p.Confirmation, err = parsePeriod(k, top[k])
		case "execute_before_confirmation":
			p.ExecuteBeforeConfirmation, err = parseTypes(k, top[k])
		case "extension_notice":
			p.ExtensionNotice, err = parsePeriod(k, top[k])
		case "hold_return":
			p.HoldReturn, err = parsePeriod(k, top[k])
		default:
			err = fmt.Errorf("unknown key %q (known: %s)", k, strings.Join(policyKeys, ", "))
		}
		if err != nil {
			return Policy{}, err
		}
	}
	if p.ExtensionNotice >= p.Preservation {
		return Policy{}, fmt.Errorf("extension_notice: the notice (%s) must be shorter than the preservation period (%s)", p.ExtensionNotice, p.Preservation)
	}
	return p, nil
}

// parsePeriods sets into periods the periods by priority of entry key.
func parsePeriods(key string, raw json.RawMessage, periods map[cooperation.Priority]time.Duration) error {
	var byPriority map[string]json.RawMessage
	if err := strictJSON(raw, &byPriority); err != nil || byPriority == nil {
		if err == nil {
			err = fmt.Errorf("null")
		}
		return fmt.Errorf("%s: want an object of periods by priority: %w", key, err)
	}
	for pr, v := range byPriority {
		name := key + "." + pr
		if !slices.Contains(priorities, cooperation.Priority(pr)) {
			return fmt.Errorf("%s: unknown priority %q (known: %s)", name, pr, priorityList())
		}
		d, err := parsePeriod(name, v)
		if err != nil {
			return err
		}
		periods[cooperation.Priority(pr)] = d
	}
	return nil
}

// parseTypes parses the request types of entry key: a JSON array of type
// names, each once.
func parseTypes(key string, raw json.RawMessage) ([]cooperation.RequestType, error) {
	var names []string
	if err := strictJSON(raw, &names); err != nil || names == nil {
		if err == nil {
			err = fmt.Errorf("null")
		}
		return nil, fmt.Errorf("%s: want an array of request types such as [\"DATA_PRESERVATION\"]: %w", key, err)
	}
	types := []cooperation.RequestType{}
	for _, n := range names {
		t := cooperation.RequestType(n)
		if !slices.Contains(cooperation.RequestTypes, t) {
			return nil, fmt.Errorf("%s: unknown request type %q (known: %s)", key, n, strings.Join(enum.Strings(cooperation.RequestTypes), ", "))
		}
		if slices.Contains(types, t) {
			return nil, fmt.Errorf("%s: %s is listed twice", key, n)
		}
		types = append(types, t)
	}
	return types, nil
}

// parsePeriod parses the period of entry name: a JSON string holding a
// whole number of days ("5d") or a Go duration, greater than zero and at
// most MaxPeriod.
func parsePeriod(name string, raw json.RawMessage) (time.Duration, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return 0, fmt.Errorf("%s: want a period as a string such as \"5d\" or \"36h\", not %s", name, raw)
	}
	d, err := parseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%s: %q is not a period such as \"5d\" or \"36h\"", name, s)
	}
	if d <= 0 {
		return 0, fmt.Errorf("%s: the period must be positive, not %q", name, s)
	}
	if d > MaxPeriod {
		return 0, fmt.Errorf("%s: the period must be at most ten years (3650d), not %q", name, s)
	}
	return d, nil
}

// maxPolicyDays is the longest period in days a time.Duration holds.
const maxPolicyDays = int64(1<<63-1) / int64(day)

// parseDuration parses a whole number of days ("5d") or a Go duration.
func parseDuration(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseInt(days, 10, 64)
		if err != nil {
			return 0, err
		}
		if n > maxPolicyDays {
			return 0, fmt.Errorf("more than %d days", maxPolicyDays)
		}
		return time.Duration(n) * day, nil
	}
	return time.ParseDuration(s)
}

// strictJSON decodes one JSON value of data into v, refusing anything
// after it.
func strictJSON(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("more than one JSON value")
	}
	return nil
}

func priorityList() string {
	return strings.Join(enum.Strings(priorities), ", ")
}
