#!/bin/sh
# audit3 (#13): a file sink with a name template and take_over: true
# overwrites rotatord's own credential file when someone creates a key
# whose name renders to it. validate only compares literal sink paths
# with the credential file; nothing checks a rendered target at run time.
# Then a restart signs with the ci-role key, _self adopts "cred-default"
# as its own name, and the admin key (rotatord-admin) is live and held by
# nobody.
# Usage: B=/tmp/audit3-bin sh credential-overwritten-by-templated-sink.sh
set -e
B=${B:-/tmp/audit3-bin}
W=$(mktemp -d); cd "$W"; umask 077
cat > seed.yml <<'S'
roles:
  - {id: 11111111-1111-4111-8111-111111111111, name: admin}
  - {id: 22222222-2222-4222-8222-222222222222, name: ci}
admin: {key: EXOaaaaaaaaaaaaaaaaaaaaaaaa, secret: admin-secret}
keys:
  - {name: cred-default, role: ci}
S
$B/exosim -seed seed.yml -listen 127.0.0.1:19599 >sim.log 2>&1 & SIM=$!
trap 'kill $SIM' EXIT
sleep 1
printf '{"api_key":"EXOaaaaaaaaaaaaaaaaaaaaaaaa","api_secret":"admin-secret"}' > cred-default.json
cat > p.yml <<'P'
exoscale:
  endpoint: http://127.0.0.1:19599/v2
  credential_file: cred-default.json
  own_key: {max_age: 30d}
state_dir: st
policies:
  - name: creds
    match: {name: "cred-*"}
    adopt: rotate
    sinks: [{type: file, path: "{{.Name}}.json", take_over: true}]
P
$B/rotatord validate p.yml
$B/rotatord once --config.file p.yml 2>/dev/null
echo "--- credential file now:"; cat cred-default.json; echo
$B/rotatord once --config.file p.yml 2>/dev/null
echo "--- live keys:"; curl -s 127.0.0.1:19599/_sim/keys | tr '{' '\n' | grep '"alive":true' | cut -c1-80
grep -q '"api_key": "EXOaaaa' cred-default.json || echo "DEFECT: rotatord's credential file was overwritten by a sink"
