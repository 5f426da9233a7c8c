"""The scheduler process (python -m jobs): APScheduler jobs that refresh what the dashboard shows."""
