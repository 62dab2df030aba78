# Transactions open for more than 5 minutes, as key=value lines: long_transactions (how many),
# longest_seconds (0 when none) and pids (oldest first, for the DBA). Query texts are not
# printed: they may hold data. Same connection settings as connections.sh.
PGCONNECT_TIMEOUT=5 psql -X -q -At -F '=' -h 127.0.0.1 -p 5432 -U postgres -d postgres -c "
WITH t AS (
    SELECT pid, extract(epoch FROM now() - xact_start)::bigint AS seconds
    FROM pg_stat_activity
    WHERE backend_type = 'client backend' AND xact_start < now() - interval '5 minutes'
)
SELECT 'long_transactions', count(*)::text FROM t
UNION ALL SELECT 'longest_seconds', coalesce(max(seconds), 0)::text FROM t
UNION ALL SELECT 'pids', coalesce(string_agg(pid::text, ',' ORDER BY seconds DESC), '') FROM t"
