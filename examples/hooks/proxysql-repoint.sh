#!/bin/sh
# heir post_failover / post_switchover hook: point ProxySQL's writer hostgroup at the new master.
#
#   hooks:
#     post_failover:
#       command: [/usr/local/bin/heir-proxysql-repoint, --admin, 10.0.1.50:6032, --hostgroup, "10"]
#     post_switchover:
#       command: [/usr/local/bin/heir-proxysql-repoint, --admin, 10.0.1.50:6032, --hostgroup, "10"]
#
# The ProxySQL admin account is read from a client option file (never from the command line,
# where every local user could see it), by default /etc/heir/proxysql-admin.cnf:
#
#   [client]
#   user=radmin
#   password=...
#
# heir gives the new master as HEIR_NEW_MASTER (empty when the operation promoted no one),
# HEIR_NEW_MASTER_HOST and HEIR_NEW_MASTER_PORT; the report is on stdin (unused here).
# Exit status other than 0 is recorded in heir's report as a failed hook.
set -eu

admin=127.0.0.1:6032
hostgroup=10
options=/etc/heir/proxysql-admin.cnf
mysql=mysql
while [ $# -gt 0 ]; do
  case "$1" in
    --admin) admin=$2; shift 2 ;;
    --hostgroup) hostgroup=$2; shift 2 ;;
    --options) options=$2; shift 2 ;;
    --mysql) mysql=$2; shift 2 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done

if [ -z "${HEIR_NEW_MASTER:-}" ]; then
  echo "no new master (${HEIR_OPERATION:-operation} outcome ${HEIR_OUTCOME:-unknown}): ProxySQL left as it is"
  exit 0
fi

host=$HEIR_NEW_MASTER_HOST
port=$HEIR_NEW_MASTER_PORT
# These values go into SQL text: accept only what a host name, an address and a port look like.
case "$host" in *[!A-Za-z0-9.:-]*|'') echo "refusing host '$host'" >&2; exit 2 ;; esac
case "$port$hostgroup" in *[!0-9]*) echo "refusing port '$port' or hostgroup '$hostgroup'" >&2; exit 2 ;; esac

"$mysql" --defaults-extra-file="$options" --host="${admin%:*}" --port="${admin##*:}" --protocol=TCP --batch <<SQL
DELETE FROM mysql_servers WHERE hostgroup_id = $hostgroup;
INSERT INTO mysql_servers (hostgroup_id, hostname, port) VALUES ($hostgroup, '$host', $port);
LOAD MYSQL SERVERS TO RUNTIME;
SAVE MYSQL SERVERS TO DISK;
SQL
echo "ProxySQL $admin: hostgroup $hostgroup -> $HEIR_NEW_MASTER ($host:$port) after $HEIR_OPERATION ${HEIR_OPERATION_ID:-}"
