use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::prelude::BASE64_STANDARD;
use flowmart_kafka::SchemaRegistryConfig;
use flowmart_schemas::{AvroRecord, InventoryEvent, OrderEvent, PaymentEvent, ReorderAlert, ReorderPolicy};
use serde_json::{Value, json};

#[derive(Default)]
struct Schemas {
    /// Schema text by id (ids from 1).
    by_id: Vec<String>,
    /// Per subject, the ids of its versions in order.
    subjects: BTreeMap<String, Vec<u32>>,
}

impl Schemas {
    fn register(&mut self, subject: &str, schema: &str) -> u32 {
        let id = match self.by_id.iter().position(|known| known == schema) {
            Some(index) => index as u32 + 1,
            None => {
                self.by_id.push(schema.to_string());
                self.by_id.len() as u32
            }
        };
        let versions = self.subjects.entry(subject.to_string()).or_default();
        if !versions.contains(&id) {
            versions.push(id);
        }
        id
    }
}

type Shared = Arc<Mutex<Schemas>>;

fn not_found() -> (StatusCode, Json<Value>) {
    (StatusCode::NOT_FOUND, Json(json!({ "error_code": 40403, "message": "Schema not found" })))
}

/// A Schema Registry stub: the Confluent REST routes `schema_registry_converter` calls, loaded
/// with the repository's `.avsc` files under the TopicNameStrategy subjects of the default topics.
pub struct RegistryStub {
    url: String,
    schemas: Shared,
    /// What a client needs beyond the URL: basic auth and the CA (when served over https).
    client: SchemaRegistryConfig,
    _runtime: tokio::runtime::Runtime,
}

impl RegistryStub {
    /// Starts the stub on a free loopback port, over http, without authentication.
    pub fn start() -> RegistryStub {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let schemas = Shared::default();
        let app = routes(Arc::clone(&schemas));
        runtime.spawn(async move { axum::serve(listener, app).await });
        RegistryStub { client: SchemaRegistryConfig::new(&url), url, schemas, _runtime: runtime }
    }

    /// Starts the stub over https with `certificates` (at `https://localhost:<port>`), answering
    /// only requests with basic auth as `username` and `password` (401 otherwise); its
    /// [`config`](RegistryStub::config) carries both and trusts the certificates' CA.
    pub fn start_https(certificates: &crate::TestCertificates, username: &str, password: &str) -> RegistryStub {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let url = format!("https://localhost:{}", listener.local_addr().unwrap().port());
        let schemas = Shared::default();
        let expected = format!("Basic {}", BASE64_STANDARD.encode(format!("{username}:{password}")));
        let app = routes(Arc::clone(&schemas)).layer(axum::middleware::from_fn(move |request: Request, next: Next| {
            let authorized =
                request.headers().get(header::AUTHORIZATION).is_some_and(|value| value == expected.as_str());
            async move {
                match authorized {
                    true => next.run(request).await,
                    false => unauthorized(),
                }
            }
        }));
        runtime.spawn(crate::https::serve(listener, app, certificates));
        let client = SchemaRegistryConfig {
            url: url.clone(),
            username: Some(username.to_string()),
            password: Some(password.to_string()),
            ca_file: Some(certificates.ca_file()),
        };
        RegistryStub { url, schemas, client, _runtime: runtime }
    }

    /// Its base URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// How a client reaches it: the URL, and basic auth and the CA file when it has them.
    pub fn config(&self) -> SchemaRegistryConfig {
        self.client.clone()
    }

    /// Registers `schema` under `subject` (as a producer would) and returns its id.
    pub fn register(&self, subject: &str, schema: &str) -> u32 {
        self.schemas.lock().unwrap().register(subject, schema)
    }

    /// The id of the latest version of `subject`.
    pub fn latest_id(&self, subject: &str) -> Option<u32> {
        self.schemas.lock().unwrap().subjects.get(subject).and_then(|versions| versions.last().copied())
    }
}

/// The Confluent routes, over schemas loaded with the contract's records.
fn routes(schemas: Shared) -> axum::Router {
    {
        let mut registered = schemas.lock().unwrap();
        registered.register("flowmart.inventory-value", InventoryEvent::SCHEMA_TEXT);
        registered.register("flowmart.orders-value", OrderEvent::SCHEMA_TEXT);
        registered.register("flowmart.payments-value", PaymentEvent::SCHEMA_TEXT);
        registered.register("flowmart.reorder-policies-value", ReorderPolicy::SCHEMA_TEXT);
        registered.register("flowmart.reorder-alerts-value", ReorderAlert::SCHEMA_TEXT);
    }
    axum::Router::new()
        .route("/schemas/ids/{id}", get(by_id))
        .route("/subjects/{subject}/versions", post(register))
        .route("/subjects/{subject}/versions/latest", get(latest))
        .route("/subjects/{subject}", post(lookup))
        .with_state(schemas)
}

fn unauthorized() -> Response {
    let body = Json(json!({ "error_code": 40101, "message": "Unauthorized" }));
    (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Basic realm=\"registry\"")], body).into_response()
}

async fn by_id(State(schemas): State<Shared>, Path(id): Path<u32>) -> (StatusCode, Json<Value>) {
    match schemas.lock().unwrap().by_id.get((id as usize).wrapping_sub(1)) {
        Some(schema) => (StatusCode::OK, Json(json!({ "schema": schema }))),
        None => not_found(),
    }
}

fn described(schemas: &Schemas, subject: &str, id: u32) -> Value {
    let version = schemas.subjects[subject].iter().position(|known| *known == id).unwrap_or(0) + 1;
    json!({ "subject": subject, "version": version, "id": id, "schema": schemas.by_id[id as usize - 1] })
}

async fn register(State(schemas): State<Shared>, Path(subject): Path<String>, Json(body): Json<Value>) -> Json<Value> {
    let schema = body["schema"].as_str().unwrap_or_default().to_string();
    Json(json!({ "id": schemas.lock().unwrap().register(&subject, &schema) }))
}

async fn lookup(
    State(schemas): State<Shared>,
    Path(subject): Path<String>,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    let schemas = schemas.lock().unwrap();
    let schema = body["schema"].as_str().unwrap_or_default();
    let id = schemas.by_id.iter().position(|known| known == schema).map(|index| index as u32 + 1);
    match id.filter(|id| schemas.subjects.get(&subject).is_some_and(|versions| versions.contains(id))) {
        Some(id) => (StatusCode::OK, Json(described(&schemas, &subject, id))),
        None => not_found(),
    }
}

async fn latest(State(schemas): State<Shared>, Path(subject): Path<String>) -> (StatusCode, Json<Value>) {
    let schemas = schemas.lock().unwrap();
    match schemas.subjects.get(&subject).and_then(|versions| versions.last()) {
        Some(id) => (StatusCode::OK, Json(described(&schemas, &subject, *id))),
        None => not_found(),
    }
}
