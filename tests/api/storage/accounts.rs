//! The accounts SQL contract, on SQLite and on MySQL.

/// The accounts SQL on SQLite and MySQL: unique keys become outcomes, soft deletes, the default
/// address rules.
async fn accounts_repo(db: &hotdeal::persistence::Db) {
    use hotdeal::accounts::repo::{self, AddressFields, NewUser};
    use hotdeal::persistence::page::{PageLimits, PageQuery};

    let now = 1_700_000_000_000;
    let (alice, bob) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
    let user = |id, email, nickname| NewUser {
        user_id: id,
        email,
        password_hash: "$argon2id$fake",
        nickname,
        role: "CUSTOMER",
    };
    repo::insert_user(db, &user(alice, "Alice@Example.com", "alice1"), now)
        .await
        .unwrap();
    // Emails and nicknames are unique case-insensitively, and the violation names the key.
    let err = repo::insert_user(db, &user(bob, "alice@example.com", "bob1"), now)
        .await
        .unwrap_err();
    assert_eq!(repo::unique_violation(&err), Some("email"));
    let err = repo::insert_user(db, &user(bob, "bob@example.com", "ALICE1"), now)
        .await
        .unwrap_err();
    assert_eq!(repo::unique_violation(&err), Some("nickname"));
    repo::insert_user(db, &user(bob, "bob@example.com", "bob1"), now)
        .await
        .unwrap();
    assert!(
        repo::email_registered(db, "ALICE@example.COM")
            .await
            .unwrap()
    );
    assert!(repo::nickname_taken(db, "bob1", Some(alice)).await.unwrap());
    assert!(!repo::nickname_taken(db, "bob1", Some(bob)).await.unwrap());
    let err = repo::update_nickname(db, bob, "alice1", "t", now)
        .await
        .unwrap_err();
    assert_eq!(repo::unique_violation(&err), Some("nickname"));
    let found = repo::find_user_by_email(db, "alice@EXAMPLE.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((found.user_id, found.deleted), (alice, false));

    // p_email: recorded once, then verified.
    assert_eq!(repo::email_verified(db, "c@x.io").await.unwrap(), None);
    repo::record_email(db, "c@x.io").await.unwrap();
    repo::record_email(db, "C@x.io").await.unwrap();
    assert_eq!(
        repo::email_verified(db, "c@x.io").await.unwrap(),
        Some(false)
    );
    repo::mark_email_verified(db, "c@x.io").await.unwrap();
    assert_eq!(
        repo::email_verified(db, "c@X.io").await.unwrap(),
        Some(true)
    );

    // Addresses and the default.
    let fields = |d: &str| AddressFields {
        zip_num: "1".into(),
        city: "Seoul".into(),
        district: "d".into(),
        street_name: "s".into(),
        street_num: "2".into(),
        detail_addr: d.into(),
    };
    let (a1, a2, b1) = (
        uuid::Uuid::now_v7(),
        uuid::Uuid::now_v7(),
        uuid::Uuid::now_v7(),
    );
    repo::insert_address(db, a1, alice, &fields("a1"), "t", now)
        .await
        .unwrap();
    repo::insert_address(db, a2, alice, &fields("a2"), "t", now + 1)
        .await
        .unwrap();
    repo::insert_address(db, b1, bob, &fields("b1"), "t", now)
        .await
        .unwrap();
    assert_eq!(repo::count_live_addresses(db, alice).await.unwrap(), 2);
    let page = PageQuery {
        size: Some(1),
        ..Default::default()
    }
    .check(
        &[("createdAt", "a.created_at")],
        10,
        PageLimits {
            max_size: 100,
            max_page: 1_000,
        },
    )
    .unwrap();
    let (rows, total) = repo::list_addresses(db, alice, &page).await.unwrap();
    assert_eq!((rows.len(), total, rows[0].address_id), (1, 2, a2));
    // Someone else's address cannot become the default.
    assert!(
        !repo::set_default_address(db, alice, b1, "t", now)
            .await
            .unwrap()
    );
    assert!(
        repo::set_default_address(db, alice, a1, "t", now)
            .await
            .unwrap()
    );
    assert_eq!(
        repo::default_address(db, alice)
            .await
            .unwrap()
            .unwrap()
            .address_id,
        a1
    );
    assert!(
        repo::update_address(db, a1, &fields("new"), "t", now)
            .await
            .unwrap()
    );
    assert_eq!(
        repo::find_address(db, a1)
            .await
            .unwrap()
            .unwrap()
            .fields
            .detail_addr,
        "new"
    );
    // Deleting the default clears it; deleting twice does nothing.
    assert!(
        !repo::soft_delete_address(db, a1, bob, "t", now)
            .await
            .unwrap()
    );
    assert!(
        repo::soft_delete_address(db, a1, alice, "t", now)
            .await
            .unwrap()
    );
    assert!(
        !repo::soft_delete_address(db, a1, alice, "t", now)
            .await
            .unwrap()
    );
    assert!(repo::default_address(db, alice).await.unwrap().is_none());
    assert!(
        repo::find_user(db, alice)
            .await
            .unwrap()
            .unwrap()
            .default_address_id
            .is_none()
    );
    assert!(repo::find_address(db, a1).await.unwrap().unwrap().deleted);
    assert!(
        !repo::set_default_address(db, alice, a1, "t", now)
            .await
            .unwrap()
    );
    assert!(
        !repo::update_address(db, a1, &fields("x"), "t", now)
            .await
            .unwrap()
    );

    // Users: password, soft delete, the MASTER bootstrap.
    assert!(
        repo::update_password(db, bob, "$argon2id$other", "t", now)
            .await
            .unwrap()
    );
    assert!(repo::soft_delete_user(db, bob, "t", now).await.unwrap());
    assert!(!repo::soft_delete_user(db, bob, "t", now).await.unwrap());
    assert!(
        !repo::update_nickname(db, bob, "bob2", "t", now)
            .await
            .unwrap()
    );
    assert!(repo::find_user(db, bob).await.unwrap().unwrap().deleted);
    let admin = repo::ensure_master(db, "root@example.com", "$argon2id$a", now)
        .await
        .unwrap();
    let again = repo::ensure_master(db, "ROOT@example.com", "$argon2id$b", now)
        .await
        .unwrap();
    assert_eq!(admin, again);
    let root = repo::find_user(db, admin).await.unwrap().unwrap();
    assert_eq!(
        (root.role.as_str(), root.password_hash.as_str()),
        ("MASTER", "$argon2id$b")
    );
    assert_eq!(
        repo::email_verified(db, "root@example.com").await.unwrap(),
        Some(true)
    );
}

crate::contract_test!(accounts_repo);
