# Client connections in use against max_connections, as key=value lines: used, max, used_pct.
# Reads pg_stat_activity and a setting only. Connects over TCP as postgres to 127.0.0.1:5432;
# edit -h, -p and -U for your server (a role with pg_monitor is enough; a password comes from
# ~/.pgpass of the inspection account, never from this file).
PGCONNECT_TIMEOUT=5 psql -X -q -At -F '=' -h 127.0.0.1 -p 5432 -U postgres -d postgres -c "
WITH c AS (
    SELECT count(*) FILTER (WHERE backend_type = 'client backend') AS used,
           current_setting('max_connections')::int AS max
    FROM pg_stat_activity
)
SELECT 'used', used::text FROM c
UNION ALL SELECT 'max', max::text FROM c
UNION ALL SELECT 'used_pct', round(100.0 * used / max, 1)::text FROM c"
