package gateway_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/comity-mla/comity/services/identity"
)

// TestClarificationsOnTheRequest: the requested side's questions and the
// requesting side's answers are on the request, in order, with who asked
// and answered and when, and the attachments that went with an answer: in
// the answers of the actions, in a Get by both sides, and in the watch
// events, each as the request was right after its change. They are case
// content: a metadata-only view (an auditor, a list) does not carry them.
// On SQLite and on PostgreSQL.
func TestClarificationsOnTheRequest(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			s := startSuite(t, suiteOptions{postgres: engine == "postgres"})
			prosecutor := s.tokenFor("p-kz", "kz-gpo", identity.Prosecutor)
			kzCA := s.token("kz-gpo", identity.CentralAuthority)
			uzCA := s.tokenFor("ca-uz", "uz-247", identity.CentralAuthority)
			uzLiaison := s.token("uz-gpo", identity.LiaisonOfficer)
			kzAuditor := s.token("kz-oversight", identity.Auditor)

			name := s.mustDo("POST", "/v1/requests", prosecutor, preservation(), 200).body["name"].(string)
			path := "/v1/" + name
			s.mustDo("POST", path+":submit", prosecutor, map[string]any{}, 200)
			s.mustDo("POST", path+":transmit", kzCA, map[string]any{}, 200)
			s.mustDo("POST", path+":acknowledge", uzCA, map[string]any{}, 200)
			if cs := clarificationsOf(s.mustDo("GET", path, prosecutor, nil, 200)); len(cs) != 0 {
				t.Fatalf("a request never asked anything has clarifications %v", cs)
			}
			liaison := s.openWatch(t, uzLiaison, "")
			auditor := s.openWatch(t, kzAuditor, "")

			before := time.Now().Add(-time.Second)
			asked := s.mustDo("POST", path+":requestClarification", uzCA, map[string]any{"questions": "Which time zone are the logs in?"}, 200)
			cs := clarificationsOf(asked)
			if len(cs) != 1 || cs[0]["question"] != "Which time zone are the logs in?" || actorOf(cs[0]["askedBy"]) != "ca-uz@agencies/uz-247" ||
				!recent(cs[0]["askTime"], before) || cs[0]["answer"] != "" || cs[0]["answeredBy"] != nil || cs[0]["answerTime"] != nil {
				t.Fatalf("after the question, clarifications = %v; want the question, who asked and when, unanswered", cs)
			}
			att := s.upload(path, prosecutor, "TRANSLATION", "uz", "logs-tz.pdf", []byte("%PDF-1.7 time zone note"), nil)
			if att.status != 200 {
				t.Fatalf("upload = %d %s", att.status, att.raw)
			}
			s.mustDo("POST", path+":provideClarification", prosecutor, map[string]any{
				"answers": "Tashkent time (UTC+5).", "attachments": []any{att.body["name"]}}, 200)
			s.mustDo("POST", path+":requestClarification", uzCA, map[string]any{"questions": "Which port?"}, 200)

			// Both sides read the same two rounds, in order.
			for who, tok := range map[string]string{"the prosecutor": prosecutor, "the requested central authority": uzCA, "the UZ liaison officer": uzLiaison} {
				cs := clarificationsOf(s.mustDo("GET", path, tok, nil, 200))
				if len(cs) != 2 {
					t.Fatalf("%s reads clarifications %v; want 2", who, cs)
				}
				first, second := cs[0], cs[1]
				if first["question"] != "Which time zone are the logs in?" || first["answer"] != "Tashkent time (UTC+5)." ||
					actorOf(first["answeredBy"]) != "p-kz@agencies/kz-gpo" || !recent(first["answerTime"], before) ||
					!slices.Equal(stringsOf(first["answerAttachments"]), []string{att.body["name"].(string)}) {
					t.Errorf("%s reads the first round as %v; want the question, the answer, who answered, when, and the attachment", who, first)
				}
				if second["question"] != "Which port?" || second["answer"] != "" || second["answerTime"] != nil {
					t.Errorf("%s reads the second round as %v; want the open question", who, second)
				}
			}

			// Case content: an auditor's view and a list carry none.
			if a := s.mustDo("GET", path, kzAuditor, nil, 200); a.body["metadataOnly"] != true || len(clarificationsOf(a)) != 0 {
				t.Errorf("an auditor's view carries clarifications: %s", a.raw)
			}
			for _, it := range s.mustDo("GET", "/v1/requests", kzCA, nil, 200).body["requests"].([]any) {
				if cs, _ := it.(map[string]any)["clarifications"].([]any); len(cs) != 0 {
					t.Errorf("a list carries clarifications: %v", it)
				}
			}

			// The watch: each change carries the clarifications as they
			// were right after it, to those who may read them.
			for i, want := range []struct {
				to     string
				rounds int
				answer string
			}{{"CLARIFICATION_REQUESTED", 1, ""}, {"ACKNOWLEDGED", 1, "Tashkent time (UTC+5)."}, {"CLARIFICATION_REQUESTED", 2, "Tashkent time (UTC+5)."}} {
				e := nextEvent(t, liaison, "the UZ liaison officer")
				snap := e.snapshot()
				cs := snapshotClarifications(snap)
				if _, to := e.change(); to != want.to || len(cs) != want.rounds || cs[0]["answer"] != want.answer {
					t.Errorf("the liaison officer's change %d: to %s with clarifications %v; want to %s with %d round(s), the first answered %q",
						i, to, cs, want.to, want.rounds, want.answer)
				}
				a := nextEvent(t, auditor, "the KZ auditor")
				if _, to := a.change(); to != want.to || len(snapshotClarifications(a.snapshot())) != 0 {
					t.Errorf("the auditor's change %d: to %s, request %v; want to %s without clarifications", i, to, a.snapshot(), want.to)
				}
			}
		})
	}
}

func clarificationsOf(r response) []map[string]any {
	if r.status != http.StatusOK {
		return nil
	}
	return snapshotClarifications(r.body)
}

func snapshotClarifications(req map[string]any) []map[string]any {
	var out []map[string]any
	list, _ := req["clarifications"].([]any)
	for _, c := range list {
		m, _ := c.(map[string]any)
		out = append(out, m)
	}
	return out
}

// actorOf is subject@agency of a JSON Actor.
func actorOf(v any) string {
	m, _ := v.(map[string]any)
	s, _ := m["subject"].(string)
	a, _ := m["agency"].(string)
	return s + "@" + a
}

// recent reports whether a JSON timestamp is after since and not in the
// future.
func recent(v any, since time.Time) bool {
	s, _ := v.(string)
	t, err := time.Parse(time.RFC3339Nano, s)
	return err == nil && t.After(since) && !t.After(time.Now())
}

func stringsOf(v any) []string {
	var out []string
	list, _ := v.([]any)
	for _, x := range list {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

// TestConsoleShowsClarifications: the console's page of a request lists its
// questions and answers in order, with the open question marked as not
// answered yet, to the requested state's liaison officer.
func TestConsoleShowsClarifications(t *testing.T) {
	cs := startConsoleSuite(t)
	prosecutor := cs.token("kz-gpo", identity.Prosecutor)
	uzCA := cs.token("uz-247", identity.CentralAuthority)
	name := cs.mustDo("POST", "/v1/requests", prosecutor, preservation(), 200).body["name"].(string)
	path := "/v1/" + name
	cs.mustDo("POST", path+":submit", prosecutor, map[string]any{}, 200)
	cs.mustDo("POST", path+":transmit", cs.token("kz-gpo", identity.CentralAuthority), map[string]any{}, 200)
	cs.mustDo("POST", path+":acknowledge", uzCA, map[string]any{}, 200)
	cs.mustDo("POST", path+":requestClarification", uzCA, map[string]any{"questions": "Which time zone are the logs in?"}, 200)
	cs.mustDo("POST", path+":provideClarification", prosecutor, map[string]any{"answers": "Tashkent time (UTC+5)."}, 200)
	cs.mustDo("POST", path+":requestClarification", uzCA, map[string]any{"questions": "Which port?"}, 200)

	page := cs.signInHTTP(t, "uz-gpo", "liaison_officer").mustGet(t, "/"+name)
	i := strings.Index(page, `id="clarifications-h">Clarifications<`)
	q1 := strings.Index(page, `data-question>Which time zone are the logs in?<`)
	a1 := strings.Index(page, `data-answer>Tashkent time (UTC+5).<`)
	q2 := strings.Index(page, `data-question>Which port?<`)
	open := strings.Index(page, `data-unanswered>Not answered yet.<`)
	if i < 0 || !(i < q1 && q1 < a1 && a1 < q2 && q2 < open) {
		t.Errorf("the request's page does not list the questions and answers in order (heading %d, question %d, answer %d, question %d, open %d): %.3000s",
			i, q1, a1, q2, open, page)
	}
	// The prosecutor's answer form quotes the open question, from the
	// request's clarifications.
	form := cs.signInHTTP(t, "kz-gpo", "prosecutor").mustGet(t, "/"+name+"/answer")
	if !strings.Contains(form, `data-questions>Which port?<`) {
		t.Errorf("the answer form does not quote the open question: %.3000s", form)
	}
}
