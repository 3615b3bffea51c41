#!/usr/bin/env bash
# Stop the services that tests/openstack/setup.sh started, and nothing else.
#
#   stop.sh           stop them; keep the state dir (databases, keys, configuration, logs)
#   stop.sh --purge   stop them and delete the state dir: the next setup.sh starts from scratch
#
# setup.sh records, for each service, its pid (also its process-group id: it runs in its own
# session) and a marker from its command line. A pid is signalled only while it is alive and its
# command line still shows the marker, so a pid the kernel has since reused is left alone. The
# whole group gets the signals recorded in run/NAME.signals in turn (SIGTERM when there is no such
# record; heat-all has "INT TERM"), each followed by up to 20 s for the group to end, and SIGKILL
# last if any member is still there.
set -uo pipefail

STATE="${NFVD_OS_STATE_DIR:-/tmp/nfvd-openstack}"
RUN="$STATE/run"
PURGE=0
case "${1:-}" in
    "") ;;
    --purge) PURGE=1 ;;
    *) echo "usage: $0 [--purge]" >&2; exit 2 ;;
esac

say() { printf '[openstack %s] %s\n' "$(date +%H:%M:%S)" "$*"; }

# group_lives PGID: a member of the process group is still running (zombies do not count: an
# orphan may wait a moment for its reaper).
group_lives() {
    ps -eo pgid=,stat= | awk -v g="$1" '$1 == g && $2 !~ /^Z/ { found = 1 } END { exit !found }'
}

# settle PGID SECONDS: wait until the group is gone; false if it outlives SECONDS.
settle() {
    local tries=$(($2 * 5))
    while [ "$tries" -gt 0 ]; do
        group_lives "$1" || return 0
        sleep 0.2
        tries=$((tries - 1))
    done
    ! group_lives "$1"
}

forget() { rm -f "$RUN/$1.pid" "$RUN/$1.marker" "$RUN/$1.signals"; }

stop_service() {
    local name=$1 pid marker signals signal
    pid=$(cat "$RUN/$name.pid" 2>/dev/null)
    marker=$(cat "$RUN/$name.marker" 2>/dev/null)
    signals=$(cat "$RUN/$name.signals" 2>/dev/null) || signals=TERM
    if [ -z "$pid" ] || [ -z "$marker" ]; then
        say "$name: incomplete record in $RUN; nothing signalled"
        forget "$name"
        return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
        say "$name: not running"
        forget "$name"
        return 0
    fi
    if ! tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$marker"; then
        say "$name: pid $pid now belongs to another program; left alone"
        forget "$name"
        return 0
    fi
    for signal in $signals; do
        case "$signal" in INT | TERM | HUP | QUIT) ;; *) signal=TERM ;; esac
        say "$name: SIG$signal to process group $pid"
        kill -s "$signal" -- "-$pid" 2>/dev/null
        if settle "$pid" 20; then
            forget "$name"
            say "$name: stopped"
            return 0
        fi
        say "$name: still running after 20 s"
    done
    say "$name: SIGKILL to process group $pid"
    kill -KILL -- "-$pid" 2>/dev/null
    settle "$pid" 5 || { say "$name: process group $pid survives SIGKILL"; return 1; }
    forget "$name"
    say "$name: stopped"
}

status=0
for record in "$RUN"/*.pid; do
    [ -e "$record" ] || continue
    stop_service "$(basename "$record" .pid)" || status=1
done

if [ "$PURGE" = 1 ]; then
    if [ "$status" != 0 ]; then
        say "not purging $STATE: a service is still running"
    elif [ -f "$STATE/openrc" ] || [ -d "$STATE/keystone" ]; then
        rm -rf -- "$STATE"
        say "purged $STATE"
    elif [ -e "$STATE" ]; then
        say "not purging $STATE: it does not look like a state dir of setup.sh"
        status=1
    fi
fi
exit "$status"
