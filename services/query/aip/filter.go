package aip

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"go.einride.tech/aip/filtering"
	expr "google.golang.org/genproto/googleapis/api/expr/v1alpha1"

	"github.com/comity-mla/comity/services/query"
)

// ParseFilter parses an AIP-160 filter into a query.Expr over the fields of s.
// An empty (or all-space) filter yields nil, nil: no filter.
//
// A bad filter yields an *errs.Error of code errs.Invalid with one violation
// of field "filter". A mistake in s itself yields a plain (internal) error.
func ParseFilter(filter string, s query.Schema) (query.Expr, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if err := checkSize(filterField, filter); err != nil {
		return nil, err
	}
	trimmed := strings.TrimSpace(filter)
	if trimmed == "" {
		return nil, nil
	}
	p := &filterParser{
		filter:  filter,
		trimmed: trimmed,
		lead:    len(filter) - len(strings.TrimLeftFunc(filter, unicode.IsSpace)),
		schema:  s,
	}
	if err := p.scan(); err != nil {
		return nil, err
	}
	var ps filtering.Parser
	ps.Init(trimmed)
	parsed, err := ps.Parse()
	if err != nil {
		return nil, p.syntaxError(err)
	}
	p.positions = parsed.GetSourceInfo().GetPositions()
	e, err := p.cond(parsed.GetExpr())
	if err != nil {
		return nil, err
	}
	if err := p.typeCheck(parsed); err != nil {
		return nil, err
	}
	return e, nil
}

// filterParser turns one filter into a query.Expr. Offsets from einride are
// byte offsets into trimmed, which starts lead bytes into filter.
type filterParser struct {
	filter    string
	trimmed   string
	lead      int
	schema    query.Schema
	positions map[int64]int32
}

// at describes where byte offset off of trimmed is, for a user who counts
// characters: "column 7", or "line 2, column 3" in a filter of several lines.
func (p *filterParser) at(off int) string {
	off = min(max(off+p.lead, 0), len(p.filter))
	before := p.filter[:off]
	line := strings.Count(before, "\n") + 1
	col := utf8.RuneCountInString(before[strings.LastIndexByte(before, '\n')+1:]) + 1
	if strings.Contains(p.filter, "\n") {
		return fmt.Sprintf("line %d, column %d", line, col)
	}
	return fmt.Sprintf("column %d", col)
}

// atExpr describes where e starts.
func (p *filterParser) atExpr(e *expr.Expr) string {
	return p.at(int(p.positions[e.GetId()]))
}

// scan lexes the whole filter before parsing, to refuse what the parser
// reports poorly or not at all: unterminated strings, bad escapes, numbers out
// of range or with a leading zero (which strconv would read as octal), and
// parentheses nested deeper than MaxDepth (which also bounds the parser's
// recursion).
func (p *filterParser) scan() error {
	var lx filtering.Lexer
	lx.Init(p.trimmed)
	var toks []filtering.Token
	for {
		tok, err := lx.Lex()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var pe positioned
			if errors.As(err, &pe) {
				msg := pe.Message()
				if msg == "unterminated string" {
					msg = "the quoted string that starts here is not closed"
				}
				return invalid(filterField, "syntax error at %s: %s", p.at(int(pe.Position().Offset)), msg)
			}
			return invalid(filterField, "syntax error: %v", err)
		}
		toks = append(toks, tok)
	}
	depth := 0
	for i, tok := range toks {
		at := p.at(int(tok.Position.Offset))
		switch tok.Type {
		case filtering.TokenTypeLeftParen:
			depth++
			if depth > MaxDepth {
				return invalid(filterField, "parentheses are nested more than %d deep at %s", MaxDepth, at)
			}
		case filtering.TokenTypeRightParen:
			depth--
		case filtering.TokenTypeString:
			if _, err := tok.Unquote(); err != nil {
				return invalid(filterField, "syntax error at %s: the string %s has an invalid escape sequence", at, quote(tok.Value))
			}
		case filtering.TokenTypeHexNumber:
			if _, err := strconv.ParseInt(tok.Value, 0, 64); err != nil {
				return invalid(filterField, "syntax error at %s: %s is not a valid number", at, quote(tok.Value))
			}
		case filtering.TokenTypeNumber:
			if i > 0 && toks[i-1].Type == filtering.TokenTypeDot {
				continue // the fraction of a float, or part of a dotted name
			}
			text := tok.Value
			if i+1 < len(toks) && toks[i+1].Type == filtering.TokenTypeDot {
				text += "."
				if i+2 < len(toks) && toks[i+2].Type == filtering.TokenTypeNumber {
					text += toks[i+2].Value
				}
			}
			if err := checkNumber(text); err != nil {
				return invalid(filterField, "syntax error at %s: the number %s %v", at, quote(text), err)
			}
		}
	}
	return nil
}

// checkNumber refuses a decimal literal the parser would misread or reject.
func checkNumber(text string) error {
	for _, r := range text {
		if r != '.' && (r < '0' || r > '9') {
			return errors.New("is not written with the digits 0-9")
		}
	}
	if strings.Contains(text, ".") {
		if _, err := strconv.ParseFloat(text, 64); err != nil {
			return errors.New("is out of range")
		}
		return nil
	}
	if len(text) > 1 && text[0] == '0' {
		return errors.New("must not start with 0")
	}
	if _, err := strconv.ParseInt(text, 10, 64); err != nil {
		return errors.New("is out of range")
	}
	return nil
}

// positioned is implemented by einride's lexer and parser errors.
type positioned interface {
	Position() filtering.Position
	Message() string
}

// syntaxError explains a parse error: the innermost of einride's nested errors
// names where the parser gave up.
func (p *filterParser) syntaxError(err error) error {
	var inner positioned
	eof := false
	for e := err; e != nil; e = errors.Unwrap(e) {
		if pe, ok := e.(positioned); ok {
			inner = pe
		}
		if e == io.EOF {
			eof = true
		}
	}
	if inner == nil {
		return invalid(filterField, "syntax error: %v", err)
	}
	tok, off, ok := p.tokenAt(int(inner.Position().Offset))
	if eof || !ok {
		tok, off, ok = filtering.Token{}, len(p.trimmed), false
	}
	at := p.at(off)
	if want, isExpected := strings.CutPrefix(inner.Message(), "expected "); isExpected {
		if !ok {
			return invalid(filterField, "syntax error at %s: expected %s but the filter ends there", at, tokenName(want))
		}
		return invalid(filterField, "syntax error at %s: expected %s but found %s", at, tokenName(want), describeToken(tok))
	}
	if !ok {
		return invalid(filterField, "syntax error at %s: the filter ends too early", at)
	}
	if tok.Type.IsKeyword() && strings.TrimSpace(p.trimmed[off+len(tok.Value):]) == "" {
		return invalid(filterField, "syntax error at %s: %s must be followed by a condition", at, tok.Value)
	}
	return invalid(filterField, "syntax error at %s: unexpected %s", at, describeToken(tok))
}

// tokenAt returns the first token other than space at byte offset off of the
// trimmed filter, and its offset; false at the end of the filter.
func (p *filterParser) tokenAt(off int) (filtering.Token, int, bool) {
	if off < 0 || off > len(p.trimmed) {
		return filtering.Token{}, 0, false
	}
	var lx filtering.Lexer
	lx.Init(p.trimmed[off:])
	for {
		tok, err := lx.Lex()
		if err != nil {
			return filtering.Token{}, 0, false
		}
		if tok.Type != filtering.TokenTypeWhitespace {
			return tok, off + int(tok.Position.Offset), true
		}
	}
}

// describeToken names a token for a user.
func describeToken(tok filtering.Token) string {
	switch tok.Type {
	case filtering.TokenTypeText:
		return "the word " + quote(tok.Value)
	case filtering.TokenTypeString:
		return "the string " + quote(tok.Value)
	case filtering.TokenTypeNumber, filtering.TokenTypeHexNumber:
		return "the number " + tok.Value
	}
	return strconv.Quote(tok.Value)
}

// tokenName names one of einride's token types for a user.
func tokenName(t string) string {
	switch filtering.TokenType(t) {
	case filtering.TokenTypeText:
		return "a name"
	case filtering.TokenTypeString:
		return "a quoted string"
	case filtering.TokenTypeNumber, filtering.TokenTypeHexNumber:
		return "a number"
	case filtering.TokenTypeWhitespace:
		return "a space"
	}
	return strconv.Quote(t)
}

// cond converts a condition.
func (p *filterParser) cond(e *expr.Expr) (query.Expr, error) {
	call := e.GetCallExpr()
	if call == nil {
		return nil, p.notACondition(e)
	}
	args := call.GetArgs()
	switch fn := call.GetFunction(); fn {
	case filtering.FunctionAnd, filtering.FunctionOr:
		if len(args) != 2 {
			return nil, invalid(filterField, "%s needs a condition on each side", fn)
		}
		left, err := p.cond(args[0])
		if err != nil {
			return nil, err
		}
		right, err := p.cond(args[1])
		if err != nil {
			return nil, err
		}
		if fn == filtering.FunctionAnd {
			return query.And{Left: left, Right: right}, nil
		}
		return query.Or{Left: left, Right: right}, nil
	case filtering.FunctionNot:
		if len(args) != 1 {
			return nil, invalid(filterField, "NOT needs one condition")
		}
		x, err := p.cond(args[0])
		if err != nil {
			return nil, err
		}
		return query.Not{X: x}, nil
	case filtering.FunctionFuzzyAnd:
		// Point at the first condition that lacks its AND: the sequence
		// a b c parses as FUZZY(FUZZY(a, b), c).
		for len(args) == 2 && args[0].GetCallExpr().GetFunction() == filtering.FunctionFuzzyAnd {
			args = args[0].GetCallExpr().GetArgs()
		}
		at := p.at(len(p.trimmed))
		if len(args) == 2 {
			at = p.atExpr(args[1])
		}
		return nil, invalid(filterField, "at %s: conditions must be joined with AND or OR", at)
	case filtering.FunctionEquals, filtering.FunctionNotEquals,
		filtering.FunctionLessThan, filtering.FunctionLessEquals,
		filtering.FunctionGreaterThan, filtering.FunctionGreaterEquals:
		if len(args) != 2 {
			return nil, invalid(filterField, "%s needs a field on its left and a value on its right", fn)
		}
		return p.compare(query.Op(fn), args[0], args[1])
	case filtering.FunctionHas:
		if len(args) != 2 {
			return nil, invalid(filterField, `the has operator ":" needs a field on its left and a value on its right`)
		}
		return p.has(args[0], args[1])
	case filtering.FunctionTimestamp:
		return nil, invalid(filterField, "timestamp(…) can only be the value compared with a timestamp field")
	default:
		return nil, invalid(filterField, "function %s is not supported", quote(fn))
	}
}

// notACondition explains why e, which is no call, cannot stand alone.
func (p *filterParser) notACondition(e *expr.Expr) error {
	if name, ok := qualifiedName(e); ok {
		if f, ok := p.schema.Lookup(name); ok {
			return invalid(filterField, "field %q must be compared with a value, e.g. %s = %s",
				f.Name, f.Name, example(f))
		}
	}
	return invalid(filterField, "%s is not a condition (free-text search is not supported); "+
		"write a comparison such as field = value, with one of the fields %s",
		describe(e), list(p.schema.Names()))
}

// compare converts the comparison lhs op rhs.
func (p *filterParser) compare(op query.Op, lhs, rhs *expr.Expr) (query.Expr, error) {
	name, ok := qualifiedName(lhs)
	if !ok {
		return nil, invalid(filterField, "the left side of %s must be a field name, not %s", op, describe(lhs))
	}
	f, ok := p.schema.Lookup(name)
	if !ok {
		return nil, invalid(filterField, "unknown field %q; the fields you can filter by are %s",
			name, list(p.schema.Names()))
	}
	if (f.Kind == query.Bool || f.Kind == query.Enum) && op != query.Eq && op != query.Ne {
		return nil, invalid(filterField, "field %q can only be compared with = or !=, not %s", f.Name, op)
	}
	v, err := p.value(f, rhs)
	if err != nil {
		return nil, err
	}
	return query.Compare{Field: f.Name, Op: op, Value: v}, nil
}

// has converts lhs:rhs, which only a Path field takes: the name rhs and
// every name under it.
func (p *filterParser) has(lhs, rhs *expr.Expr) (query.Expr, error) {
	var paths []string
	for _, f := range p.schema {
		if f.Path {
			paths = append(paths, f.Name)
		}
	}
	if len(paths) == 0 {
		return nil, invalid(filterField, `the has operator ":" is not supported; compare with =, !=, <, <=, >, or >=`)
	}
	name, ok := qualifiedName(lhs)
	if !ok {
		return nil, invalid(filterField, `the left side of ":" must be a field name, not %s`, describe(lhs))
	}
	f, ok := p.schema.Lookup(name)
	if !ok {
		return nil, invalid(filterField, "unknown field %q; the fields you can filter by are %s",
			name, list(p.schema.Names()))
	}
	if !f.Path {
		return nil, invalid(filterField, `the has operator ":" matches a name and everything under it, and only %s takes it; `+
			`compare field %q with =, !=, <, <=, >, or >=`, list(paths), f.Name)
	}
	if ident := rhs.GetIdentExpr(); ident != nil {
		return nil, invalid(filterField, "field %q takes a quoted string, not the bare word %s; write %s:%s",
			f.Name, quote(ident.GetName()), f.Name, strconv.Quote(ident.GetName()))
	}
	v, err := p.value(f, rhs)
	if err != nil {
		return nil, err
	}
	s := v.(string)
	switch {
	case strings.TrimRight(s, "/") == "":
		return nil, invalid(filterField, `%s:%s names nothing; give the name to match, such as %s:"requests/…"`, f.Name, strconv.Quote(s), f.Name)
	case strings.HasSuffix(s, "/"):
		return nil, invalid(filterField, `write %s:%s without the final "/": ":" already matches everything under the name`,
			f.Name, strconv.Quote(strings.TrimRight(s, "/")))
	}
	return query.Compare{Field: f.Name, Op: query.Has, Value: s}, nil
}

// value converts rhs to the Go value of f's kind. A bare enum value is
// rewritten in place to a string constant, so that einride's type check sees
// string = string.
func (p *filterParser) value(f query.Field, rhs *expr.Expr) (any, error) {
	if call := rhs.GetCallExpr(); call != nil {
		switch fn := call.GetFunction(); fn {
		case filtering.FunctionTimestamp:
			if f.Kind != query.Timestamp {
				return nil, wrongType(f, rhs)
			}
			args := call.GetArgs()
			if len(args) == 1 {
				if c, ok := args[0].GetConstExpr().GetConstantKind().(*expr.Constant_StringValue); ok {
					if t, err := time.Parse(time.RFC3339, c.StringValue); err == nil {
						return t.UTC(), nil
					}
				}
			}
			return nil, invalid(filterField,
				`timestamp(…) takes one quoted RFC 3339 time, e.g. timestamp("2026-01-01T00:00:00Z")`)
		case filtering.FunctionAnd, filtering.FunctionOr, filtering.FunctionNot, filtering.FunctionFuzzyAnd,
			filtering.FunctionEquals, filtering.FunctionNotEquals, filtering.FunctionHas,
			filtering.FunctionLessThan, filtering.FunctionLessEquals,
			filtering.FunctionGreaterThan, filtering.FunctionGreaterEquals:
			return nil, invalid(filterField, "the value compared with field %q must be a single value, not a nested condition", f.Name)
		default:
			return nil, invalid(filterField, "function %s is not supported", quote(fn))
		}
	}
	var str *string
	if c, ok := rhs.GetConstExpr().GetConstantKind().(*expr.Constant_StringValue); ok {
		str = &c.StringValue
	}
	ident := rhs.GetIdentExpr()
	switch f.Kind {
	case query.String:
		if str != nil && f.Upper {
			return strings.ToUpper(*str), nil
		}
		if str != nil {
			return *str, nil
		}
		if ident != nil {
			return nil, invalid(filterField, "field %q takes a quoted string, not the bare word %s; write %s = %s",
				f.Name, quote(ident.GetName()), f.Name, strconv.Quote(ident.GetName()))
		}
	case query.Enum:
		var v string
		switch {
		case str != nil:
			v = *str
		case ident != nil:
			v = ident.GetName()
		default:
			return nil, wrongType(f, rhs)
		}
		for _, allowed := range f.Enum {
			if v == allowed {
				if ident != nil {
					rhs.ExprKind = filtering.String(v).GetExprKind()
				}
				return v, nil
			}
		}
		return nil, invalid(filterField, "%s is not a value of field %q; the values are %s",
			quote(v), f.Name, list(f.Enum))
	case query.Bool:
		switch ident.GetName() {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
	case query.Int:
		if c, ok := rhs.GetConstExpr().GetConstantKind().(*expr.Constant_Int64Value); ok {
			return c.Int64Value, nil
		}
	case query.Timestamp:
		if str != nil {
			if t, err := time.Parse(time.RFC3339, *str); err == nil {
				return t.UTC(), nil
			}
		}
	}
	return nil, wrongType(f, rhs)
}

// typeCheck runs einride's checker over the parsed filter, with each field
// declared at the type of its kind, as a second line of defence behind the
// conversion above: the conversion explains refusals in a user's words, and
// the checker confirms that whatever it accepted is well typed. A refusal here
// means the two disagree, which the fuzz test looks for.
func (p *filterParser) typeCheck(parsed *expr.ParsedExpr) error {
	opts := []filtering.DeclarationOption{
		filtering.DeclareStandardFunctions(),
		filtering.DeclareIdent("true", filtering.TypeBool),
		filtering.DeclareIdent("false", filtering.TypeBool),
	}
	for _, f := range p.schema {
		opts = append(opts, filtering.DeclareIdent(f.Name, declType(f.Kind)))
	}
	decls, err := filtering.NewDeclarations(opts...)
	if err != nil {
		return fmt.Errorf("aip: declaring the schema: %w", err)
	}
	var c filtering.Checker
	c.Init(parsed.GetExpr(), parsed.GetSourceInfo(), decls)
	if _, err := c.Check(); err != nil {
		e := invalid(filterField, uncheckedDescription)
		e.Err = err
		return e
	}
	return nil
}

// uncheckedDescription is the description when einride's checker refuses a
// filter that the conversion accepted.
const uncheckedDescription = "the filter is not supported: its values do not match the types of its fields"

// declType is the einride type of a kind. Enum values are compared as text.
func declType(k query.Kind) *expr.Type {
	switch k {
	case query.Bool:
		return filtering.TypeBool
	case query.Int:
		return filtering.TypeInt
	case query.Timestamp:
		return filtering.TypeTimestamp
	}
	return filtering.TypeString
}

// wrongType explains that rhs is not a value of f's kind.
func wrongType(f query.Field, rhs *expr.Expr) error {
	return invalid(filterField, "field %q takes %s, not %s", f.Name, expects(f), describe(rhs))
}

// expects says what values f takes.
func expects(f query.Field) string {
	switch f.Kind {
	case query.String:
		return "a quoted string"
	case query.Bool:
		return "true or false"
	case query.Int:
		return "an integer"
	case query.Timestamp:
		return `an RFC 3339 timestamp such as "2026-01-01T00:00:00Z"`
	}
	return "one of " + list(f.Enum)
}

// example is a value of f's kind, to show in a description.
func example(f query.Field) string {
	switch f.Kind {
	case query.String:
		return `"text"`
	case query.Bool:
		return "true"
	case query.Int:
		return "1"
	case query.Timestamp:
		return `"2026-01-01T00:00:00Z"`
	}
	return f.Enum[0]
}

// describe names what e is, for a description.
func describe(e *expr.Expr) string {
	switch k := e.GetExprKind().(type) {
	case *expr.Expr_ConstExpr:
		switch c := k.ConstExpr.GetConstantKind().(type) {
		case *expr.Constant_StringValue:
			return "the string " + quote(c.StringValue)
		case *expr.Constant_Int64Value:
			return "the integer " + strconv.FormatInt(c.Int64Value, 10)
		case *expr.Constant_DoubleValue:
			n := strconv.FormatFloat(c.DoubleValue, 'g', -1, 64)
			if !strings.ContainsAny(n, ".eIN") {
				n += ".0" // 1. is a float; say so
			}
			return "the number " + n
		}
	case *expr.Expr_IdentExpr:
		switch name := k.IdentExpr.GetName(); name {
		case "true", "false":
			return "the boolean " + name
		default:
			return "the bare word " + quote(name)
		}
	case *expr.Expr_SelectExpr:
		if name, ok := qualifiedName(e); ok {
			return "the name " + quote(name)
		}
	case *expr.Expr_CallExpr:
		switch fn := k.CallExpr.GetFunction(); fn {
		case filtering.FunctionAnd, filtering.FunctionOr, filtering.FunctionNot, filtering.FunctionFuzzyAnd,
			filtering.FunctionEquals, filtering.FunctionNotEquals, filtering.FunctionHas,
			filtering.FunctionLessThan, filtering.FunctionLessEquals,
			filtering.FunctionGreaterThan, filtering.FunctionGreaterEquals:
			return "a nested condition"
		default:
			return "a call of function " + quote(fn)
		}
	}
	return "that value"
}

// qualifiedName returns the dotted name e spells, such as "sender.agency".
func qualifiedName(e *expr.Expr) (string, bool) {
	switch k := e.GetExprKind().(type) {
	case *expr.Expr_IdentExpr:
		return k.IdentExpr.GetName(), true
	case *expr.Expr_SelectExpr:
		if k.SelectExpr.GetTestOnly() {
			return "", false
		}
		parent, ok := qualifiedName(k.SelectExpr.GetOperand())
		if !ok {
			return "", false
		}
		return parent + "." + k.SelectExpr.GetField(), true
	}
	return "", false
}
