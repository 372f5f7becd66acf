#!/usr/bin/env bash
# Ensure a working Docker engine on a Debian host without systemd and without
# access to any image registry (see docker-offline notes).
#
# Usage:
#   scripts/docker_engine.sh [start]   # default: make `docker info` answer
#   scripts/docker_engine.sh stop      # stop the daemon, only if this script started it
#   scripts/docker_engine.sh status    # exit 0 if the engine answers
#
# Environment:
#   DOCKERD_LOG             daemon log file            (default /tmp/byoc-dockerd.log)
#   BYOC_DOCKERD_PIDFILE    pid of the daemon WE start (default /tmp/byoc-dockerd.pid)
#   DOCKERD_WAIT            seconds to wait for the daemon to answer (default 60)
#
# Ownership: the pid file is written only when this script starts dockerd. If the
# engine already answers, nothing is written, so a later `stop` with the same pid
# file path is a no-op. A caller that must stop only what *it* started (CI) should
# use its own pid file path, e.g.:
#   export BYOC_DOCKERD_PIDFILE="$(mktemp -u /tmp/byoc-dockerd.XXXXXX.pid)"
#   scripts/docker_engine.sh
#   trap 'scripts/docker_engine.sh stop' EXIT
#
# Client notes (legacy `docker build`, `docker compose` vs `docker-compose`): see
# the comment block at the end of this file.
set -euo pipefail

DOCKERD_LOG="${DOCKERD_LOG:-/tmp/byoc-dockerd.log}"
PIDFILE="${BYOC_DOCKERD_PIDFILE:-/tmp/byoc-dockerd.pid}"
DOCKERD_WAIT="${DOCKERD_WAIT:-60}"
DAEMON_PIDFILE=/var/run/docker.pid
CONTAINERD_PIDFILE=/var/run/docker/containerd/containerd.pid
LOCKFILE=/tmp/byoc-docker-engine.lock

REQUIRED_PKGS=(docker.io debootstrap ca-certificates)
OPTIONAL_PKGS=(docker-compose docker-registry)

log() { printf 'docker_engine: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

engine_answers() {
    # `docker info` exits non-zero when the server part is unreachable (v20 and v28 clients).
    command -v docker >/dev/null 2>&1 || return 1
    timeout 15 docker info --format '{{.ServerVersion}}' >/dev/null 2>&1
}

# pid_alive PID: true if PID exists and is not a zombie. (PID 1 on these machines
# may reap orphans late, so a killed dockerd can linger as a zombie that still
# answers `kill -0` and still shows "dockerd" in /proc/PID/comm.)
pid_alive() {
    local pid="$1" stat
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    stat="$(cat "/proc/$pid/stat" 2>/dev/null)" || return 1
    stat="${stat##*) }"
    [[ -n "$stat" && "${stat:0:1}" != Z && "${stat:0:1}" != X ]]
}

# pid_is NAME PID: true if PID is alive (not a zombie) and its command name is NAME.
pid_is() {
    local name="$1" pid="$2" comm
    pid_alive "$pid" || return 1
    comm="$(cat "/proc/$pid/comm" 2>/dev/null)" || return 1
    [[ "$comm" == "$name" ]]
}

read_pid() { [[ -s "$1" ]] && tr -dc '0-9' <"$1" || true; }

tail_log() {
    if [[ -f "$DOCKERD_LOG" ]]; then
        log "---- last 40 lines of $DOCKERD_LOG ----"
        tail -n 40 "$DOCKERD_LOG" >&2 || true
        log "----"
    fi
}

pkg_installed() {
    [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" == "install ok installed" ]]
}

pkg_available() {
    local cand
    cand="$(apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ {print $2; exit}')"
    [[ -n "$cand" && "$cand" != "(none)" ]]
}

install_packages() {
    local p missing=() to_install=()
    for p in "${REQUIRED_PKGS[@]}" "${OPTIONAL_PKGS[@]}"; do
        pkg_installed "$p" || missing+=("$p")
    done
    if ((${#missing[@]} == 0)); then
        log "packages already installed: ${REQUIRED_PKGS[*]} ${OPTIONAL_PKGS[*]}"
        return 0
    fi
    [[ "$(id -u)" == 0 ]] || die "need root to install: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive

    # Only refresh the package lists when something we need has no candidate.
    for p in "${missing[@]}"; do
        if ! pkg_available "$p"; then
            log "apt-cache knows no candidate for '$p': running apt-get update"
            apt-get update -qq
            break
        fi
    done
    for p in "${missing[@]}"; do
        if pkg_available "$p"; then
            to_install+=("$p")
        elif [[ " ${REQUIRED_PKGS[*]} " == *" $p "* ]]; then
            die "required package '$p' is not available from apt"
        else
            log "WARNING: optional package '$p' is not available from apt: skipping it"
        fi
    done
    ((${#to_install[@]})) || return 0

    # Keep maintainer scripts from starting services (docker, containerd) that we
    # would not own: add a temporary policy-rc.d unless the host already has one.
    local policy=/usr/sbin/policy-rc.d added_policy=0
    if [[ ! -e "$policy" ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod 0755 "$policy"
        added_policy=1
    fi
    log "apt-get install ${to_install[*]}"
    local rc=0
    apt-get install -y -qq --no-install-recommends "${to_install[@]}" >/tmp/byoc-apt-install.log 2>&1 || rc=$?
    ((added_policy)) && rm -f "$policy"
    if ((rc != 0)); then
        tail -n 30 /tmp/byoc-apt-install.log >&2 || true
        die "apt-get install failed (rc=$rc), full log: /tmp/byoc-apt-install.log"
    fi
}

# Remove pid files left behind by a dead daemon (reused machine, killed container):
# dockerd refuses to start while /var/run/docker.pid names a live process, and a
# recycled pid in containerd's pid file makes dockerd wait for a containerd that
# is not there.
clear_stale_pidfiles() {
    local pid
    pid="$(read_pid "$DAEMON_PIDFILE")"
    if [[ -e "$DAEMON_PIDFILE" ]] && ! pid_is dockerd "$pid"; then
        log "removing stale $DAEMON_PIDFILE (pid '${pid}' is not a running dockerd)"
        rm -f "$DAEMON_PIDFILE"
    fi
    pid="$(read_pid "$CONTAINERD_PIDFILE")"
    if [[ -e "$CONTAINERD_PIDFILE" ]] && ! pid_is containerd "$pid"; then
        log "removing stale $CONTAINERD_PIDFILE (pid '${pid}' is not a running containerd)"
        rm -f "$CONTAINERD_PIDFILE"
    fi
    pid="$(read_pid "$PIDFILE")"
    if [[ -e "$PIDFILE" ]] && ! pid_is dockerd "$pid"; then
        rm -f "$PIDFILE"
    fi
}

wait_for_engine() {
    local pid="$1" deadline=$((SECONDS + DOCKERD_WAIT))
    while ((SECONDS < deadline)); do
        engine_answers && return 0
        if [[ -n "$pid" ]] && ! pid_alive "$pid"; then
            tail_log
            die "dockerd (pid $pid) exited before answering"
        fi
        sleep 1
    done
    return 1
}

cmd_start() {
    if engine_answers; then
        log "engine already answers ($(docker info --format 'server {{.ServerVersion}}, {{.Driver}}' 2>/dev/null)): nothing to do"
        return 0
    fi

    install_packages
    command -v dockerd >/dev/null 2>&1 || die "dockerd not found after installing docker.io"
    clear_stale_pidfiles

    # A dockerd that is alive but not answering yet (still starting, started by
    # someone else): wait for it instead of starting a second one.
    local existing
    existing="$(read_pid "$DAEMON_PIDFILE")"
    if pid_is dockerd "$existing"; then
        local owner="not started by this script"
        [[ "$(read_pid "$PIDFILE")" == "$existing" ]] && owner="started earlier by this script"
        log "dockerd pid $existing ($owner) is running but not answering yet: waiting up to ${DOCKERD_WAIT}s"
        wait_for_engine "$existing" && { log "engine answers"; return 0; }
        tail_log
        die "dockerd pid $existing ($owner) does not answer within ${DOCKERD_WAIT}s; not touching it"
    fi

    [[ "$(id -u)" == 0 ]] || die "need root to start dockerd"
    mkdir -p "$(dirname "$DOCKERD_LOG")" "$(dirname "$PIDFILE")"
    log "starting dockerd (log: $DOCKERD_LOG)"
    local t0=$SECONDS pid
    # The script runs without job control, so this background subshell is not a
    # process-group leader and `setsid` execs dockerd in place: $! is dockerd's pid.
    # The daemon gets cwd /, stdio on the log, and no other inherited fds: our lock
    # (fd 9) or a caller's pipe would otherwise stay open for the daemon's lifetime
    # (holding the lock forever, or keeping a CI log pipe from reaching EOF).
    (
        cd /
        for fd in /proc/self/fd/*; do
            fd="${fd##*/}"
            if [[ "$fd" =~ ^[0-9]+$ ]] && ((fd > 2)); then eval "exec $fd>&-"; fi
        done
        exec setsid dockerd >>"$DOCKERD_LOG" 2>&1 </dev/null
    ) &
    pid=$!
    echo "$pid" >"$PIDFILE"
    if ! wait_for_engine "$pid"; then
        tail_log
        die "dockerd (pid $pid) did not answer within ${DOCKERD_WAIT}s (left running; stop it with: $0 stop)"
    fi
    # Trust dockerd's own pid file if it disagrees (it should not).
    local dpid
    dpid="$(read_pid "$DAEMON_PIDFILE")"
    if pid_is dockerd "$dpid" && [[ "$dpid" != "$pid" ]]; then
        pid="$dpid"
        echo "$pid" >"$PIDFILE"
    fi
    log "engine ready after $((SECONDS - t0))s: dockerd pid $pid (recorded in $PIDFILE), $(docker info --format 'server {{.ServerVersion}}, storage {{.Driver}}, cgroup v{{.CgroupVersion}}' 2>/dev/null)"
}

cmd_stop() {
    if [[ ! -e "$PIDFILE" ]]; then
        log "no $PIDFILE: this script did not start the engine, leaving it alone"
        return 0
    fi
    local pid
    pid="$(read_pid "$PIDFILE")"
    if ! pid_is dockerd "$pid"; then
        log "pid '${pid}' in $PIDFILE is not a running dockerd: removing the pid file"
        rm -f "$PIDFILE"
        return 0
    fi
    log "stopping dockerd pid $pid"
    kill -TERM "$pid" 2>/dev/null || true
    local i
    for ((i = 0; i < 30; i++)); do
        pid_is dockerd "$pid" || break
        sleep 1
    done
    if pid_is dockerd "$pid"; then
        log "dockerd pid $pid still alive after 30s: sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        sleep 1
    fi
    rm -f "$PIDFILE"
    log "stopped"
}

main() {
    local action="${1:-start}"
    case "$action" in
        start | stop)
            # Serialise concurrent start/stop calls (e.g. parallel CI steps).
            exec 9>"$LOCKFILE"
            flock -w 120 9 || die "could not take $LOCKFILE"
            "cmd_$action"
            ;;
        status)
            if engine_answers; then
                log "engine answers"
            else
                log "engine does not answer"
                return 1
            fi
            ;;
        -h | --help | help) sed -n '2,24p' "$0" ;;
        *) die "unknown action '$action' (expected start, stop or status)" ;;
    esac
}

main "$@"

# Client notes (verified here: docker 28.2.2 client in /usr/local/bin, Debian's
# 20.10.24 daemon and client in /usr/bin, no buildx plugin):
# - The v28 client negotiates API 1.41 with the 20.10 daemon; run/images/inspect work.
# - `docker build` with the v28 client works as is: with no buildx plugin it falls
#   back to the legacy builder and prints "DEPRECATED: The legacy builder is
#   deprecated ...". DOCKER_BUILDKIT=0 is NOT needed (it only changes the warning).
#   DOCKER_BUILDKIT=1 must NOT be set: it fails with "BuildKit is enabled but the
#   buildx component is missing or broken" (Debian 12 packages no buildx).
# - `docker compose` (v2 plugin) does not exist here ("unknown command"); Debian's
#   `docker-compose` 1.29.2 (package docker-compose) works against this engine.
