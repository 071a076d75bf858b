-- Each history entry keeps the request as it was right after its change
-- (its metadata and clarifications, storedoc's form of request.Snapshot), so
-- that a watch decides who may see a change, and applies its filter, on the
-- request as it was then rather than as it is when the watch reads the
-- change. Entries written before this migration have none (NULL): what they
-- were then is not known, and the watch falls back on the entry's own
-- columns for them.
ALTER TABLE history ADD COLUMN snapshot TEXT CHECK (snapshot IS NULL OR json_type(snapshot) = 'object');

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
		-- nothing but attachment ids (UUIDs, 36 characters with 4 dashes,
		-- joined by ", ") is taken for one, so that an answer that happens
		-- to say "Attached: see our letter" stays whole.
		CASE WHEN p > 0 AND t <> '' AND NOT t GLOB '*[^0-9A-Fa-f,-]*' AND (length(t) + 1) % 37 = 0
				AND length(t) - length(replace(t, '-', '')) = 4 * ((length(t) + 1) / 37)
				AND length(t) - length(replace(t, ',', '')) = (length(t) + 1) / 37 - 1
			THEN p ELSE 0 END AS cut
	FROM (SELECT *, replace(substr(reason, p + 12), ', ', ',') AS t
		FROM (SELECT *, instr(reason, char(10) || char(10) || 'Attached: ') AS p FROM history
			WHERE action = 'provideClarification'))
),
rounds AS (
	SELECT q.request_id, q.seq,
		json_object(
			'question', q.reason,
			'asked_by', json_object('subject', q.actor_subject, 'name', q.actor_name, 'agency', q.actor_agency),
			'ask_time', strftime('%Y-%m-%dT%H:%M:%S', q.time / 1000000, 'unixepoch') || '.' || printf('%06d', q.time % 1000000) || 'Z',
			'answer', CASE WHEN a.cut > 0 THEN substr(a.reason, 1, a.cut - 1) ELSE a.reason END,
			'answered_by', CASE WHEN a.seq IS NULL THEN NULL
				ELSE json_object('subject', a.actor_subject, 'name', a.actor_name, 'agency', a.actor_agency) END,
			'answer_time', CASE WHEN a.seq IS NULL THEN NULL
				ELSE strftime('%Y-%m-%dT%H:%M:%S', a.time / 1000000, 'unixepoch') || '.' || printf('%06d', a.time % 1000000) || 'Z' END,
			'answer_attachments', CASE WHEN a.cut > 0
				THEN json('["' || replace(substr(a.reason, a.cut + 12), ', ', '","') || '"]') END
		) AS round
	FROM history q
	LEFT JOIN answers a ON a.seq = (
		SELECT min(x.seq) FROM answers x
		WHERE x.request_id = q.request_id AND x.seq > q.seq
			AND NOT EXISTS (SELECT 1 FROM history n WHERE n.request_id = q.request_id
				AND n.action = 'requestClarification' AND n.seq > q.seq AND n.seq < x.seq))
	WHERE q.action = 'requestClarification'
)
-- json() again: a subquery's result is text to json_set, not JSON.
UPDATE requests SET doc = json_set(doc, '$.clarifications',
	json((SELECT json_group_array(json(round) ORDER BY seq) FROM rounds WHERE rounds.request_id = requests.id)))
WHERE id IN (SELECT request_id FROM rounds);
