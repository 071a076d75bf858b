package request

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/comity-mla/comity/services/cooperation"
	"github.com/comity-mla/comity/services/errs"
)

// reasonless are the functions of checkSafeguardsFor whose violations carry
// no reason code, and the row of safeguardChecks that covers them by field.
var reasonless = map[string]string{"checkReceiverActive": "RECEIVER_ACTIVE", "checkRelations": "RELATED_REQUESTS"}

// TestEverySafeguardHasARow reads the package's source: every violation
// that a function reached from checkSafeguardsFor can add is covered by
// exactly one row of safeguardChecks, so that a safeguard added without a
// row fails here rather than showing on the trail as OTHER.
func TestEverySafeguardHasARow(t *testing.T) {
	fset := token.NewFileSet()
	funcs := map[string]*ast.FuncDecl{}
	consts := map[string]string{}
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, e.Name(), nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				funcs[d.Name.Name] = d
			case *ast.GenDecl:
				if d.Tok != token.CONST {
					continue
				}
				for _, spec := range d.Specs {
					vs := spec.(*ast.ValueSpec)
					for i, n := range vs.Names {
						if i < len(vs.Values) {
							if s, ok := stringLit(vs.Values[i]); ok {
								consts[n.Name] = s
							}
						}
					}
				}
			}
		}
	}
	// returned are the string literals fn returns.
	returned := func(fn string) []string {
		var out []string
		ast.Inspect(funcs[fn], func(n ast.Node) bool {
			if r, ok := n.(*ast.ReturnStmt); ok && len(r.Results) == 1 {
				if s, ok := stringLit(r.Results[0]); ok {
					out = append(out, s)
				}
			}
			return true
		})
		return out
	}
	var reasons []string
	seen := map[string]bool{}
	var visit func(name string)
	visit = func(name string) {
		fn := funcs[name]
		if fn == nil || seen[name] {
			return
		}
		seen[name] = true
		// assigned maps a variable of fn to the function whose result it
		// was assigned (reason := identifierReason(…)).
		assigned := map[string]string{}
		ast.Inspect(fn, func(n ast.Node) bool {
			if a, ok := n.(*ast.AssignStmt); ok && len(a.Lhs) == 1 && len(a.Rhs) == 1 {
				if id, ok := a.Lhs[0].(*ast.Ident); ok {
					if c, ok := a.Rhs[0].(*ast.CallExpr); ok {
						if f, ok := c.Fun.(*ast.Ident); ok {
							assigned[id.Name] = f.Name
						}
					}
				}
			}
			c, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			var callee string
			switch f := c.Fun.(type) {
			case *ast.Ident:
				callee = f.Name
			case *ast.SelectorExpr:
				if x, ok := f.X.(*ast.Ident); ok && (x.Name == "s" || x.Name == "vs") {
					callee = f.Sel.Name
				}
			}
			at := fset.Position(c.Pos())
			switch {
			case callee == "AddReason" && len(c.Args) >= 2:
				if s, ok := stringLit(c.Args[1]); ok {
					reasons = append(reasons, s)
				} else if id, ok := c.Args[1].(*ast.Ident); ok && consts[id.Name] != "" {
					reasons = append(reasons, consts[id.Name])
				} else if id, ok := c.Args[1].(*ast.Ident); ok && assigned[id.Name] != "" {
					reasons = append(reasons, returned(assigned[id.Name])...)
				} else {
					t.Errorf("%s: the reason of a violation of %s is not a constant this test can read", at, name)
				}
			case callee == "Add":
				if _, ok := reasonless[name]; !ok {
					t.Errorf("%s: %s adds a violation without a reason code; give it one, and a row in safeguardChecks", at, name)
				}
			default:
				visit(callee)
			}
			return true
		})
	}
	visit("checkSafeguardsFor")
	for _, fn := range []string{"safeguards", "treatySafeguards", "checkResponseTime", "checkReceiverActive", "checkRelations", "contents", "preservationSafeguards"} {
		if !seen[fn] {
			t.Errorf("the walk from checkSafeguardsFor misses %s", fn)
		}
	}
	if len(reasons) < 20 {
		t.Fatalf("found %d reasons; the walk misses calls", len(reasons))
	}
	for _, reason := range reasons {
		var rows []string
		for _, k := range safeguardChecks {
			if k.covers(errs.Violation{Field: "x", Reason: reason}) {
				rows = append(rows, k.name)
			}
		}
		if len(rows) != 1 {
			t.Errorf("violations with reason %s are covered by rows %v of safeguardChecks; want exactly one", reason, rows)
		}
	}
	for fn, row := range reasonless {
		if !slices.ContainsFunc(safeguardChecks, func(k safeguardCheck) bool { return k.name == row && len(k.fields) > 0 }) {
			t.Errorf("no row %s covers the violations of %s by field", row, fn)
		}
	}
	for _, k := range safeguardChecks {
		for _, r := range k.reasons {
			if !slices.Contains(reasons, r) {
				t.Errorf("row %s covers reason %s, which no check gives", k.name, r)
			}
		}
	}
}

func stringLit(e ast.Expr) (string, bool) {
	l, ok := e.(*ast.BasicLit)
	if !ok || l.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(l.Value)
	return s, err == nil
}

// TestSafeguardOutcomes: the outcome of each row from the violations found:
// FAILED for a row with one, NOT_APPLICABLE for a row that does not apply,
// PASSED (or UNCONFIRMED) otherwise, OTHER for a violation no row covers;
// every name and outcome is one the audit log takes.
func TestSafeguardOutcomes(t *testing.T) {
	r := Request{Type: cooperation.ContentData, LegalBasis: "BUDAPEST_CONVENTION", RelatedRequests: []RelatedRequest{{Request: "x"}}}
	got := safeguardOutcomes(checked{r: r, a: actTransmit, unconfirmed: true}, errs.Violations{
		{Field: "facts_summary", Reason: "FACTS_SUMMARY_REQUIRED"},
		{Field: "requested_agency"},
		{Field: "related_requests[0].kind"},
		{Field: "persons[2].kind", Reason: "SOMETHING_NEW"},
	})
	want := map[string]string{"FACTS_SUMMARY": "FAILED", "RECEIVER_ACTIVE": "FAILED", "RELATED_REQUESTS": "FAILED", "OTHER": "FAILED",
		"LEGAL_BASIS": "PASSED", "JUDICIAL_AUTHORISATION": "PASSED", "LEGAL_BASIS_IN_FORCE": "UNCONFIRMED",
		"DEATH_PENALTY_ASSURANCE": "NOT_APPLICABLE", "RESPONSE_TIME": "NOT_APPLICABLE", "CUSTODIAN": "NOT_APPLICABLE",
		"TIME_RANGES": "PASSED", "TREATY_FIELDS": "NOT_APPLICABLE"}
	m := map[string]string{}
	for _, g := range got {
		m[g.Check] = g.Outcome
	}
	for check, outcome := range want {
		if m[check] != outcome {
			t.Errorf("%s is %q; want %q (all: %v)", check, m[check], outcome, got)
		}
	}
	if len(got) != len(safeguardChecks)+1 {
		t.Errorf("%d outcomes; want one per row and OTHER", len(got))
	}
	if ok := safeguardOutcomes(checked{r: r}, nil); ok[len(ok)-1].Check == otherCheck {
		t.Error("OTHER is listed without a violation")
	}
}
