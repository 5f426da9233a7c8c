-- The demo's Phase 2 history (flashdash/demo_history.py), derived from the leads, stage changes and activities
-- the demo just wrote. Randomness is a hash of the row's id and the seed: the same demo gives the same rows.

-- name: demo_history_activity_template
INSERT INTO activity_templates (id, team_id, name, type, duration_min, outcome, notes, next_step, follow_up_days,
                                active, updated_by, updated_at)
VALUES (nextval('activity_templates_id_seq'), NULL, $template_name, $type, $duration_min, $outcome, $notes,
        $next_step, $follow_up_days, TRUE, 'demo', $go_live)
RETURNING id;

-- name: demo_history_activity_entry
-- Activities logged in the app since $since: before $go_live without templates, after it ~60% with one.
-- Fields typed (of type, duration, outcome, notes, next step): 3-5 by hand, 1-3 with a template.
WITH t AS (SELECT type, min(id) AS template_id FROM activity_templates GROUP BY type),
a AS (
    SELECT a.id, t.template_id,
           (hash(a.id, $seed, 'template') % 1000000) / 1e6 AS u_template,
           (hash(a.id, $seed, 'fields') % 3)::INTEGER AS extra
    FROM activities a LEFT JOIN t ON t.type = a.type
    WHERE a.occurred_at >= $since AND a.occurred_at <= $now
)
UPDATE activities SET
    source = 'form',
    template_id = CASE WHEN activities.occurred_at >= $go_live AND a.u_template < 0.6 THEN a.template_id END,
    fields_typed = CASE WHEN activities.occurred_at >= $go_live AND a.u_template < 0.6 AND a.template_id IS NOT NULL
                        THEN 1 + a.extra ELSE 3 + a.extra END
FROM a WHERE activities.id = a.id;

-- name: demo_history_tasks
-- The tasks the built-in rules made (entering MQL: a first call in 4 h; entering SQL: a discovery call in 24 h;
-- a demo: the proposal in 48 h) for events from $since until $cutoff (the scheduler's rule job makes the last
-- day's). Done on time about half the time before $go_live and three quarters after it, else late (up to five
-- days; still open when that is after $now, unless the lead has since been lost or disqualified) or, for 3%,
-- cancelled.
WITH events AS (
    SELECT c.lead_id, c.id AS event_id, c.changed_at AS event_at, CASE c.to_status WHEN 'mql' THEN -3 ELSE -1 END AS rule_id,
           CASE c.to_status WHEN 'mql' THEN 'First call' ELSE 'Discovery call' END AS title,
           CASE c.to_status WHEN 'mql' THEN 4 ELSE 24 END AS due_hours, 'call' AS kind
    FROM lead_stage_changes c WHERE c.to_status IN ('mql', 'sql') AND c.changed_at >= $since AND c.changed_at < $cutoff
    UNION ALL
    SELECT a.lead_id, a.id + 1000000000, a.occurred_at, -2, 'Send the proposal', 48, 'email'
    FROM activities a WHERE a.type = 'demo' AND a.occurred_at >= $since AND a.occurred_at < $cutoff
), planned AS (
    SELECT e.*, l.owner_id AS rep_id, l.status IN ('lost', 'disqualified') AS closed,
           e.event_at + to_hours(e.due_hours) AS due_at,
           (hash(e.event_id, e.rule_id, $seed, 'done') % 1000000) / 1e6 AS u,
           (hash(e.event_id, e.rule_id, $seed, 'when') % 1000000) / 1e6 AS v,
           CASE WHEN e.event_at + to_hours(e.due_hours) < $go_live THEN 0.52 ELSE 0.74 END
               + ((hash(l.owner_id, $seed) % 100) / 1000.0 - 0.05) AS p_on_time
    FROM events e JOIN leads l ON l.id = e.lead_id
    WHERE l.owner_id IS NOT NULL
), done AS (
    SELECT *, CASE WHEN u < p_on_time THEN event_at + (due_at - event_at) * v
                   WHEN u < 0.97 THEN due_at + to_minutes((60 + v * 7200)::BIGINT) END AS done_at
    FROM planned
)
INSERT INTO tasks (id, lead_id, rep_id, title, due_at, status, created_by, created_at, done_at, notes, kind, rule_id)
SELECT (SELECT coalesce(max(id), 0) FROM tasks) + row_number() OVER (ORDER BY event_at, event_id, rule_id),
       lead_id, rep_id, title, due_at,
       CASE WHEN done_at <= $now THEN 'done' WHEN done_at IS NULL OR closed THEN 'cancelled' ELSE 'open' END,
       'rule', event_at,
       CASE WHEN done_at <= $now THEN done_at END,
       CASE WHEN done_at <= $now THEN 'Made by a task rule.'
            WHEN closed THEN 'Made by a task rule. Cancelled: the lead was closed.'
            WHEN done_at IS NULL THEN 'Made by a task rule. Cancelled: no longer relevant.'
            ELSE 'Made by a task rule.' END,
       kind, rule_id
FROM done;

-- name: demo_history_emails
-- The emails reps sent from the app since $since: one per email activity to a lead with an address and no
-- do-not-contact flag, from one of the store-wide templates, its tokens filled in. The address is the lead's
-- sealed email as it is; the body, which greets the contact by name, is sealed as it is written.
WITH t AS (SELECT id, subject, body, row_number() OVER (ORDER BY id) - 1 AS k, count(*) OVER () AS n
           FROM email_templates WHERE team_id IS NULL),
a AS (
    SELECT a.id, a.lead_id, a.rep_id, a.occurred_at, l.email, l.merchant_name,
           coalesce(split_part(fd_open(l.contact_name), ' ', 1), 'there') AS first_name, r.name AS rep_name,
           hash(a.id, $seed, 'template') AS h
    FROM activities a JOIN leads l ON l.id = a.lead_id LEFT JOIN reps r ON r.id = a.rep_id
    WHERE a.type = 'email' AND a.occurred_at >= $since AND a.occurred_at <= $now
      AND l.email IS NOT NULL AND NOT coalesce(l.do_not_contact, FALSE)
)
INSERT INTO emails (id, lead_id, rep_id, template_id, to_address, subject, body, token, status, attempts,
                    next_attempt_at, queued_by, queued_at, sent_at, message_id)
SELECT (SELECT coalesce(max(id), 0) FROM emails) + row_number() OVER (ORDER BY a.occurred_at, a.id),
       a.lead_id, a.rep_id, t.id, a.email,
       replace(t.subject, '{{ lead.merchant_name }}', a.merchant_name),
       fd_seal(replace(replace(replace(t.body, '{{ lead.merchant_name }}', a.merchant_name),
                               '{{ lead.first_name }}', a.first_name),
                       '{{ rep.name }}', coalesce(a.rep_name, 'The Flash team')), 'text'),
       md5(a.id::VARCHAR || $seed::VARCHAR), 'sent', 1, a.occurred_at, 'demo', a.occurred_at, a.occurred_at,
       '<demo-' || a.id::VARCHAR || '@flashpay.example>'
FROM a JOIN t ON t.k = a.h % t.n;

-- name: demo_history_email_events
-- Opens (about a third of the emails before $go_live, 43% after), clicks (a quarter of the opened) and replies,
-- each after the email was sent and no later than $now.
WITH e AS (
    SELECT id, sent_at,
           (hash(id, $seed, 'open') % 1000000) / 1e6 AS u_open,
           (hash(id, $seed, 'click') % 1000000) / 1e6 AS u_click,
           (hash(id, $seed, 'reply') % 1000000) / 1e6 AS u_reply,
           (hash(id, $seed, 'delay') % 1000000) / 1e6 AS v,
           sent_at >= $go_live AS after
    FROM emails WHERE status = 'sent' AND sent_at >= $since
), events AS (
    SELECT id, 'open' AS kind, sent_at + to_minutes((5 + v * 600)::BIGINT) AS event_at, NULL AS url
    FROM e WHERE u_open < CASE WHEN after THEN 0.43 ELSE 0.34 END
    UNION ALL
    SELECT id, 'click', sent_at + to_minutes((8 + v * 640)::BIGINT), 'https://flashpay.example/pricing'
    FROM e WHERE u_open < CASE WHEN after THEN 0.43 ELSE 0.34 END AND u_click < CASE WHEN after THEN 0.27 ELSE 0.22 END
    UNION ALL
    SELECT id, 'reply', sent_at + to_minutes((30 + v * 1440)::BIGINT), NULL
    FROM e WHERE u_reply < CASE WHEN after THEN 0.07 ELSE 0.05 END
)
INSERT INTO email_events (id, email_id, kind, occurred_at, url)
SELECT (SELECT coalesce(max(id), 0) FROM email_events) + row_number() OVER (ORDER BY event_at, id, kind), id, kind, event_at, url
FROM events WHERE event_at <= $now;
