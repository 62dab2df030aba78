# One line per database: size in GB (3 decimals), then the name (last, so names with spaces
# survive the table parser). Same connection settings as connections.sh.
# pg_database_size(oid) is NULL for a database dropped meanwhile: such rows are left out.
PGCONNECT_TIMEOUT=5 psql -X -q -At -F ' ' -h 127.0.0.1 -p 5432 -U postgres -d postgres -c "
SELECT round(bytes / 1073741824.0, 3), datname
FROM (SELECT datname, pg_database_size(oid) AS bytes
      FROM pg_database WHERE datallowconn AND NOT datistemplate) AS d
WHERE bytes IS NOT NULL
ORDER BY datname"
