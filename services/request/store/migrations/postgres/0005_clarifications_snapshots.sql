-- Each history entry keeps the request as it was right after its change
-- (its metadata and clarifications, storedoc's form of request.Snapshot), so
-- that a watch decides who may see a change, and applies its filter, on the
-- request as it was then rather than as it is when the watch reads the
-- change. Entries written before this migration have none (NULL): what they
-- were then is not known, and the watch falls back on the entry's own
-- columns for them.
ALTER TABLE history ADD COLUMN snapshot jsonb CHECK (snapshot IS NULL OR jsonb_typeof(snapshot) = 'object');

-- Questions and answers are kept on the request (doc.clarifications, in
-- storedoc's clarificationJSON form). Those asked before are carried over from
-- the history, where each question is the reason of a requestClarification
-- entry and its answer that of the first provideClarification entry after
-- it (the lifecycle alternates the two). An answer's reason ends with
-- "\n\nAttached: id, id" when attachments went with it; that is split off.
-- Times are RFC 3339 in UTC with microseconds, as storedoc writes them.
WITH answers AS (
	SELECT seq, request_id, reason, actor_subject, actor_name, actor_agency, time,
		-- Where the list of attachments starts, or 0: only a tail that is
		-- nothing but attachment ids (UUIDs joined by ", ") is taken for
		-- one, so that an answer that happens to say "Attached: see our
		-- letter" stays whole.
		CASE WHEN p > 0 AND substr(reason, p + 12) ~
				'^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}(, [0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12})*$'
			THEN p ELSE 0 END AS cut
	FROM (SELECT *, strpos(reason, E'\n\nAttached: ') AS p FROM history
		WHERE action = 'provideClarification') h
),
rounds AS (
	SELECT q.request_id, q.seq,
		jsonb_build_object(
			'question', q.reason,
			'asked_by', jsonb_build_object('subject', q.actor_subject, 'name', q.actor_name, 'agency', q.actor_agency),
			'ask_time', to_char(q.time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
			'answer', CASE WHEN a.cut > 0 THEN substr(a.reason, 1, a.cut - 1) ELSE a.reason END,
			'answered_by', CASE WHEN a.seq IS NULL THEN NULL
				ELSE jsonb_build_object('subject', a.actor_subject, 'name', a.actor_name, 'agency', a.actor_agency) END,
			'answer_time', to_char(a.time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
			'answer_attachments', CASE WHEN a.cut > 0
				THEN to_jsonb(string_to_array(substr(a.reason, a.cut + 12), ', ')) END
		) AS round
	FROM history q
	LEFT JOIN LATERAL (
		SELECT * FROM answers x
		WHERE x.request_id = q.request_id AND x.seq > q.seq
			AND NOT EXISTS (SELECT 1 FROM history n WHERE n.request_id = q.request_id
				AND n.action = 'requestClarification' AND n.seq > q.seq AND n.seq < x.seq)
		ORDER BY x.seq LIMIT 1) a ON true
	WHERE q.action = 'requestClarification'
)
UPDATE requests r SET doc = jsonb_set(r.doc, '{clarifications}', c.list)
FROM (SELECT request_id, jsonb_agg(round ORDER BY seq) AS list FROM rounds GROUP BY request_id) c
WHERE r.id = c.request_id;
