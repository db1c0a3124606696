#!/usr/bin/env bash
# Stand up Meta's HMA 2.0 (OpenMediaMatch) and `moderation` side by side with the same bank of PDQ
# hashes, for benchmarks/side_by_side.py (issue 18). Every step is a plain command; nothing of HMA is
# copied into this repository: HMA runs from a ThreatExchange checkout in its own folder ($HMA_DIR),
# virtualenv and PostgreSQL database.
#
#   benchmarks/hma_setup.sh setup-hma          # HMA: code, venv, database, bank, index (once)
#   benchmarks/hma_setup.sh setup-moderation   # moderation: SQLite data dir, same bank, checker key (once)
#   benchmarks/hma_setup.sh start-hma | stop-hma | start-moderation | stop-moderation | verify
#   benchmarks/hma_setup.sh measure [side_by_side.py options]   # 3 alternating runs of 30 s by default
#
# Settings (environment): HMA_DIR (/work/hma), THREATEXCHANGE (a clone of facebook/ThreatExchange, bare
# or not; /work/.mirror/facebook+ThreatExchange/repo), HMA_DB (hma), PG (psql connection options,
# "-h 127.0.0.1 -U postgres"; trust authentication), HMA_PORT (5100), MOD_DATA (/tmp/sbs-mod),
# MOD_PORT (8000), MOD_PYTHON (the moderation virtualenv's python; .venv/bin/python), BANK_SIZE
# (1000000). Run from the repository root.
#
# The HMA setup follows its README and Dockerfile: `pip install .[prod]` (gunicorn), an OMM_CONFIG file,
# `scripts/db-migrate.sh` (flask db upgrade), gunicorn with jemalloc preloaded, here with 2 sync workers
# and OMP_NUM_THREADS=1. Its package is not installed by pip (`py-modules = []`; the image copies src/
# to /app), so every HMA command runs with PYTHONPATH=$HMA_DIR/hasher-matcher-actioner/src.
#
# Loading the bank. HMA has no bulk-import endpoint: its API adds one content item per request
# (`POST /c/bank/<bank>/signal`, one commit each; 29 hashes/s measured here under load, some 10 hours for
# 1M), and its exchange fetch reads a whole file into one transaction. So the bank is loaded by SQL
# into HMA's own tables, writing the rows that `POST /c/bank/<bank>/signal` writes (a `bank_content` row
# enabled from the start, a `content_signal` row of type pdq), in one transaction (~45 s for 1M), and
# the index is then built by HMA's own CLI (`flask build_indices`, ~2 min for 1M), which stores it in
# PostgreSQL; each gunicorn worker loads it at start and polls for a newer one every 30 s.
set -euo pipefail

HMA_DIR=${HMA_DIR:-/work/hma}
THREATEXCHANGE=${THREATEXCHANGE:-/work/.mirror/facebook+ThreatExchange/repo}
HMA_DB=${HMA_DB:-hma}
PG=${PG:--h 127.0.0.1 -U postgres}
HMA_PORT=${HMA_PORT:-5100}
MOD_DATA=${MOD_DATA:-/tmp/sbs-mod}
MOD_PORT=${MOD_PORT:-8000}
MOD_PYTHON=${MOD_PYTHON:-.venv/bin/python}
BANK_SIZE=${BANK_SIZE:-1000000}
BANK_FILE=${BANK_FILE:-$HMA_DIR/bank-$BANK_SIZE.txt}
HMA_SRC=$HMA_DIR/hasher-matcher-actioner/src

hma_env() {
    export PYTHONPATH=$HMA_SRC OMM_CONFIG=$HMA_DIR/omm_config.py OMP_NUM_THREADS=1
}

mod_env() {
    export PYTHONPATH=$PWD MODERATION_DATA_DIR=$MOD_DATA MODERATION_ENV=development \
        MODERATION_CLASSIFIER_ENABLED=false MODERATION_LOG_LEVEL=WARNING
}

bank_file() {
    [ -s "$BANK_FILE" ] || PYTHONPATH=$PWD "$MOD_PYTHON" benchmarks/side_by_side.py \
        --make-bank "$BANK_FILE" --bank-size "$BANK_SIZE"
}

setup_hma() {
    mkdir -p "$HMA_DIR"
    # 1. HMA's code, from a ThreatExchange clone (a bare mirror here; in a normal clone use
    #    `cp -r ThreatExchange/hasher-matcher-actioner $HMA_DIR/`).
    if [ ! -d "$HMA_DIR/hasher-matcher-actioner" ]; then
        git --git-dir="$THREATEXCHANGE" archive HEAD hasher-matcher-actioner | tar -x -C "$HMA_DIR"
    fi
    git --git-dir="$THREATEXCHANGE" log -1 --format='ThreatExchange %H %cd' >"$HMA_DIR/VERSION"
    # 2. Its own virtualenv (Python >= 3.11). psycopg2 builds against libpq (apt-get install -y
    #    libpq-dev) or use psycopg2-binary.
    [ -x "$HMA_DIR/venv/bin/python" ] || python3.11 -m venv "$HMA_DIR/venv"
    "$HMA_DIR/venv/bin/pip" install -q "$HMA_DIR/hasher-matcher-actioner[prod]" psycopg2-binary
    # 3. Its configuration: one instance with the hasher, matcher and curator roles; background fetcher
    #    and indexer off (the index is built once below; HMA warns against them in several gunicorn
    #    workers); the matcher's index cache on.
    cat >"$HMA_DIR/omm_config.py" <<EOF
# HMA 2.0 configuration for benchmarks/side_by_side.py (written by benchmarks/hma_setup.sh).
from threatexchange.content_type.photo import PhotoContent
from threatexchange.content_type.video import VideoContent
from threatexchange.signal_type.md5 import VideoMD5Signal
from threatexchange.signal_type.pdq.signal import PdqSignal

from OpenMediaMatch.storage.postgres.impl import DefaultOMMStore

DATABASE_URI = "postgresql+psycopg2://postgres@127.0.0.1:5432/$HMA_DB"
PRODUCTION = True
ROLE_HASHER = True
ROLE_MATCHER = True
ROLE_CURATOR = True
UI_ENABLED = False
TASK_FETCHER = False
TASK_INDEXER = False
TASK_INDEX_CACHE = True
STORAGE_IFACE_INSTANCE = DefaultOMMStore(
    signal_types=[PdqSignal, VideoMD5Signal],
    content_types=[PhotoContent, VideoContent],
    exchange_types=[],
)
EOF
    # 4. Its database and schema (what scripts/db-migrate.sh runs).
    # shellcheck disable=SC2086
    psql $PG -d postgres -Atc "SELECT 1 FROM pg_database WHERE datname = '$HMA_DB'" | grep -q 1 ||
        createdb $PG "$HMA_DB"
    (
        hma_env
        cd "$HMA_SRC"
        MIGRATION_COMMAND=1 "$HMA_DIR/venv/bin/flask" --app OpenMediaMatch.app db upgrade \
            --directory OpenMediaMatch/migrations
    )
    # 5. The bank: the same file as moderation's, into bank SBS_BENCH, in one transaction.
    bank_file
    # shellcheck disable=SC2086
    psql $PG -d "$HMA_DB" -v ON_ERROR_STOP=1 -v bank_file="$BANK_FILE" <<'EOF'
BEGIN;
INSERT INTO bank (name, enabled_ratio) VALUES ('SBS_BENCH', 1.0);
CREATE TEMP TABLE sbs_hashes (n bigserial, signal_val text) ON COMMIT DROP;
\set copy_cmd '\\copy sbs_hashes (signal_val) FROM ' :'bank_file'
:copy_cmd
CREATE TEMP TABLE sbs_base ON COMMIT DROP AS SELECT coalesce(max(id), 0) AS base FROM bank_content;
INSERT INTO bank_content (id, bank_id, disable_until_ts)
  SELECT base + n, (SELECT id FROM bank WHERE name = 'SBS_BENCH'), 1 FROM sbs_hashes, sbs_base;
INSERT INTO content_signal (content_id, signal_type, signal_val)
  SELECT base + n, 'pdq', lower(signal_val) FROM sbs_hashes, sbs_base;
SELECT setval('bank_content_id_seq', (SELECT max(id) FROM bank_content));
COMMIT;
SELECT count(*) AS pdq_signals FROM content_signal WHERE signal_type = 'pdq';
EOF
    # 6. The index, by HMA's own builder (stored in PostgreSQL as a large object).
    (
        hma_env
        "$HMA_DIR/venv/bin/flask" --app OpenMediaMatch.app build_indices 2>&1 | grep -i "pdq" || true
    )
    # shellcheck disable=SC2086
    psql $PG -d "$HMA_DB" -c "SELECT signal_type, signal_count, updated_at FROM signal_index"
}

start_hma() {
    hma_env
    cd "$HMA_SRC"
    LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2 "$HMA_DIR/venv/bin/gunicorn" \
        --bind "127.0.0.1:$HMA_PORT" --workers 2 --worker-class sync \
        --daemon --pid "$HMA_DIR/gunicorn.pid" --error-logfile "$HMA_DIR/gunicorn.log" \
        "OpenMediaMatch.app:create_app()"
    # /status is 200 once the worker that answers has loaded the index (503 before): wait for 10 in a
    # row, so that both workers have (each loads the index from PostgreSQL on its own).
    local ok=0
    for _ in $(seq 1 300); do
        if [ "$(curl -s -o /dev/null -w '%{http_code}' "127.0.0.1:$HMA_PORT/status")" = 200 ]; then
            ok=$((ok + 1))
            [ $ok -ge 10 ] && break
        else
            ok=0
            sleep 1
        fi
    done
    echo "HMA on 127.0.0.1:$HMA_PORT, gunicorn master pid $(cat "$HMA_DIR/gunicorn.pid")"
}

stop_pid() { # stop_pid FILE NAME WORD: SIGTERM (a graceful stop of the server and its workers), then
    # wait; only if the pid's command line holds WORD (a pid file left behind may name another process).
    local pid
    pid=$(cat "$1" 2>/dev/null) || return 0
    { tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null | grep -q -- "$3" || {
        echo "$2 not running"
        return 0
    }
    kill -TERM "$pid" 2>/dev/null || return 0
    for _ in $(seq 1 60); do
        kill -0 "$pid" 2>/dev/null || {
            echo "$2 stopped"
            return 0
        }
        sleep 0.5
    done
    echo "$2 (pid $pid) still running after 30 s" >&2
    return 1
}

stop_hma() {
    stop_pid "$HMA_DIR/gunicorn.pid" HMA gunicorn
}

setup_moderation() {
    mod_env
    mkdir -p "$MOD_DATA"
    bank_file
    local moderation=("$MOD_PYTHON" -m moderation)
    "${moderation[@]}" db upgrade
    "${moderation[@]}" bank create sbs --action block
    "${moderation[@]}" bank import sbs "$BANK_FILE" --format pdq-hex --no-progress
    "${moderation[@]}" apikey create sbs --role checker >"$MOD_DATA/checker.key"
    # The index snapshot the workers map (shared pages) instead of each loading the bank from the database.
    "${moderation[@]}" worker --job matching.snapshot_index
}

start_moderation() {
    mod_env
    setsid "$MOD_PYTHON" -m moderation serve --workers 2 --port "$MOD_PORT" \
        >"$MOD_DATA/serve.log" 2>&1 </dev/null &
    echo $! >"$MOD_DATA/serve.pid"
    for _ in $(seq 1 120); do
        curl -s "127.0.0.1:$MOD_PORT/readyz" | grep -q '"match_index":{"state":"ready"' && break
        sleep 1
    done
    echo "moderation on 127.0.0.1:$MOD_PORT, supervisor pid $(cat "$MOD_DATA/serve.pid")"
}

stop_moderation() {
    stop_pid "$MOD_DATA/serve.pid" moderation "moderation serve"
}

measure() {
    PYTHONPATH=$PWD "$MOD_PYTHON" benchmarks/side_by_side.py \
        --key "$(cat "$MOD_DATA/checker.key")" --bank-file "$BANK_FILE" \
        --moderation "http://127.0.0.1:$MOD_PORT" --moderation-pid "$(cat "$MOD_DATA/serve.pid")" \
        --hma "http://127.0.0.1:$HMA_PORT" --hma-pid "$(cat "$HMA_DIR/gunicorn.pid")" --hma-db "$HMA_DB" \
        --workload match,check --duration 30 --runs 3 --connections 4 --threads 1 "$@"
}

case "${1:-}" in
setup-hma) setup_hma ;;
setup-moderation) setup_moderation ;;
start-hma) start_hma ;;
stop-hma) stop_hma ;;
start-moderation) start_moderation ;;
stop-moderation) stop_moderation ;;
verify) measure --duration 1 --runs 1 --workload match,check ;;
measure)
    shift
    measure "$@"
    ;;
*)
    sed -n '2,12p' "$0"
    exit 2
    ;;
esac
