-- The scheduler's record of its runs (job_runs), what it asks the store before running a job, and how
-- fresh the figures its jobs derive are.

-- name: job_run_start
-- A run as it starts: status 'running' until job_run_finish closes it, so a crash leaves a trace.
INSERT INTO job_runs (id, job, started_at, status, trigger, requested_by, pid)
VALUES (nextval('job_runs_id_seq'), $job, $started_at, 'running', $trigger, $requested_by, $pid)
RETURNING id;

-- name: job_run_finish
UPDATE job_runs
SET finished_at = $finished_at, status = $status, rows_written = $rows_written, error = $error
WHERE id = $id;

-- name: job_runs_running
-- Runs still marked running: each is checked against its process before a new run starts.
SELECT id, job, started_at, pid FROM job_runs WHERE status = 'running' ORDER BY id;

-- name: job_run_interrupt
UPDATE job_runs SET status = 'interrupted', finished_at = $finished_at, error = $error
WHERE id = $id AND status = 'running';

-- name: job_run_by_id
SELECT id, job, started_at, finished_at, status, rows_written, error, trigger, requested_by, pid
FROM job_runs WHERE id = $id;

-- name: job_last_runs
-- The latest run of each job, its latest successful one, and how many runs failed since that.
WITH ok AS (
    SELECT job, max(id) AS last_ok_id, max(started_at) AS last_ok_at FROM job_runs WHERE status = 'ok' GROUP BY job
),
bad AS (
    SELECT r.job, count(*) AS failures_since_ok
    FROM job_runs r LEFT JOIN ok USING (job)
    WHERE r.status IN ('failed', 'interrupted') AND r.id > coalesce(ok.last_ok_id, 0)
    GROUP BY r.job
)
SELECT r.job, r.started_at, r.finished_at, r.status, r.rows_written, r.error, r.trigger, r.requested_by,
       ok.last_ok_at, coalesce(bad.failures_since_ok, 0) AS failures_since_ok
FROM job_runs r LEFT JOIN ok USING (job) LEFT JOIN bad USING (job)
QUALIFY row_number() OVER (PARTITION BY r.job ORDER BY r.id DESC) = 1
ORDER BY r.job;

-- name: job_runs_history
-- Recent runs, newest first, optionally of one job and one status ('' for any).
SELECT id, job, status, started_at, finished_at,
       date_diff('millisecond', started_at, finished_at) / 1000.0 AS seconds,
       rows_written, trigger, requested_by, error
FROM job_runs
WHERE ($job = '' OR job = $job) AND ($status = '' OR status = $status)
ORDER BY id DESC
LIMIT $limit;

-- name: job_model_card_count
SELECT count(*) FROM model_cards WHERE model = $model;

-- name: job_lead_scores_count
SELECT count(*) FROM lead_scores;

-- name: fresh_lead_scores
SELECT max(scored_at) FROM lead_scores;

-- name: fresh_conversion_model
SELECT max(trained_at) FROM model_cards WHERE model = 'conversion';

-- name: fresh_statistics
SELECT max(started_at) FROM job_runs WHERE job = 'refresh_aggregates' AND status = 'ok';

-- name: fresh_latest_card_id
SELECT max(id) FROM model_cards WHERE model = 'conversion';

-- name: fresh_scored_card_id
SELECT max(card_id) FROM lead_scores;
