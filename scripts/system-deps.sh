#!/usr/bin/env bash
# Installs the Debian packages Sagaboard needs, when they are missing.
#   scripts/system-deps.sh run    what `make run` needs (graphviz)
#   scripts/system-deps.sh test   what `make test` needs too (chromium, PostgreSQL, Redis, openssl, Node.js)
set -euo pipefail
purpose="${1:-run}"

missing=()
command -v dot >/dev/null 2>&1 || missing+=(graphviz)
if [ "$purpose" = test ]; then
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
  command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
  command -v openssl >/dev/null 2>&1 || missing+=(openssl)  # certificates for a TLS Redis
fi
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)

[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "Sagaboard needs these Debian packages: ${missing[*]}" >&2
  echo "Install them with: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "Installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
