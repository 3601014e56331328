-- Cluster mode needs MySQL/MariaDB; the tables exist here too so both backends share one schema
-- history (see the MySQL migration for what they hold).
CREATE TABLE hd_cluster (
    name  TEXT NOT NULL PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE hd_node (
    node_id       TEXT    NOT NULL PRIMARY KEY,
    advertise_url TEXT    NOT NULL,
    host          TEXT    NOT NULL,
    pid           INTEGER NOT NULL,
    started_at    INTEGER NOT NULL,
    heartbeat_at  INTEGER NOT NULL
);
