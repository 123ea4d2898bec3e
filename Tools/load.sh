#!/usr/bin/env bash
# The load run of `cmpc-video serve` (issue 19): 40 jobs of data/sample.mp4 from 8 concurrent clients.
#
#   bash Tools/load.sh [BINARY] [-- SERVE OPTIONS…]
#   bash Tools/load.sh .build/release/cmpc-video -- --workers 2 --queue 8 --ttl 20
#
# Starts `BINARY serve --port 0` with the options after `--` (default: --queue 8 --ttl 20), reads its
# VmRSS (/proc/PID/status) before any job, samples it every 0.2 s during the run, and has CLIENTS clients
# (default 8) submit JOBS jobs in all (default 40): each client submits, follows its job to a terminal
# status, fetches masks.json and hashes it (sha256), then submits its next. A 429 counts as refused
# (not retried). Afterwards it waits past the TTL (the TTL read from /v1/info, then until every job
# answers 404/410, at most 30 s more) and reads the RSS again. It prints JSON lines like `cmpc-video bench`'s rows:
#   {"case": "serve-load", "round": 1, "jobs": 40, "clients": 8, "done": …, "refused_429": …, "failed": …,
#    "seconds": …, "p50": …, "p95": …, "identical": true, "same_as_segment": true, "rss_before_mib": …,
#    "rss_peak_mib": …, "rss_after_mib": …, …}
# (latencies in seconds, from submit to the terminal status seen by the client). Exit 1 when a job failed,
# a masks.json differs from the others, or a job outlives its TTL; 64 on a usage error.
# Each client follows its job on the job's server-sent events (one curl a job, so the clients take little
# of the server's CPU), polling GET /v1/jobs/{id} only if the stream ends before a terminal status.
# ROUNDS=N runs it all N times on the same server, a row a round: an RSS that climbs from round to round
# is a leak; one that stays at round 1's level is memory the allocator keeps.
# Environment: JOBS, CLIENTS, ROUNDS (default 1), CLIP, SENTENCE, POLL (seconds between status polls
# when polling, default 0.5), JOB_TIMEOUT (seconds a job may take, default 600), TOKEN (passed to the
# server as --token and sent by every request as a Bearer header).
# Sends traffic to the server it started on 127.0.0.1 only. Not run in CI (minutes long).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BINARY="$ROOT/.build/release/cmpc-video"
if [ $# -gt 0 ] && [ "$1" != "--" ]; then BINARY="$1"; shift; fi
SERVE_OPTIONS=(--queue 8 --ttl 20)
if [ $# -gt 0 ]; then
    if [ "$1" != "--" ]; then
        echo "load.sh: unexpected argument '$1': usage: bash Tools/load.sh [BINARY] [-- SERVE OPTIONS…]" >&2
        exit 64
    fi
    shift
    SERVE_OPTIONS=("$@")
fi
JOBS="${JOBS:-40}"
CLIENTS="${CLIENTS:-8}"
CLIP="${CLIP:-$ROOT/data/sample.mp4}"
SENTENCE="${SENTENCE:-the red square jumping}"
POLL="${POLL:-0.5}"
ROUNDS="${ROUNDS:-1}"
JOB_TIMEOUT="${JOB_TIMEOUT:-600}"
TOKEN="${TOKEN:-}"
AUTH=()
SHOWN_OPTIONS="${SERVE_OPTIONS[*]}"  # the row never shows the token
if [ -n "$TOKEN" ]; then
    SHOWN_OPTIONS="$SHOWN_OPTIONS --token (TOKEN)"
    SERVE_OPTIONS+=(--token "$TOKEN")
    AUTH=(-H "Authorization: Bearer $TOKEN")
fi

for tool in curl python3 sha256sum; do
    command -v "$tool" >/dev/null || { echo "load.sh: $tool is not installed (apt-get install $tool)" >&2; exit 64; }
done
[ -x "$BINARY" ] || { echo "load.sh: no cmpc-video binary at $BINARY: build it (swift build -c release) or pass its path" >&2; exit 64; }
[ -f "$CLIP" ] || { echo "load.sh: no clip at $CLIP: set CLIP=PATH" >&2; exit 64; }
BINARY="$(cd "$(dirname "$BINARY")" && pwd)/$(basename "$BINARY")"
CLIP="$(cd "$(dirname "$CLIP")" && pwd)/$(basename "$CLIP")"
case "$JOBS.$CLIENTS.$ROUNDS.$JOB_TIMEOUT" in *[!0-9.]*|*..*|.*|*.)
    echo "load.sh: JOBS, CLIENTS, ROUNDS and JOB_TIMEOUT must be whole numbers" \
        "(got JOBS=$JOBS CLIENTS=$CLIENTS ROUNDS=$ROUNDS JOB_TIMEOUT=$JOB_TIMEOUT)" >&2
    exit 64;;
esac
[ "$CLIENTS" -ge 1 ] && [ "$ROUNDS" -ge 1 ] || { echo "load.sh: CLIENTS and ROUNDS must be at least 1" >&2; exit 64; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/cmpc-load.XXXXXX")"
SERVER_PID=""
SAMPLER_PID=""
cleanup() {
    [ -n "$SAMPLER_PID" ] && kill "$SAMPLER_PID" 2>/dev/null || true
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

# ---- the server ----------------------------------------------------------------------------------------
"$BINARY" serve --port 0 "${SERVE_OPTIONS[@]}" >"$WORK/serve.out" 2>"$WORK/serve.err" &
SERVER_PID=$!
URL=""
for _ in $(seq 1200); do
    URL="$(sed -n 's|^cmpc-video: serving on \(http://[^ ]*\)$|\1|p' "$WORK/serve.out" | head -1)"
    [ -n "$URL" ] && break
    kill -0 "$SERVER_PID" 2>/dev/null || { echo "load.sh: the server exited before listening:" >&2; cat "$WORK/serve.err" >&2; exit 1; }
    sleep 0.1
done
[ -n "$URL" ] || { echo "load.sh: the server printed no 'serving on' line within 120 s" >&2; exit 1; }
URL="${URL%/}"
TTL="$(curl -sf "${AUTH[@]}" "$URL/v1/info" | python3 -c 'import json,sys; print(int(float(json.load(sys.stdin).get("ttl", 0))))')" || {
    echo "load.sh: GET $URL/v1/info failed (a server started with --token needs TOKEN=… in the environment)" >&2; exit 1; }
sleep 1  # let the freshly loaded model settle before the baseline
RSS_BEFORE="$(rss_kib "$SERVER_PID")"
echo "load.sh: server $URL (pid $SERVER_PID), RSS $((RSS_BEFORE / 1024)) MiB, ttl $TTL s; $JOBS jobs from $CLIENTS clients" >&2

( while kill -0 "$SERVER_PID" 2>/dev/null; do rss_kib "$SERVER_PID" >>"$WORK/rss.txt"; sleep 0.2; done ) &
SAMPLER_PID=$!

# ---- segment's masks.json for the same clip and sentence (run in the clip's folder, so `source` matches) --
# Informational (`same_as_segment`): serve options such as --checkpoint or --precision are not passed on.
SEGMENT_SHA="-"
if (cd "$(dirname "$CLIP")" && "$BINARY" segment "$(basename "$CLIP")" "$SENTENCE" --out "$WORK/segment") \
    >"$WORK/segment.log" 2>&1; then
    SEGMENT_SHA="$(sha256sum "$WORK/segment/masks.json" | cut -d' ' -f1)"
else
    echo "load.sh: segment failed on $CLIP (same_as_segment is null): $(tail -1 "$WORK/segment.log")" >&2
fi

# ---- the clients ---------------------------------------------------------------------------------------
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
json_field() { sed -n "s/.*\"$1\" *: *\"\([^\"]*\)\".*/\1/p" "$2" | head -1; }

# One job: prints `INDEX OUTCOME SECONDS SHA256 ID` (OUTCOME: done, 429, cancelled or failed:<why>).
run_job() {
    local index="$1" dir="$WORK/job-$1" code id status="" start end sha="" deadline
    mkdir -p "$dir"
    start="$(now)"
    code="$(curl -s "${AUTH[@]}" -o "$dir/submit.json" -w '%{http_code}' \
        -F "file=@$CLIP" -F "text=$SENTENCE" "$URL/v1/jobs")" || code="000"
    if [ "$code" = "429" ]; then
        echo "$index 429 $(elapsed "$start" "$(now)") - -"
        rm -rf "$dir"
        return
    fi
    id="$(json_field id "$dir/submit.json")"
    if [ "$code" != "202" ] || [ -z "$id" ]; then
        echo "$index failed:submit-http-$code $(elapsed "$start" "$(now)") - -"
        cp "$dir/submit.json" "$WORK/failure-$index.json" 2>/dev/null || true
        return
    fi
    # The event stream ends after the terminal status; then one GET reads it (polling if it is not terminal).
    curl -sN "${AUTH[@]}" --max-time "$JOB_TIMEOUT" -o "$dir/events.txt" "$URL/v1/jobs/$id/events" || true
    end="$(now)"
    deadline=$(( $(date +%s) + JOB_TIMEOUT ))
    while :; do
        code="$(curl -s "${AUTH[@]}" -o "$dir/status.json" -w '%{http_code}' "$URL/v1/jobs/$id")" || code="000"
        if [ "$code" != "200" ]; then status="failed:status-http-$code"; break; fi
        status="$(json_field status "$dir/status.json")"
        case "$status" in done|failed|cancelled) break;; esac
        if [ "$(date +%s)" -ge "$deadline" ]; then status="failed:timeout-while-$status"; break; fi
        sleep "$POLL"
        end="$(now)"
    done
    if [ "$status" = "done" ]; then
        code="$(curl -s "${AUTH[@]}" -o "$dir/masks.json" -w '%{http_code}' "$URL/v1/jobs/$id/masks.json")" || code="000"
        if [ "$code" = "200" ]; then
            sha="$(sha256sum "$dir/masks.json" | cut -d' ' -f1)"
        else
            status="failed:masks-http-$code"
        fi
    fi
    [ "$status" = "done" ] || cp "$dir/status.json" "$WORK/failure-$index.json" 2>/dev/null || true
    echo "$index ${status//[[:space:]]/_} $(elapsed "$start" "$end") ${sha:--} $id"
    rm -rf "$dir"
}

client() {
    local c="$1" first="$2" i
    for ((i = c; i < JOBS; i += CLIENTS)); do run_job "$((first + i))"; done
}

# How many jobs of a round's results file do not answer 404/410 (expired) yet.
count_left() {
    local left=0 code id
    while read -r _ _ _ _ id; do
        [ "$id" = "-" ] && continue
        code="$(curl -s "${AUTH[@]}" -o /dev/null -w '%{http_code}' "$URL/v1/jobs/$id")" || code="000"
        case "$code" in 404|410) ;; *) left=$((left + 1));; esac
    done <"$1"
    echo "$left"
}

STATUS=0
for ((round = 1; round <= ROUNDS; round++)); do
    : >"$WORK/rss.txt"  # the sampler appends: this round's samples only
    T0="$(now)"
    CLIENT_PIDS=()
    for ((c = 0; c < CLIENTS; c++)); do
        client "$c" "$(( (round - 1) * JOBS ))" >"$WORK/client-$c.txt" &
        CLIENT_PIDS+=($!)
    done
    wait "${CLIENT_PIDS[@]}"
    T1="$(now)"
    RESULTS="$WORK/results-$round.txt"
    cat "$WORK"/client-*.txt >"$RESULTS"
    RSS_PEAK="$( (cat "$WORK/rss.txt"; echo "$RSS_BEFORE") | sort -n | tail -1)"
    RSS_DONE="$(rss_kib "$SERVER_PID")"

    # Every job must be gone (404/410) within TTL + 30 s of the round's end; then the RSS is read.
    echo "load.sh: round $round: all jobs ended after $(elapsed "$T0" "$T1") s; waiting ${TTL} s or more for them to expire" >&2
    sleep "$TTL"
    LEFT="$(count_left "$RESULTS")"
    for _ in $(seq 30); do
        [ "$LEFT" -eq 0 ] && break
        sleep 1
        LEFT="$(count_left "$RESULTS")"
    done
    sleep 2  # let the freed memory settle
    RSS_AFTER="$(rss_kib "$SERVER_PID")"

    python3 - "$RESULTS" "$JOBS" "$CLIENTS" "$T0" "$T1" "$RSS_BEFORE" "$RSS_PEAK" "$RSS_DONE" "$RSS_AFTER" \
        "$LEFT" "$TTL" "$SHOWN_OPTIONS" "$round" "$WORK/first-sha256" "$SEGMENT_SHA" <<'EOF' || STATUS=1
import json, os, sys
path, jobs, clients, t0, t1, before, peak, done_rss, after, left, ttl, options, rnd, first_path, segment = sys.argv[1:]
rows = [line.split() for line in open(path) if line.strip()]
done = [r for r in rows if r[1] == "done"]
refused = [r for r in rows if r[1] == "429"]
failed = [r for r in rows if r[1] not in ("done", "429")]
latencies = sorted(float(r[2]) for r in done)


def percentile(values, p):
    """Linear interpolation between the closest ranks (numpy's default)."""
    if not values:
        return None
    k = (len(values) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return round(values[lo] + (values[hi] - values[lo]) * (k - lo), 3)


hashes = sorted({r[3] for r in done})
if hashes and not os.path.exists(first_path):
    with open(first_path, "w") as f:
        f.write(hashes[0])
first = open(first_path).read() if os.path.exists(first_path) else None
identical = len(hashes) <= 1 and (not hashes or hashes[0] == first)
mib = lambda kib: round(int(kib or 0) / 1024, 1)
row = {
    "case": "serve-load", "round": int(rnd), "jobs": int(jobs), "clients": int(clients), "serve_options": options,
    "done": len(done), "refused_429": len(refused), "failed": len(failed), "missing": int(jobs) - len(rows),
    "seconds": round(float(t1) - float(t0), 3),
    "p50": percentile(latencies, 50), "p95": percentile(latencies, 95),
    "max": round(latencies[-1], 3) if latencies else None,
    "identical": identical, "masks_sha256": hashes[0] if len(hashes) == 1 else hashes,
    "same_as_segment": (hashes == [segment]) if segment != "-" else None,
    "rss_before_mib": mib(before), "rss_peak_mib": mib(peak), "rss_done_mib": mib(done_rss),
    "rss_after_mib": mib(after), "ttl": int(ttl), "left_after_ttl": int(left),
}
print(json.dumps(row), flush=True)
for r in failed:
    print(json.dumps({"case": "serve-load-failure", "round": int(rnd), "job": int(r[0]), "outcome": r[1]}), flush=True)
ok = not failed and row["missing"] == 0 and identical and int(left) == 0 and done
sys.exit(0 if ok else 1)
EOF
    RSS_BEFORE="$RSS_AFTER"
done
kill "$SAMPLER_PID" 2>/dev/null || true
SAMPLER_PID=""

if [ "$STATUS" -ne 0 ]; then
    for f in "$WORK"/failure-*.json; do [ -f "$f" ] && echo "load.sh: $(basename "$f"): $(head -c 400 "$f")" >&2; done
    echo "load.sh: FAILED (a job failed, results differ, a job outlived its TTL, or none was done); server log:" >&2
    tail -20 "$WORK/serve.err" >&2
fi
exit "$STATUS"
