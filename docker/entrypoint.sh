#!/bin/sh
# The container's entry point (installed as /usr/local/bin/searchsvc-entrypoint).
#
#   serve [OPTIONS]   the default: index SEARCHSVC_SOURCES into SEARCHSVC_INDEX_DIR, then exec `searchsvc serve`
#   anything else     exec'd as given, e.g. `searchsvc index /docs`, `searchsvc serve` (no indexing), `sh`
#
# Indexing is an ordinary `searchsvc index` run: unchanged documents are skipped, so a start without changes
# costs a scan of the sources; --prune drops documents whose files were deleted from those sources (and only
# from them: documents indexed from elsewhere are kept). `exec` replaces this shell, so the server is PID 1
# and docker stop's SIGTERM reaches gunicorn, which shuts down gracefully and exits 0.
set -eu

if [ "${1-}" != "serve" ]; then
    exec "$@"
fi
shift

status=0
searchsvc index --prune || status=$?
case "$status" in
    0) ;;
    1) echo "entrypoint: some documents could not be indexed (listed above); serving the others" >&2 ;;
    *)
        echo "entrypoint: indexing ${SEARCHSVC_SOURCES-} into ${SEARCHSVC_INDEX_DIR-} failed (exit $status)," \
            "so the server is not started. Is every source folder mounted, and is the index directory" \
            "writable by uid $(id -u)? (A host folder mounted at /data needs: chown -R $(id -u):$(id -g) DIR)" >&2
        exit "$status"
        ;;
esac

exec searchsvc serve "$@"
