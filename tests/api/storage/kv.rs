//! The key-value store contract: memory always, Redis when `TEST_REDIS_URL` is set.

use std::sync::Arc;
use std::time::Duration;

use hotdeal::domain::clock::ManualClock;
use hotdeal::kv::{KvStore, MemoryKv, RedisKv};

/// How a contract run lets time pass a TTL: a manual clock for memory, real time for Redis.
enum Time {
    Manual(ManualClock),
    Real,
}

impl Time {
    async fn pass(&self, d: Duration) {
        match self {
            Time::Manual(clock) => clock.advance(d.as_millis() as i64),
            Time::Real => tokio::time::sleep(d).await,
        }
    }
}

async fn kv_contract(kv: Arc<dyn KvStore>, time: Time) {
    let long = Duration::from_secs(60);
    let short = Duration::from_millis(200);

    assert_eq!(kv.get("missing").await.unwrap(), None);
    assert!(!kv.del("missing").await.unwrap());
    assert_eq!(kv.get_del("missing").await.unwrap(), None);

    kv.set_ex("k", "v1", long).await.unwrap();
    assert_eq!(kv.get("k").await.unwrap().as_deref(), Some("v1"));
    kv.set_ex("k", "v2", long).await.unwrap();
    assert_eq!(kv.get("k").await.unwrap().as_deref(), Some("v2"));

    // set_nx_ex only sets an absent key.
    assert!(!kv.set_nx_ex("k", "v3", long).await.unwrap());
    assert_eq!(kv.get("k").await.unwrap().as_deref(), Some("v2"));
    assert!(kv.set_nx_ex("nx", "first", long).await.unwrap());
    assert_eq!(kv.get("nx").await.unwrap().as_deref(), Some("first"));

    // del and get_del.
    assert!(kv.del("k").await.unwrap());
    assert_eq!(kv.get("k").await.unwrap(), None);
    assert!(!kv.del("k").await.unwrap());
    assert_eq!(kv.get_del("nx").await.unwrap().as_deref(), Some("first"));
    assert_eq!(kv.get_del("nx").await.unwrap(), None);
    assert_eq!(kv.get("nx").await.unwrap(), None);

    // Values are opaque text (JWTs, unicode).
    let odd = "eyJ.a-b_c/+= 한글 \"quoted\"";
    kv.set_ex("odd key:1", odd, long).await.unwrap();
    assert_eq!(kv.get("odd key:1").await.unwrap().as_deref(), Some(odd));

    // Expiry is honoured on every read path and frees the key for set_nx_ex.
    kv.set_ex("ttl-get", "x", short).await.unwrap();
    kv.set_ex("ttl-getdel", "x", short).await.unwrap();
    kv.set_ex("ttl-del", "x", short).await.unwrap();
    assert!(kv.set_nx_ex("ttl-nx", "old", short).await.unwrap());
    kv.set_ex("ttl-long", "stays", long).await.unwrap();
    time.pass(short * 2).await;
    assert_eq!(kv.get("ttl-get").await.unwrap(), None);
    assert_eq!(kv.get_del("ttl-getdel").await.unwrap(), None);
    assert!(!kv.del("ttl-del").await.unwrap());
    assert!(kv.set_nx_ex("ttl-nx", "new", long).await.unwrap());
    assert_eq!(kv.get("ttl-nx").await.unwrap().as_deref(), Some("new"));
    assert_eq!(kv.get("ttl-long").await.unwrap().as_deref(), Some("stays"));

    // Concurrent callers: exactly one wins set_nx_ex, exactly one gets the value from get_del.
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let kv = kv.clone();
            tokio::spawn(async move { kv.set_nx_ex("race", &i.to_string(), long).await })
        })
        .collect();
    let mut winners = 0;
    for t in tasks {
        winners += usize::from(t.await.unwrap().unwrap());
    }
    assert_eq!(winners, 1);
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let kv = kv.clone();
            tokio::spawn(async move { kv.get_del("race").await })
        })
        .collect();
    let mut got = 0;
    for t in tasks {
        got += usize::from(t.await.unwrap().unwrap().is_some());
    }
    assert_eq!(got, 1);
}

#[tokio::test]
async fn kv_contract_memory() {
    let clock = ManualClock::new(1_000);
    let kv = MemoryKv::with_clock(10_000, Arc::new(clock.clone()));
    kv_contract(Arc::new(kv), Time::Manual(clock)).await;
}

#[tokio::test]
#[ignore = "needs Redis: set TEST_REDIS_URL"]
async fn kv_contract_redis() {
    let Ok(url) = std::env::var("TEST_REDIS_URL") else {
        eprintln!("TEST_REDIS_URL not set; skipped");
        return;
    };
    let prefix = format!("hotdeal-test:{}:", uuid::Uuid::new_v4().simple());
    let kv = RedisKv::connect(&url, &prefix).await.expect("redis");
    kv_contract(Arc::new(kv), Time::Real).await;
    // Keys are prefixed: the same key under another prefix is another key.
    let other = RedisKv::connect(
        &url,
        &format!("hotdeal-test:{}:", uuid::Uuid::new_v4().simple()),
    )
    .await
    .unwrap();
    assert_eq!(other.get("ttl-long").await.unwrap(), None);
}
