-- Leases on the database (src/persistence/node_lock.rs). Without --cluster one row, name
-- 'database', records which node serves this database; cluster mode keeps one row per partition.
-- - owner: the holder's node id (HOTDEAL_NODE_ID, or the one generated in its data dir);
-- - epoch: incremented by every acquisition (the fencing token);
-- - expires_at: when the lease lapses unless renewed (milliseconds, UTC; NULL: held by a file
--   lock, which lapses with its process);
-- - released_at: set when the holder stopped cleanly with everything it decided in the database
--   (NULL while held, or after a crash: then only the same owner may take it back);
-- - host, pid, advertise_url, acquired_at, renewed_at: who and since when, for the operator;
-- - connection_id: unused on SQLite.
CREATE TABLE hd_lease (
    name          TEXT    NOT NULL PRIMARY KEY,
    owner         TEXT    NOT NULL,
    epoch         INTEGER NOT NULL,
    expires_at    INTEGER NULL,
    released_at   INTEGER NULL,
    host          TEXT    NOT NULL,
    pid           INTEGER NOT NULL,
    advertise_url TEXT    NOT NULL,
    acquired_at   INTEGER NOT NULL,
    renewed_at    INTEGER NOT NULL,
    connection_id INTEGER NULL
);
