-- Leases on the database (src/persistence/node_lock.rs). Without --cluster one row, name
-- 'database', records which node serves this database; cluster mode keeps one row per partition.
-- - owner: the holder's node id (HOTDEAL_NODE_ID, or the one generated in its data dir);
-- - epoch: incremented by every acquisition (the fencing token);
-- - expires_at: when the lease lapses unless renewed (milliseconds, UTC);
-- - released_at: set when the holder stopped cleanly with everything it decided in the database
--   (NULL while held, or after a crash: then only the same owner may take it back);
-- - host, pid, advertise_url, acquired_at, renewed_at: who and since when, for the operator;
-- - connection_id: the MySQL connection holding GET_LOCK for the owner.
CREATE TABLE hd_lease (
    name          VARCHAR(64)  NOT NULL,
    owner         VARCHAR(128) NOT NULL,
    epoch         BIGINT       NOT NULL,
    expires_at    BIGINT       NULL,
    released_at   BIGINT       NULL,
    host          VARCHAR(255) NOT NULL,
    pid           BIGINT       NOT NULL,
    advertise_url VARCHAR(512) NOT NULL,
    acquired_at   BIGINT       NOT NULL,
    renewed_at    BIGINT       NOT NULL,
    connection_id BIGINT       NULL,
    PRIMARY KEY (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
