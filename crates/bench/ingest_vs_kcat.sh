#!/usr/bin/env bash
# Ingest benchmark: how fast pipelab's pipeline reads a topic (and writes it to the
# lake) compared with kcat reading the same topic from the same embedded broker, in
# the same run. Prints the ratio and writes bench-results/ingest_vs_kcat.json.
#
# usage: crates/bench/ingest_vs_kcat.sh [EVENTS]     (default 1000000)
# needs: a release build (cargo build --release -p pipelab-cli), kcat, and
#        confluent-kafka from pip (its librdkafka; Debian kcat's own is too old).
set -euo pipefail
cd "$(dirname "$0")/../.."
events=${1:-1000000}
target=${CARGO_TARGET_DIR:-target}
pipelab=${PIPELAB:-$target/release/pipelab}
work=$(mktemp -d)
trap 'kill $stack_pid 2>/dev/null || true; rm -rf "$work"' EXIT

# kcat with a current librdkafka (the one in the confluent-kafka wheel).
lib=$(python3 -c 'import confluent_kafka,glob,os; print(glob.glob(os.path.dirname(confluent_kafka.__file__)+".libs/librdkafka*")[0])')
mkdir -p "$work/lib" && ln -s "$lib" "$work/lib/librdkafka.so.1"
kcat() { LD_LIBRARY_PATH="$work/lib" command kcat "$@"; }

"$pipelab" devstack --dir "$work/stack" --kafka-port 0 --s3-port 0 --topic bench:4 > "$work/devstack.out" &
stack_pid=$!
for _ in $(seq 100); do grep -q "running until" "$work/devstack.out" 2>/dev/null && break; sleep 0.2; done
eval "$(grep '^export ' "$work/devstack.out")"

echo "producing $events events"
"$pipelab" gen --brokers "$PIPELAB_BROKERS" --topic bench --events "$events"

now() { date +%s.%N; }
t0=$(now)
# Both consumers use the embedded broker's consumer setting (devstack's
# KAFKA_CONSUMER_OVERRIDES: a short fetch.wait.max.ms, see its docs).
read_by_kcat=$(kcat -C -b "$PIPELAB_BROKERS" -X fetch.wait.max.ms=20 -t bench -o beginning -e -q | wc -l)
t1=$(now)

cat > "$work/bench.toml" <<SPEC
name = "bench"
[source]
brokers = "$PIPELAB_BROKERS"
topic = "bench"
[source.options]
"fetch.wait.max.ms" = "20"
[[steps]]
name = "event_date"
sql = "SELECT *, substr(ts, 1, 10) AS dt FROM input"
[sink]
location = "$PIPELAB_LAKE"
table = "bench"
partition_by = ["dt"]
flush_rows = 250000
SPEC
t2=$(now)
"$pipelab" run --quiet --until-idle "$work/bench.toml"
t3=$(now)

python3 - "$events" "$read_by_kcat" "$t0" "$t1" "$t2" "$t3" <<'PY'
import json, os, sys, platform
events, kcat_n, t0, t1, t2, t3 = int(sys.argv[1]), int(sys.argv[2]), *map(float, sys.argv[3:])
kcat_rate = kcat_n / (t1 - t0)
pipelab_rate = events / (t3 - t2)
result = {
    "benchmark": "ingest_vs_kcat", "events": events, "cores": os.cpu_count(),
    "kcat": {"records": kcat_n, "seconds": round(t1 - t0, 2), "records_per_s": round(kcat_rate)},
    "pipelab_run": {"records": events, "seconds": round(t3 - t2, 2), "records_per_s": round(pipelab_rate),
                    "includes": "consume + JSON decode + SQL step + Parquet/Delta commits to the embedded S3"},
    "ratio_pipelab_to_kcat": round(pipelab_rate / kcat_rate, 3),
}
os.makedirs("bench-results", exist_ok=True)
with open("bench-results/ingest_vs_kcat.json", "w") as f:
    json.dump(result, f, indent=2)
print(f"kcat read     {kcat_n:>9} records in {t1-t0:6.1f} s: {kcat_rate:>9.0f}/s")
print(f"pipelab run   {events:>9} records in {t3-t2:6.1f} s: {pipelab_rate:>9.0f}/s (to the lake)")
print(f"ratio pipelab/kcat: {pipelab_rate / kcat_rate:.2f}  (written to bench-results/ingest_vs_kcat.json)")
PY
