//! Tenant keys in Postgres: issued keys survive a restart, revoked ones stop working at once and
//! stay revoked after one, and the API's table shares the database with the sink's.

use flowmart_api::{ApiKeys, Store};
use flowmart_testkit::TestDatabase;

#[test]
fn keys_survive_a_restart_and_a_revoked_key_stays_revoked() {
    let database = TestDatabase::create();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        // The sink's migrations and the API's, in either order and again, on one database.
        flowmart_postgres::migrate(&database.url()).await.expect("sink migrations");
        let store = Store::open(&database.url()).await.expect("the api's tables");
        let first = ApiKeys::stored(&store).await.expect("the key table");
        flowmart_postgres::migrate(&database.url()).await.expect("sink migrations again");

        let kept = first.issue("acme-wholesale").await.unwrap();
        let revoked = first.issue("acme-wholesale").await.unwrap();
        let other = first.issue("globex-distribution").await.unwrap();
        assert!(first.revoke("acme-wholesale", &revoked.key_id).await.unwrap());
        assert_eq!(first.tenant_of(&revoked.api_key), None, "revoked at once");

        let restarted = ApiKeys::stored(&Store::open(&database.url()).await.unwrap()).await.expect("reloads");
        assert_eq!(restarted.tenant_of(&kept.api_key).as_deref(), Some("acme-wholesale"));
        assert_eq!(restarted.tenant_of(&other.api_key).as_deref(), Some("globex-distribution"));
        assert_eq!(restarted.tenant_of(&revoked.api_key), None, "still revoked after a restart");
        let ids = restarted.keys_of("acme-wholesale").into_iter().map(|info| info.key_id).collect::<Vec<_>>();
        assert_eq!(ids, vec![kept.key_id.clone()]);
        assert!(!restarted.revoke("globex-distribution", &kept.key_id).await.unwrap(), "not another tenant's");
    });
    let digests = database.rows("SELECT count(*)::text FROM api_keys WHERE key_digest IS NOT NULL");
    assert_eq!(digests, [["3"]], "three keys stored");
    let secrets = database.rows("SELECT count(*)::text FROM api_keys WHERE encode(key_digest, 'escape') LIKE 'fmk_%'");
    assert_eq!(secrets, [["0"]], "no secret is stored, only digests");
}

#[test]
fn another_process_sees_keys_issued_and_revoked_elsewhere_once_it_reloads() {
    let database = TestDatabase::create();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let store = Store::open(&database.url()).await.expect("the api's tables");
        // Two processes of a cluster, one key table.
        let (here, there) = (ApiKeys::stored(&store).await.unwrap(), ApiKeys::stored(&store).await.unwrap());
        let issued = here.issue("acme-wholesale").await.unwrap();
        assert_eq!(there.tenant_of(&issued.api_key), None, "not read yet");
        there.reload().await.unwrap();
        assert_eq!(there.tenant_of(&issued.api_key).as_deref(), Some("acme-wholesale"));

        assert!(here.revoke("acme-wholesale", &issued.key_id).await.unwrap());
        // A reload on the revoking process never brings the key back.
        here.reload().await.unwrap();
        assert_eq!(here.tenant_of(&issued.api_key), None);
        there.reload().await.unwrap();
        assert_eq!(there.tenant_of(&issued.api_key), None, "revoked everywhere after a reload");
    });
}

#[test]
fn a_key_issued_through_one_process_works_at_once_on_another() {
    let database = TestDatabase::create();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let store = Store::open(&database.url()).await.expect("the api's tables");
        let (here, there) = (ApiKeys::stored(&store).await.unwrap(), ApiKeys::stored(&store).await.unwrap());
        let issued = here.issue("acme-wholesale").await.unwrap();
        let holder = there.resolve(&issued.api_key).await;
        assert_eq!(holder, Some(("acme-wholesale".into(), issued.key_id.clone())), "no reload needed");
        assert_eq!(there.tenant_of(&issued.api_key).as_deref(), Some("acme-wholesale"), "kept once looked up");

        let (kept, last) = issued.api_key.split_at(issued.api_key.len() - 1);
        let wrong = format!("{kept}{}", if last == "0" { "1" } else { "0" });
        assert_eq!(there.resolve(&wrong).await, None);
        assert_eq!(there.resolve("").await, None);

        // A revoked key is never found in the table, and is not brought back by a lookup.
        let revoked = here.issue("acme-wholesale").await.unwrap();
        assert!(here.revoke("acme-wholesale", &revoked.key_id).await.unwrap());
        assert_eq!(there.resolve(&revoked.api_key).await, None);
        assert_eq!(here.resolve(&revoked.api_key).await, None);
    });
}
