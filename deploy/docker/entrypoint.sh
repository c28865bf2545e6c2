#!/bin/sh
# Entry point of the Flash Sale image: the first argument names the process.
set -e
case "${1:-web}" in
  web) shift 2>/dev/null || true; exec node /app/.output/server/index.mjs "$@" ;;
  worker) shift; exec node /app/.output/worker/index.mjs "$@" ;;
  migrate) shift; exec node /app/.output/worker/migrate.mjs "$@" ;;
  seed) shift; exec node /app/.output/worker/seed.mjs "$@" ;;
  audit) shift; exec node /app/.output/worker/audit.mjs "$@" ;;
  *) exec "$@" ;;
esac
