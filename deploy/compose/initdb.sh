#!/usr/bin/env bash
# PostgreSQL init script for deploy/compose.yaml, run once by the official
# postgres image's entrypoint (mounted into /docker-entrypoint-initdb.d) on an
# empty data directory: one login role and one database per Fieldwork service,
# each role owning only its own database.
#
#   fieldwork_visits / fieldwork_workflows / fieldwork_scoring / fieldwork_notifications
#
# Passwords come from FIELDWORK_<SERVICE>_DB_PASSWORD (deploy/compose.env). To
# change them later, `docker compose down -v` (drops the data) or ALTER ROLE.
# Works whether the entrypoint executes it or sources it (no `set -u`).
set -eo pipefail

for service in visits workflows scoring notifications; do
  upper=$(printf '%s' "$service" | tr '[:lower:]' '[:upper:]')
  variable="FIELDWORK_${upper}_DB_PASSWORD"
  password="${!variable:-}"
  if [ -z "$password" ]; then
    echo "initdb.sh: $variable is not set (see deploy/compose.env.example)" >&2
    exit 1
  fi
  # psql variables (:"name" quotes an identifier, :'password' a literal), so a
  # password cannot break out of the statement.
  psql -v ON_ERROR_STOP=1 --no-psqlrc \
    --username "${POSTGRES_USER:-postgres}" --dbname "${POSTGRES_DB:-postgres}" \
    --set=name="fieldwork_$service" --set=password="$password" <<'SQL'
CREATE ROLE :"name" LOGIN PASSWORD :'password';
CREATE DATABASE :"name" OWNER :"name";
REVOKE ALL ON DATABASE :"name" FROM PUBLIC;
SQL
  echo "initdb.sh: role and database fieldwork_$service created"
done
