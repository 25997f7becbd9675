-- Sessions cut with another gap than this run's must all be recut, even when no new request arrived.
select exists (
    select 1
    from logs.sessions
    where gap_minutes <> $session_gap_minutes
)
