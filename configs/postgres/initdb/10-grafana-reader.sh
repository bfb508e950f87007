#!/bin/sh
# Run once by the postgres image when it initializes an empty data
# directory (compose.yaml mounts this directory at
# /docker-entrypoint-initdb.d). It creates the role Grafana's ledger
# datasource logs in as: it may read every table and view of the ledger,
# including those arbd's migrations create later, and write nothing.
#
# Environment (compose.yaml): POSTGRES_USER and POSTGRES_DB (the ledger's
# owner and database, arbd migrates as that user), GRAFANA_PG_USER and
# GRAFANA_PG_PASSWORD (the reader). Tested by cmd/internal/monitoring
# (TestGrafanaReaderRole) against a real PostgreSQL.
set -eu
psql -v ON_ERROR_STOP=1 \
  -v reader="$GRAFANA_PG_USER" -v pw="$GRAFANA_PG_PASSWORD" \
  -v owner="$POSTGRES_USER" -v db="$POSTGRES_DB" \
  --no-psqlrc --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<'SQL'
CREATE ROLE :"reader" LOGIN PASSWORD :'pw';
ALTER ROLE :"reader" SET default_transaction_read_only = on;
GRANT CONNECT ON DATABASE :"db" TO :"reader";
GRANT USAGE ON SCHEMA public TO :"reader";
GRANT SELECT ON ALL TABLES IN SCHEMA public TO :"reader";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public GRANT SELECT ON TABLES TO :"reader";
SQL
