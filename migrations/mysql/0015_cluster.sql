-- Cluster mode (src/cluster, docs/cluster.md).
-- hd_cluster: settings every node of the cluster must share; 'partitions' is written by the first
-- node and checked by every later one.
CREATE TABLE hd_cluster (
    name  VARCHAR(64)  NOT NULL,
    value VARCHAR(255) NOT NULL,
    PRIMARY KEY (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- hd_node: the nodes of the cluster and their last heartbeat (database time, milliseconds);
-- a node is alive while its heartbeat is recent. Partition leases are hd_lease rows named
-- 'partition:N'.
CREATE TABLE hd_node (
    node_id       VARCHAR(128) NOT NULL,
    advertise_url VARCHAR(512) NOT NULL,
    host          VARCHAR(255) NOT NULL,
    pid           BIGINT       NOT NULL,
    started_at    BIGINT       NOT NULL,
    heartbeat_at  BIGINT       NOT NULL,
    PRIMARY KEY (node_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
