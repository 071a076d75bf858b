package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"

	"golang.org/x/term"
	"sigs.k8s.io/yaml"
)

// format is the output format: --output, else table on a terminal and
// JSON for a script.
func (g *globals) format() string {
	if g.output != "" {
		return g.output
	}
	if isTerminal(g.stdout) {
		return "table"
	}
	return "json"
}

func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// tableView shows a decoded JSON answer as a table.
type tableView interface {
	table(w io.Writer, v any) error
}

// print writes data, the JSON of an answer as the gateway sent it, in the
// chosen format: JSON indented (every field, also those this comityctl
// does not know), YAML, or v's table.
func (g *globals) print(data []byte, v tableView) error {
	switch g.format() {
	case "json":
		var buf bytes.Buffer
		if err := json.Indent(&buf, data, "", "  "); err != nil {
			return fmt.Errorf("the answer is not JSON: %w", err)
		}
		buf.WriteByte('\n')
		_, err := g.stdout.Write(buf.Bytes())
		return err
	case "yaml":
		out, err := yaml.JSONToYAML(data)
		if err != nil {
			return fmt.Errorf("the answer is not JSON: %w", err)
		}
		_, err = g.stdout.Write(out)
		return err
	}
	var m any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return fmt.Errorf("the answer is not JSON: %w", err)
	}
	return v.table(g.stdout, m)
}

// objectView shows one object as FIELD VALUE lines, nested fields by
// their path (offence.description, identifiers[0].value).
type objectView struct {
	// skip are top-level fields not shown.
	skip []string
}

func (o objectView) table(w io.Writer, v any) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		if empty(v) {
			// The gateway sends every field, set or not: only those set
			// are shown.
			return
		}
		switch x := v.(type) {
		case map[string]any:
			for _, k := range sortedKeys(x) {
				if prefix == "" && slices.Contains(o.skip, k) {
					continue
				}
				p := k
				if prefix != "" {
					p = prefix + "." + k
				}
				walk(p, x[k])
			}
		case []any:
			if allScalars(x) {
				var parts []string
				for _, e := range x {
					parts = append(parts, scalar(e))
				}
				fmt.Fprintf(tw, "%s\t%s\n", prefix, printable(strings.Join(parts, ", "), 0))
				return
			}
			for i, e := range x {
				walk(fmt.Sprintf("%s[%d]", prefix, i), e)
			}
		default:
			fmt.Fprintf(tw, "%s\t%s\n", prefix, printable(scalar(x), 0))
		}
	}
	walk("", v)
	return tw.Flush()
}

// column is one column of a list: its header and the path of its value.
type column struct {
	header, path string
	// width cuts longer values (0: never).
	width int
}

// listView shows the items under key as rows, then what the list says
// about further pages.
type listView struct {
	key     string
	columns []column
}

func (l listView) table(w io.Writer, v any) error {
	m, _ := v.(map[string]any)
	items, _ := m[l.key].([]any)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	var hs []string
	for _, c := range l.columns {
		hs = append(hs, c.header)
	}
	fmt.Fprintln(tw, strings.Join(hs, "\t"))
	for _, it := range items {
		var cells []string
		for _, c := range l.columns {
			cells = append(cells, printable(lookup(it, c.path), c.width))
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var notes []string
	if len(items) == 0 {
		notes = append(notes, "none")
	}
	if n := scalar(m["totalSize"]); n != "" && n != "0" {
		notes = append(notes, n+" in all")
	}
	if t := scalar(m["nextPageToken"]); t != "" {
		notes = append(notes, "more on the next page: --page-token "+printable(t, 0)+" (or --all)")
	}
	if len(notes) > 0 {
		_, err := fmt.Fprintf(w, "(%s)\n", strings.Join(notes, "; "))
		return err
	}
	return nil
}

// lookup returns the value at a dotted path of decoded JSON as text.
func lookup(v any, path string) string {
	for _, k := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = m[k]
	}
	if a, ok := v.([]any); ok {
		var parts []string
		for _, e := range a {
			parts = append(parts, scalar(e))
		}
		return strings.Join(parts, ",")
	}
	return scalar(v)
}

// scalar is a JSON scalar as text; an object or a list as its JSON.
func scalar(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case json.Number:
		return x.String()
	case bool:
		if x {
			return "true"
		}
		return "false"
	}
	data, _ := json.Marshal(v)
	return string(data)
}

// empty reports whether a decoded JSON value holds nothing: null, "", an
// empty list or object, or an object of empty values.
func empty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case []any:
		return len(x) == 0
	case map[string]any:
		for _, e := range x {
			if !empty(e) {
				return false
			}
		}
		return true
	}
	return false
}

func allScalars(a []any) bool {
	for _, e := range a {
		switch e.(type) {
		case map[string]any, []any:
			return false
		}
	}
	return true
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
