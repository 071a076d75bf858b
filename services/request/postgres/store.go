// Package postgres is the request.Store of the scaled-out deployment, on a
// PostgreSQL database that several replicas share.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/comity-mla/comity/services/errs"
	"github.com/comity-mla/comity/services/platform/pgdb"
	"github.com/comity-mla/comity/services/query"
	"github.com/comity-mla/comity/services/request"
	"github.com/comity-mla/comity/services/request/storedoc"
	"github.com/comity-mla/comity/services/trail"
)

//go:embed migrations/*.sql
var migrations embed.FS

// uniqueViolation is the SQLSTATE the store turns into errs.AlreadyExists.
const uniqueViolation = "23505"

// historyLockKey is the transaction-level advisory lock every history insert
// takes just before it, so that history entries commit in seq order.
//
// An identity column hands out values in the order transactions ask, but
// they become visible in the order transactions commit: without the lock, a
// Watch reading HistoryAfter could see seq 8, resume after it, and never see
// seq 7 committed a moment later. With it, an entry is inserted only after
// the previous one committed (PostgreSQL makes a commit visible before it
// releases the transaction's locks), so the visible seqs are always a prefix.
// The lock is held only from the insert to the commit, the last steps of a
// change; it serialises that short tail across every replica. The value is
// fixed for the whole suite; it spells "comity:h" in ASCII, beside pgdb's
// "comity:m".
const historyLockKey int64 = 0x636f6d6974793a68

// Store keeps requests, their history, messages, attachment records and the
// audit outbox in PostgreSQL, safe for several replicas on one database.
//
// Create numbers references with an upsert on reference_counters, whose row
// lock makes concurrent creators of one state and year take turns; Update
// locks the request row (SELECT … FOR UPDATE), so that concurrent updates
// from any replica are serialised; history inserts take historyLockKey.
//
// Times are stored truncated to microseconds, timestamptz's precision, and
// read in UTC. They are kept as given: the domain takes them from its own
// clock. Only a zero CreateTime (and then UpdateTime) of a new request, or
// CreateTime of a message or attachment, is set to the time of the write.
type Store struct {
	pgdb.Outbox
	pool *pgxpool.Pool
}

var (
	_ request.Store = (*Store)(nil)
	_ trail.Outbox  = (*Store)(nil)
)

// New applies the request service's migrations to the database of pool and
// returns a store on it. The caller keeps ownership of pool and closes it
// after the last use of the store.
func New(ctx context.Context, pool *pgxpool.Pool) (*Store, error) {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, fmt.Errorf("request migrations: %w", err)
	}
	if err := pgdb.Migrate(ctx, pool, sub); err != nil {
		return nil, fmt.Errorf("migrate requests: %w", err)
	}
	return &Store{Outbox: pgdb.Outbox{Pool: pool}, pool: pool}, nil
}

// OutboxEntry is an audit event waiting in the outbox, with its position.
type OutboxEntry = trail.OutboxEntry

// nullTime stores a zero time as NULL.
func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

// querier is what the pool and a transaction have in common.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// violated returns the constraint a unique violation names, or "".
func violated(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == uniqueViolation {
		return pe.ConstraintName
	}
	return ""
}

// collect scans every row with scan; an empty result is nil.
func collect[T any](rows pgx.Rows, err error, scan func(pgx.Row) (T, error)) ([]T, error) {
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

// limitClause turns a limit of 0 (or less), "all", into LIMIT ALL.
func limitClause(limit int) string {
	if limit <= 0 {
		return "LIMIT ALL"
	}
	return fmt.Sprintf("LIMIT %d", limit)
}

// Requests.

func scanRequest(row pgx.Row) (request.Request, error) {
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

// getRequest reads a request; lock adds FOR UPDATE.
func getRequest(ctx context.Context, q querier, id string, lock bool) (request.Request, error) {
	sql := `SELECT doc FROM requests WHERE id = $1`
	if lock {
		sql += ` FOR UPDATE`
	}
	r, err := scanRequest(q.QueryRow(ctx, sql, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return request.Request{}, errs.New(errs.NotFound, "request %q not found", id)
	}
	if err != nil {
		return request.Request{}, fmt.Errorf("get request %s: %w", id, err)
	}
	return r, nil
}

// findKey returns the request and body digest stored with the caller's key
// under issuer (the caller's, or empty for a key carried over from before keys
// named the issuer).
func findKey(ctx context.Context, tx pgx.Tx, key request.IdempotencyKey, issuer string) (id, sum string, err error) {
	err = tx.QueryRow(ctx, `SELECT request_id, body_sha256 FROM create_keys
		WHERE issuer = $1 AND subject = $2 AND agency = $3 AND key = $4`,
		issuer, key.Subject, key.Agency, key.Key).Scan(&id, &sum)
	return id, sum, err
}

// Create implements request.Store.
//
// The idempotency key is inserted first, with ON CONFLICT DO NOTHING: a
// concurrent Create with the same key waits there for the first to end and,
// if it committed, inserts nothing; its next statement (READ COMMITTED takes
// a new snapshot) then reads the winner's request, before this transaction
// has taken a reference number or written anything. If the first rolled
// back, the waiting one inserts the key and goes on.
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
	err := pgdb.WithTx(ctx, s.pool, func(tx pgx.Tx) error {
		if key.Key != "" {
			// A key carried over from before keys named the issuer is
			// never inserted again, so reading it first races with nothing.
			id, sum, err := findKey(ctx, tx, key, "")
			if errors.Is(err, pgx.ErrNoRows) {
				var tag pgconn.CommandTag
				tag, err = tx.Exec(ctx, `INSERT INTO create_keys (issuer, subject, agency, key, body_sha256, request_id)
					VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (issuer, subject, agency, key) DO NOTHING`,
					key.Issuer, key.Subject, key.Agency, key.Key, key.BodySHA256, r.ID)
				if err == nil && tag.RowsAffected() == 0 {
					// A concurrent create with the key committed first.
					id, sum, err = findKey(ctx, tx, key, key.Issuer)
				}
			}
			switch {
			case err != nil:
				return fmt.Errorf("create request %s: idempotency key: %w", r.ID, err)
			case id == "":
				// The key is this create's: go on.
			case sum != "" && sum != key.BodySHA256:
				return request.KeyReused(key.Key)
			default:
				out, err = getRequest(ctx, tx, id, false)
				return err
			}
		}
		year := r.CreateTime.Year()
		var n int64
		if err := tx.QueryRow(ctx, `INSERT INTO reference_counters (state, year, last) VALUES ($1, $2, 1)
			ON CONFLICT (state, year) DO UPDATE SET last = reference_counters.last + 1
			RETURNING last`, r.RequestingState, year).Scan(&n); err != nil {
			return fmt.Errorf("create request %s: reference: %w", r.ID, err)
		}
		r.Reference = fmt.Sprintf("%s-%04d-%06d", r.RequestingState, year, n)
		_, err := tx.Exec(ctx, `INSERT INTO requests (id, reference, type, priority, status,
			requesting_agency, requesting_state, requested_agency, requested_state, owner, transmitted,
			acknowledge_by, answer_by, create_time, update_time, version, doc)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)`,
			r.ID, r.Reference, string(r.Type), string(r.Priority), string(r.Status),
			r.RequestingAgency, r.RequestingState, r.RequestedAgency, r.RequestedState, r.Owner, !r.TransmitTime.IsZero(),
			nullTime(r.Deadlines.AcknowledgeBy), nullTime(r.Deadlines.AnswerBy), r.CreateTime, r.UpdateTime,
			r.Version, storedoc.EncodeRequest(r))
		if violated(err) == "requests_pkey" {
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

// writeChange writes the event and the history entry of a change of r. It
// must be the last write of the transaction: the history insert takes
// historyLockKey, held until the commit.
func writeChange(ctx context.Context, tx pgx.Tx, r request.Request, ch request.Change) error {
	if err := pgdb.InsertEvent(ctx, tx, ch.Event); err != nil {
		return err
	}
	if ch.History == nil {
		return nil
	}
	h := historyOf(r, *ch.History)
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, historyLockKey); err != nil {
		return fmt.Errorf("lock history: %w", err)
	}
	_, err := tx.Exec(ctx, `INSERT INTO history (request_id, reference, from_status, to_status, action,
		actor_subject, actor_name, actor_agency, time, reason,
		requesting_agency, requesting_state, requested_agency, requested_state, owner, snapshot)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`,
		h.RequestID, h.Reference, string(h.From), string(h.To), h.Action,
		h.Actor.Subject, h.Actor.Name, h.Actor.Agency, h.Time, h.Reason,
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
	return getRequest(ctx, s.pool, id, false)
}

// List implements request.Store. Filters compare columns with SQL's
// three-valued logic: a deadline not set is NULL and matches no comparison,
// negated or not. Without OrderBy the order is by id.
func (s *Store) List(ctx context.Context, q request.ListQuery) (request.Page, error) {
	where, args, err := query.Postgres.Where(request.StoreSchema, q.Filter, 0)
	if err != nil {
		return request.Page{}, fmt.Errorf("list requests: %w", err)
	}
	order, err := query.Postgres.OrderBy(request.StoreSchema, q.OrderBy, "id")
	if err != nil {
		return request.Page{}, fmt.Errorf("list requests: %w", err)
	}
	// One more row than the page tells whether another page follows.
	limit := q.Limit
	if limit > 0 {
		limit++
	}
	sql := fmt.Sprintf(`SELECT doc FROM requests WHERE %s %s %s OFFSET %d`, where, order, limitClause(limit), max(q.Offset, 0))
	count := `SELECT COUNT(*) FROM requests WHERE ` + where
	if q.CountLimit > 0 {
		count = fmt.Sprintf(`SELECT COUNT(*) FROM (SELECT 1 FROM requests WHERE %s LIMIT %d) AS matching`, where, q.CountLimit+1)
	}
	var page request.Page
	// REPEATABLE READ: the count and the page come from one snapshot, so
	// Total agrees with the rows even while another replica writes.
	err = pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, count, args...).Scan(&page.Total); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, sql, args...)
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

// Update implements request.Store. fn runs while the row is locked.
func (s *Store) Update(ctx context.Context, id string, fn func(*request.Request) (request.Change, error)) (request.Request, error) {
	var out request.Request
	err := pgdb.WithTx(ctx, s.pool, func(tx pgx.Tx) error {
		cur, err := getRequest(ctx, tx, id, true)
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
		if _, err := tx.Exec(ctx, `UPDATE requests SET type = $1, priority = $2, status = $3,
			requested_agency = $4, requested_state = $5, transmitted = $6, acknowledge_by = $7, answer_by = $8,
			create_time = $9, update_time = $10, version = $11, doc = $12
			WHERE id = $13`,
			string(r.Type), string(r.Priority), string(r.Status), r.RequestedAgency, r.RequestedState,
			!r.TransmitTime.IsZero(), nullTime(r.Deadlines.AcknowledgeBy), nullTime(r.Deadlines.AnswerBy),
			r.CreateTime, r.UpdateTime, r.Version, storedoc.EncodeRequest(r), id); err != nil {
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
	args := []any{string(request.Draft), q.Start.UTC(), q.End.UTC()}
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	sb.WriteString(`SELECT doc FROM requests WHERE status <> $1 AND create_time >= $2 AND create_time < $3`)
	if q.Involving != "" {
		p := arg(q.Involving)
		sb.WriteString(` AND (requesting_state = ` + p + ` OR requested_state = ` + p + `)`)
	}
	if q.RequestingState != "" {
		sb.WriteString(` AND requesting_state = ` + arg(q.RequestingState))
	}
	if q.RequestedState != "" {
		sb.WriteString(` AND requested_state = ` + arg(q.RequestedState))
	}
	sb.WriteString(` ORDER BY create_time, id`)
	rows, err := s.pool.Query(ctx, sb.String(), args...)
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

func scanHistory(row pgx.Row) (request.HistoryEntry, error) {
	var (
		h        request.HistoryEntry
		from, to string
		snapshot *string
	)
	if err := row.Scan(&h.Seq, &h.RequestID, &h.Reference, &from, &to, &h.Action,
		&h.Actor.Subject, &h.Actor.Name, &h.Actor.Agency, &h.Time, &h.Reason,
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
	h.From, h.To, h.Time = request.Status(from), request.Status(to), h.Time.UTC()
	return h, nil
}

// History implements request.Store. A request without history, or unknown,
// has none: nil.
func (s *Store) History(ctx context.Context, id string) ([]request.HistoryEntry, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+historyColumns+` FROM history WHERE request_id = $1 ORDER BY seq`, id)
	out, err := collect(rows, err, scanHistory)
	if err != nil {
		return nil, fmt.Errorf("history of request %s: %w", id, err)
	}
	return out, nil
}

// HistoryAfter implements request.Store. A limit of 0 or less means no
// limit. No entry is skipped: see historyLockKey.
func (s *Store) HistoryAfter(ctx context.Context, after int64, limit int) ([]request.HistoryEntry, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+historyColumns+` FROM history WHERE seq > $1 ORDER BY seq `+limitClause(limit), after)
	out, err := collect(rows, err, scanHistory)
	if err != nil {
		return nil, fmt.Errorf("history after %d: %w", after, err)
	}
	return out, nil
}

// LastHistorySeq implements request.Store.
func (s *Store) LastHistorySeq(ctx context.Context) (int64, error) {
	var seq int64
	if err := s.pool.QueryRow(ctx, `SELECT COALESCE(MAX(seq), 0) FROM history`).Scan(&seq); err != nil {
		return 0, fmt.Errorf("last history seq: %w", err)
	}
	return seq, nil
}

// Messages and attachments.

// requireRequest fails with errs.NotFound when the request does not exist.
// Checked first, rather than read from the foreign key error, so that the
// error names the request on both backends.
func requireRequest(ctx context.Context, tx pgx.Tx, id string) error {
	var exists bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM requests WHERE id = $1)`, id).Scan(&exists); err != nil {
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
	err := pgdb.WithTx(ctx, s.pool, func(tx pgx.Tx) error {
		if err := requireRequest(ctx, tx, m.RequestID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO messages (id, request_id, body, visibility,
			author_subject, author_name, author_agency, create_time) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			m.ID, m.RequestID, m.Body, m.Visibility, m.Author.Subject, m.Author.Name, m.Author.Agency, m.CreateTime)
		if violated(err) == "messages_pkey" {
			return errs.Wrap(err, errs.AlreadyExists, "message %q already exists", m.ID)
		}
		if err != nil {
			return fmt.Errorf("create message %s: %w", m.ID, err)
		}
		if err := pgdb.InsertEvent(ctx, tx, ev); err != nil {
			return fmt.Errorf("create message %s: %w", m.ID, err)
		}
		return nil
	})
	if err != nil {
		return request.Message{}, err
	}
	return m, nil
}

func scanMessage(row pgx.Row) (request.Message, error) {
	var m request.Message
	if err := row.Scan(&m.ID, &m.RequestID, &m.Body, &m.Visibility, &m.Author.Subject, &m.Author.Name, &m.Author.Agency, &m.CreateTime); err != nil {
		return request.Message{}, err
	}
	m.CreateTime = m.CreateTime.UTC()
	return m, nil
}

// ListMessages implements request.Store. Messages created at the same time
// are in id order.
func (s *Store) ListMessages(ctx context.Context, requestID string, offset, limit int) ([]request.Message, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, request_id, body, visibility, author_subject, author_name,
		author_agency, create_time FROM messages WHERE request_id = $1 ORDER BY create_time, id `+
		limitClause(limit)+` OFFSET $2`, requestID, max(offset, 0))
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
	err := pgdb.WithTx(ctx, s.pool, func(tx pgx.Tx) error {
		if err := requireRequest(ctx, tx, a.RequestID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO attachments (`+attachmentColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
			a.ID, a.RequestID, a.Kind, a.Filename, a.MediaType, a.Language, a.SHA256, a.SizeBytes, a.BlobKey,
			a.Uploader.Subject, a.Uploader.Name, a.Uploader.Agency, a.CreateTime)
		if violated(err) == "attachments_pkey" {
			return errs.Wrap(err, errs.AlreadyExists, "attachment %q already exists", a.ID)
		}
		if err != nil {
			return fmt.Errorf("create attachment %s: %w", a.ID, err)
		}
		if err := pgdb.InsertEvent(ctx, tx, ev); err != nil {
			return fmt.Errorf("create attachment %s: %w", a.ID, err)
		}
		return nil
	})
	if err != nil {
		return request.Attachment{}, err
	}
	return a, nil
}

func scanAttachment(row pgx.Row) (request.Attachment, error) {
	var a request.Attachment
	if err := row.Scan(&a.ID, &a.RequestID, &a.Kind, &a.Filename, &a.MediaType, &a.Language, &a.SHA256, &a.SizeBytes,
		&a.BlobKey, &a.Uploader.Subject, &a.Uploader.Name, &a.Uploader.Agency, &a.CreateTime); err != nil {
		return request.Attachment{}, err
	}
	a.CreateTime = a.CreateTime.UTC()
	return a, nil
}

// GetAttachment implements request.Store. An attachment of another request
// is not found.
func (s *Store) GetAttachment(ctx context.Context, requestID, id string) (request.Attachment, error) {
	a, err := scanAttachment(s.pool.QueryRow(ctx,
		`SELECT `+attachmentColumns+` FROM attachments WHERE request_id = $1 AND id = $2`, requestID, id))
	if errors.Is(err, pgx.ErrNoRows) {
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
	rows, err := s.pool.Query(ctx,
		`SELECT `+attachmentColumns+` FROM attachments WHERE request_id = $1 ORDER BY create_time, id`, requestID)
	out, err := collect(rows, err, scanAttachment)
	if err != nil {
		return nil, fmt.Errorf("list attachments of request %s: %w", requestID, err)
	}
	return out, nil
}
