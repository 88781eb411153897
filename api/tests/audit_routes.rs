//! The audit log through the API, over HTTP against a real Postgres: key and webhook changes are
//! recorded in one chain naming who acted; `GET /v1/audit` shows a tenant its own records only;
//! `GET /v1/admin/audit` filters by tenant (and that read is itself recorded); pages, bad
//! parameters, and 501 without a database.

use flowmart_api::audit::{AuditLog, ChainCheck};
use flowmart_api::webhooks::Webhooks;
use flowmart_api::{ApiKeys, Store};
use flowmart_serving::ServingIndex;
use flowmart_testkit::TestDatabase;
use reqwest::StatusCode;
use serde_json::{Value, json};

mod support;
use support::{ADMIN_TOKEN, Api, State};

/// The API over an empty index, with its keys, webhooks and audit log in `database` (or in memory,
/// unaudited, without one).
fn start(database: Option<&TestDatabase>) -> Api {
    let runtime = support::runtime();
    let (index, writer) = ServingIndex::new(u64::MAX);
    let state = runtime.block_on(async {
        match database {
            Some(database) => {
                let store = Store::open(&database.url()).await.unwrap();
                let keys = ApiKeys::stored(&store).await.unwrap();
                let webhooks = Webhooks::stored(index.clone(), &store, support::loopback()).await.unwrap();
                State::new(index).keys(keys).webhooks(webhooks).audit(Some(AuditLog::new(&store)))
            }
            None => State::new(index).loopback_webhooks(),
        }
    });
    Api::serve(runtime, state.writer(writer))
}

impl Api {
    fn register_webhook(&self, key: &str) -> String {
        let (status, body) = self.post("/v1/webhooks", key, json!({ "url": "http://127.0.0.1:9/hook" }));
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["webhook_id"].as_str().unwrap().to_string()
    }

    /// Every record a route shows, following its pages of `limit`.
    fn all_pages(&self, path: &str, bearer: &str, limit: usize) -> Vec<Value> {
        let separator = if path.contains('?') { '&' } else { '?' };
        let pages = self.pages(&format!("{path}{separator}limit={limit}"), bearer);
        assert!(pages.iter().all(|page| page.len() <= limit));
        pages.concat()
    }
}

fn actions(records: &[Value]) -> Vec<(String, String)> {
    records
        .iter()
        .map(|record| (record["action"].as_str().unwrap().to_string(), record["actor"].as_str().unwrap().to_string()))
        .collect()
}

#[test]
fn each_tenant_sees_only_its_own_audit_records_naming_who_acted() {
    let database = TestDatabase::create();
    let api = start(Some(&database));
    let (acme, acme_key_id) = api.issue_key_and_id("acme");
    let (globex, globex_key_id) = api.issue_key_and_id("globex");
    let webhook = api.register_webhook(&acme);
    api.register_webhook(&globex);
    let removed = api.send(api.client.delete(format!("{}/v1/webhooks/{webhook}", api.url)).bearer_auth(&acme));
    assert_eq!(removed.0, StatusCode::NO_CONTENT);

    let seen_by_acme = api.all_pages("/v1/audit", &acme, 1);
    assert_eq!(
        actions(&seen_by_acme),
        vec![
            ("api_key.issued".into(), "admin".into()),
            ("webhook.registered".into(), acme_key_id.clone()),
            ("webhook.removed".into(), acme_key_id.clone()),
        ]
    );
    assert!(seen_by_acme.iter().all(|record| record["tenant_id"] == "acme"));
    assert_eq!(seen_by_acme[0]["details"]["key_id"], acme_key_id.as_str());
    assert_eq!(seen_by_acme[1]["details"]["webhook_id"], webhook.as_str());
    let seen_by_globex = api.all_pages("/v1/audit", &globex, 1_000);
    assert_eq!(
        actions(&seen_by_globex),
        vec![("api_key.issued".into(), "admin".into()), ("webhook.registered".into(), globex_key_id)]
    );
    let everything = api.all_pages("/v1/admin/audit", ADMIN_TOKEN, 2);
    assert_eq!(
        everything.iter().map(|record| record["seq"].as_i64().unwrap()).collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5]
    );
    let secrets = [acme.as_str(), globex.as_str()];
    assert!(everything.iter().all(|record| secrets.iter().all(|secret| !record.to_string().contains(secret))));
}

#[test]
fn the_admin_filters_by_tenant_and_each_read_of_a_tenant_is_itself_recorded() {
    let database = TestDatabase::create();
    let api = start(Some(&database));
    let (acme, acme_key_id) = api.issue_key_and_id("acme");
    api.issue_key("globex");
    let revoke = api.client.delete(format!("{}/v1/admin/tenants/acme/api-keys/{acme_key_id}", api.url));
    assert_eq!(api.send(revoke.bearer_auth(ADMIN_TOKEN)).0, StatusCode::NO_CONTENT);
    assert_eq!(api.get("/v1/audit", &acme).0, StatusCode::UNAUTHORIZED, "a revoked key reads nothing");

    let (status, globex_only) = api.get("/v1/admin/audit?tenant_id=globex", ADMIN_TOKEN);
    assert_eq!(status, StatusCode::OK);
    assert_eq!(actions(globex_only["items"].as_array().unwrap()), vec![("api_key.issued".into(), "admin".into())]);
    let (_, keys) = api.get("/v1/admin/tenants/acme/api-keys", ADMIN_TOKEN);
    assert_eq!(keys["keys"], json!([]));

    let (_, acme_now) = api.get("/v1/admin/audit?tenant_id=acme", ADMIN_TOKEN);
    assert_eq!(
        actions(acme_now["items"].as_array().unwrap()),
        vec![
            ("api_key.issued".into(), "admin".into()),
            ("api_key.revoked".into(), "admin".into()),
            ("admin.read".into(), "admin".into()),
        ],
        "the admin's read of acme's keys is on acme's record; the read of globex's log on globex's"
    );
    let (_, globex_now) = api.get("/v1/admin/audit?tenant_id=globex", ADMIN_TOKEN);
    assert_eq!(globex_now["items"][1]["action"], "admin.read");
    assert_eq!(globex_now["items"][1]["details"]["route"], "/v1/admin/audit");

    // The records the API wrote form one intact chain.
    let records = api.runtime.block_on(async {
        let log = AuditLog::new(&Store::open(&database.url()).await.unwrap());
        log.page(&Default::default(), 0, 100).await.unwrap()
    });
    let mut check = ChainCheck::new();
    assert!(records.iter().all(|record| check.check(record).is_ok()));
    assert_eq!(check.checked(), 7);
}

#[test]
fn a_change_whose_audit_record_cannot_be_written_is_not_made() {
    let database = TestDatabase::create();
    let api = start(Some(&database));
    let (acme, key_id) = api.issue_key_and_id("acme");
    // From now on no record can be appended (as if the log's table were full or broken).
    database.rows("ALTER TABLE audit_log ADD CONSTRAINT nothing_after_the_first CHECK (seq < 2)");
    let issue = api.client.post(format!("{}/v1/admin/tenants/globex/api-keys", api.url)).bearer_auth(ADMIN_TOKEN);
    assert_eq!(api.send(issue).0, StatusCode::SERVICE_UNAVAILABLE);
    let webhook = api.post("/v1/webhooks", &acme, json!({ "url": "http://127.0.0.1:9/hook" }));
    assert_eq!(webhook.0, StatusCode::SERVICE_UNAVAILABLE);
    let revoke =
        api.client.delete(format!("{}/v1/admin/tenants/acme/api-keys/{key_id}", api.url)).bearer_auth(ADMIN_TOKEN);
    assert_eq!(api.send(revoke).0, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        api.get("/v1/admin/tenants/acme/api-keys", ADMIN_TOKEN).0,
        StatusCode::SERVICE_UNAVAILABLE,
        "an unaudited read"
    );
    let stored = database.rows(
        "SELECT (SELECT count(*) FROM api_keys)::text, (SELECT count(*) FROM api_keys WHERE revoked_at IS NULL)::text,
                (SELECT count(*) FROM webhooks)::text, (SELECT count(*) FROM audit_log)::text",
    );
    assert_eq!(stored, vec![vec!["1", "1", "0", "1"]], "keys, live keys, webhooks, audit records");
}

#[test]
fn a_time_window_selects_records_and_bad_parameters_get_400() {
    let database = TestDatabase::create();
    let api = start(Some(&database));
    let acme = api.issue_key("acme");
    let (_, first) = api.get("/v1/audit", &acme);
    let at = first["items"][0]["at"].as_i64().unwrap();
    for (window, expected) in [
        (format!("from={at}&to={}", at + 1), 1),
        (format!("from={}", at + 1), 0),
        (format!("to={at}"), 0),
        (format!("from={}&to={at}", at + 1), 0),
    ] {
        let (status, body) = api.get(&format!("/v1/audit?{window}"), &acme);
        assert_eq!((status, body["items"].as_array().map(Vec::len)), (StatusCode::OK, Some(expected)), "{window}");
    }
    for bad in ["from=yesterday", "limit=0", "cursor=zz", "cursor=", "tenant_id=globex"] {
        let (status, body) = api.get(&format!("/v1/audit?{bad}"), &acme);
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert!(body["error"].is_string(), "{bad}");
    }
    assert_eq!(api.get("/v1/admin/audit?to=soon", ADMIN_TOKEN).0, StatusCode::BAD_REQUEST);
    assert_eq!(api.get("/v1/admin/audit", &acme).0, StatusCode::UNAUTHORIZED, "a tenant key is not the admin's");
}

#[test]
fn without_a_database_the_audit_routes_answer_501() {
    let api = start(None);
    let acme = api.issue_key("acme");
    for (path, bearer) in [("/v1/audit", acme.as_str()), ("/v1/admin/audit", ADMIN_TOKEN)] {
        let (status, body) = api.get(path, bearer);
        assert_eq!(status, StatusCode::NOT_IMPLEMENTED, "{path}");
        assert!(body["error"].as_str().unwrap().contains("Postgres"), "{body}");
    }
}

#[test]
fn the_openapi_document_describes_the_audit_routes() {
    let api = start(None);
    let (status, document) = api.send(api.client.get(format!("{}/openapi.json", api.url)));
    assert_eq!(status, StatusCode::OK);
    for path in ["/v1/audit", "/v1/admin/audit"] {
        assert!(document["paths"][path]["get"]["responses"]["501"].is_object(), "{path}");
    }
    assert!(document["components"]["schemas"]["AuditRecord"]["properties"]["prev_hash"].is_object());
}
