#!/usr/bin/env bash
# Start a real OpenStack Keystone, nova-api and Heat on 127.0.0.1 for nfvd's integration tests.
#
# Only Debian 12 library packages are used (python3-keystone, python3-nova, python3-heat,
# python3-gunicorn): no systemd unit, web server, message broker or database server. Each service
# keeps its data in SQLite files under the state dir, together with its configuration, keys, logs
# and pid file.
# Running the script again is safe: it rewrites the configuration, repeats the idempotent
# database and Keystone steps, and starts only the services that are not running.
#
# Settings (environment, all optional):
#   NFVD_OS_STATE_DIR        /tmp/nfvd-openstack   everything the services write
#   NFVD_OS_KEYSTONE_PORT    5000                  Keystone, http://127.0.0.1:PORT/v3
#   NFVD_OS_NOVA_PORT        8774                  nova-api, http://127.0.0.1:PORT/v2.1
#   NFVD_OS_HEAT_PORT        8004                  Heat, http://127.0.0.1:PORT/v1/<project id>
#   NFVD_OS_ADMIN_PASSWORD   nfvd-admin            user "admin", project "admin"
#   NFVD_OS_SERVICE_PASSWORD nfvd-service          service users "nova" and "heat" (project
#                                                  "service"), "heat_domain_admin" (domain "heat")
#   NFVD_OS_REGION           RegionOne             catalog region of every endpoint
#   NFVD_OS_WITH_HEAT        1                     0: no python3-heat, no heat-all
#   NFVD_OS_NO_APT           0                     1: fail instead of installing packages
set -euo pipefail

STATE="${NFVD_OS_STATE_DIR:-/tmp/nfvd-openstack}"
KEYSTONE_PORT="${NFVD_OS_KEYSTONE_PORT:-5000}"
NOVA_PORT="${NFVD_OS_NOVA_PORT:-8774}"
HEAT_PORT="${NFVD_OS_HEAT_PORT:-8004}"
ADMIN_PASSWORD="${NFVD_OS_ADMIN_PASSWORD:-nfvd-admin}"
SERVICE_PASSWORD="${NFVD_OS_SERVICE_PASSWORD:-nfvd-service}"
REGION="${NFVD_OS_REGION:-RegionOne}"
WITH_HEAT="${NFVD_OS_WITH_HEAT:-1}"
NO_APT="${NFVD_OS_NO_APT:-0}"
ADDR=127.0.0.1
AUTH_URL="http://$ADDR:$KEYSTONE_PORT/v3"
COMPUTE_URL="http://$ADDR:$NOVA_PORT/v2.1"
# Keystone puts the project id of the token's scope in place of %(tenant_id)s.
ORCHESTRATION_URL="http://$ADDR:$HEAT_PORT/v1/%(tenant_id)s"

# The services are Debian's modules: a virtualenv or pyenv python first on PATH cannot import them.
PY=/usr/bin/python3
unset PYTHONPATH PYTHONHOME VIRTUAL_ENV || true
export PYTHONWARNINGS=ignore

say() { printf '[openstack %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
fail() { printf '[openstack] error: %s\n' "$*" >&2; exit 1; }
now() { date +%s.%N; }
since() { awk -v t0="$1" -v t1="$(now)" 'BEGIN { printf "%.1f", t1 - t0 }'; }

T0=$(now)
[ "$(id -u)" -eq 0 ] || fail "run as root: it installs Debian packages and starts the services"
case "$WITH_HEAT" in 0 | 1) ;; *) fail "NFVD_OS_WITH_HEAT must be 0 or 1, not '$WITH_HEAT'" ;; esac

# ------------------------------------------------------------------------------------------------
# Packages. The daemon packages (keystone, nova-api, heat-api, heat-engine) would pull in uwsgi
# and dbconfig-common, ask debconf questions and start init scripts; the library packages carry
# all the code we run.
# ------------------------------------------------------------------------------------------------
PACKAGES=(python3-keystone python3-gunicorn python3-nova)
[ "$WITH_HEAT" = 0 ] || PACKAGES+=(python3-heat)
absent=()
for pkg in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}\n' "$pkg" 2>/dev/null | grep -qx 'install ok installed' \
        || absent+=("$pkg")
done
APT_SECONDS=0
if [ "${#absent[@]}" -gt 0 ]; then
    [ "$NO_APT" = 1 ] && fail "missing Debian packages: ${absent[*]} (NFVD_OS_NO_APT=1)"
    say "installing ${absent[*]} (about a minute on a fresh machine)"
    t_apt=$(now)
    # python3-nova's dependencies (open-iscsi, udev, ...) have maintainer scripts that start
    # daemons; a policy-rc.d answering 101 forbids that. Ours only if none was there before.
    guard=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        guard=/usr/sbin/policy-rc.d
        printf '#!/bin/sh\nexit 101\n' > "$guard"
        chmod 0755 "$guard"
    fi
    trap '[ -z "$guard" ] || rm -f "$guard"' EXIT
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${absent[@]}" >/dev/null
    [ -z "$guard" ] || rm -f "$guard"
    guard=""
    APT_SECONDS=$(since "$t_apt")
    say "packages installed in ${APT_SECONDS}s"
fi
T_CONFIG=$(now)

KS="$STATE/keystone"
NV="$STATE/nova"
HT="$STATE/heat"
LOG="$STATE/log"
RUN="$STATE/run"
mkdir -p "$KS" "$NV/lock" "$LOG" "$RUN"
[ "$WITH_HEAT" = 0 ] || mkdir -p "$HT/environment.d" "$HT/templates"
chmod 0700 "$STATE"

# ------------------------------------------------------------------------------------------------
# Helpers
# ------------------------------------------------------------------------------------------------
# alive NAME MARKER: the recorded process lives and its command line still names the service.
alive() {
    local pid
    pid=$(cat "$RUN/$1.pid" 2>/dev/null) || return 1
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
    tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$2"
}

# listening PORT: something accepts connections on 127.0.0.1:PORT.
listening() {
    "$PY" -c 'import socket, sys
with socket.socket() as s:
    s.settimeout(1)
    sys.exit(0 if s.connect_ex(("127.0.0.1", int(sys.argv[1]))) == 0 else 1)' "$1"
}

# answers URL SECONDS: wait until URL gives any HTTP answer below 500.
answers() {
    "$PY" -c 'import sys, time, urllib.error, urllib.request
url, deadline = sys.argv[1], time.monotonic() + float(sys.argv[2])
while time.monotonic() < deadline:
    try:
        urllib.request.urlopen(url, timeout=3).close()
        sys.exit(0)
    except urllib.error.HTTPError as error:
        if error.code < 500:
            sys.exit(0)
    except OSError:
        pass
    time.sleep(0.2)
sys.exit(1)' "$1" "$2"
}

# wal DB: write-ahead logging, so that a reader never blocks a writer ("database is locked").
wal() {
    "$PY" -c 'import sqlite3, sys
con = sqlite3.connect(sys.argv[1]); con.execute("PRAGMA journal_mode=WAL"); con.close()' "$1"
}

# launch NAME MARKER CMD...: start CMD in its own session, so its pid is its process group,
# which stop.sh signals as a whole (gunicorn and nova-api each fork a worker). The marker is
# recorded too: stop.sh signals a recorded pid only while its command line still shows it.
# STOP_SIGNALS (default "TERM") is recorded as the signals stop.sh sends before SIGKILL.
launch() {
    local name=$1 marker=$2
    shift 2
    printf '%s\n' "${STOP_SIGNALS:-TERM}" > "$RUN/$name.signals"
    setsid "$@" >>"$LOG/$name.out" 2>&1 </dev/null &
    echo $! > "$RUN/$name.pid"
    printf '%s\n' "$marker" > "$RUN/$name.marker"
    sleep 0.3
    alive "$name" "$marker" || fail "$name exited at once; see $LOG/$name.out"
}

# nova_manage ARGS...: nova-manage ships in the nova-common daemon package, its code in python3-nova.
nova_manage() {
    "$PY" -c 'import sys; from nova.cmd.manage import main; sys.argv[0] = "nova-manage"; sys.exit(main())' \
        --config-file "$NV/nova.conf" "$@"
}

# heat_manage ARGS...: heat-manage ships in the heat-common daemon package, its code in
# python3-heat.
heat_manage() {
    "$PY" -c 'import sys; from heat.cmd.manage import main; sys.argv[0] = "heat-manage"
sys.exit(main())' --config-file "$HT/heat.conf" "$@"
}

# autoincrement DB: rebuild every table whose key is a plain "id INTEGER" as
# "id INTEGER PRIMARY KEY AUTOINCREMENT". Without it SQLite gives a new row the id of the deleted
# highest row, and Heat's convergence engine, which keeps resource and properties-data ids in its
# graphs, then finds stale rows ("ResourcePropertiesData with id {} not found", stacks stuck
# IN_PROGRESS). Done right after the first db_sync, while the tables are empty; a no-op later.
autoincrement() {
    "$PY" - "$1" <<'EOF'
import re
import sqlite3
import sys

db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("PRAGMA foreign_keys = OFF")
column = re.compile(r"^(\s*)id INTEGER NOT NULL,", re.MULTILINE)
key = re.compile(r"\s*PRIMARY KEY \(id\),?")
tables = db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'").fetchall()
for table, sql in tables:
    keys = [row[1] for row in db.execute(f'PRAGMA table_info("{table}")') if row[5]]
    if keys != ["id"] or "AUTOINCREMENT" in sql.upper() or not column.search(sql):
        continue
    create = column.sub(r"\1id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,", sql, count=1)
    create = key.sub("", create, count=1)
    create = re.sub(r"\s*,(\s*)\)\s*$", r"\1)", create)  # a comma the key clause left dangling
    create, renamed = re.subn(rf'^CREATE TABLE ("?){re.escape(table)}\1',
                              f'CREATE TABLE "nfvd_new_{table}"', create)
    if not renamed or "PRIMARY KEY (id)" in create:
        sys.exit(f"{table}: unexpected schema, not converted: {sql}")
    extra = [row[0] for row in db.execute(
        "SELECT sql FROM sqlite_master"
        " WHERE tbl_name = ? AND type IN ('index', 'trigger') AND sql IS NOT NULL", (table,))]
    db.execute("BEGIN IMMEDIATE")
    db.execute(create)
    db.execute(f'INSERT INTO "nfvd_new_{table}" SELECT * FROM "{table}"')
    db.execute(f'DROP TABLE "{table}"')
    db.execute(f'ALTER TABLE "nfvd_new_{table}" RENAME TO "{table}"')
    for statement in extra:
        db.execute(statement)
    db.execute("COMMIT")
    print("AUTOINCREMENT:", table)
if db.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
    sys.exit(f"{sys.argv[1]}: integrity check failed")
EOF
}

# A port held by a process other than ours stops the run before anything is written.
alive keystone nfvd-keystone || ! listening "$KEYSTONE_PORT" \
    || fail "port $KEYSTONE_PORT is taken by a process this script did not start"
alive nova-api nova.cmd.api || ! listening "$NOVA_PORT" \
    || fail "port $NOVA_PORT is taken by a process this script did not start"
[ "$WITH_HEAT" = 0 ] || alive heat-all heat.cmd.all || ! listening "$HEAT_PORT" \
    || fail "port $HEAT_PORT is taken by a process this script did not start"

# ------------------------------------------------------------------------------------------------
# Configuration (rewritten on every run)
# ------------------------------------------------------------------------------------------------
cat > "$KS/keystone.conf" <<EOF
[DEFAULT]
log_file = $LOG/keystone.log
[database]
connection = sqlite:///$KS/keystone.sqlite
[token]
provider = fernet
expiration = 14400
[identity]
# the bcrypt minimum: a password auth then costs milliseconds (a test rig, not a cloud)
password_hash_rounds = 4
[fernet_tokens]
key_repository = $KS/fernet-keys
[fernet_receipts]
# fernet_setup also writes this repository, by default under /etc/keystone
key_repository = $KS/fernet-keys
[credential]
key_repository = $KS/credential-keys
EOF

# oslo.config in Keystone parses sys.argv, which under gunicorn holds gunicorn's own options.
cat > "$KS/nfvd_keystone_app.py" <<'EOF'
import sys

sys.argv = sys.argv[:1]

from keystone.server.wsgi import initialize_public_application  # noqa: E402

application = initialize_public_application()
EOF

cat > "$NV/nova.conf" <<EOF
[DEFAULT]
host = nfvd-nova
log_file = $LOG/nova-api.log
state_path = $NV
enabled_apis = osapi_compute
osapi_compute_listen = $ADDR
osapi_compute_listen_port = $NOVA_PORT
osapi_compute_workers = 1
# flavors live in the API database: no conductor, scheduler or broker is ever called
transport_url = fake:/
use_rootwrap_daemon = false
[api]
auth_strategy = keystone
[wsgi]
api_paste_config = $NV/api-paste.ini
[api_database]
connection = sqlite:///$NV/nova_api.sqlite
[database]
connection = sqlite:///$NV/nova.sqlite
[oslo_concurrency]
lock_path = $NV/lock
[oslo_messaging_notifications]
driver = noop
[keystone_authtoken]
www_authenticate_uri = $AUTH_URL
auth_url = $AUTH_URL
auth_type = password
username = nova
password = $SERVICE_PASSWORD
project_name = service
user_domain_id = default
project_domain_id = default
EOF

# The paste pipeline of the compute API (Debian keeps api-paste.ini in nova-common).
cat > "$NV/api-paste.ini" <<'EOF'
[composite:osapi_compute]
use = call:nova.api.openstack.urlmap:urlmap_factory
/: versions
/v2.1: versions_v21
/v2.1/+: compute_v21

[composite:compute_v21]
use = call:nova.api.auth:pipeline_factory_v21
keystone = request_id faultwrap request_log sizelimit authtoken keystonecontext compute_app

[pipeline:versions]
pipeline = faultwrap request_log versions_app

[pipeline:versions_v21]
pipeline = request_id faultwrap request_log versions_v21_app

[filter:request_id]
paste.filter_factory = nova.api.compute_req_id:ComputeReqIdMiddleware.factory

[filter:faultwrap]
paste.filter_factory = nova.api.openstack:FaultWrapper.factory

[filter:request_log]
paste.filter_factory = nova.api.openstack.requestlog:RequestLog.factory

[filter:sizelimit]
paste.filter_factory = oslo_middleware:RequestBodySizeLimiter.factory

[filter:authtoken]
paste.filter_factory = keystonemiddleware.auth_token:filter_factory

[filter:keystonecontext]
paste.filter_factory = nova.api.auth:NovaKeystoneContext.factory

[app:compute_app]
paste.app_factory = nova.api.openstack.compute:APIRouterV21.factory

[app:versions_app]
paste.app_factory = nova.api.openstack.compute.versions:Versions.factory

[app:versions_v21_app]
paste.app_factory = nova.api.openstack.compute.versions:VersionsV2.factory
EOF

if [ "$WITH_HEAT" = 1 ]; then
    # the key that encrypts the stacks' credentials in the database: made once, kept
    if [ ! -s "$HT/auth_encryption_key" ]; then
        (umask 077; "$PY" -c 'import secrets; print(secrets.token_hex(16))' > "$HT/auth_encryption_key")
    fi
    cat > "$HT/heat.conf" <<EOF
[DEFAULT]
host = nfvd-heat
log_file = $LOG/heat.log
# heat-all runs the API and the engine in one process; the in-process fake:/ transport carries
# their RPC and would not cross processes: one engine worker, one API worker, no broker
transport_url = fake:/
num_engine_workers = 1
auth_encryption_key = $(cat "$HT/auth_encryption_key")
region_name_for_services = $REGION
environment_dir = $HT/environment.d
template_dir = $HT/templates
# every stack gets a Keystone trust from its creator to the heat user, in the stack's project
deferred_auth_method = trusts
# wait-condition signals and other in-instance credentials: users in the domain "heat"
stack_user_domain_name = heat
stack_domain_admin = heat_domain_admin
stack_domain_admin_password = $SERVICE_PASSWORD
[heat_all]
enabled_services = api,engine
[heat_api]
bind_host = $ADDR
bind_port = $HEAT_PORT
workers = 1
[paste_deploy]
api_paste_config = $HT/api-paste.ini
[database]
connection = sqlite:///$HT/heat.sqlite
[oslo_messaging_notifications]
driver = noop
[keystone_authtoken]
www_authenticate_uri = $AUTH_URL
auth_url = $AUTH_URL
auth_type = password
username = heat
password = $SERVICE_PASSWORD
project_name = service
user_domain_id = default
project_domain_id = default
[trustee]
auth_type = password
auth_url = $AUTH_URL
username = heat
password = $SERVICE_PASSWORD
user_domain_id = default
[clients_keystone]
auth_uri = http://$ADDR:$KEYSTONE_PORT
EOF

    # The heat-api pipeline (Debian keeps api-paste.ini in heat-common), without CORS, proxy
    # headers and the profiler.
    cat > "$HT/api-paste.ini" <<'EOF'
[pipeline:heat-api]
pipeline = request_id faultwrap versionnegotiation authurl authtoken context apiv1app

[filter:request_id]
paste.filter_factory = oslo_middleware.request_id:RequestId.factory

[filter:faultwrap]
paste.filter_factory = heat.common.wsgi:filter_factory
heat.filter_factory = heat.api.openstack:faultwrap_filter

[filter:versionnegotiation]
paste.filter_factory = heat.common.wsgi:filter_factory
heat.filter_factory = heat.api.openstack:version_negotiation_filter

[filter:authurl]
paste.filter_factory = heat.common.auth_url:filter_factory

[filter:authtoken]
paste.filter_factory = keystonemiddleware.auth_token:filter_factory

[filter:context]
paste.filter_factory = heat.common.context:ContextMiddleware_filter_factory

[app:apiv1app]
paste.app_factory = heat.common.wsgi:app_factory
heat.app_factory = heat.api.openstack.v1:API
EOF
fi

# ------------------------------------------------------------------------------------------------
# Databases. nova's and Heat's schemas do not need Keystone: migrate them while Keystone starts.
# ------------------------------------------------------------------------------------------------
say "nova: database migrations (in the background)"
(
    nova_manage api_db sync
    nova_manage db sync   # warns "cell0 mapping not found": the API alone needs no cell
    wal "$NV/nova_api.sqlite"
    wal "$NV/nova.sqlite"
) >>"$LOG/nova-manage.log" 2>&1 &
NOVA_DB=$!
if [ "$WITH_HEAT" = 1 ]; then
    say "heat: database migrations (in the background)"
    (
        heat_manage db_sync
        autoincrement "$HT/heat.sqlite"
        wal "$HT/heat.sqlite"
    ) >>"$LOG/heat-manage.log" 2>&1 &
    HEAT_DB=$!
fi

say "keystone: database, keys, admin user and identity endpoint"
keystone_manage() { keystone-manage --config-file "$KS/keystone.conf" "$@"; }
{
    keystone_manage db_sync
    wal "$KS/keystone.sqlite"
    keystone_manage fernet_setup --keystone-user root --keystone-group root
    keystone_manage credential_setup --keystone-user root --keystone-group root
    # bootstrap is idempotent and resets the admin password to the one given
    keystone_manage bootstrap --bootstrap-username admin --bootstrap-password "$ADMIN_PASSWORD" \
        --bootstrap-project-name admin --bootstrap-role-name admin \
        --bootstrap-service-name keystone --bootstrap-region-id "$REGION" \
        --bootstrap-public-url "$AUTH_URL/" --bootstrap-internal-url "$AUTH_URL/" \
        --bootstrap-admin-url "$AUTH_URL/"
} >>"$LOG/keystone-manage.log" 2>&1 || fail "keystone-manage failed; see $LOG/keystone-manage.log"

# ------------------------------------------------------------------------------------------------
# Keystone: gunicorn with ONE sync worker, so SQLite sees one writer at a time. Its marker is the
# --name: once python3-setproctitle is there (python3-heat brings it), gunicorn rewrites its
# command line to "gunicorn: master [nfvd-keystone]".
# ------------------------------------------------------------------------------------------------
if alive keystone nfvd-keystone; then
    say "keystone: already running (pid $(cat "$RUN/keystone.pid"))"
else
    listening "$KEYSTONE_PORT" && fail "port $KEYSTONE_PORT is taken by a process this script did not start"
    say "keystone: starting on $AUTH_URL"
    OS_KEYSTONE_CONFIG_FILES="$KS/keystone.conf" launch keystone nfvd-keystone \
        "$PY" -m gunicorn --chdir "$KS" --bind "$ADDR:$KEYSTONE_PORT" --workers 1 \
        --worker-class sync --timeout 120 --name nfvd-keystone nfvd_keystone_app:application
fi
answers "$AUTH_URL" 60 || fail "keystone does not answer on $AUTH_URL; see $LOG/keystone*"

# ------------------------------------------------------------------------------------------------
# Keystone content: the service project, the service users, roles and the catalog; for Heat also
# its stack-user domain and that domain's admin.
# ------------------------------------------------------------------------------------------------
say "keystone: service project, service users, roles, catalog"
AUTH_URL="$AUTH_URL" REGION="$REGION" COMPUTE_URL="$COMPUTE_URL" ORCHESTRATION_URL="$ORCHESTRATION_URL" \
WITH_HEAT="$WITH_HEAT" ADMIN_PASSWORD="$ADMIN_PASSWORD" SERVICE_PASSWORD="$SERVICE_PASSWORD" "$PY" - <<'EOF'
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request

base = os.environ["AUTH_URL"]
region = os.environ["REGION"]
service_password = os.environ["SERVICE_PASSWORD"]


def request(method, path, body=None, token=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("X-Auth-Token", token)
    with urllib.request.urlopen(req, timeout=60) as answer:
        raw = answer.read()
        return answer.headers, (json.loads(raw) if raw else None)


def password_auth(user, password, scope=None):
    auth = {"identity": {"methods": ["password"], "password": {"user": user | {"password": password}}}}
    if scope:
        auth["scope"] = scope
    return request("POST", "/auth/tokens", {"auth": auth})[0]["X-Subject-Token"]


try:
    token = password_auth({"name": "admin", "domain": {"id": "default"}}, os.environ["ADMIN_PASSWORD"],
                          {"project": {"name": "admin", "domain": {"id": "default"}}})

    def ensure(collection, member, query, body):
        found = request("GET", f"/{collection}?{urllib.parse.urlencode(query)}", token=token)[1][collection]
        if found:
            return found[0]["id"]
        return request("POST", f"/{collection}", {member: body}, token=token)[1][member]["id"]

    def user(name, domain):
        found = ensure("users", "user", {"name": name, "domain_id": domain},
                       {"name": name, "domain_id": domain, "password": service_password})
        try:  # a changed NFVD_OS_SERVICE_PASSWORD takes effect on the next run
            password_auth({"id": found}, service_password)
        except urllib.error.HTTPError:
            request("PATCH", f"/users/{found}", {"user": {"password": service_password, "enabled": True}},
                    token=token)
        return found

    def service_user(name):
        found = user(name, "default")
        for role in ("admin", "service"):
            request("PUT", f"/projects/{service}/users/{found}/roles/{roles[role]}", token=token)

    def catalog(name, kind, url):
        entry = ensure("services", "service", {"type": kind},
                       {"name": name, "type": kind, "enabled": True})
        endpoints = request("GET", f"/endpoints?service_id={entry}", token=token)[1]["endpoints"]
        for interface in ("public", "internal", "admin"):
            mine = [e for e in endpoints if e["interface"] == interface and e.get("region_id") == region]
            if not mine:
                request("POST", "/endpoints", {"endpoint": {"service_id": entry, "interface": interface,
                                                            "region_id": region, "url": url}}, token=token)
            elif mine[0]["url"] != url:
                request("PATCH", f"/endpoints/{mine[0]['id']}", {"endpoint": {"url": url}}, token=token)

    names = ["admin", "member", "reader", "service"]
    if os.environ["WITH_HEAT"] == "1":
        # heat_stack_user: the role of the users Heat makes for a stack; heat_stack_owner: kept
        # for templates and policies that name it
        names += ["heat_stack_owner", "heat_stack_user"]
    roles = {name: ensure("roles", "role", {"name": name}, {"name": name}) for name in names}
    service = ensure("projects", "project", {"name": "service", "domain_id": "default"},
                     {"name": "service", "domain_id": "default"})

    service_user("nova")
    catalog("nova", "compute", os.environ["COMPUTE_URL"])

    if os.environ["WITH_HEAT"] == "1":
        service_user("heat")
        domain = ensure("domains", "domain", {"name": "heat"},
                        {"name": "heat", "description": "users and projects that Heat makes for stacks"})
        domain_admin = user("heat_domain_admin", domain)
        request("PUT", f"/domains/{domain}/users/{domain_admin}/roles/{roles['admin']}", token=token)
        catalog("heat", "orchestration", os.environ["ORCHESTRATION_URL"])
except urllib.error.HTTPError as error:
    sys.exit(f"keystone answered {error.code} to {error.url}: {error.read()[:300]!r}")
EOF

wait "$NOVA_DB" || fail "nova database migrations failed; see $LOG/nova-manage.log"

# ------------------------------------------------------------------------------------------------
# nova-api and heat-all (eventlet, both). They listen with SO_REUSEPORT, so a second one would
# share the port without an error: check the port ourselves. Both start before either is awaited.
# ------------------------------------------------------------------------------------------------
if alive nova-api nova.cmd.api; then
    say "nova-api: already running (pid $(cat "$RUN/nova-api.pid"))"
else
    listening "$NOVA_PORT" && fail "port $NOVA_PORT is taken by a process this script did not start"
    say "nova-api: starting on $COMPUTE_URL"
    launch nova-api nova.cmd.api "$PY" -c \
        'import sys; from nova.cmd.api import main; sys.argv[0] = "nova-api"; sys.exit(main())' \
        --config-file "$NV/nova.conf"
fi

# heat-all is the API and the engine in one process. bash starts background jobs with SIGINT
# ignored, and SIGTERM may end only its engine while its API goes on serving: it gets SIGINT back
# at the default action, and stop.sh sends SIGINT before SIGTERM.
if [ "$WITH_HEAT" = 1 ]; then
    wait "$HEAT_DB" || fail "heat database migrations failed; see $LOG/heat-manage.log"
    if alive heat-all heat.cmd.all; then
        say "heat-all: already running (pid $(cat "$RUN/heat-all.pid"))"
    else
        listening "$HEAT_PORT" && fail "port $HEAT_PORT is taken by a process this script did not start"
        say "heat-all: starting on http://$ADDR:$HEAT_PORT/v1"
        STOP_SIGNALS="INT TERM" launch heat-all heat.cmd.all "$PY" -c 'import signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
from heat.cmd.all import main
sys.argv[0] = "heat-all"
sys.exit(main())' --config-file "$HT/heat.conf"
    fi
fi

answers "http://$ADDR:$NOVA_PORT/" 90 || fail "nova-api does not answer; see $LOG/nova-api*"
[ "$WITH_HEAT" = 0 ] || answers "http://$ADDR:$HEAT_PORT/" 90 \
    || fail "heat-all does not answer; see $LOG/heat*"

# ------------------------------------------------------------------------------------------------
# Credentials for clients
# ------------------------------------------------------------------------------------------------
umask 077
cat > "$STATE/openrc" <<EOF
export OS_AUTH_URL=$AUTH_URL
export OS_IDENTITY_API_VERSION=3
export OS_USERNAME=admin
export OS_PASSWORD=$ADMIN_PASSWORD
export OS_PROJECT_NAME=admin
export OS_USER_DOMAIN_NAME=Default
export OS_PROJECT_DOMAIN_NAME=Default
export OS_REGION_NAME=$REGION
export OS_INTERFACE=public
EOF

total=$(since "$T0")
echo "$(date -u +%FT%TZ) apt=${APT_SECONDS}s configure_and_start=$(since "$T_CONFIG")s total=${total}s" \
    "heat=$WITH_HEAT" >> "$STATE/timings.log"
say "ready in ${total}s (packages ${APT_SECONDS}s): keystone $AUTH_URL, nova-api $COMPUTE_URL"
[ "$WITH_HEAT" = 0 ] || say "heat: http://$ADDR:$HEAT_PORT/v1/<project id> (catalog type orchestration)"
say "credentials: $STATE/openrc; stop with tests/openstack/stop.sh"
