#!/bin/bash
# Playground MySQL 8.4 set-up, run once by the image's entrypoint when it initializes the datadir
# (docker-entrypoint-initdb.d; docker_process_sql is the entrypoint's helper).
#   HEIR_ROLE=source   the first master
#   HEIR_ROLE=replica  replicates from HEIR_SOURCE_HOST with GTID auto-positioning
set -euo pipefail

# Accounts on every server, outside the binary log (each server creates its own: no errant GTIDs).
# Privileges as in docs/GRANTS.md (MySQL 8.4).
docker_process_sql <<-EOSQL
	SET SESSION sql_log_bin = 0;
	CREATE USER 'heir'@'%' IDENTIFIED BY '${HEIR_MYSQL_PASSWORD}';
	GRANT SELECT, PROCESS, RELOAD, REPLICATION CLIENT, REPLICATION SLAVE ON *.* TO 'heir'@'%';
	GRANT REPLICATION_SLAVE_ADMIN, SYSTEM_VARIABLES_ADMIN, CONNECTION_ADMIN, BINLOG_ADMIN ON *.* TO 'heir'@'%';
	GRANT SYSTEM_USER ON *.* TO 'heir'@'%';
	GRANT SELECT, INSERT, UPDATE, DELETE, CREATE ON \`heir\`.* TO 'heir'@'%';
	CREATE USER 'repl'@'%' IDENTIFIED BY '${HEIR_REPL_PASSWORD}';
	GRANT REPLICATION SLAVE ON *.* TO 'repl'@'%';
	CREATE USER 'app'@'%' IDENTIFIED BY '${APP_PASSWORD}';
	GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, INDEX, ALTER ON \`app\`.* TO 'app'@'%';
EOSQL

case "${HEIR_ROLE:-}" in
source)
	# Application data goes through the binary log, so the replicas get it.
	docker_process_sql <<-EOSQL
		CREATE DATABASE IF NOT EXISTS app;
		CREATE TABLE app.orders (id BIGINT AUTO_INCREMENT PRIMARY KEY, item VARCHAR(64) NOT NULL, created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP);
	EOSQL
	;;
replica)
	# Read-only from now on (persisted: the entrypoint restarts the server after this script).
	docker_process_sql <<-EOSQL
		CHANGE REPLICATION SOURCE TO
		  SOURCE_HOST = '${HEIR_SOURCE_HOST}', SOURCE_PORT = 3306,
		  SOURCE_USER = 'repl', SOURCE_PASSWORD = '${HEIR_REPL_PASSWORD}',
		  SOURCE_AUTO_POSITION = 1, GET_SOURCE_PUBLIC_KEY = 1,
		  SOURCE_CONNECT_RETRY = 2, SOURCE_RETRY_COUNT = 100000;
		START REPLICA;
		SET PERSIST read_only = ON;
		SET PERSIST super_read_only = ON;
	EOSQL
	;;
*)
	echo "10-heir.sh: HEIR_ROLE must be source or replica, not '${HEIR_ROLE:-}'" >&2
	exit 1
	;;
esac
