#!/bin/sh
# Ship finished sessions from the recordings directory to object storage, then remove them here.
#
#   ship-recordings.sh [RECORDINGS_DIR [DESTINATION]]
#
# RECORDINGS_DIR  default $RECORDINGS_DIR, else /data/recordings (the server's --recordings-dir)
# DESTINATION     an rclone path, default $SHIP_DESTINATION: "s3:my-bucket/audiohook", "gcs:bucket/prefix",
#                 "azureblob:container/prefix", or a plain directory. Configure the remote with rclone's
#                 environment variables (RCLONE_CONFIG_S3_TYPE=s3, RCLONE_CONFIG_S3_PROVIDER=AWS,
#                 RCLONE_CONFIG_S3_ENV_AUTH=true, ...) or an rclone.conf; any rclone flag can be given as
#                 RCLONE_<FLAG> too.
#
# A session's files are <stem>.csv, <stem>.wav, <stem>.session.json and <stem>.summary.json. The session
# is finished when its CSV exists, its journal <stem>.journal.jsonl does not (the server holds the
# journal while the call is live; one left by a killed server becomes a CSV when a server starts on the
# directory again), and none of its files changed in the last SHIP_MIN_AGE_S seconds (default 120).
# They go to DESTINATION/YYYY-MM-DD/ (UTC day of the CSV), the CSV last, so that a run that is cut
# short leaves the CSV behind and the next run ships the rest.
# Needs POSIX sh, stat -c, date -d @EPOCH (GNU or BusyBox) and rclone. Exit status: 0, or 1 if a move
# failed (what failed is retried on the next run).
set -eu

dir=${1:-${RECORDINGS_DIR:-/data/recordings}}
dest=${2:-${SHIP_DESTINATION:-}}
min_age=${SHIP_MIN_AGE_S:-120}
if [ -z "$dest" ]; then
    echo "ship-recordings: set SHIP_DESTINATION (an rclone path like s3:bucket/prefix) or pass it" >&2
    exit 2
fi
if [ ! -d "$dir" ]; then
    echo "ship-recordings: no directory $dir" >&2
    exit 2
fi

now=$(date +%s)
shipped=0
skipped=0
failed=0
for csv in "$dir"/*.csv; do
    [ -e "$csv" ] || continue
    case ${csv##*/} in
    calls.csv | calls.v*.csv) continue ;; # the call log (one row per call), not a session: it stays
    esac
    stem=${csv%.csv}
    if [ -e "$stem.journal.jsonl" ]; then
        skipped=$((skipped + 1))
        continue
    fi
    young=0
    for f in "$stem.wav" "$stem.session.json" "$stem.summary.json" "$csv"; do
        if [ -e "$f" ] && [ $((now - $(stat -c %Y "$f"))) -lt "$min_age" ]; then
            young=1
        fi
    done
    if [ "$young" = 1 ]; then
        skipped=$((skipped + 1))
        continue
    fi
    day=$(date -u -d "@$(stat -c %Y "$csv")" +%Y-%m-%d)
    ok=1
    for f in "$stem.wav" "$stem.session.json" "$stem.summary.json" "$csv"; do
        [ -e "$f" ] || continue
        if ! rclone moveto "$f" "$dest/$day/${f##*/}"; then
            echo "ship-recordings: could not move $f" >&2
            ok=0
            break
        fi
    done
    if [ "$ok" = 1 ]; then
        shipped=$((shipped + 1))
    else
        failed=$((failed + 1))
    fi
done
echo "ship-recordings: shipped $shipped session(s) to $dest, left $skipped live or recent, $failed failed"
[ "$failed" = 0 ]
