// Package sqlite is the request.Store of the embedded deployment, on one
// SQLite file opened with package sqlitedb.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/platform/sqlitedb"
	"github.com/comity-mla/comity/services/query"
	"github.com/comity-mla/comity/services/request"
	"github.com/comity-mla/comity/services/request/storedoc"
	"github.com/comity-mla/comity/services/trail"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store keeps requests, their history, messages, attachment records and the
// audit outbox in SQLite.
//
// Every write is one IMMEDIATE transaction on the single write connection,
// which serialises writers within the process and, through SQLite's lock,
// with other processes on the file. That alone makes reference numbers
// gap-free, read-modify-write updates race-free, and history sequence numbers
// commit in order, so that a Watch following HistoryAfter never skips one.
//
// Times are stored in UTC truncated to microseconds, as on PostgreSQL, and
// kept as given: the domain takes them from its own clock. Only a zero
// CreateTime (and then UpdateTime) of a new request, or CreateTime of a
// message or attachment, is set to the time of the write.
type Store struct {
	sqlitedb.Outbox
	db *sqlitedb.DB
}

var (
	_ request.Store = (*Store)(nil)
	_ trail.Outbox  = (*Store)(nil)
)

// New applies the request service's migrations to db and returns a store on
// it. The caller keeps ownership of db and closes it after the last use of
// the store.
func New(ctx context.Context, db *sqlitedb.DB) (*Store, error) {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, fmt.Errorf("request migrations: %w", err)
	}
	if err := sqlitedb.Migrate(ctx, db, sub); err != nil {
		return nil, fmt.Errorf("migrate requests: %w", err)
	}
	return &Store{Outbox: sqlitedb.Outbox{DB: db}, db: db}, nil
}

// OutboxEntry is an audit event waiting in the outbox, with its position.
type OutboxEntry = trail.OutboxEntry

func micros(t time.Time) int64 { return t.UnixMicro() }

// nullMicros stores a zero time as NULL.
func nullMicros(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// querier is what *sql.DB and *sql.Tx have in common.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

type scanner interface {
	Scan(dest ...any) error
}

func isConstraint(err error, code int) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code() == code
}

// collect scans every row with scan; an empty result is nil.
func collect[T any](rows *sql.Rows, err error, scan func(scanner) (T, error)) ([]T, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// noLimit turns a limit of 0 (or less), "all", into SQLite's -1.
func noLimit(limit int) int64 {
	if limit <= 0 {
		return -1
	}
	return int64(limit)
}

// Requests.

func scanRequest(row scanner) (request.Request, error) {
	var doc string
	if err := row.Scan(&doc); err != nil {
		return request.Request{}, err
	}
	r, err := storedoc.DecodeRequest(doc)
	if err != nil {
		return request.Request{}, fmt.Errorf("decode request: %w", err)
	}
	return r, nil
}

func getRequest(ctx context.Context, q querier, id string) (request.Request, error) {
	r, err := scanRequest(q.QueryRowContext(ctx, `SELECT doc FROM requests WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return request.Request{}, errs.New(errs.NotFound, "request %q not found", id)
	}
	if err != nil {
		return request.Request{}, fmt.Errorf("get request %s: %w", id, err)
	}
	return r, nil
}

// Create implements request.Store.
func (s *Store) Create(ctx context.Context, r request.Request, key request.IdempotencyKey, ch request.Change) (request.Request, bool, error) {
	if r.ID == "" {
		return request.Request{}, false, errors.New("create request: no id")
	}
	r.Version = 1
	if r.CreateTime.IsZero() {
		r.CreateTime = time.Now()
	}
	if r.UpdateTime.IsZero() {
		r.UpdateTime = r.CreateTime
	}
	r = storedoc.Stored(r)
	var (
		out     request.Request
		created bool
	)
	err := sqlitedb.WithTx(ctx, s.db.Write, func(tx *sql.Tx) error {
		if key.Key != "" {
			// The write transaction is IMMEDIATE: no other create can take
			// the key between this read and the insert.
			id, sum, err := findKey(ctx, tx, key)
			switch {
			case errors.Is(err, sql.ErrNoRows):
				if _, err := tx.ExecContext(ctx, `INSERT INTO create_keys (issuer, subject, agency, key, body_sha256, request_id)
					VALUES (?, ?, ?, ?, ?, ?)`, key.Issuer, key.Subject, key.Agency, key.Key, key.BodySHA256, r.ID); err != nil {
					return fmt.Errorf("create request %s: idempotency key: %w", r.ID, err)
				}
			case err != nil:
				return fmt.Errorf("create request %s: idempotency key: %w", r.ID, err)
			case sum != "" && sum != key.BodySHA256:
				return request.KeyReused(key.Key)
			default:
				out, err = getRequest(ctx, tx, id)
				return err
			}
		}
		year := r.CreateTime.Year()
		var n int64
		if err := tx.QueryRowContext(ctx, `INSERT INTO reference_counters (state, year, last) VALUES (?, ?, 1)
			ON CONFLICT (state, year) DO UPDATE SET last = reference_counters.last + 1
			RETURNING last`, r.RequestingState, year).Scan(&n); err != nil {
			return fmt.Errorf("create request %s: reference: %w", r.ID, err)
		}
		r.Reference = fmt.Sprintf("%s-%04d-%06d", r.RequestingState, year, n)
		_, err := tx.ExecContext(ctx, `INSERT INTO requests (id, reference, type, priority, status,
			requesting_agency, requesting_state, requested_agency, requested_state, owner, transmitted,
			acknowledge_by, answer_by, create_time, update_time, version, doc)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			r.ID, r.Reference, string(r.Type), string(r.Priority), string(r.Status),
			r.RequestingAgency, r.RequestingState, r.RequestedAgency, r.RequestedState, r.Owner, !r.TransmitTime.IsZero(),
			nullMicros(r.Deadlines.AcknowledgeBy), nullMicros(r.Deadlines.AnswerBy), micros(r.CreateTime), micros(r.UpdateTime),
			r.Version, storedoc.EncodeRequest(r))
		if isConstraint(err, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY) {
			return errs.Wrap(err, errs.AlreadyExists, "request %q already exists", r.ID)
		}
		if err != nil {
			return fmt.Errorf("create request %s: %w", r.ID, err)
		}
		if err := writeChange(ctx, tx, r, ch); err != nil {
			return fmt.Errorf("create request %s: %w", r.ID, err)
		}
		out, created = r, true
		return nil
	})
	if err != nil {
		return request.Request{}, false, err
	}
	return out, created, nil
}

// findKey returns the request and body digest of the caller's key: their
// own, or one carried over from before keys named the issuer (empty issuer).
func findKey(ctx context.Context, tx *sql.Tx, key request.IdempotencyKey) (id, sum string, err error) {
	err = tx.QueryRowContext(ctx, `SELECT request_id, body_sha256 FROM create_keys
		WHERE subject = ? AND agency = ? AND key = ? AND issuer IN (?, '')
		ORDER BY issuer DESC LIMIT 1`, key.Subject, key.Agency, key.Key, key.Issuer).Scan(&id, &sum)
	return id, sum, err
}

// writeChange writes the event and the history entry of a change of r.
func writeChange(ctx context.Context, tx *sql.Tx, r request.Request, ch request.Change) error {
	if err := sqlitedb.InsertEvent(ctx, tx, ch.Event); err != nil {
		return err
	}
	if ch.History == nil {
		return nil
	}
	h := historyOf(r, *ch.History)
	_, err := tx.ExecContext(ctx, `INSERT INTO history (request_id, reference, from_status, to_status, action,
		actor_subject, actor_name, actor_agency, time, reason,
		requesting_agency, requesting_state, requested_agency, requested_state, owner, snapshot)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		h.RequestID, h.Reference, string(h.From), string(h.To), h.Action,
		h.Actor.Subject, h.Actor.Name, h.Actor.Agency, micros(h.Time), h.Reason,
		h.RequestingAgency, h.RequestingState, h.RequestedAgency, h.RequestedState, h.Owner,
		storedoc.EncodeRequest(*h.Snapshot))
	if err != nil {
		return fmt.Errorf("history: %w", err)
	}
	return nil
}

// historyOf is h as stored for a change of r: the request's id, reference,
// parties and snapshot (as they are after the change), whatever h said.
func historyOf(r request.Request, h request.HistoryEntry) request.HistoryEntry {
	h.Seq = 0
	h.RequestID, h.Reference = r.ID, r.Reference
	h.RequestingAgency, h.RequestingState = r.RequestingAgency, r.RequestingState
	h.RequestedAgency, h.RequestedState, h.Owner = r.RequestedAgency, r.RequestedState, r.Owner
	h.Time = storedoc.StoredTime(h.Time)
	h.Snapshot = request.Snapshot(r)
	return h
}

// Get implements request.Store.
func (s *Store) Get(ctx context.Context, id string) (request.Request, error) {
	return getRequest(ctx, s.db.Read, id)
}

// List implements request.Store. Filters compare columns with SQL's
// three-valued logic: a deadline not set is NULL and matches no comparison,
// negated or not. Without OrderBy the order is by id.
func (s *Store) List(ctx context.Context, q request.ListQuery) (request.Page, error) {
	where, args, err := query.SQLite.Where(request.StoreSchema, q.Filter, 0)
	if err != nil {
		return request.Page{}, fmt.Errorf("list requests: %w", err)
	}
	order, err := query.SQLite.OrderBy(request.StoreSchema, q.OrderBy, "id")
	if err != nil {
		return request.Page{}, fmt.Errorf("list requests: %w", err)
	}
	count := `SELECT COUNT(*) FROM requests WHERE ` + where
	countArgs := args
	if q.CountLimit > 0 {
		count = `SELECT COUNT(*) FROM (SELECT 1 FROM requests WHERE ` + where + ` LIMIT ?)`
		countArgs = append(slices.Clone(args), q.CountLimit+1)
	}
	// One more row than the page tells whether another page follows.
	limit := q.Limit
	if limit > 0 {
		limit++
	}
	var page request.Page
	// One read transaction: the count and the page come from one snapshot.
	err = sqlitedb.WithTx(ctx, s.db.Read, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, count, countArgs...).Scan(&page.Total); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT doc FROM requests WHERE `+where+` `+order+` LIMIT ? OFFSET ?`,
			append(args, noLimit(limit), max(q.Offset, 0))...)
		page.Requests, err = collect(rows, err, scanRequest)
		return err
	})
	if err != nil {
		return request.Page{}, fmt.Errorf("list requests: %w", err)
	}
	if q.Limit > 0 && len(page.Requests) > q.Limit {
		page.Requests, page.More = page.Requests[:q.Limit], true
	}
	return page, nil
}

// Update implements request.Store. fn runs while the transaction holds the
// database's only write connection, which is what serialises updates.
func (s *Store) Update(ctx context.Context, id string, fn func(*request.Request) (request.Change, error)) (request.Request, error) {
	var out request.Request
	err := sqlitedb.WithTx(ctx, s.db.Write, func(tx *sql.Tx) error {
		cur, err := getRequest(ctx, tx, id)
		if err != nil {
			return err
		}
		r := cur
		ch, err := fn(&r)
		if err != nil {
			return err
		}
		if err := request.CheckImmutable(cur, r); err != nil {
			return err
		}
		r.Version = cur.Version + 1
		r = storedoc.Stored(r)
		if _, err := tx.ExecContext(ctx, `UPDATE requests SET type = ?, priority = ?, status = ?,
			requested_agency = ?, requested_state = ?, transmitted = ?, acknowledge_by = ?, answer_by = ?,
			create_time = ?, update_time = ?, version = ?, doc = ?
			WHERE id = ?`,
			string(r.Type), string(r.Priority), string(r.Status), r.RequestedAgency, r.RequestedState,
			!r.TransmitTime.IsZero(), nullMicros(r.Deadlines.AcknowledgeBy), nullMicros(r.Deadlines.AnswerBy),
			micros(r.CreateTime), micros(r.UpdateTime), r.Version, storedoc.EncodeRequest(r), id); err != nil {
			return fmt.Errorf("update request %s: %w", id, err)
		}
		if err := writeChange(ctx, tx, r, ch); err != nil {
			return fmt.Errorf("update request %s: %w", id, err)
		}
		out = r
		return nil
	})
	if err != nil {
		return request.Request{}, err
	}
	return out, nil
}

// StatisticsRows implements request.Store, oldest first.
func (s *Store) StatisticsRows(ctx context.Context, q request.StatisticsRowsQuery) ([]request.Request, error) {
	var sb strings.Builder
	args := []any{string(request.Draft), micros(q.Start), micros(q.End)}
	sb.WriteString(`SELECT doc FROM requests WHERE status <> ? AND create_time >= ? AND create_time < ?`)
	if q.Involving != "" {
		sb.WriteString(` AND (requesting_state = ? OR requested_state = ?)`)
		args = append(args, q.Involving, q.Involving)
	}
	if q.RequestingState != "" {
		sb.WriteString(` AND requesting_state = ?`)
		args = append(args, q.RequestingState)
	}
	if q.RequestedState != "" {
		sb.WriteString(` AND requested_state = ?`)
		args = append(args, q.RequestedState)
	}
	sb.WriteString(` ORDER BY create_time, id`)
	rows, err := s.db.Read.QueryContext(ctx, sb.String(), args...)
	out, err := collect(rows, err, scanRequest)
	if err != nil {
		return nil, fmt.Errorf("statistics rows: %w", err)
	}
	return out, nil
}

// History.

const historyColumns = `seq, request_id, reference, from_status, to_status, action,
	actor_subject, actor_name, actor_agency, time, reason,
	requesting_agency, requesting_state, requested_agency, requested_state, owner, snapshot`

func scanHistory(row scanner) (request.HistoryEntry, error) {
	var (
		h        request.HistoryEntry
		from, to string
		snapshot *string
		t        int64
	)
	if err := row.Scan(&h.Seq, &h.RequestID, &h.Reference, &from, &to, &h.Action,
		&h.Actor.Subject, &h.Actor.Name, &h.Actor.Agency, &t, &h.Reason,
		&h.RequestingAgency, &h.RequestingState, &h.RequestedAgency, &h.RequestedState, &h.Owner, &snapshot); err != nil {
		return request.HistoryEntry{}, err
	}
	// Entries written before migration 0005 have none.
	if snapshot != nil {
		r, err := storedoc.DecodeRequest(*snapshot)
		if err != nil {
			return request.HistoryEntry{}, fmt.Errorf("history entry %d: snapshot: %w", h.Seq, err)
		}
		h.Snapshot = &r
	}
	h.From, h.To, h.Time = request.Status(from), request.Status(to), fromMicros(t)
	return h, nil
}

// History implements request.Store. A request without history, or unknown,
// has none: nil.
func (s *Store) History(ctx context.Context, id string) ([]request.HistoryEntry, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT `+historyColumns+` FROM history WHERE request_id = ? ORDER BY seq`, id)
	out, err := collect(rows, err, scanHistory)
	if err != nil {
		return nil, fmt.Errorf("history of request %s: %w", id, err)
	}
	return out, nil
}

// HistoryAfter implements request.Store. A limit of 0 or less means no limit.
func (s *Store) HistoryAfter(ctx context.Context, after int64, limit int) ([]request.HistoryEntry, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT `+historyColumns+` FROM history WHERE seq > ? ORDER BY seq LIMIT ?`,
		after, noLimit(limit))
	out, err := collect(rows, err, scanHistory)
	if err != nil {
		return nil, fmt.Errorf("history after %d: %w", after, err)
	}
	return out, nil
}

// LastHistorySeq implements request.Store.
func (s *Store) LastHistorySeq(ctx context.Context) (int64, error) {
	var seq int64
	if err := s.db.Read.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM history`).Scan(&seq); err != nil {
		return 0, fmt.Errorf("last history seq: %w", err)
	}
	return seq, nil
}

// Messages and attachments.

// requireRequest fails with errs.NotFound when the request does not exist.
// Checked first, rather than read from the foreign key error, so that the
// error names the request on both backends.
func requireRequest(ctx context.Context, tx *sql.Tx, id string) error {
	var exists bool
	if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM requests WHERE id = ?)`, id).Scan(&exists); err != nil {
		return fmt.Errorf("find request %s: %w", id, err)
	}
	if !exists {
		return errs.New(errs.NotFound, "request %q not found", id)
	}
	return nil
}

// CreateMessage implements request.Store. A message id that exists is
// errs.AlreadyExists and an unknown request errs.NotFound.
func (s *Store) CreateMessage(ctx context.Context, m request.Message, ev trail.Event) (request.Message, error) {
	if m.CreateTime.IsZero() {
		m.CreateTime = time.Now()
	}
	m.CreateTime = storedoc.StoredTime(m.CreateTime)
	err := sqlitedb.WithTx(ctx, s.db.Write, func(tx *sql.Tx) error {
		if err := requireRequest(ctx, tx, m.RequestID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO messages (id, request_id, body, visibility,
			author_subject, author_name, author_agency, create_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			m.ID, m.RequestID, m.Body, m.Visibility, m.Author.Subject, m.Author.Name, m.Author.Agency, micros(m.CreateTime))
		if isConstraint(err, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY) {
			return errs.Wrap(err, errs.AlreadyExists, "message %q already exists", m.ID)
		}
		if err != nil {
			return fmt.Errorf("create message %s: %w", m.ID, err)
		}
		if err := sqlitedb.InsertEvent(ctx, tx, ev); err != nil {
			return fmt.Errorf("create message %s: %w", m.ID, err)
		}
		return nil
	})
	if err != nil {
		return request.Message{}, err
	}
	return m, nil
}

func scanMessage(row scanner) (request.Message, error) {
	var (
		m request.Message
		t int64
	)
	if err := row.Scan(&m.ID, &m.RequestID, &m.Body, &m.Visibility, &m.Author.Subject, &m.Author.Name, &m.Author.Agency, &t); err != nil {
		return request.Message{}, err
	}
	m.CreateTime = fromMicros(t)
	return m, nil
}

// ListMessages implements request.Store. Messages created at the same time
// are in id order.
func (s *Store) ListMessages(ctx context.Context, requestID string, offset, limit int) ([]request.Message, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT id, request_id, body, visibility, author_subject, author_name,
		author_agency, create_time FROM messages WHERE request_id = ? ORDER BY create_time, id LIMIT ? OFFSET ?`,
		requestID, noLimit(limit), max(offset, 0))
	out, err := collect(rows, err, scanMessage)
	if err != nil {
		return nil, fmt.Errorf("list messages of request %s: %w", requestID, err)
	}
	return out, nil
}

const attachmentColumns = `id, request_id, kind, filename, media_type, language, sha256, size_bytes, blob_key,
	uploader_subject, uploader_name, uploader_agency, create_time`

// CreateAttachment implements request.Store. An attachment id that exists is
// errs.AlreadyExists and an unknown request errs.NotFound.
func (s *Store) CreateAttachment(ctx context.Context, a request.Attachment, ev trail.Event) (request.Attachment, error) {
	if a.CreateTime.IsZero() {
		a.CreateTime = time.Now()
	}
	a.CreateTime = storedoc.StoredTime(a.CreateTime)
	err := sqlitedb.WithTx(ctx, s.db.Write, func(tx *sql.Tx) error {
		if err := requireRequest(ctx, tx, a.RequestID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO attachments (`+attachmentColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			a.ID, a.RequestID, a.Kind, a.Filename, a.MediaType, a.Language, a.SHA256, a.SizeBytes, a.BlobKey,
			a.Uploader.Subject, a.Uploader.Name, a.Uploader.Agency, micros(a.CreateTime))
		if isConstraint(err, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY) {
			return errs.Wrap(err, errs.AlreadyExists, "attachment %q already exists", a.ID)
		}
		if err != nil {
			return fmt.Errorf("create attachment %s: %w", a.ID, err)
		}
		if err := sqlitedb.InsertEvent(ctx, tx, ev); err != nil {
			return fmt.Errorf("create attachment %s: %w", a.ID, err)
		}
		return nil
	})
	if err != nil {
		return request.Attachment{}, err
	}
	return a, nil
}

func scanAttachment(row scanner) (request.Attachment, error) {
	var (
		a request.Attachment
		t int64
	)
	if err := row.Scan(&a.ID, &a.RequestID, &a.Kind, &a.Filename, &a.MediaType, &a.Language, &a.SHA256, &a.SizeBytes,
		&a.BlobKey, &a.Uploader.Subject, &a.Uploader.Name, &a.Uploader.Agency, &t); err != nil {
		return request.Attachment{}, err
	}
	a.CreateTime = fromMicros(t)
	return a, nil
}

// GetAttachment implements request.Store. An attachment of another request
// is not found.
func (s *Store) GetAttachment(ctx context.Context, requestID, id string) (request.Attachment, error) {
	a, err := scanAttachment(s.db.Read.QueryRowContext(ctx,
		`SELECT `+attachmentColumns+` FROM attachments WHERE request_id = ? AND id = ?`, requestID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return request.Attachment{}, errs.New(errs.NotFound, "attachment %q of request %q not found", id, requestID)
	}
	if err != nil {
		return request.Attachment{}, fmt.Errorf("get attachment %s: %w", id, err)
	}
	return a, nil
}

// ListAttachments implements request.Store. Attachments created at the same
// time are in id order.
func (s *Store) ListAttachments(ctx context.Context, requestID string) ([]request.Attachment, error) {
	rows, err := s.db.Read.QueryContext(ctx,
		`SELECT `+attachmentColumns+` FROM attachments WHERE request_id = ? ORDER BY create_time, id`, requestID)
	out, err := collect(rows, err, scanAttachment)
	if err != nil {
		return nil, fmt.Errorf("list attachments of request %s: %w", requestID, err)
	}
	return out, nil
}
