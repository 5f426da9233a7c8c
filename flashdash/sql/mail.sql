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
