#!/bin/bash
# Keycloak's own database and user (docker-compose.yml mounts this into MariaDB's
# /docker-entrypoint-initdb.d; the entrypoint sources it once, when the data volume is first made).
docker_process_sql --database=mysql <<SQL
CREATE DATABASE IF NOT EXISTS keycloak CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE USER IF NOT EXISTS 'keycloak'@'%' IDENTIFIED BY '${KEYCLOAK_DB_PASSWORD}';
GRANT ALL PRIVILEGES ON keycloak.* TO 'keycloak'@'%';
SQL
