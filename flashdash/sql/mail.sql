-- Email to leads: what a template may use, and the queue.

-- name: mail_lead
SELECT id, merchant_name, contact_name, email, phone, vertical, company_size, monthly_volume, city, channel,
       campaign, interest_level, status, owner_id, do_not_contact
FROM leads WHERE id = $lead_id;

-- name: mail_rep
SELECT id, name, email FROM reps WHERE id = $rep_id;

-- name: mail_insert
INSERT INTO emails (id, lead_id, rep_id, template_id, enrollment_id, step_id, to_address, subject, body, token,
                    status, attempts, next_attempt_at, last_error, queued_by, queued_at)
VALUES (nextval('emails_id_seq'), $lead_id, $rep_id, $template_id, $enrollment_id, $step_id, $to_address, $subject,
        $body, $token, $status, 0, $next_attempt_at, $last_error, $queued_by, $queued_at)
RETURNING id;

-- name: mail_lead_in_scope
-- A lead the acting user may see (their scope), with what a template may use.
SELECT id, merchant_name, contact_name, email, phone, vertical, company_size, monthly_volume, city, channel,
       campaign, interest_level, status, owner_id, do_not_contact
FROM leads
WHERE id = $lead_id AND ($scope_all OR list_contains($scope_reps, owner_id));

-- ---------------------------------------------------------------- the template library

-- name: mail_actor_teams
-- The teams whose templates a person uses: the teams they manage, and their own.
SELECT id FROM teams WHERE manager_id = $rep_id
UNION
SELECT team_id FROM reps WHERE id = $rep_id AND team_id IS NOT NULL;

-- name: mail_team
SELECT id, name FROM teams WHERE id = $team_id;

-- name: mail_templates
SELECT t.id, t.team_id, tm.name AS team_name, t.name, t.subject, t.body, t.active, t.updated_by, t.updated_at,
       CASE WHEN t.team_id IS NULL THEN 'store' ELSE 'team' END AS source
FROM email_templates t
LEFT JOIN teams tm ON tm.id = t.team_id
WHERE ($all_teams OR t.team_id IS NULL OR list_contains($team_ids, t.team_id))
  AND (t.active OR $include_inactive)
ORDER BY t.team_id NULLS FIRST, lower(t.name), t.id;

-- name: mail_storewide_template_count
SELECT count(*) FROM email_templates WHERE team_id IS NULL;

-- name: mail_template
SELECT id, team_id, name, subject, body, active, updated_by, updated_at FROM email_templates WHERE id = $template_id;

-- name: mail_template_name_taken
SELECT count(*) FROM email_templates
WHERE team_id IS NOT DISTINCT FROM $team_id AND lower(name) = lower($template_name)
  AND id IS DISTINCT FROM $template_id;

-- name: mail_template_insert
INSERT INTO email_templates (id, team_id, name, subject, body, active, updated_by, updated_at)
VALUES (nextval('email_templates_id_seq'), $team_id, $template_name, $subject, $body, $active, $updated_by,
        $updated_at)
RETURNING id;

-- name: mail_template_update
UPDATE email_templates
SET team_id = $team_id, name = $template_name, subject = $subject, body = $body, active = $active,
    updated_by = $updated_by, updated_at = $updated_at
WHERE id = $template_id;

-- ---------------------------------------------------------------- sending by hand

-- name: mail_email
SELECT id, lead_id, rep_id, template_id, to_address, subject, status, last_error FROM emails WHERE id = $email_id;

-- name: mail_activity_insert
-- The email in the lead's activity history (source 'email': written by sending, not typed in a form).
INSERT INTO activities (id, lead_id, rep_id, type, occurred_at, outcome, notes, source)
VALUES (nextval('activities_id_seq'), $lead_id, $rep_id, 'email', $occurred_at, $outcome, $notes, 'email')
RETURNING id;

-- name: mail_first_response
-- As activity_first_response: the lead's first response is its earliest activity on or after submission.
UPDATE leads SET first_response_at = $occurred_at
WHERE id = $lead_id AND $occurred_at >= submitted_at
  AND (first_response_at IS NULL OR first_response_at > $occurred_at);

-- ---------------------------------------------------------------- the queue

-- name: mail_sending
-- Emails some send_due claimed and has not settled: in flight, or left by a process that died.
SELECT id, message_id, next_attempt_at AS claimed_at, attempts FROM emails WHERE status = 'sending' ORDER BY id;

-- name: mail_due
-- Queued emails whose attempt is due, oldest first, with what decides whether they may still go.
SELECT e.id, e.lead_id, e.to_address, e.subject, e.body, e.token, e.attempts, l.do_not_contact,
       l.email AS lead_email, r.name AS rep_name, r.email AS rep_email
FROM emails e
JOIN leads l ON l.id = e.lead_id
LEFT JOIN reps r ON r.id = e.rep_id
WHERE e.status = 'queued' AND e.next_attempt_at <= $now
ORDER BY e.next_attempt_at, e.id
LIMIT $limit;

-- name: mail_queued_count
SELECT count(*) FROM emails WHERE status = 'queued' AND next_attempt_at <= $now;

-- name: mail_work_count
-- What a send run has to do: emails due, and emails left 'sending' by a run that may have died.
SELECT count(*) FROM emails WHERE (status = 'queued' AND next_attempt_at <= $now) OR status = 'sending';

-- name: mail_claim
-- Only a queued email is claimed: of two senders, the second finds it 'sending' and leaves it.
UPDATE emails SET status = 'sending', attempts = attempts + 1, message_id = $message_id, next_attempt_at = $now
WHERE id = $email_id AND status = 'queued'
RETURNING id;

-- name: mail_suppress
UPDATE emails SET status = 'suppressed', last_error = $reason, next_attempt_at = NULL
WHERE id = $email_id AND status = 'queued';

-- name: mail_mark_sent
-- Also from 'failed': an attempt given up as unknown that is later found accepted (its journal says so).
UPDATE emails SET status = 'sent', sent_at = $sent_at, last_error = NULL, next_attempt_at = NULL
WHERE id = $email_id AND message_id = $message_id AND status IN ('sending', 'failed');

-- name: mail_mark_retry
UPDATE emails SET status = 'queued', next_attempt_at = $next_attempt_at, last_error = $error, message_id = NULL
WHERE id = $email_id AND message_id = $message_id AND status = 'sending';

-- name: mail_mark_failed
UPDATE emails SET status = 'failed', next_attempt_at = NULL, last_error = $error
WHERE id = $email_id AND message_id = $message_id AND status = 'sending';

-- name: mail_release
-- A claimed email whose attempt never started (the batch ran out of time, or its process died first).
UPDATE emails SET status = 'queued', attempts = attempts - 1, next_attempt_at = $now, message_id = NULL
WHERE id = $email_id AND message_id = $message_id AND status = 'sending';

-- ---------------------------------------------------------------- tracking

-- name: tracking_events_insert
-- Spooled events of known emails, each once: an event already stored (same email, kind, time, url) is skipped,
-- so a spool batch read twice (a crash between the commit and the batch's deletion) adds nothing.
INSERT INTO email_events (id, email_id, kind, occurred_at, url)
SELECT nextval('email_events_id_seq'), e.id, n.kind, n.occurred_at, n.url
FROM (SELECT DISTINCT * FROM (SELECT unnest($tokens)::VARCHAR AS token, unnest($kinds)::VARCHAR AS kind,
                                     unnest($ats)::TIMESTAMP AS occurred_at, unnest($urls)::VARCHAR AS url)) n
JOIN emails e ON e.token = n.token
WHERE NOT EXISTS (SELECT 1 FROM email_events x
                  WHERE x.email_id = e.id AND x.kind = n.kind AND x.occurred_at = n.occurred_at
                    AND x.url IS NOT DISTINCT FROM n.url)
RETURNING email_id, kind;

-- name: tracking_leads_of_emails
SELECT DISTINCT lead_id FROM emails WHERE list_contains($email_ids, id);

-- ---------------------------------------------------------------- rates and the outbox

-- name: mail_rates
-- Emails sent in [start, end) by a rep in scope (or to a lead in scope), grouped by template, sequence or rep,
-- with the distinct emails opened (an open, or a click: a click proves the email was opened even when its
-- images were blocked), clicked and replied to, whenever those came.
WITH sent AS (
    SELECT e.id, e.rep_id, e.template_id, en.sequence_id
    FROM emails e
    JOIN leads l ON l.id = e.lead_id
    LEFT JOIN sequence_enrollments en ON en.id = e.enrollment_id
    WHERE e.status = 'sent' AND e.sent_at >= $start AND e.sent_at < $end
      AND ($scope_all OR list_contains($scope_reps, e.rep_id) OR list_contains($scope_reps, l.owner_id))
), seen AS (
    SELECT email_id, bool_or(kind IN ('open', 'click')) AS opened, bool_or(kind = 'click') AS clicked,
           bool_or(kind = 'reply') AS replied
    FROM email_events WHERE email_id IN (SELECT id FROM sent)
    GROUP BY email_id
), keyed AS (
    SELECT CASE $by WHEN 'template' THEN s.template_id WHEN 'sequence' THEN s.sequence_id ELSE s.rep_id END AS key,
           coalesce(v.opened, false) AS opened, coalesce(v.clicked, false) AS clicked,
           coalesce(v.replied, false) AS replied
    FROM sent s LEFT JOIN seen v ON v.email_id = s.id
)
SELECT k.key,
       CASE $by
           WHEN 'template' THEN coalesce(t.name, CASE WHEN k.key IS NULL THEN 'written by hand'
                                                      ELSE 'template ' || k.key END)
           WHEN 'sequence' THEN coalesce(q.name, CASE WHEN k.key IS NULL THEN 'not in a sequence'
                                                      ELSE 'sequence ' || k.key END)
           ELSE coalesce(r.name, CASE WHEN k.key IS NULL THEN 'no rep' ELSE 'rep ' || k.key END)
       END AS label,
       count(*)::BIGINT AS sent,
       count(*) FILTER (WHERE k.opened)::BIGINT AS opened,
       count(*) FILTER (WHERE k.clicked)::BIGINT AS clicked,
       count(*) FILTER (WHERE k.replied)::BIGINT AS replied
FROM keyed k
LEFT JOIN email_templates t ON $by = 'template' AND t.id = k.key
LEFT JOIN sequences q ON $by = 'sequence' AND q.id = k.key
LEFT JOIN reps r ON $by = 'rep' AND r.id = k.key
GROUP BY ALL
ORDER BY sent DESC, label;

-- name: mail_outbox
-- The latest emails in scope, whatever their status, with their template and what happened to them.
SELECT e.id, e.queued_at, e.lead_id, l.merchant_name, l.contact_name, e.to_address AS email, e.subject,
       t.name AS template, e.enrollment_id, e.status, e.attempts, e.next_attempt_at, e.sent_at, e.last_error,
       e.message_id, e.queued_by, r.name AS rep,
       coalesce(bool_or(v.kind IN ('open', 'click')), false) AS opened,
       coalesce(bool_or(v.kind = 'click'), false) AS clicked,
       coalesce(bool_or(v.kind = 'reply'), false) AS replied
FROM emails e
JOIN leads l ON l.id = e.lead_id
LEFT JOIN reps r ON r.id = e.rep_id
LEFT JOIN email_templates t ON t.id = e.template_id
LEFT JOIN email_events v ON v.email_id = e.id
WHERE ($scope_all OR list_contains($scope_reps, l.owner_id))  -- the lead's owner: not who sent it, once the lead moved
  AND (len($statuses) = 0 OR list_contains($statuses, e.status))
GROUP BY ALL
ORDER BY e.id DESC
LIMIT $limit;
