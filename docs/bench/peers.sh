#!/usr/bin/env bash
# qctl beside asynq, River and a raw go-beanstalk loop, alternating, in one run (the README's peer
# table). Needs: peerbench built at $PB (see ../shared/peerbench/README.md, including its `bench`
# PostgreSQL role and database), a qctl binary at $QCTL, and bench.toml from the README (sqlite,
# postgres, redis and beanstalkd connections) in the current directory, migrated.
set -u
PB=${PB:-/tmp/peerbench/bin/peerbench}
QCTL=${QCTL:-/tmp/qctl}
Q="$QCTL --config bench.toml"
log() { echo "$(date +%T) load=$(cut -d' ' -f1 /proc/loadavg) $*" >> results.txt; }
pb() { local out; out=$($PB "$@" 2>>pb.err | tail -1); log "peer $* => $out"; }
qb() { local out; out=$($Q bench "$@" --json 2>>qb.err | tail -1); log "qctl $* => $out"; }
RIVER_TUNED="-system river -variant tuned -river-fetch-cooldown 1ms -river-fetch-poll 50ms"
for rep in 1 2; do
  # Latency: 2,000 jobs at 500 jobs/s, concurrency 10.
  $PB -system asynq -mode reset >/dev/null 2>&1; pb -system asynq -mode latency -n 2000 -c 10 -rate 500 -max 30s
  qb redis --mode latency --jobs 2000 --rate 500 --concurrency 10 --payload-bytes 128
  $PB -system river -mode reset >/dev/null 2>&1; pb $RIVER_TUNED -mode latency -n 2000 -c 10 -rate 500 -max 30s
  qb postgres --mode latency --jobs 2000 --rate 500 --concurrency 10 --payload-bytes 128
  qb sqlite --mode latency --jobs 2000 --rate 500 --concurrency 10 --payload-bytes 128
  $PB -system beanstalk -mode reset >/dev/null 2>&1; pb -system beanstalk -mode latency -n 2000 -c 10 -rate 500 -max 30s
  qb beanstalkd --mode latency --jobs 2000 --rate 500 --concurrency 10 --payload-bytes 128
  # Drain: 30,000 jobs pushed first.
  for c in 1 10 50; do
    $PB -system asynq -mode reset >/dev/null 2>&1; $PB -system asynq -mode fill -n 30000 -c 10 -max 300s >/dev/null 2>&1
    pb -system asynq -mode drain -n 30000 -c $c -max 60s
    qb redis --mode drain --jobs 30000 --concurrency $c --payload-bytes 128
  done
  for c in 10 50; do
    for variant in "-system river" "$RIVER_TUNED"; do
      $PB -system river -mode reset >/dev/null 2>&1; $PB -system river -mode fill -n 30000 -batch 1000 -c 1 -max 300s >/dev/null 2>&1
      pb $variant -mode drain -n 30000 -c $c -max 60s
      qb postgres --mode drain --jobs 30000 --concurrency $c --payload-bytes 128
    done
  done
  for c in 1 10; do qb sqlite --mode drain --jobs 30000 --concurrency $c --payload-bytes 128; done
  $PB -system beanstalk -mode reset >/dev/null 2>&1; $PB -system beanstalk -mode fill -n 30000 -c 10 -max 300s >/dev/null 2>&1
  pb -system beanstalk -mode drain -n 30000 -c 10 -max 60s
  qb beanstalkd --mode drain --jobs 30000 --concurrency 10 --tries 0 --payload-bytes 128
done
