#!/usr/bin/env bash
# tests/fleet/run.sh [N]: the Ansible collection deploy/ansible (dockpki.fleet) against N daemon
# hosts and one client host on this machine (tests/fleet/hosts.sh: one mount namespace, sshd and
# dockerd per host, addresses 127.0.2.x), the controller's CA state in a scratch directory.
#
#   0. site.yml with a restart command that restarts nothing fails at h1's gate, naming h1 and the
#      probe's error, before any other daemon is touched, and leaves h1's restart owed.
#   1. site.yml (the same playbook, the real restart command) resumes and sets up every host.
#      Every daemon then accepts the operations client
#      (`dockpki probe`), and no file on the controller holds any host's private key.
#   2. site.yml again changes nothing (PLAY RECAP changed=0 for every host).
#   3. rotate.yml rotates the CA while a client loop (the client host's own layout) calls
#      `docker version` on every daemon every ~0.5 s. No request fails for a TLS reason, none for
#      another reason, and every refused connection falls inside a restart of that daemon
#      (logged by the restart command). Afterwards a copy of the operations client taken before
#      the rotation (an old-CA client) is refused by every daemon, and the updated clients are
#      accepted.
#   4. rotate.yml again changes nothing.
#   5. renew.yml renews the due certificates: every daemon then serves a new certificate.
#   6. renew.yml again changes nothing.
#   7. Nothing the test started is left running.
# The last line is one summary line (hosts, requests, ok, refused, tls, other, longest gap,
# duration). Needs root; installs ansible-core, openssh-server (hosts.sh) and faketime from
# Debian when they are missing.
#
# The clocks: site.yml runs the controller's dockpki 90 days in the past and rotate.yml 40 days
# in the past (libfaketime, on the controller only; hosts and clients keep the real clock), and
# renew.yml the real clock. A certificate (or CA) in the first third of its lifetime is never due
# (docs/renewal.md), so nothing else makes one due without waiting:
#   - the CA (120d, made at -90d) is 50 days old at -40d, past its first third and expiring
#     within dockpki_ca_rotate_within (1y): rotate.yml begins. The new CA (10y) is never due
#     within 1y, so the second rotate.yml changes nothing;
#   - the certificates site.yml signs (100d, ending at +10d) are valid today; those the rotation
#     re-issues at -40d (100d, ending at +60d) are 40 days old today, past their first third and
#     expiring within dockpki_renew_within (90d): renew.yml renews them, for 1y, so its second
#     run finds nothing due.
# Environment: DOCKPKI_BIN (default: build the debug binary with cargo), FLEET_KEEP=1 keeps the
# work directory.
set -euo pipefail

N=${1:-3}
case $N in '' | *[!0-9]* | 0) echo "usage: tests/fleet/run.sh [N >= 1]" >&2; exit 2 ;; esac
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
if [ "$(id -u)" != 0 ]; then
  echo "tests/fleet/run.sh: needs root (mount namespaces, sshd, dockerd): run it as root" >&2
  exit 1
fi
# shellcheck source-path=SCRIPTDIR source=hosts.sh
source "$here/hosts.sh"

t0=$SECONDS
say() { printf 'fleet run: %s\n' "$*" >&2; }
fail() {
  printf 'fleet run: FAILED: %s\n' "$*" >&2
  exit 1
}

fleet_require_tools
libfaketime=/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1
if [ ! -e "$libfaketime" ]; then
  say "installing faketime from Debian (apt-get)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q faketime >/dev/null ||
    { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q faketime >/dev/null; } ||
    fail "apt-get install -y faketime failed: run it by hand to see why"
  libfaketime=$(dpkg -L libfaketime | grep '/libfaketime\.so\.1$' | head -n 1)
  [ -e "$libfaketime" ] || fail "libfaketime.so.1 not found after installing faketime"
fi

if [ -n "${DOCKPKI_BIN:-}" ]; then
  bin=$DOCKPKI_BIN
else
  say "building dockpki (cargo build -p dockpki-cli)"
  (cd "$repo" && cargo build -q -p dockpki-cli) || fail "cargo build -p dockpki-cli failed"
  bin=${CARGO_TARGET_DIR:-$repo/target}/debug/dockpki
fi
[ -x "$bin" ] || fail "no dockpki binary at $bin (set DOCKPKI_BIN)"
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")

work=$(mktemp -d /tmp/dockpki-fleet.XXXXXX)
# close_ssh_masters: ends Ansible's SSH connection masters (WORK/cp) through their own control
# sockets, which also ends their sessions on the hosts.
close_ssh_masters() {
  local s
  for s in "$work"/cp/*; do
    if [ -S "$s" ]; then ssh -o ControlPath="$s" -O exit fleet-host >/dev/null 2>&1 || true; fi
  done
}
down=
trap '[ -n "$down" ] || { close_ssh_masters; fleet_down; }' EXIT
fleet_init "$work" "${FLEET_NET:-127.0.2.}"
fleet_ansible_env
# One SSH connection per host for a whole playbook (a new one per task costs a key exchange
# each): masters in WORK/cp, closed by close_ssh_masters (fleet_down stops any left).
export ANSIBLE_SSH_ARGS="-o ControlMaster=auto -o ControlPersist=300s"
export ANSIBLE_PIPELINING=True ANSIBLE_FORKS=10 ANSIBLE_COLLECTIONS_PATH="$work/collections"
export ANSIBLE_LOCAL_TEMP="$work/ansible-tmp" ANSIBLE_DISPLAY_SKIPPED_HOSTS=False

# The collection, installed as a user would (this also checks galaxy.yml).
ansible-galaxy collection install -p "$work/collections" "$repo/deploy/ansible" >"$work/galaxy.log" 2>&1 ||
  { cat "$work/galaxy.log" >&2; fail "ansible-galaxy collection install deploy/ansible failed"; }

# The module in check mode, on the controller alone: daemon-config runs with --dry-run and says
# the file would change (the diff shown) without writing it; a command that writes is skipped,
# not reported unchanged, and writes nothing.
check_dir="$work/check-mode"
mkdir -p "$check_dir"
"$bin" --state "$check_dir/ca" -q bootstrap --san localhost --daemon-dir "$check_dir/pki" \
  --client-dir "$check_dir/client" --name check || fail "dockpki bootstrap for the check-mode play failed"
printf '{"debug": true}\n' >"$check_dir/daemon.json"
cat >"$check_dir/check.yml" <<EOF
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - dockpki.fleet.dockpki:
        bin: $bin
        argv: [daemon-config, --file, $check_dir/daemon.json, --daemon-dir, $check_dir/pki]
      register: dc
    - dockpki.fleet.dockpki:
        bin: $bin
        state_dir: $check_dir/state
        argv: [ca, init]
      register: ci
    - dockpki.fleet.dockpki:
        bin: $bin
        state_dir: $check_dir/ca
        changed: never
        argv: [renew, --all]
      register: rn
    - dockpki.fleet.dockpki:
        bin: $bin
        state_dir: $check_dir/ca
        changed: never
        ok_rcs: [0, 3]
        argv: [status]
      register: st
    - ansible.builtin.assert:
        that:
          - dc is changed and dc.json.dry_run and dc.json.changed
          - ci is skipped and ci is not changed
          - rn is skipped
          - st is not skipped and st.json.certificates | length == 2
EOF
ansible-playbook -i localhost, --check --diff "$check_dir/check.yml" >"$work/check-mode.log" 2>&1 ||
  { cat "$work/check-mode.log" >&2; fail "the module in check mode: see the playbook's output above"; }
[ "$(cat "$check_dir/daemon.json")" = '{"debug": true}' ] ||
  fail "the module in check mode changed $check_dir/daemon.json"
[ ! -e "$check_dir/state" ] || fail "the module in check mode ran ca init ($check_dir/state exists)"
grep -q '^+.*tlsverify' "$work/check-mode.log" ||
  fail "the module in check mode showed no diff of daemon.json (see $work/check-mode.log)"
find "$check_dir" -type f -newer "$check_dir/check.yml" >"$work/check-mode.written"
[ ! -s "$work/check-mode.written" ] ||
  fail "check mode wrote files: $(head -n 3 "$work/check-mode.written")"
if ansible-playbook -i localhost, --check dockpki.fleet.renew >"$work/check-mode-renew.log" 2>&1; then
  fail "renew.yml ran in check mode instead of refusing it"
fi
grep -q "cannot be rehearsed with --check" "$work/check-mode-renew.log" ||
  { tail -n 20 "$work/check-mode-renew.log" >&2; fail "renew.yml in check mode did not say why it stops"; }
say "check mode: daemon-config dry-run with its diff, status run, ca init and renew skipped, nothing written; renew.yml refuses it"

# The hosts.
hosts=() addrs=()
for ((i = 1; i <= N; i++)); do
  hosts+=("h$i")
  addrs+=("$(fleet_addr "$i")")
  fleet_host_up "h$i" "$(fleet_addr "$i")" daemon
done
client=c1
fleet_host_up "$client" "$(fleet_addr $((N + 1)))" client
say "$N daemon hosts and 1 client host up after $((SECONDS - t0)) s"
fleet_inventory "$work/inventory.ini"

# Each restart goes through a wrapper that logs when it began and ended (epoch ms), so that the
# loop's refused requests can be matched with the restarts of their daemon.
for ((i = 1; i <= N; i++)); do
  hd=$(fleet_hostdir "h$i")
  cat >"$hd/restart-logged" <<EOF
#!/bin/bash
# dockpki_restart_command of fleet host h$i (written by tests/fleet/run.sh): restart-docker,
# with its start and end logged in $work/restarts.log.
b=\${EPOCHREALTIME/./}
"$hd/restart-docker"; rc=\$?
e=\${EPOCHREALTIME/./}
printf '%s\t%s\t%s\t%s\n' "${addrs[i - 1]}" "\${b:0:-3}" "\${e:0:-3}" "\$rc" >>"$work/restarts.log"
exit \$rc
EOF
  chmod 0755 "$hd/restart-logged"
done
: >"$work/restarts.log"

# The controller's dockpki in the past (see the header): WORK/dockpki-past-90d, -40d.
for d in 90 40; do
  cat >"$work/dockpki-past-${d}d" <<EOF
#!/bin/sh
# The controller's dockpki $d days in the past (tests/fleet/run.sh).
FAKETIME=-${d}d FAKETIME_DONT_FAKE_MONOTONIC=1 LD_PRELOAD=$libfaketime exec "$bin" "\$@"
EOF
  chmod 0755 "$work/dockpki-past-${d}d"
done

ctl=$work/controller
state=$ctl/state
ops=$ctl/fleet/ops-client
cat >"$work/vars.yml" <<EOF
# Extra variables of the fleet test (tests/fleet/run.sh): every path a real fleet keeps in /etc,
# /var/lib or ~ goes to the host's own directory, since the hosts share this machine's disk.
dockpki_become: false
dockpki_binary_src: $bin
dockpki_bin: "{{ fleet_hostdir }}/bin/dockpki"
dockpki_state_dir: $state
dockpki_controller_dir: $ctl/fleet
dockpki_host_dir: "{{ fleet_hostdir }}/dockpki"
dockpki_client_dir: "{{ fleet_hostdir }}/client"
dockpki_client_incoming_dir: "{{ fleet_hostdir }}/incoming"
dockpki_client_contexts: [{name: fleet-h1, host: "tcp://${addrs[0]}:2376"}]
dockpki_listen: ["tcp://{{ ansible_host }}:2376"]
dockpki_restart_command: "{{ fleet_hostdir }}/restart-logged"
dockpki_ca_validity: 120d
dockpki_server_validity: 100d
dockpki_client_validity: 100d
dockpki_ops_client_validity: 100d
dockpki_ca_rotate_within: 1y
dockpki_renew_within: 90d
dockpki_renew_validity: 1y
dockpki_probe_retries: 30
dockpki_probe_delay: 1
EOF

# play NAME BIN [ARGS...]: runs playbook NAME with the controller's dockpki BIN (and more
# ansible-playbook ARGS), its output in WORK/NAME.N.log (N counts the runs of NAME); prints its
# duration; fails with the log's tail.
declare -A runs=()
timings=()
play() {
  local name=$1 cbin=$2 n log s
  shift 2
  n=$((${runs[$name]:-0} + 1))
  runs[$name]=$n
  log=$work/$name.$n.log
  s=$SECONDS
  if ! ansible-playbook -i "$work/inventory.ini" -e "@$work/vars.yml" -e "dockpki_controller_bin=$cbin" \
    "$@" "dockpki.fleet.$name" >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    fail "$name.yml (run $n) failed; the whole output is in $log (FLEET_KEEP=1 keeps it)"
  fi
  timings+=("$name#$n $((SECONDS - s))s")
  say "$name.yml run $n: $((SECONDS - s)) s"
  LAST_LOG=$log
}
# recap_unchanged LOG: every PLAY RECAP line of LOG says changed=0 (and failed=0).
recap_unchanged() {
  local bad
  bad=$(awk '/^PLAY RECAP/ { r = 1; next } r && / : ok=/ && (!/ changed=0 / || !/ failed=0 /)' "$1")
  [ -z "$bad" ] || { printf '%s\n' "$bad" >&2; return 1; }
  grep -q '^PLAY RECAP' "$1"
}
# probe ADDR CLIENT_DIR: dockpki probe's exit code, its JSON in $work/probe.json.
probe() {
  local rc=0
  "$bin" --json probe --host "tcp://$1:2376" --client-dir "$2" --timeout 5s >"$work/probe.json" 2>/dev/null || rc=$?
  return "$rc"
}
served_serial() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["certificate"]["serial"])' "$work/probe.json"; }
# served_by_each WHEN NAME: probes every daemon with the operations client, failing (the message
# begins with WHEN) when one refuses it, and records the serial each serves in the associative
# array NAME, by address.
# shellcheck disable=SC2034 # served is a name reference: the caller's array is what is written
served_by_each() {
  local -n served=$2
  local a
  for a in "${addrs[@]}"; do
    probe "$a" "$ops" || fail "$1, $a refuses the operations client: $(cat "$work/probe.json")"
    served["$a"]=$(served_serial)
  done
}

# 0. A gate that fails stops the run at its host, and the same playbook resumes after the fix:
# site.yml with a restart command that restarts nothing (h1's dockerd keeps listening on its
# unix socket only), then (1.) with the real one.
log=$work/site.gate.log
if ansible-playbook -i "$work/inventory.ini" -e "@$work/vars.yml" -e "dockpki_controller_bin=$work/dockpki-past-90d" \
  -e dockpki_restart_command=/bin/true -e dockpki_probe_retries=2 dockpki.fleet.site >"$log" 2>&1; then
  fail "site.yml passed although h1's dockerd was never restarted"
fi
grep -q "gate failed on h1 (tcp://${addrs[0]}:2376): dockpki probe says: connection refused.* run the same playbook again" "$log" ||
  { tail -n 20 "$log" >&2; fail "the failed gate's message does not name h1, the probe's error and what to do"; }
[ -e "$(fleet_hostdir h1)/dockpki/restart-pending" ] || fail "h1's restart-pending marker is gone after its gate failed"
if [ "$N" -gt 1 ]; then
  [ ! -e "$(fleet_hostdir h2)/etc-docker/daemon.json" ] || fail "the run went on to h2 after h1's gate failed"
fi
say "a failed gate stopped site.yml at h1 with the probe's error, its restart still owed"

# 1. site.yml (resumes: h1's restart is still owed)
play site "$work/dockpki-past-90d"
for a in "${addrs[@]}"; do
  probe "$a" "$ops" || fail "after site.yml, $a does not accept the operations client: $(cat "$work/probe.json")"
done
say "every daemon accepts the operations client"
keys=()
for h in "${hosts[@]}"; do keys+=("$(fleet_hostdir "$h")/etc-docker/pki/server-key.pem"); done
keys+=("$(fleet_hostdir "$client")/client/key.pem")
for k in "${keys[@]}"; do
  [ -s "$k" ] || fail "no key at $k after site.yml"
  rc=0
  found=$(grep -rlF --devices=skip --exclude-dir=hosts --exclude-dir=cp \
    -f <(grep -v -e "-----" "$k" | awk "length >= 40") "$work") || rc=$?
  [ "$rc" != 0 ] || fail "the controller or a playbook log holds (part of) the host key $k in: $found"
  [ "$rc" = 1 ] || fail "could not scan $work for the host key $k (grep exit $rc)"
done
say "no file outside the hosts (controller state, playbook logs, Ansible temp) holds any of the ${#keys[@]} host keys"

# 2. site.yml again
play site "$work/dockpki-past-90d"
recap_unchanged "$LAST_LOG" || fail "the second site.yml reported changes (above); see $LAST_LOG"
say "second site.yml: no changes"

# 3. rotate.yml under the client loop
cp -a "$ops" "$work/old-client"
declare -A before=()
served_by_each "before the rotation" before
: >"$work/restarts.log"
fleet_loop_start "$(fleet_hostdir "$client")/client" "$work/loop.out" "${addrs[@]}"
loop_t0=$SECONDS
play rotate "$work/dockpki-past-40d"
sleep 1
fleet_loop_stop
fleet_loop_report "$work/loop.out" >&2
restarts=$(wc -l <"$work/restarts.log")
[ "$restarts" -ge $((3 * N)) ] || fail "rotate.yml restarted daemons $restarts times, expected at least $((3 * N)) (3 per daemon)"
[ "$FLEET_TLS" = 0 ] || fail "$FLEET_TLS requests failed for a TLS reason during the rotation: $(awk -F '\t' '$3 == "tls"' "$work/loop.out" | head -n 3)"
[ "$FLEET_OTHER" = 0 ] || fail "$FLEET_OTHER requests failed for another reason during the rotation: $(awk -F '\t' '$3 == "other"' "$work/loop.out" | head -n 3)"
[ "$FLEET_OK" -gt 0 ] || fail "no request succeeded during the rotation"
# Every refusal lies within a restart of that daemon (from its start to 2 s after it returned).
outside=$(awk -F '\t' 'NR == FNR { n++; a[n] = $1; b[n] = $2; e[n] = $3 + 2000; next }
  $3 == "refused" { ok = 0; for (i = 1; i <= n; i++) if (a[i] == $2 && $1 >= b[i] && $1 <= e[i]) ok = 1; if (!ok) print }' \
  "$work/restarts.log" "$work/loop.out")
[ -z "$outside" ] || fail "refused requests outside any restart of their daemon: $(printf '%s\n' "$outside" | head -n 3)"
say "rotation: $FLEET_REQUESTS requests in $((SECONDS - loop_t0)) s, $FLEET_OK ok, $FLEET_REFUSED refused (all during their daemon's restart), 0 tls, 0 other; $restarts restarts"
for a in "${addrs[@]}"; do
  rc=0
  probe "$a" "$work/old-client" || rc=$?
  [ "$rc" = 4 ] || fail "after the rotation, $a did not refuse the old-CA client (probe exit $rc, expected 4): $(cat "$work/probe.json")"
  probe "$a" "$ops" || fail "after the rotation, $a refuses the operations client: $(cat "$work/probe.json")"
  probe "$a" "$(fleet_hostdir "$client")/client" || fail "after the rotation, $a refuses the client host's layout: $(cat "$work/probe.json")"
  [ "$(served_serial)" != "${before[$a]:-}" ] || fail "after the rotation, $a still serves its old certificate"
done
cdir=$(fleet_hostdir "$client")/client
DOCKER_CONFIG=$cdir timeout 10 docker --context fleet-h1 version --format '{{.Server.Version}}' >/dev/null 2>"$work/context.err" ||
  fail "after the rotation, the client's docker context fleet-h1 fails: $(head -n 3 "$work/context.err")"
say "after the rotation every daemon refuses the old-CA client and accepts the updated ones (the client's docker context too)"

# 4. rotate.yml again
play rotate "$work/dockpki-past-40d"
recap_unchanged "$LAST_LOG" || fail "the second rotate.yml reported changes (above); see $LAST_LOG"
say "second rotate.yml: no changes"

# 5. renew.yml with the real clock: the 100-day certificates are 40 days old, due within 90d.
declare -A rotated=()
served_by_each "before renew.yml" rotated
: >"$work/restarts.log"
play renew "$bin"
for a in "${addrs[@]}"; do
  probe "$a" "$ops" || fail "after renew.yml, $a refuses the operations client: $(cat "$work/probe.json")"
  [ "$(served_serial)" != "${rotated[$a]:-}" ] || fail "after renew.yml, $a still serves its old certificate ${rotated[$a]:-}"
done
renew_restarts=$(wc -l <"$work/restarts.log")
[ "$renew_restarts" = "$N" ] || fail "renew.yml restarted $renew_restarts daemons, expected $N (one each)"
say "renew.yml: every daemon serves its renewed certificate ($renew_restarts restarts)"

# 6. renew.yml again
: >"$work/restarts.log"
play renew "$bin"
recap_unchanged "$LAST_LOG" || fail "the second renew.yml reported changes (above); see $LAST_LOG"
[ ! -s "$work/restarts.log" ] || fail "the second renew.yml restarted a daemon"
say "second renew.yml: no changes, no restarts"

# 7. Nothing left running.
summary="fleet: ok: $N daemon hosts + 1 client; rotation under load: requests=$FLEET_REQUESTS ok=$FLEET_OK refused=$FLEET_REFUSED tls=$FLEET_TLS other=$FLEET_OTHER longest_gap=${FLEET_LONGEST_GAP_MS}ms ($FLEET_LONGEST_GAP_ADDR); playbooks: ${timings[*]}"
keep=${FLEET_KEEP:-0}
close_ssh_masters
fleet_down
down=1
left=
for p in /proc/[0-9]*; do
  cmd=$(tr '\0' ' ' 2>/dev/null <"$p/cmdline") || continue
  case $cmd in *"$work"*) left+="${p#/proc/} $cmd; " ;; esac
done
[ -z "$left" ] || fail "still running after fleet_down: $left"
for a in "${addrs[@]}" "$(fleet_addr $((N + 1)))"; do
  ! ss -Hltn "src $a" 2>/dev/null | grep -q . || fail "something still listens on $a"
done
[ "$keep" = 1 ] || [ ! -e "$work" ] || fail "$work was not removed"
echo "$summary; duration=$((SECONDS - t0))s"
