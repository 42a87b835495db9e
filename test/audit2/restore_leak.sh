#!/bin/sh
# audit2 reproducer: a key rotatord created (create answer lost, applied late)
# lives on forever, held by no sink, after the state directory is restored
# from a copy taken before the rotation's intent, when the name's sinks were
# never written. rotatord then waits for an operator ("not rotating: the name
# already has two live keys ...") instead of deleting the key it made; the
# README's campaign section says such a key "can show as a third one until the
# next pass deletes it". The project's own campaign hits this:
#   go run ./test/chaos -cycles 40 -seed 913   -> outages=2 leaks=3 (bk-11, app-25)
# Usage: BIN=/tmp/audit2-bin sh test/audit2/restore_leak.sh  (exit 1 = defect shown)
set -eu
BIN=${BIN:-/tmp/audit2-bin}
W=$(mktemp -d /var/tmp/a2restore.XXXXXX)
trap 'kill $SIM 2>/dev/null || true' EXIT
cat > $W/seed.yml <<'S'
roles:
  - {id: 11111111-1111-4111-8111-111111111111, name: admin}
  - {id: 22222222-2222-4222-8222-222222222222, name: ci}
keys:
  - {name: bk-1, role: ci}
admin: {key: EXOaaaaaaaaaaaaaaaaaaaaaaaa, secret: admin-secret}
S
$BIN/exosim -seed $W/seed.yml -listen 127.0.0.1:0 -info-file $W/info.json >$W/sim.log 2>&1 &
SIM=$!
sleep 1
URL=$(python3 -c "import json;print(json.load(open('$W/info.json'))['url'])")
mkdir -m 700 $W/state
cat > $W/p.yml <<P
exoscale:
  endpoint: $URL/v2
  api_key: EXOaaaaaaaaaaaaaaaaaaaaaaaa
  api_secret: admin-secret
  timeout: 2s
state_dir: $W/state
policies:
  - name: bk
    match: {name: bk-*}
    adopt: rotate
    grace_period: 2s
    sinks:
      - type: file
        path: "$W/out/{{.Name}}.json"
P
$BIN/rotatord validate --file-only $W/p.yml
# 1. first pass: the sink directory is missing, the rotation fails at the
#    probe; the record now knows the seeded key. Back the state up.
$BIN/rotatord once --config.file $W/p.yml >/dev/null 2>&1 || true
cp -a $W/state $W/state-backup
# 2. the sink is fixed; the next create is applied 3 s late and its answer lost
mkdir -m 755 $W/out
curl -sf -XPUT $URL/_sim/faults -d '{"create-api-key":{"lose_response_next":1,"late_apply":"3s","late_apply_next":1}}' >/dev/null
$BIN/rotatord once --config.file $W/p.yml >/dev/null 2>&1 || true
sleep 4
# 3. the state directory is restored from the copy (after the create applied)
rm -rf $W/state && cp -a $W/state-backup $W/state
# 4. passes well past the settle time
for i in 1 2 3 4; do $BIN/rotatord once --force --config.file $W/p.yml >$W/once.$i 2>>$W/once.log || true; sleep 1; done
cat $W/once.4; grep -h 'not rotating' $W/once.log | tail -1 | cut -c1-400
curl -s $URL/_sim/keys | python3 -c '
import json,sys,glob
keys=[k for k in json.load(sys.stdin) if k["name"]=="bk-1" and k["alive"]]
held=set()
for f in glob.glob(sys.argv[1]+"/out/*.json"):
    held.add(json.load(open(f))["api_key"])
print("live keys of bk-1:", [k["key"] for k in keys], "held by sinks:", sorted(held))
bad = len(keys) > 1 or not held
print("DEFECT: a live key nobody holds and no key delivered" if bad else "ok")
sys.exit(1 if bad else 0)
' $W
