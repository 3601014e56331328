//! Who serves what: the refusals at start, the admin view of nodes and partitions, the node header
//! and forwarding.

use std::collections::HashSet;
use std::time::Duration;

use hotdeal::domain::ids::UserId;

use super::{Claim, Cluster, ClusterView, Entity, Node, PARTITIONS, claim, poll, with_mysql};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs MariaDB/MySQL: set TEST_MYSQL_URL"]
async fn cluster_refuses_sqlite_and_mismatched_partitions() {
    with_mysql(|server| async move {
        let dir = tempfile::tempdir().unwrap();
        let sqlite = format!("sqlite://{}", dir.path().join("cluster.db").display());
        let mut node = Node::spawn(dir.path(), "lite", &sqlite, &[]);
        let (status, log) = node.refused().await;
        assert!(!status.success(), "{status}");
        assert!(log.contains("--cluster") && log.contains("MySQL"), "{log}");

        // The partition count is stored at the first start; a node with another one refuses.
        let cluster = Cluster::start(&server, 1).await;
        let mut other = Node::spawn(
            dir.path(),
            "other",
            &cluster.scratch.url,
            &[("HOTDEAL_PARTITIONS", (PARTITIONS * 2).to_string())],
        );
        let (status, log) = other.refused().await;
        assert!(!status.success(), "{status}");
        assert!(log.contains("partitions"), "{log}");
        // The running node is unaffected and still owns everything.
        let ready = cluster.nodes[0].api.ready().await.unwrap();
        assert_eq!(ready.status, 200);
        cluster.wait_all_owned(&[0], Duration::from_secs(5)).await;
        cluster.finish().await;
    })
    .await;
}

/// Every partition owned, the per-node counts agreeing with the partition list, and the
/// partitions spread evenly (no node holds two more than another).
fn balanced(view: &ClusterView, ids: &[&str]) -> bool {
    if !view.all_owned_by(ids) || view.nodes.iter().filter(|n| n.alive).count() != ids.len() {
        return false;
    }
    let counts: Vec<u32> = ids
        .iter()
        .map(|id| {
            view.partitions
                .iter()
                .filter(|p| p.owner.as_deref() == Some(*id))
                .count() as u32
        })
        .collect();
    let agree = ids.iter().zip(&counts).all(|(id, c)| {
        view.nodes
            .iter()
            .any(|n| n.node_id == *id && n.partitions == *c)
    });
    let (min, max) = (counts.iter().min(), counts.iter().max());
    agree && max.zip(min).is_some_and(|(max, min)| max - min <= 1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs MariaDB/MySQL: set TEST_MYSQL_URL"]
async fn every_response_names_its_node() {
    with_mysql(|server| async move {
        let cluster = Cluster::start(&server, 3).await;
        let ids: Vec<&str> = cluster.nodes.iter().map(|n| n.id.as_str()).collect();

        // Nodes started together spread the partitions within a few lease lengths.
        let view = poll(
            &format!("partitions spread over {ids:?}"),
            Duration::from_secs(30),
            || cluster.view(0),
            |v| balanced(v, &ids),
        )
        .await;
        assert_eq!(view.partitions.len(), PARTITIONS as usize, "{view:#?}");
        let listed: HashSet<(&str, &str)> = view
            .nodes
            .iter()
            .map(|n| (n.node_id.as_str(), n.url.as_str()))
            .collect();
        let expected: HashSet<(&str, &str)> = cluster
            .nodes
            .iter()
            .map(|n| (n.id.as_str(), n.base.as_str()))
            .collect();
        assert_eq!(listed, expected, "{view:#?}");
        assert!(
            view.partitions.iter().all(|p| p.epoch.is_some()),
            "{view:#?}"
        );

        for (i, node) in cluster.nodes.iter().enumerate() {
            let health = node.api.health().await.unwrap();
            assert_eq!(health.status, 200);
            assert_eq!(health.header("x-hotdeal-node"), Some(node.id.as_str()));
            let res = cluster.admin(i).get("/api/v1/admin/cluster").await.unwrap();
            assert_eq!(res.status, 200, "{}", res.body);
            assert_eq!(res.header("x-hotdeal-node"), Some(node.id.as_str()));
            assert_eq!(res.data()["nodeId"], node.id.as_str(), "{}", res.body);
            // An error answer names its node too.
            let refused = node.api.get("/api/v1/admin/cluster").await.unwrap();
            assert_eq!(refused.status, 401, "{}", refused.body);
            assert_eq!(refused.header("x-hotdeal-node"), Some(node.id.as_str()));
        }

        // Every node names the same owner for a campaign, with its URL.
        let campaign = cluster.open_campaign(0, 10).await;
        let owner = cluster
            .wait_owner(
                0,
                Entity::Campaign(campaign),
                Duration::from_secs(5),
                |_| true,
            )
            .await;
        assert!(owner.partition < PARTITIONS, "{owner:?}");
        let owner_id = owner.owner.clone().unwrap();
        let at = cluster.index_of(&owner_id);
        assert_eq!(
            owner.owner_url.as_deref(),
            Some(cluster.nodes[at].base.as_str())
        );
        for i in 0..cluster.nodes.len() {
            // A node whose lease round ran late sees no owner for a moment (its own lease lapsed
            // locally before its renewal): wait for the answer to settle.
            let seen = cluster
                .wait_owner(i, Entity::Campaign(campaign), Duration::from_secs(5), |o| {
                    o == owner_id
                })
                .await;
            assert_eq!(
                (seen.partition, seen.owner.as_deref()),
                (owner.partition, Some(owner_id.as_str()))
            );
        }

        // A claim through another node is forwarded to the owner, which decides it once.
        let (first, second) = ((at + 1) % 3, (at + 2) % 3);
        let user = UserId::new();
        let (answer, res) = claim(&cluster.nodes[first].api, campaign, user).await;
        assert_eq!(answer, Claim::Issued, "{res:?}");
        let (answer, res) = claim(&cluster.nodes[second].api, campaign, user).await;
        assert_eq!(answer, Claim::AlreadyIssued, "{res:?}");
        let forwarded = cluster.nodes[first]
            .metric("hotdeal_cluster_forwarded_total")
            .await;
        assert!(forwarded.is_some_and(|v| v >= 1.0), "{forwarded:?}");
        let held = cluster.nodes[at]
            .metric("hotdeal_cluster_leases_held")
            .await;
        assert!(held.is_some_and(|v| v >= 1.0), "{held:?}");
        cluster.finish().await;
    })
    .await;
}
