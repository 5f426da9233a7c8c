-- The scheduler's record of its runs (job_runs) and what it asks the store before running a job.

-- name: job_run_start
-- A run as it starts: status 'running' until job_run_finish closes it, so a crash leaves a trace.
INSERT INTO job_runs (id, job, started_at, status)
VALUES (nextval('job_runs_id_seq'), $job, $started_at, 'running')
RETURNING id;

-- name: job_run_finish
UPDATE job_runs
SET finished_at = $finished_at, status = $status, rows_written = $rows_written, error = $error
WHERE id = $id;

-- name: job_run_by_id
SELECT id, job, started_at, finished_at, status, rows_written, error FROM job_runs WHERE id = $id;

-- name: job_last_runs
-- The latest run of each job.
SELECT job, started_at, finished_at, status, rows_written, error
FROM job_runs
QUALIFY row_number() OVER (PARTITION BY job ORDER BY id DESC) = 1
ORDER BY job;

-- name: job_model_card_count
SELECT count(*) FROM model_cards WHERE model = $model;
