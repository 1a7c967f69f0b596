#!/usr/bin/env bash
# Drain 400 jobs of 0.1 s (exec `sleep 0.1`) on queue a, none on b, under qctl supervise with
# max_processes = 4: balance auto vs simple vs off. Prints the drain time and the scaling lines.
Q=${QCTL:-/tmp/qctl}
cd "$(mktemp -d)"
for mode in auto simple off; do
  rm -rf d && mkdir d && cd d
  cat > queue.toml <<EOT
[connections.database]
driver = "database"
dsn = "qctl.db"

[handlers."Nap"]
command = ["sleep", "0.1"]

[supervisors.web]
queues = ["a", "b"]
balance = "$mode"
min_processes = 1
max_processes = 4
balance_max_shift = 1
balance_cooldown = 1
auto_scaling_strategy = "size"
sleep = 1
EOT
  $Q migrate >/dev/null 2>&1
  for i in $(seq 400); do echo '{"n":1}'; done > jobs.ndjson
  $Q push Nap --queue a --file jobs.ndjson >/dev/null 2>&1 || { for i in $(seq 400); do $Q push Nap '{"n":1}' --queue a >/dev/null; done; }
  start=$(date +%s.%N)
  $Q supervise > sup.log 2>&1 &
  pid=$!
  while :; do
    n=$($Q status --json 2>/dev/null | python3 -c "import sys,json; d=json.load(sys.stdin); print(sum(q.get('ready',0)+q.get('reserved',0) for c in (d if isinstance(d,list) else d.get('connections',[d])) for q in c.get('queues',[])))" 2>/dev/null)
    [ "$n" = "0" ] && break
    sleep 0.2
  done
  end=$(date +%s.%N)
  drained=$(python3 -c "print(round($end-$start,1))")
  sleep 4
  kill -TERM $pid; wait $pid
  echo "$mode: drained 400 x 0.1 s jobs in ${drained}s"
  grep -E "scaled|Supervisor \[" sup.log | head -12
  cd ..
done
