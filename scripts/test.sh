#!/usr/bin/env bash
# The project's test command (npm test). On a fresh machine, run as root, it
# installs the system packages the end-to-end tests need, builds, and runs
# every test. Extra arguments go to vitest.
set -euo pipefail
cd "$(dirname "$0")/.."

need_pkgs=()
command -v turnserver >/dev/null 2>&1 || need_pkgs+=(coturn)
command -v nft >/dev/null 2>&1 || need_pkgs+=(nftables)
command -v redis-server >/dev/null 2>&1 || need_pkgs+=(redis-server)
command -v stund >/dev/null 2>&1 || need_pkgs+=(stun-server)
command -v ip >/dev/null 2>&1 || need_pkgs+=(iproute2)
command -v openssl >/dev/null 2>&1 || need_pkgs+=(openssl)
command -v sysctl >/dev/null 2>&1 || need_pkgs+=(procps)
command -v miniupnpd >/dev/null 2>&1 || need_pkgs+=(miniupnpd)
command -v janus >/dev/null 2>&1 || need_pkgs+=(janus)
command -v chromium >/dev/null 2>&1 || need_pkgs+=(chromium)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing: ${need_pkgs[*]}" >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >&2
  else
    echo "missing ${need_pkgs[*]}: system tests will be skipped (run as root to install)" >&2
  fi
fi
# Debian starts coturn, redis and janus as services on install; the tests run their own.
for svc in coturn redis-server janus; do
  if command -v systemctl >/dev/null 2>&1; then systemctl stop "$svc" >/dev/null 2>&1 || true; fi
done

if [ ! -d node_modules ]; then npm ci --no-audit --no-fund; fi
npm run build --silent
# The tests are TypeScript too: a type error in them (or in src/ as they use it) fails the run.
npx tsc --noEmit -p tsconfig.test.json
# The pion/turn test server (a second TURN implementation), built offline from Debian's Go sources.
if [ ! -x test/pion-turn/bin/pion-turn ]; then bash test/pion-turn/build.sh || echo "pion-turn could not be built: its tests will be skipped" >&2; fi
exec npx vitest run "$@"
