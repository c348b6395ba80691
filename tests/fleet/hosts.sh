# shellcheck shell=bash
# tests/fleet/hosts.sh: the fleet test's hosts on this one machine (issue 14, part 2).
#
# Sourced by tests/fleet/run.sh and tests/fleet/smoke.sh; defines functions only (sourcing runs
# nothing). Every function is safe under `set -euo pipefail`, and fleet_down is safe in an
# EXIT trap. Needs root (mount namespaces, bind mounts, sshd, dockerd).
#
# A "host" is one mount namespace made by `unshare -m --propagation private`, held open by a
# `sleep infinity` whose pid is kept in HOSTDIR/ns.pid. Inside it HOSTDIR/etc-docker is bind-
# mounted on /etc/docker, HOSTDIR/etc-ssh on /etc/ssh and HOSTDIR/run on /run (so also on
# /var/run), and an sshd listens on ADDR:2222; every SSH session it starts lives in that
# namespace and so sees the host's own /etc/docker and /run. A "daemon" host also runs a dockerd
# there, which with no daemon.json listens only on unix:///var/run/docker.sock (the host's own
# HOSTDIR/run/docker.sock); a daemon.json with "hosts" makes it listen on ADDR:2376 too.
# Nothing mounted inside a namespace is visible outside it, and the mounts end with the
# namespace's last process: nothing needs unmounting on the machine itself.
#
# Layout (WORKDIR as given to fleet_init):
#   WORKDIR/ssh/id_ed25519{,.pub}, authorized_keys   root's one SSH key for every host
#   WORKDIR/hosts.list                               "NAME ADDR KIND" per host, in order
#   WORKDIR/loops/*.pid                               client loops still running
#   WORKDIR/cp/                                       ControlPath dir for Ansible's ssh
#   WORKDIR/hosts/NAME/ = HOSTDIR:
#     etc-docker/ etc-ssh/ (sshd_config, host key) run/ (run/sshd) data/
#     ns-init        the namespace's first program (mounts, sshd, then the holder sleep)
#     ns.pid ns.id   holder pid, and its namespace ("mnt:[inode]") for fleet_down's /proc scan
#     sshd.pid sshd.log dockerd.pid dockerd.log
#     restart-docker the host's "restart docker" command (see fleet_host_up)
#
# Timing (2 cores, shared with other helpers' builds): fleet_init + 3 daemon hosts + 1 client
# host up in 1.0 to 1.7 s (smoke.sh measures and prints it: 1022, 1365, 1659, 1684 ms in four
# runs), fleet_down of them in about 3 s (dockerd's own shutdown on SIGTERM).

# Ports and limits; run.sh may read them.
FLEET_SSH_PORT=2222
FLEET_DOCKER_PORT=2376
FLEET_START_TIMEOUT=${FLEET_START_TIMEOUT:-30} # s, dockerd or sshd coming up
FLEET_STOP_TIMEOUT=${FLEET_STOP_TIMEOUT:-15}   # s, dockerd ending on SIGTERM

# _fleet_say MSG...: one line to stderr, prefixed so the fleet's lines are told apart.
_fleet_say() {
  printf 'fleet: %s\n' "$*" >&2
}

# _fleet_die MSG...: one line to stderr and a failing status (callers `return` it).
_fleet_die() {
  printf 'fleet: error: %s\n' "$*" >&2
  return 1
}

# _fleet_alive PID: whether PID is a live process (not a zombie).
_fleet_alive() {
  local state
  [ -n "${1:-}" ] && [ -r "/proc/$1/stat" ] || return 1
  state=$(sed -e 's/^.*) //' -e 's/ .*//' "/proc/$1/stat" 2>/dev/null) || return 1
  [ "$state" != Z ]
}

# _fleet_pidfile FILE: prints the pid in FILE (digits only), or fails.
_fleet_pidfile() {
  local pid
  [ -r "$1" ] || return 1
  pid=$(head -c 32 "$1" | tr -cd '0-9') || return 1
  [ -n "$pid" ] || return 1
  printf '%s\n' "$pid"
}

# _fleet_kill PID WHAT [TIMEOUT]: SIGTERM to PID only, a bounded wait (default 5 s), then
# SIGKILL to PID only and a short wait. Never fails.
_fleet_kill() {
  local pid=$1 what=$2 timeout=${3:-5} i
  _fleet_alive "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < timeout * 20; i++)); do
    _fleet_alive "$pid" || return 0
    sleep 0.05
  done
  _fleet_say "$what (pid $pid) ignored SIGTERM for ${timeout} s; sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  for ((i = 0; i < 40; i++)); do
    _fleet_alive "$pid" || return 0
    sleep 0.05
  done
  _fleet_say "$what (pid $pid) is still there after SIGKILL"
}

# fleet_require_tools: makes sure ansible-playbook and /usr/sbin/sshd exist. When either is
# missing, installs Debian's ansible-core and openssh-server with apt-get if running as root
# (which CI always does); otherwise fails with one line saying what to install. Also checks
# the tools that cannot be installed this way (dockerd, docker, unshare, nsenter, ssh,
# ssh-keygen, python3) and fails naming the missing ones.
fleet_require_tools() {
  local missing=() t added_policy=0
  if ! command -v ansible-playbook >/dev/null 2>&1 || [ ! -x /usr/sbin/sshd ]; then
    if [ "$(id -u)" != 0 ]; then
      _fleet_die "ansible-playbook or /usr/sbin/sshd is missing and this is not root: run 'apt-get install -y ansible-core openssh-server' as root (CI=${CI:-unset})"
      return 1
    fi
    _fleet_say "installing ansible-core and openssh-server from Debian (apt-get)"
    # No init system may start the machine's own sshd on port 22 during the install.
    if [ ! -e /usr/sbin/policy-rc.d ]; then
      printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
      chmod 0755 /usr/sbin/policy-rc.d
      added_policy=1
    fi
    if ! { DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q ansible-core openssh-server >/dev/null; }; then
      [ "$added_policy" = 0 ] || rm -f /usr/sbin/policy-rc.d
      _fleet_die "apt-get install -y ansible-core openssh-server failed: run it by hand to see why"
      return 1
    fi
    [ "$added_policy" = 0 ] || rm -f /usr/sbin/policy-rc.d
  fi
  for t in ansible ansible-playbook dockerd docker unshare nsenter setsid ssh ssh-keygen timeout; do
    command -v "$t" >/dev/null 2>&1 || missing+=("$t")
  done
  [ -x /usr/sbin/sshd ] || missing+=(/usr/sbin/sshd)
  [ -x /usr/bin/python3 ] || missing+=(/usr/bin/python3)
  if [ "${#missing[@]}" -gt 0 ]; then
    _fleet_die "missing tools: ${missing[*]} (install them; the fleet test needs every one)"
    return 1
  fi
  if [ "$(id -u)" != 0 ]; then
    _fleet_die "the fleet hosts need root (mount namespaces, sshd, dockerd): run as root"
    return 1
  fi
}

# fleet_init WORKDIR NET_PREFIX: remembers where the fleet lives (FLEET_WORKDIR, exported so
# subshells see it) and its address prefix (FLEET_NET_PREFIX, e.g. "127.0.2."; host i gets
# ${NET_PREFIX}$((10+i)), see fleet_addr), creates WORKDIR (it may exist, empty, as made by
# mktemp -d) and root's one ed25519 SSH key WORKDIR/ssh/id_ed25519 with its authorized_keys.
fleet_init() {
  if [ $# -ne 2 ]; then
    _fleet_die "usage: fleet_init WORKDIR NET_PREFIX (e.g. fleet_init /tmp/fleet.XXXX 127.0.2.)"
    return 1
  fi
  case $2 in
  127.*.) ;;
  *)
    _fleet_die "NET_PREFIX '$2' is not a loopback prefix ending in a dot, like 127.0.2."
    return 1
    ;;
  esac
  mkdir -p "$1" || return 1
  FLEET_WORKDIR=$(cd "$1" && pwd -P) || return 1
  FLEET_NET_PREFIX=$2
  export FLEET_WORKDIR FLEET_NET_PREFIX
  mkdir -p "$FLEET_WORKDIR/ssh" "$FLEET_WORKDIR/hosts" "$FLEET_WORKDIR/loops" "$FLEET_WORKDIR/cp"
  chmod 0700 "$FLEET_WORKDIR/ssh" "$FLEET_WORKDIR/cp"
  : >>"$FLEET_WORKDIR/hosts.list"
  if [ ! -e "$FLEET_WORKDIR/ssh/id_ed25519" ]; then
    ssh-keygen -q -t ed25519 -N '' -C fleet-root -f "$FLEET_WORKDIR/ssh/id_ed25519" </dev/null ||
      { _fleet_die "ssh-keygen of the fleet's root key failed"; return 1; }
  fi
  cp "$FLEET_WORKDIR/ssh/id_ed25519.pub" "$FLEET_WORKDIR/ssh/authorized_keys"
}

# fleet_addr I: prints host I's address (${FLEET_NET_PREFIX}$((10+I))), I = 1, 2, ...
fleet_addr() {
  printf '%s%s\n' "$FLEET_NET_PREFIX" "$((10 + $1))"
}

# fleet_hostdir NAME: prints host NAME's directory (WORKDIR/hosts/NAME).
fleet_hostdir() {
  printf '%s/hosts/%s\n' "$FLEET_WORKDIR" "$1"
}

# _fleet_write_restart HOSTDIR ADDR: writes HOSTDIR/restart-docker (see fleet_host_up).
_fleet_write_restart() {
  local hostdir=$1 addr=$2 f="$1/restart-docker"
  {
    printf '#!/bin/bash\n'
    printf '# Restart command of fleet host %s (written by tests/fleet/hosts.sh).\n' "$(basename "$hostdir")"
    printf 'HOSTDIR=%q\nADDR=%q\nSTART_TIMEOUT=%q\nSTOP_TIMEOUT=%q\n' \
      "$hostdir" "$addr" "$FLEET_START_TIMEOUT" "$FLEET_STOP_TIMEOUT"
    cat <<'EOF'
# Stops this host's dockerd by its pidfile (SIGTERM, bounded wait, SIGKILL; then its containerd
# by exec-root/containerd/containerd.pid if that pid is a containerd in this namespace), starts
# it again detached with the same arguments (plus --config-file /etc/docker/daemon.json when
# that file exists), and waits until it answers on its unix socket. Exit 1 with the tail of
# this start's log when it does not come up. Runs itself inside the host's namespace (through
# nsenter) when started outside it.
set -uo pipefail
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
unset DOCKER_HOST DOCKER_TLS_VERIFY DOCKER_CERT_PATH DOCKER_CONTEXT DOCKER_CONFIG

holder=$(tr -cd '0-9' 2>/dev/null <"$HOSTDIR/ns.pid")
if [ -z "$holder" ] || [ "$(readlink "/proc/$holder/ns/mnt" 2>/dev/null)" != "$(cat "$HOSTDIR/ns.id" 2>/dev/null)" ]; then
  echo "restart-docker: the namespace of host $HOSTDIR is gone (no holder process): bring the host up again" >&2
  exit 1
fi
if [ "$(readlink /proc/self/ns/mnt)" != "$(cat "$HOSTDIR/ns.id")" ]; then
  exec nsenter -t "$holder" -m -- "$0" "$@"
fi

alive() {
  local s
  [ -r "/proc/$1/stat" ] || return 1
  s=$(sed -e 's/^.*) //' -e 's/ .*//' "/proc/$1/stat" 2>/dev/null) || return 1
  [ "$s" != Z ]
}
in_ns() { [ "$(readlink "/proc/$1/ns/mnt" 2>/dev/null)" = "$(cat "$HOSTDIR/ns.id")" ]; }
cmd_has() { tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline" | grep -qF -- "$2"; }
stop_pid() { # PID WHAT TIMEOUT
  local i
  kill -TERM "$1" 2>/dev/null
  for ((i = 0; i < $3 * 20; i++)); do alive "$1" || return 0; sleep 0.05; done
  echo "restart-docker: $2 (pid $1) ignored SIGTERM for $3 s; sending SIGKILL" >&2
  kill -KILL "$1" 2>/dev/null
  for ((i = 0; i < 40; i++)); do alive "$1" || return 0; sleep 0.05; done
  echo "restart-docker: $2 (pid $1) survived SIGKILL" >&2
  return 1
}

# Stop.
pid=$(tr -cd '0-9' 2>/dev/null <"$HOSTDIR/dockerd.pid")
if [ -n "$pid" ] && alive "$pid" && in_ns "$pid" && cmd_has "$pid" dockerd; then
  stop_pid "$pid" dockerd "$STOP_TIMEOUT" || exit 1
fi
cpid=$(tr -cd '0-9' 2>/dev/null </run/docker/containerd/containerd.pid)
if [ -n "$cpid" ] && alive "$cpid" && in_ns "$cpid" && cmd_has "$cpid" containerd; then
  stop_pid "$cpid" containerd 5 || exit 1
fi
rm -f "$HOSTDIR/dockerd.pid"

# Start.
args=(--data-root "$HOSTDIR/data" --exec-root /run/docker --pidfile "$HOSTDIR/dockerd.pid"
  --iptables=false --bridge=none)
[ -e /etc/docker/daemon.json ] && args+=(--config-file /etc/docker/daemon.json)
log="$HOSTDIR/dockerd.log"
touch "$log"
from=$(($(stat -c %s "$log") + 1))
printf '==== %s restart-docker: dockerd %s\n' "$(date -u +%FT%T.%3NZ)" "${args[*]}" >>"$log"
setsid dockerd "${args[@]}" </dev/null >>"$log" 2>&1 &
started=$!

# Wait until it answers on its unix socket; with a daemon.json whose "hosts" has no unix
# socket, until it logs that it listens on ADDR.
no_unix=0
if [ -e /etc/docker/daemon.json ] && grep -q '"hosts"' /etc/docker/daemon.json &&
  ! grep -q 'unix://' /etc/docker/daemon.json; then
  no_unix=1
fi
fail() {
  echo "restart-docker: dockerd of $HOSTDIR $1; the end of $log:" >&2
  tail -c +"$from" "$log" | tail -n 15 >&2
  alive "$started" && kill -KILL "$started" 2>/dev/null
  exit 1
}
for ((i = 0; i < START_TIMEOUT * 10; i++)); do
  alive "$started" || fail "exited during start-up"
  if [ "$no_unix" = 1 ]; then
    tail -c +"$from" "$log" | grep -q "API listen on $ADDR" && exit 0
  elif [ -S /run/docker.sock ] &&
    timeout 5 docker -H unix:///run/docker.sock version --format '{{.Server.Version}}' >/dev/null 2>&1; then
    exit 0
  fi
  sleep 0.1
done
fail "did not answer within $START_TIMEOUT s"
EOF
  } >"$f"
  chmod 0755 "$f"
}

# fleet_host_up NAME ADDR KIND: brings up host NAME (KIND = daemon | client) on ADDR:
# HOSTDIR=WORKDIR/hosts/NAME with etc-docker/, etc-ssh/ (sshd_config, ed25519 host key), run/
# (run/sshd), data/; a mount namespace whose holder pid is in HOSTDIR/ns.pid, with /etc/docker,
# /etc/ssh and /run bind-mounted from HOSTDIR; an sshd on ADDR:2222 in it (root by the fleet
# key only), waited for until it answers with its banner. KIND=daemon also writes
# HOSTDIR/restart-docker and runs it, which starts dockerd in the namespace
#   dockerd --data-root HOSTDIR/data --exec-root /run/docker --pidfile HOSTDIR/dockerd.pid
#           --iptables=false --bridge=none [--config-file /etc/docker/daemon.json]
# (no -H ever, so daemon.json's "hosts" works) logging to HOSTDIR/dockerd.log, and waits until
# it answers on its unix socket. HOSTDIR/restart-docker is the host's "restart docker" command
# (for dockpki_restart_command): it stops dockerd by its pidfile (and its containerd), starts it
# again detached (setsid, stdin /dev/null, output to the log, so it outlives an SSH session),
# waits until it answers, and exits 1 with the log's tail when it does not come up. A client
# host gets a restart-docker too, but nothing runs it. Fails with one line (and the log's
# tail) when anything does not come up in FLEET_START_TIMEOUT seconds; the half-made host is
# then stopped by fleet_down as usual.
fleet_host_up() {
  if [ $# -ne 3 ] || { [ "$3" != daemon ] && [ "$3" != client ]; }; then
    _fleet_die "usage: fleet_host_up NAME ADDR daemon|client"
    return 1
  fi
  local name=$1 addr=$2 kind=$3 hostdir holder i
  [ -n "${FLEET_WORKDIR:-}" ] || { _fleet_die "fleet_host_up before fleet_init"; return 1; }
  case $name in
  *[!A-Za-z0-9_.-]* | '' | .*) _fleet_die "host name '$name' must be letters, digits, . _ -"; return 1 ;;
  esac
  hostdir=$(fleet_hostdir "$name")
  if [ -e "$hostdir" ]; then
    _fleet_die "host $name exists already ($hostdir)"
    return 1
  fi
  mkdir -p "$hostdir/etc-docker" "$hostdir/etc-ssh" "$hostdir/run/sshd" "$hostdir/data"
  chmod 0700 "$hostdir/data"
  chmod 0755 "$hostdir/run/sshd"
  printf '%s %s %s\n' "$name" "$addr" "$kind" >>"$FLEET_WORKDIR/hosts.list"
  ssh-keygen -q -t ed25519 -N '' -C "fleet-$name" -f "$hostdir/etc-ssh/ssh_host_ed25519_key" </dev/null ||
    { _fleet_die "ssh-keygen of host $name's host key failed"; return 1; }
  cat >"$hostdir/etc-ssh/sshd_config" <<EOF
# sshd of fleet host $name (written by tests/fleet/hosts.sh); read as /etc/ssh/sshd_config
# inside the host's namespace.
ListenAddress $addr
Port $FLEET_SSH_PORT
HostKey /etc/ssh/ssh_host_ed25519_key
PidFile $hostdir/sshd.pid
AuthorizedKeysFile $FLEET_WORKDIR/ssh/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
UseDNS no
PrintMotd no
PrintLastLog no
MaxStartups 100:30:200
MaxSessions 50
AcceptEnv LANG LC_*
Subsystem sftp internal-sftp
EOF
  cat >"$hostdir/ns-init" <<EOF
#!/bin/sh
# First program of fleet host $name's mount namespace (written by tests/fleet/hosts.sh).
set -e
mount --bind '$hostdir/etc-docker' /etc/docker
mount --bind '$hostdir/etc-ssh' /etc/ssh
mount --bind '$hostdir/run' /run
readlink /proc/self/ns/mnt >'$hostdir/ns.id'
/usr/sbin/sshd -f /etc/ssh/sshd_config -E '$hostdir/sshd.log'
echo \$\$ >'$hostdir/ns.pid.new'
mv '$hostdir/ns.pid.new' '$hostdir/ns.pid'
exec sleep infinity
EOF
  chmod 0755 "$hostdir/ns-init"
  _fleet_write_restart "$hostdir" "$addr"
  [ -d /etc/docker ] || mkdir -p /etc/docker # a mount point only; the machine's files are never touched
  # The holder keeps no descriptor of the caller's (a $(...) around fleet_host_up returns).
  setsid unshare -m --propagation private "$hostdir/ns-init" </dev/null >"$hostdir/ns-init.log" 2>&1 &
  echo "$!" >"$hostdir/ns.job" # this shell's job, reaped by fleet_down
  for ((i = 0; i < FLEET_START_TIMEOUT * 20; i++)); do
    [ -e "$hostdir/ns.pid" ] && break
    [ -s "$hostdir/ns-init.log" ] && break # ns-init failed (it prints nothing otherwise)
    sleep 0.05
  done
  if ! holder=$(_fleet_pidfile "$hostdir/ns.pid") || ! _fleet_alive "$holder"; then
    _fleet_die "host $name's namespace did not come up: $(tr '\n' ' ' <"$hostdir/ns-init.log")"
    return 1
  fi
  for ((i = 0; i < FLEET_START_TIMEOUT * 20; i++)); do
    # shellcheck disable=SC2016 # expanded by the inner bash
    if timeout 1 bash -c 'exec 3<>"/dev/tcp/$1/$2" && head -c 4 <&3' _ "$addr" "$FLEET_SSH_PORT" 2>/dev/null | grep -q '^SSH-'; then
      break
    fi
    sleep 0.05
  done
  if ((i >= FLEET_START_TIMEOUT * 20)); then
    _fleet_die "host $name's sshd does not answer on $addr:$FLEET_SSH_PORT within $FLEET_START_TIMEOUT s: $(tail -n 3 "$hostdir/sshd.log" 2>/dev/null | tr '\n' ' ')"
    return 1
  fi
  if [ "$kind" = daemon ]; then
    "$hostdir/restart-docker" || { _fleet_die "host $name's dockerd did not come up (see above)"; return 1; }
  fi
}

# fleet_ansible_env: exports the Ansible settings a fleet run needs: no SSH ControlMaster (so no
# mux or session outlives a command; ControlPath dir WORKDIR/cp all the same, so fleet_down
# could find one), no host key checking, no retry files, and unsets REQUESTS_CA_BUNDLE and
# CURL_CA_BUNDLE (docker-py ignores its ca_cert when they are set).
fleet_ansible_env() {
  export ANSIBLE_SSH_ARGS="-o ControlMaster=no"
  export ANSIBLE_HOST_KEY_CHECKING=False
  export ANSIBLE_RETRY_FILES_ENABLED=False
  export ANSIBLE_SSH_CONTROL_PATH_DIR="$FLEET_WORKDIR/cp"
  export ANSIBLE_PYTHON_INTERPRETER=/usr/bin/python3
  export ANSIBLE_NOCOLOR=1
  unset REQUESTS_CA_BUNDLE CURL_CA_BUNDLE
}

# fleet_inventory FILE: writes the Ansible INI inventory of every host brought up so far:
# group docker_hosts (the daemons) and docker_clients (the clients), one line per host with
# ansible_host, ansible_port, ansible_user=root, ansible_ssh_private_key_file,
# ansible_ssh_common_args, ansible_python_interpreter, fleet_hostdir=HOSTDIR and
# dockpki_restart_command=HOSTDIR/restart-docker.
fleet_inventory() {
  if [ $# -ne 1 ]; then
    _fleet_die "usage: fleet_inventory FILE"
    return 1
  fi
  local file=$1 group kind name addr k hostdir
  {
    printf '# Fleet inventory written by tests/fleet/hosts.sh (%s)\n' "$FLEET_WORKDIR"
    for group in docker_hosts docker_clients; do
      [ "$group" = docker_hosts ] && kind=daemon || kind=client
      printf '\n[%s]\n' "$group"
      while read -r name addr k; do
        [ "$k" = "$kind" ] || continue
        hostdir=$(fleet_hostdir "$name")
        printf '%s ansible_host=%s ansible_port=%s ansible_user=root ansible_ssh_private_key_file=%s ansible_ssh_common_args="-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null" ansible_python_interpreter=/usr/bin/python3 fleet_hostdir=%s dockpki_restart_command=%s\n' \
          "$name" "$addr" "$FLEET_SSH_PORT" "$FLEET_WORKDIR/ssh/id_ed25519" "$hostdir" "$hostdir/restart-docker"
      done <"$FLEET_WORKDIR/hosts.list"
    done
  } >"$file"
}

# _fleet_classify MSG: prints refused | tls | other for a failed request's message. Timeouts
# first (Go's "TLS handshake timeout" is a slow daemon, not a trust failure), then trust
# failures, so a refusal can never hide one:
#   other   timeout, timed out, deadline exceeded
#   tls     x509, certificate, tls:, unknown authority, handshake
#   refused connection refused/reset, EOF, "Cannot connect" (the daemon itself restarting)
#   other   the rest
_fleet_classify() {
  local m
  m=$(printf '%s' "$1" | tr '[:upper:]' '[:lower:]')
  case $m in
  *timeout* | *"timed out"* | *"deadline exceeded"*) echo other ;;
  *x509* | *certificate* | *tls:* | *" tls "* | *"unknown authority"* | *handshake*) echo tls ;;
  *"connection refused"* | *"connection reset"* | *eof* | *"cannot connect"*) echo refused ;;
  *) echo other ;;
  esac
}

# _fleet_request CLIENT_DIR ADDR OUTFILE: one `docker version` against ADDR:2376 with the
# client's files, appending one line "EPOCH_MS<TAB>ADDR<TAB>KIND<TAB>MESSAGE" to OUTFILE (KIND
# ok | refused | tls | other; MESSAGE the server version, or the first line of the error, or
# "timeout after 5 s"). EPOCH_MS is when the answer came.
_fleet_request() {
  local dir=$1 addr=$2 out=$3 res rc=0 kind msg now
  res=$(timeout 5 docker --tlsverify --tlscacert "$dir/ca.pem" --tlscert "$dir/cert.pem" \
    --tlskey "$dir/key.pem" -H "tcp://$addr:$FLEET_DOCKER_PORT" version \
    --format '{{.Server.Version}}' 2>&1 </dev/null) || rc=$?
  now=${EPOCHREALTIME/./}
  now=${now:0:-3}
  if [ "$rc" = 0 ] && [ -n "$res" ]; then
    kind=ok
    msg=${res%%$'\n'*}
  elif [ "$rc" = 124 ]; then
    kind=other
    msg="timeout after 5 s"
  else
    # The first line that says something (docker may print a blank or "Client:" line first).
    msg=$(printf '%s\n' "$res" | grep -v -e '^[[:space:]]*$' -e '^Client:' | head -n 1) || true
    [ -n "$msg" ] || msg="exit $rc, no message"
    kind=$(_fleet_classify "$msg")
  fi
  msg=$(printf '%s' "$msg" | tr '\t\r\n' '   ' | cut -c 1-400)
  printf '%s\t%s\t%s\t%s\n' "$now" "$addr" "$kind" "$msg" >>"$out"
}

# fleet_loop_start CLIENT_DIR OUTFILE ADDR...: starts a background client loop (its pid in
# FLEET_LOOP_PID and WORKDIR/loops/PID.pid) that every ~0.5 s sends one `docker --tlsverify
# ... -H tcp://ADDR:2376 version` to each ADDR (in parallel, `timeout 5` each) with
# CLIENT_DIR/{ca,cert,key}.pem, appending one line per request to OUTFILE (see
# _fleet_request). OUTFILE is created empty. Stop it with fleet_loop_stop.
fleet_loop_start() {
  if [ $# -lt 3 ]; then
    _fleet_die "usage: fleet_loop_start CLIENT_DIR OUTFILE ADDR..."
    return 1
  fi
  local dir=$1 out=$2
  shift 2
  : >"$out"
  (
    set +e
    trap 'stop=1' TERM INT
    trap '' HUP
    unset DOCKER_HOST DOCKER_TLS_VERIFY DOCKER_CERT_PATH DOCKER_CONTEXT
    export DOCKER_CONFIG="$FLEET_WORKDIR/loops/docker-config"
    mkdir -p "$DOCKER_CONFIG"
    stop=
    while [ -z "$stop" ]; do
      for a in "$@"; do
        _fleet_request "$dir" "$a" "$out" &
      done
      sleep 0.5
      wait
    done
    wait # a TERM during the round's wait: let its requests write their lines
  ) </dev/null &
  FLEET_LOOP_PID=$!
  echo "$FLEET_LOOP_PID" >"$FLEET_WORKDIR/loops/$FLEET_LOOP_PID.pid"
}

# fleet_loop_stop [PID]: stops the client loop PID (default FLEET_LOOP_PID) by its pid: SIGTERM,
# then waits (bounded) until its last round's requests have been written. Does nothing when no
# loop is running.
fleet_loop_stop() {
  local pid=${1:-${FLEET_LOOP_PID:-}} i
  [ -n "$pid" ] || return 0
  if _fleet_alive "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 200 && i >= 0; i++)); do
      _fleet_alive "$pid" || break
      sleep 0.05
    done
    if _fleet_alive "$pid"; then
      _fleet_say "client loop (pid $pid) still runs after 10 s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  wait "$pid" 2>/dev/null || true
  rm -f "${FLEET_WORKDIR:-/nonexistent}/loops/$pid.pid"
  [ "$pid" != "${FLEET_LOOP_PID:-}" ] || FLEET_LOOP_PID=
}

# fleet_loop_report OUTFILE: prints, per address and in total, requests, ok, refused, tls,
# other and the longest gap (ms) without an ok answer: between two ok answers of one address,
# or from its first request to its first ok, or from its last ok to its last request (so a
# daemon that never came back shows as a gap too); an address with no ok at all counts its
# whole span. Sets FLEET_REQUESTS, FLEET_OK, FLEET_REFUSED, FLEET_TLS, FLEET_OTHER,
# FLEET_LONGEST_GAP_MS and FLEET_LONGEST_GAP_ADDR (the address with that gap, or "-").
fleet_loop_report() {
  if [ $# -ne 1 ] || [ ! -r "$1" ]; then
    _fleet_die "usage: fleet_loop_report OUTFILE (an existing client loop output)"
    return 1
  fi
  local report last
  report=$(sort -s -t $'\t' -k2,2 -k1,1n "$1" | awk -F '\t' '
    function gap(a, g) { if (g > longest[a]) longest[a] = g }
    {
      a = $2; t = $1 + 0
      if (!(a in req)) { order[++n] = a; first[a] = t }
      req[a]++; cnt[a, $3]++; lastreq[a] = t
      if ($3 == "ok") {
        if (a in lastok) gap(a, t - lastok[a]); else gap(a, t - first[a])
        lastok[a] = t
      }
    }
    END {
      printf "%-18s %8s %8s %8s %8s %8s %12s\n", "address", "requests", "ok", "refused", "tls", "other", "longest_gap"
      best = -1; bestaddr = "-"
      for (i = 1; i <= n; i++) {
        a = order[i]
        if (a in lastok) gap(a, lastreq[a] - lastok[a]); else gap(a, lastreq[a] - first[a])
        printf "%-18s %8d %8d %8d %8d %8d %10dms\n", a, req[a], cnt[a, "ok"], cnt[a, "refused"], cnt[a, "tls"], cnt[a, "other"], longest[a]
        R += req[a]; O += cnt[a, "ok"]; F += cnt[a, "refused"]; T += cnt[a, "tls"]; X += cnt[a, "other"]
        if (longest[a] > best) { best = longest[a]; bestaddr = a }
      }
      if (best < 0) best = 0
      printf "%-18s %8d %8d %8d %8d %8d %10dms\n", "total", R, O, F, T, X, best
      printf "VARS %d %d %d %d %d %d %s\n", R, O, F, T, X, best, bestaddr
    }')
  last=${report##*$'\n'}
  printf '%s\n' "${report%$'\n'*}"
  # shellcheck disable=SC2034 # read by run.sh
  read -r _ FLEET_REQUESTS FLEET_OK FLEET_REFUSED FLEET_TLS FLEET_OTHER FLEET_LONGEST_GAP_MS \
    FLEET_LONGEST_GAP_ADDR <<<"$last"
}

# _fleet_ns_procs NSID...: prints the pids (other than this shell's) whose mount namespace is
# one of NSID ("mnt:[inode]").
_fleet_ns_procs() {
  local p ns id
  for p in /proc/[0-9]*; do
    ns=$(readlink "$p/ns/mnt" 2>/dev/null) || continue
    for id in "$@"; do
      if [ "$ns" = "$id" ]; then
        printf '%s\n' "${p#/proc/}"
        break
      fi
    done
  done
}

# fleet_down: stops everything the fleet started, each by its pid: client loops, every host's
# dockerd (SIGTERM, bounded wait, SIGKILL) and containerd, sshd, then every other process still
# in one of the fleet's namespaces (SSH sessions and what they started; reported by pid and
# command), Ansible ssh multiplexers whose control socket is in WORKDIR/cp, and last the
# namespace holders. Unmounts nothing (the namespaces' mounts end with them). Then removes
# WORKDIR unless FLEET_KEEP=1 (or something is still mounted under it). Idempotent, never
# fails (safe in an EXIT trap); prints one line per straggler it had to kill.
fleet_down() {
  local w=${FLEET_WORKDIR:-} f pid hostdir ids=() holders=() id p left cmd
  [ -n "$w" ] && [ -d "$w" ] || return 0
  # Loops.
  for f in "$w"/loops/*.pid; do
    [ -e "$f" ] || continue
    pid=$(_fleet_pidfile "$f") && fleet_loop_stop "$pid"
    rm -f "$f"
  done
  # Hosts: record each live namespace first.
  for hostdir in "$w"/hosts/*/; do
    hostdir=${hostdir%/}
    [ -d "$hostdir" ] || continue
    pid=$(_fleet_pidfile "$hostdir/ns.pid") || pid=
    id=$(cat "$hostdir/ns.id" 2>/dev/null) || id=
    if [ -n "$pid" ] && [ -n "$id" ] && [ "$(readlink "/proc/$pid/ns/mnt" 2>/dev/null)" = "$id" ]; then
      ids+=("$id")
      holders+=("$pid")
    fi
  done
  # dockerd and containerd, then sshd, of every host, each checked to be in the host's namespace.
  for hostdir in "$w"/hosts/*/; do
    hostdir=${hostdir%/}
    id=$(cat "$hostdir/ns.id" 2>/dev/null) || continue
    for f in dockerd.pid run/docker/containerd/containerd.pid sshd.pid; do
      pid=$(_fleet_pidfile "$hostdir/$f") || continue
      [ "$(readlink "/proc/$pid/ns/mnt" 2>/dev/null)" = "$id" ] || continue
      case $f in
      dockerd.pid) _fleet_kill "$pid" "dockerd of $(basename "$hostdir")" "$FLEET_STOP_TIMEOUT" ;;
      *) _fleet_kill "$pid" "${f##*/} of $(basename "$hostdir")" 5 ;;
      esac
    done
  done
  # Ansible ssh multiplexers of this fleet (none with ControlMaster=no).
  for p in /proc/[0-9]*; do
    cmd=$(tr '\0' ' ' 2>/dev/null <"$p/cmdline") || continue
    case $cmd in
    "ssh: $w/cp/"*)
      _fleet_say "stopping leftover ssh multiplexer pid ${p#/proc/}: $cmd"
      _fleet_kill "${p#/proc/}" "ssh multiplexer" 5
      ;;
    esac
  done
  # Whatever else lives in the namespaces, except the holders; then the holders.
  if [ "${#ids[@]}" -gt 0 ]; then
    for pid in $(_fleet_ns_procs "${ids[@]}"); do
      case " ${holders[*]} " in *" $pid "*) continue ;; esac
      _fleet_say "stopping leftover pid $pid in a fleet namespace: $(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline")"
      _fleet_kill "$pid" "leftover" 3
    done
    for hostdir in "$w"/hosts/*/; do
      pid=$(_fleet_pidfile "${hostdir%/}/ns.pid") || continue
      id=$(cat "${hostdir%/}/ns.id" 2>/dev/null) || continue
      [ "$(readlink "/proc/$pid/ns/mnt" 2>/dev/null)" != "$id" ] || _fleet_kill "$pid" "namespace holder" 3
    done
    left=$(_fleet_ns_procs "${ids[@]}")
    for pid in $left; do
      _fleet_say "killing pid $pid still in a fleet namespace: $(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline")"
      kill -KILL "$pid" 2>/dev/null || true
    done
  fi
  # Reap the holders' jobs when this shell started them (a no-op otherwise).
  for f in "$w"/hosts/*/ns.job; do
    pid=$(_fleet_pidfile "$f") || continue
    _fleet_alive "$pid" || wait "$pid" 2>/dev/null || true
  done
  if [ "${FLEET_KEEP:-0}" = 1 ]; then
    _fleet_say "FLEET_KEEP=1: keeping $w"
  elif grep -qF " $w/" /proc/self/mounts; then
    _fleet_say "something is still mounted under $w: not removing it"
  else
    rm -rf "$w"
  fi
  return 0
}
