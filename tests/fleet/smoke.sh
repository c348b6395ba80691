#!/usr/bin/env bash
# tests/fleet/smoke.sh: exercises every function of tests/fleet/hosts.sh on its own fleet
# (addresses 127.0.3.x, so it never clashes with run.sh's 127.0.2.x), and fails on the first
# property that does not hold:
#   - 3 daemon hosts and 1 client host come up (time printed); the inventory reaches each by
#     ansible ping, and `cat /etc/docker/marker` over SSH returns each host's own marker while
#     the machine's /etc/docker stays untouched; each host's dockerd answers on its own socket;
#   - restart-docker run over SSH restarts a daemon that then serves TLS and survives the SSH
#     session; a bad daemon.json makes it exit non-zero with the log's tail;
#   - the client loop classifies: ok (TLS daemon, also restarted during the loop: refusals
#     only), refused (a daemon stopped during the loop), other or tls (a daemon without TLS),
#     tls (a client of another CA); fleet_loop_report's totals and variables match the file;
#   - fleet_down leaves no process in any fleet namespace, none of the recorded pids, no
#     listening socket on 127.0.3.x and no WORKDIR; a second fleet_down does nothing.
# Needs root, dockerd, docker, openssl, sshd and ansible (installed by fleet_require_tools).
# Last line: "fleet smoke: ok ..." or the first failure.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=hosts.sh
source "$here/hosts.sh"

fail() {
  printf 'fleet smoke: FAILED: %s\n' "$*" >&2
  exit 1
}
gone() { # PID: no such process, or only a zombie its parent has not reaped yet
  ! _fleet_alive "$1"
}
check() { # WHAT COMMAND...: runs COMMAND; fails the smoke test naming WHAT when it fails
  local what=$1
  shift
  if "$@"; then printf 'ok: %s\n' "$what"; else fail "$what"; fi
}

[ "$(id -u)" = 0 ] || fail "needs root (mount namespaces, sshd, dockerd)"
command -v openssl >/dev/null || fail "needs openssl"
fleet_require_tools

work=$(mktemp -d /tmp/fleet-smoke.XXXXXX)
trap fleet_down EXIT
fleet_init "$work" 127.0.3.
pki=$work/pki # certificates for the smoke test itself (the real run gets dockpki's)
mkdir -p "$pki"

# mkca DIR: a CA (ca.pem, ca-key.pem) in DIR.
mkca() {
  mkdir -p "$1"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=fleet smoke $(basename "$1")" -keyout "$1/ca-key.pem" -out "$1/ca.pem" 2>/dev/null
}
# mkleaf CA_DIR OUT_DIR EXT: key.pem, cert.pem (signed by CA_DIR, extensions EXT) and ca.pem.
mkleaf() {
  mkdir -p "$2"
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$(basename "$2")" \
    -keyout "$2/key.pem" -out "$2/req.csr" 2>/dev/null
  openssl x509 -req -in "$2/req.csr" -CA "$1/ca.pem" -CAkey "$1/ca-key.pem" -CAcreateserial \
    -days 2 -out "$2/cert.pem" -extfile <(printf '%s\n' "$3") 2>/dev/null
  cp "$1/ca.pem" "$2/ca.pem"
}

# 1. Hosts up, timed.
t0=$EPOCHREALTIME
for i in 1 2 3; do
  fleet_host_up "h$i" "$(fleet_addr "$i")" daemon
done
fleet_host_up c1 "$(fleet_addr 4)" client
t1=$EPOCHREALTIME
up_ms=$(((${t1/./} - ${t0/./}) / 1000))
echo "ok: 3 daemon hosts + 1 client host up in ${up_ms} ms"

for h in h1 h2 h3 c1; do
  echo "marker of $h" >"$(fleet_hostdir "$h")/etc-docker/marker"
done
check "the machine's own /etc/docker has no marker" test ! -e /etc/docker/marker

inv=$work/inventory.ini
fleet_inventory "$inv"
fleet_ansible_env
check "inventory groups: docker_hosts h1 h2 h3, docker_clients c1" \
  test "$(ansible docker_hosts -i "$inv" --list-hosts | tail -n +2 | tr -d ' ' | tr '\n' ,)$(ansible docker_clients -i "$inv" --list-hosts | tail -n +2 | tr -d ' ')" = "h1,h2,h3,c1"
check "inventory has dockpki_restart_command per host" \
  grep -q "^h2 .*dockpki_restart_command=$(fleet_hostdir h2)/restart-docker" "$inv"

out=$(ansible all -i "$inv" -o -m ping 2>&1) || fail "ansible ping: $out"
check "ansible ping reaches all 4 hosts" test "$(grep -c 'SUCCESS' <<<"$out")" = 4

out=$(ansible all -i "$inv" -o -m command -a 'cat /etc/docker/marker' 2>&1) ||
  fail "ansible cat /etc/docker/marker: $out"
for h in h1 h2 h3 c1; do
  check "host $h sees its own /etc/docker over SSH" grep -q "^$h | CHANGED | rc=0 | (stdout) marker of $h\$" <<<"$out"
done

out=$(ansible docker_hosts -i "$inv" -o -m command -a 'docker -H unix:///var/run/docker.sock info' 2>&1) ||
  fail "docker info over SSH: $out"
for h in h1 h2 h3; do
  check "host $h's dockerd answers on its own /var/run/docker.sock with its own data root" \
    grep -qF -- "Docker Root Dir: $(fleet_hostdir "$h")/data" <<<"$(grep "^$h |" <<<"$out")"
done
out=$(ansible c1 -i "$inv" -o -m command -a 'test -e /var/run/docker.sock' 2>&1) && fail "client host c1 has a docker socket: $out"
echo "ok: client host c1 has no dockerd"

# 2. TLS for h1 and h3, plain tcp for h2; restarts over SSH.
mkca "$pki/ca"
mkca "$pki/oldca"
mkleaf "$pki/ca" "$pki/client" 'extendedKeyUsage=clientAuth'
mkleaf "$pki/oldca" "$pki/oldclient" 'extendedKeyUsage=clientAuth'
for i in 1 3; do
  d=$(fleet_hostdir "h$i")/etc-docker
  mkleaf "$pki/ca" "$d/tls" "subjectAltName=IP:$(fleet_addr "$i")
extendedKeyUsage=serverAuth"
  cat >"$d/daemon.json" <<EOF
{"hosts": ["unix:///var/run/docker.sock", "tcp://$(fleet_addr "$i"):2376"],
 "tlsverify": true, "tlscacert": "/etc/docker/tls/ca.pem",
 "tlscert": "/etc/docker/tls/cert.pem", "tlskey": "/etc/docker/tls/key.pem"}
EOF
done
printf '{"hosts": ["unix:///var/run/docker.sock", "tcp://%s:2376"]}\n' "$(fleet_addr 2)" \
  >"$(fleet_hostdir h2)/etc-docker/daemon.json"

old_pid=$(cat "$(fleet_hostdir h1)/dockerd.pid")
out=$(ansible docker_hosts -i "$inv" -o -m command -a '{{ dockpki_restart_command }}' 2>&1) ||
  fail "restart-docker over SSH: $out"
new_pid=$(cat "$(fleet_hostdir h1)/dockerd.pid")
check "restart-docker over SSH replaced h1's dockerd (pid $old_pid -> $new_pid)" test "$old_pid" != "$new_pid"
check "h1's old dockerd is gone" gone "$old_pid"
sleep 1 # the SSH sessions are over: the daemons must still be there
for i in 1 2 3; do
  pid=$(cat "$(fleet_hostdir "h$i")/dockerd.pid")
  check "h$i's restarted dockerd (pid $pid) outlives the SSH session" test -d "/proc/$pid"
done
v=$(docker --tlsverify --tlscacert "$pki/client/ca.pem" --tlscert "$pki/client/cert.pem" \
  --tlskey "$pki/client/key.pem" -H "tcp://$(fleet_addr 1):2376" version --format '{{.Server.Version}}') ||
  fail "a TLS client cannot reach h1 after its restart"
echo "ok: h1 serves mutual TLS on $(fleet_addr 1):2376 (dockerd $v)"

good_json=$(cat "$(fleet_hostdir h2)/etc-docker/daemon.json")
echo '{"hosts": [' >"$(fleet_hostdir h2)/etc-docker/daemon.json"
if out=$(ansible h2 -i "$inv" -o -m command -a '{{ dockpki_restart_command }}' 2>&1); then
  fail "restart-docker with a bad daemon.json succeeded: $out"
fi
check "restart-docker with a bad daemon.json fails showing the log's tail" \
  grep -q 'exited during start-up.*daemon.json' <<<"$out"
printf '%s\n' "$good_json" >"$(fleet_hostdir h2)/etc-docker/daemon.json"
check "restart-docker run outside the namespace enters it and brings h2 back" "$(fleet_hostdir h2)/restart-docker"

# 3. The client loop's classification, on messages the docker CLI prints (Go 1.19 and later).
while IFS='|' read -r want msg; do
  check "classified $want: $msg" test "$(_fleet_classify "$msg")" = "$want"
done <<'EOF'
tls|error during connect: Get "https://127.0.2.11:2376/v1.41/version": tls: failed to verify certificate: x509: certificate signed by unknown authority
tls|error during connect: Get "https://127.0.2.11:2376/v1.41/version": x509: certificate is valid for 127.0.2.12, not 127.0.2.11
tls|error during connect: Get "https://127.0.2.11:2376/v1.41/version": remote error: tls: bad certificate
tls|error during connect: Get "https://127.0.2.11:2376/v1.41/version": remote error: tls: unknown certificate authority
refused|Cannot connect to the Docker daemon at tcp://127.0.2.11:2376. Is the docker daemon running?
refused|error during connect: Get "https://127.0.2.11:2376/v1.41/version": EOF
refused|error during connect: Get "https://127.0.2.11:2376/v1.41/version": read tcp 127.0.0.1:4242->127.0.2.11:2376: read: connection reset by peer
other|error during connect: Get "https://127.0.2.11:2376/v1.41/version": net/http: TLS handshake timeout
other|timeout after 5 s
other|error during connect: Get "https://127.0.2.11:2376/v1.41/version": http: server gave HTTP response to HTTPS client
EOF

# 4. The client loop: h1 restarted during it, h3 stopped during it, h2 without TLS.
loop=$work/loop.tsv
fleet_loop_start "$pki/client" "$loop" "$(fleet_addr 1)" "$(fleet_addr 2)" "$(fleet_addr 3)"
sleep 2
out=$(ansible h1 -i "$inv" -o -m command -a '{{ dockpki_restart_command }}' 2>&1) ||
  fail "restart of h1 during the loop: $out"
h3_pid=$(cat "$(fleet_hostdir h3)/dockerd.pid")
kill -TERM "$h3_pid"
sleep 2
fleet_loop_stop
check "fleet_loop_stop ended the loop" test -z "$FLEET_LOOP_PID"
check "no loop pidfile is left" test -z "$(ls "$work/loops"/*.pid 2>/dev/null)"

kinds() { # ADDR: the sorted set of kinds seen for ADDR
  awk -F '\t' -v a="$1" '$2 == a { print $3 }' "$loop" | sort -u | tr '\n' ' '
}
count() { # ADDR KIND
  awk -F '\t' -v a="$1" -v k="$2" '$2 == a && $3 == k' "$loop" | wc -l
}
echo "--- client loop kinds: h1: $(kinds "$(fleet_addr 1)")| h2: $(kinds "$(fleet_addr 2)")| h3: $(kinds "$(fleet_addr 3)")"
awk -F '\t' '$3 != "ok" { print $2 " " $3 ": " $4 }' "$loop" | sort | uniq -c | sed 's/^ */    /'  # each failure kind once
check "every loop line has 4 tab-separated fields and a ms timestamp" \
  test -z "$(awk -F '\t' 'NF != 4 || length($1) != 13 || $1 !~ /^[0-9]+$/' "$loop")"
check "h1 (TLS, restarted during the loop) answered ok and never failed for TLS or other" \
  test "$(count "$(fleet_addr 1)" ok)" -gt 3 -a "$(count "$(fleet_addr 1)" tls)" = 0 -a "$(count "$(fleet_addr 1)" other)" = 0
check "h3 answered ok before and was refused after it stopped" \
  test "$(count "$(fleet_addr 3)" ok)" -gt 0 -a "$(count "$(fleet_addr 3)" refused)" -gt 0
check "h3's refusals are all after its last ok (the stop)" \
  test "$(awk -F '\t' -v a="$(fleet_addr 3)" '$2 == a && $3 == "ok" { t = $1 } $2 == a && $3 == "refused" && (f == "" || $1 < f) { f = $1 } END { print (f > t) }' "$loop")" = 1
check "h2 (no TLS) was never ok and never refused (other or tls)" \
  test "$(count "$(fleet_addr 2)" ok)" = 0 -a "$(count "$(fleet_addr 2)" refused)" = 0 -a "$(count "$(fleet_addr 2)" other)$(count "$(fleet_addr 2)" tls)" != 00

fleet_loop_report "$loop"
check "report: FLEET_REQUESTS ($FLEET_REQUESTS) is the number of lines" test "$FLEET_REQUESTS" = "$(wc -l <"$loop")"
check "report: ok+refused+tls+other = requests" \
  test "$((FLEET_OK + FLEET_REFUSED + FLEET_TLS + FLEET_OTHER))" = "$FLEET_REQUESTS"
check "report: FLEET_REFUSED counts the refusals" test "$FLEET_REFUSED" = "$(grep -c $'\trefused\t' "$loop")"
gap_of() { # ADDR: that address's longest gap in ms, from its own report (a subshell: no
  # FLEET_* variable changes)
  fleet_loop_report <(grep -F "$1"$'\t' "$loop") | awk '$1 == "total" { print $NF + 0 }'
}
span=$(awk -F '\t' -v a="$(fleet_addr 2)" '$2 == a { if (!f) f = $1; l = $1 } END { print l - f }' "$loop")
check "report: the longest gap is h2's (never ok: its whole span, $span ms): ${FLEET_LONGEST_GAP_MS} ms at $FLEET_LONGEST_GAP_ADDR" \
  test "$FLEET_LONGEST_GAP_ADDR" = "$(fleet_addr 2)" -a "$FLEET_LONGEST_GAP_MS" = "$span"
h3_gap=$(gap_of "$(fleet_addr 3)")
check "report: h3's gap runs from its last ok to its last request (stopped, never back): $h3_gap ms" \
  test "$h3_gap" = "$(awk -F '\t' -v a="$(fleet_addr 3)" '$2 == a { l = $1 } $2 == a && $3 == "ok" { o = $1 } END { print l - o }' "$loop")" -a "$h3_gap" -ge 1000
h1_gap=$(gap_of "$(fleet_addr 1)")
echo "ok: h1's restart during the loop: $(count "$(fleet_addr 1)" refused) refused, longest gap ${h1_gap} ms"

old=$work/old.tsv
fleet_loop_start "$pki/oldclient" "$old" "$(fleet_addr 1)"
sleep 1.2
fleet_loop_stop
head -n 1 "$old" | sed 's/^/    /'
check "an old-CA client is refused by h1 for a TLS reason, every time" \
  test "$(wc -l <"$old")" -gt 0 -a "$(grep -c $'\ttls\t' "$old")" = "$(wc -l <"$old")"

# 5. Down: nothing left.
ns_ids=$(cat "$work"/hosts/*/ns.id)
pids=
for f in "$work"/hosts/*/ns.pid "$work"/hosts/*/sshd.pid "$work"/hosts/*/dockerd.pid; do
  if p=$(_fleet_pidfile "$f"); then pids="$pids $p"; fi
done
t0=$EPOCHREALTIME
fleet_down
t1=$EPOCHREALTIME
down_ms=$(((${t1/./} - ${t0/./}) / 1000))
left=
for p in /proc/[0-9]*; do
  ns=$(readlink "$p/ns/mnt" 2>/dev/null) || continue # a zombie has none
  if grep -qxF "$ns" <<<"$ns_ids"; then left="$left ${p#/proc/}"; fi
done
check "no process is left in the fleet's 4 mount namespaces" test -z "$left"
for p in $pids; do
  check "recorded pid $p (holder, sshd or dockerd) is gone" gone "$p"
done
check "nothing listens on 127.0.3.x" test -z "$(ss -Hltn | awk '$4 ~ /^127\.0\.3\./')"
check "the work directory is removed" test ! -e "$work"
check "a second fleet_down is a no-op" fleet_down
trap - EXIT
echo "fleet smoke: ok: 4 hosts up in ${up_ms} ms, down in ${down_ms} ms; loop: $FLEET_REQUESTS requests, $FLEET_OK ok, $FLEET_REFUSED refused, $FLEET_TLS tls, $FLEET_OTHER other; h1 restart gap ${h1_gap} ms; longest gap ${FLEET_LONGEST_GAP_MS} ms ($FLEET_LONGEST_GAP_ADDR, never ok)"
