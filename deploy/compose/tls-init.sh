#!/usr/bin/env bash
# One-shot step of deploy/compose.yaml (runs in the postgres:16 image, which has
# openssl, as root): a throwaway CA and a server certificate for the compose
# PostgreSQL, valid for the host name `postgres`.
#
# Why: the services require TLS to any non-loopback PostgreSQL and verify the
# server certificate and host name against the system trust store
# (Shared/FieldworkRuntime/Database.swift). The trust-init step then appends
# this CA to the image's CA bundle in the `trust` volume, which the services
# mount over /etc/ssl/certs.
#
# Idempotent: an existing certificate in the volume is kept. The CA key is
# deleted once the server certificate is signed; `docker compose down -v`
# starts over.
set -euo pipefail

tls=${TLS_DIR:-/tls}
trust=${TRUST_DIR:-/trust}

if [ ! -s "$tls/server.crt" ]; then
  umask 077
  work=$(mktemp -d)
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 825 \
    -subj "/CN=Fieldwork compose PostgreSQL CA" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout "$work/ca.key" -out "$tls/ca.crt"
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -subj "/CN=postgres" -keyout "$tls/server.key" -out "$work/server.csr"
  cat > "$work/server.ext" <<'EXT'
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:postgres,DNS:localhost
EXT
  openssl x509 -req -in "$work/server.csr" -CA "$tls/ca.crt" -CAkey "$work/ca.key" \
    -CAcreateserial -CAserial "$work/ca.srl" -days 825 -extfile "$work/server.ext" \
    -out "$tls/server.crt"
  rm -rf "$work"
  echo "tls-init: issued a server certificate for 'postgres'"
fi

# PostgreSQL (uid 999 in the official image) insists on owning a 0600 key.
chown 999:999 "$tls/server.key"
chmod 600 "$tls/server.key"
chmod 644 "$tls/ca.crt" "$tls/server.crt"
# trust-init runs as the image's user 10001 and writes the CA bundle here.
chown 10001:10001 "$trust"
