#!/bin/sh
# Entry point of the Flash Sale image: the first argument names the process (default: web).
set -e
command="${1:-web}"
[ "$#" -gt 0 ] && shift
case "$command" in
  web) exec node /app/.output/server/index.mjs "$@" ;;
  worker) exec node /app/.output/worker/index.mjs "$@" ;;
  migrate|seed|audit) exec node /app/.output/worker/cli.mjs "$command" "$@" ;;
  *) exec "$command" "$@" ;;
esac
