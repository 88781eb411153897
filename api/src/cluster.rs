//! The API of one process of a cluster (README "Scale out").
//!
//! Each process serves only the tenants it owns (`flowmart_schemas::tenant_owner`: the process
//! whose worker computes the tenant's stock, alerts and settlements, by a hash of the tenant id): its
//! collector receives their results from every worker, and its index holds their
//! stock, settlements and alerts, complete up to one `as_of`; its webhooks deliver their alert
//! changes. A tenant's request that reaches another process is **routed** to the owner — forwarded
//! as it came (method, path, query, headers, body) and answered as the owner answers, streams
//! included — so any process answers any tenant, each answer from one process at one `as_of`. The
//! list of all tenants **gathers** every process's part. Every answer names the process that made
//! it in `X-FlowMart-Process`. A routed stream is a live session on both processes: counted
//! against both one's limits, ended by either closing.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use subtle::ConstantTimeEq;
use tokio_stream::StreamExt;

use crate::auth::KeyedTenant;
use crate::sessions::{SessionPermit, Sessions};
use crate::{AdminToken, ApiError, ApiKeys, OutboundTls};

/// Names the process that answered.
pub const PROCESS_HEADER: &str = "x-flowmart-process";
/// Marks a request another process forwarded: it is answered where it lands, never forwarded on.
/// Its value proves it came from a process of the cluster ([`AdminToken::forwarding_proof`]): a
/// client cannot set it to skip the routing (and its tenant's rate limit with it).
const FORWARDED_HEADER: &str = "x-flowmart-forwarded";

/// This process's place in the cluster, for routing.
pub struct ClusterRoutes {
    process: usize,
    /// Every process's API base URL (`http://host:port`), in process order.
    apis: Vec<String>,
    /// Workers per process (the same in every process).
    workers: usize,
    client: reqwest::Client,
    /// The value of [`FORWARDED_HEADER`] every process of the cluster sends and accepts.
    proof: HeaderValue,
}

impl ClusterRoutes {
    /// Process `process` of the processes whose APIs answer at `apis` (`http://` or `https://`,
    /// checked against `tls`), each running `workers` workers, all with `admin` as their admin
    /// token (forwarded requests are proven with it).
    pub fn new(
        process: usize,
        apis: Vec<String>,
        workers: usize,
        admin: &AdminToken,
        tls: &OutboundTls,
    ) -> ClusterRoutes {
        // No overall timeout: a routed alert stream lasts as long as its client listens. A
        // redirect goes back to the client as the owner sent it.
        let client = tls
            .client_builder()
            .connect_timeout(std::time::Duration::from_secs(2))
            .build()
            .expect("an HTTP client with rustls");
        let proof = HeaderValue::from_str(&admin.forwarding_proof()).expect("hex digits are a header value");
        ClusterRoutes { process, apis, workers, client, proof }
    }

    /// Whether `request` was forwarded by a process of this cluster; `Err` when it claims to be
    /// and is not.
    fn forwarded(&self, request: &Request) -> Result<bool, ApiError> {
        match request.headers().get(FORWARDED_HEADER) {
            None => Ok(false),
            Some(proof) if bool::from(proof.as_bytes().ct_eq(self.proof.as_bytes())) => Ok(true),
            Some(_) => Err(ApiError::Forbidden("x-flowmart-forwarded is for the cluster's own processes".into())),
        }
    }

    /// The process that serves `tenant_id` ([`flowmart_schemas::tenant_owner`]): the same on
    /// every process of a build.
    pub fn owner_of(&self, tenant_id: &str) -> usize {
        flowmart_schemas::tenant_owner(tenant_id, self.apis.len(), self.workers)
    }

    /// Whether this process serves `tenant_id`.
    pub fn serves(&self, tenant_id: &str) -> bool {
        self.owner_of(tenant_id) == self.process
    }

    /// Sends `request` to process `owner` and returns its answer (streamed through as it comes);
    /// a stream that `session` holds room for is relayed as a live session of this process.
    async fn forward(
        &self,
        owner: usize,
        request: Request,
        session: Option<(&Sessions, SessionPermit)>,
    ) -> Result<Response, ApiError> {
        let (parts, body) = request.into_parts();
        let body = axum::body::to_bytes(body, crate::MAX_BODY_BYTES)
            .await
            .map_err(|_| ApiError::BadRequest("the request body could not be read".into()))?;
        let answer = self.send(owner, &parts.method, &parts.uri, &parts.headers, body).await?;
        let headers = answer.headers().clone();
        let mut response = match session {
            Some((sessions, permit)) if answer.status().is_success() => {
                // The owner's events as they come; the session ends with the owner's answer.
                let events = answer.bytes_stream().map_while(Result::ok);
                sessions.respond(permit, Box::pin(events))
            }
            _ => Response::builder()
                .status(answer.status())
                .body(Body::from_stream(answer.bytes_stream()))
                .map_err(|_| ApiError::Unavailable("a routed answer was malformed"))?,
        };
        for (name, value) in &headers {
            if name != header::CONTENT_LENGTH && name != header::TRANSFER_ENCODING {
                response.headers_mut().insert(name, value.clone());
            }
        }
        Ok(response)
    }

    async fn send(
        &self,
        owner: usize,
        method: &Method,
        uri: &axum::http::Uri,
        headers: &axum::http::HeaderMap,
        body: axum::body::Bytes,
    ) -> Result<reqwest::Response, ApiError> {
        let path = uri.path_and_query().map_or("/", |path| path.as_str());
        let mut forwarded = self.client.request(method.clone(), format!("{}{path}", self.apis[owner])).body(body);
        for (name, value) in headers {
            if name != header::HOST && name != header::CONTENT_LENGTH && name != FORWARDED_HEADER {
                forwarded = forwarded.header(name, value);
            }
        }
        forwarded.header(FORWARDED_HEADER, self.proof.clone()).send().await.map_err(|error| {
            tracing::warn!(owner, %error, "cannot reach another process of the cluster");
            ApiError::Unavailable("another process of the cluster is unreachable; retry later")
        })
    }

    /// `GET /v1/admin/tenants` over the cluster: this process's tenants and every other's.
    async fn gather_tenants(&self, request: Request, next: Next) -> Result<Response, ApiError> {
        let (parts, body) = request.into_parts();
        // An admin's occasional list: asking the processes one after another is enough.
        let mut others = Vec::with_capacity(self.apis.len());
        for process in (0..self.apis.len()).filter(|process| *process != self.process) {
            let answer =
                self.send(process, &parts.method, &parts.uri, &parts.headers, axum::body::Bytes::new()).await?;
            if !answer.status().is_success() {
                return Err(ApiError::Unavailable("another process of the cluster refused the tenant list"));
            }
            others.push(
                answer
                    .json::<serde_json::Value>()
                    .await
                    .map_err(|_| ApiError::Unavailable("a malformed tenant list"))?,
            );
        }
        let local = next.run(Request::from_parts(parts.clone(), body)).await;
        if !local.status().is_success() {
            return Ok(local);
        }
        let local = axum::body::to_bytes(local.into_body(), usize::MAX)
            .await
            .ok()
            .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
            .ok_or(ApiError::Unavailable("a malformed tenant list"))?;
        let mut tenants = std::iter::once(local)
            .chain(others)
            .flat_map(|list| list["tenants"].as_array().cloned().unwrap_or_default())
            .collect::<Vec<_>>();
        tenants.sort_by(|a, b| a["tenant_id"].as_str().cmp(&b["tenant_id"].as_str()));
        Ok(Json(serde_json::json!({ "tenants": tenants })).into_response())
    }
}

/// Middleware: answers here what this process serves, routes a tenant's request to the tenant's
/// owner, gathers the tenant list from every process; labels every answer with its process.
pub(crate) async fn route(
    State((cluster, keys, sessions)): State<(Arc<ClusterRoutes>, Arc<ApiKeys>, Arc<Sessions>)>,
    mut request: Request,
    next: Next,
) -> Response {
    let forwarded = match cluster.forwarded(&request) {
        Ok(forwarded) => forwarded,
        Err(refused) => return refused.into_response(),
    };
    let path = request.uri().path();
    let tenant_route = path.starts_with("/v1/") && !path.starts_with("/v1/admin/");
    let key = tenant_route.then(|| crate::auth::bearer(request.headers())).flatten();
    let tenant = match key {
        Some(key) => keys.resolve(key).await.map(|(tenant, _)| tenant),
        None => None,
    };
    let owner = tenant.as_ref().map(|tenant| (tenant, cluster.owner_of(tenant)));
    let mut response = match owner {
        Some((tenant, owner)) if owner != cluster.process && !forwarded => {
            metrics::counter!("flowmart_api_routed_total", "to" => owner.to_string()).increment(1);
            let session = match crate::http::is_event_stream(&request).then(|| sessions.admit(tenant)) {
                None => Ok(None),
                Some(admitted) => admitted.map(|permit| Some((sessions.as_ref(), permit))),
            };
            match session {
                Ok(session) => {
                    cluster.forward(owner, request, session).await.unwrap_or_else(IntoResponse::into_response)
                }
                Err(refused) => refused.into_response(),
            }
        }
        _ if path == "/v1/admin/tenants" && request.method() == Method::GET && !forwarded => {
            cluster.gather_tenants(request, next).await.unwrap_or_else(IntoResponse::into_response)
        }
        _ => {
            if let Some(tenant) = tenant {
                request.extensions_mut().insert(KeyedTenant(tenant));
            }
            next.run(request).await
        }
    };
    if !response.headers().contains_key(PROCESS_HEADER) {
        response.headers_mut().insert(HeaderName::from_static(PROCESS_HEADER), HeaderValue::from(cluster.process));
    }
    response
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::extract::Request;
    use axum::http::StatusCode;

    use super::{ClusterRoutes, FORWARDED_HEADER};
    use crate::test_receiver::{self, Answer, TestCa};
    use crate::{AdminToken, OutboundTls};

    #[tokio::test]
    async fn a_request_is_routed_to_an_owner_over_https_trusted_through_the_ca_file() {
        let ca = TestCa::new();
        let owner = test_receiver::tls(&ca, Answer::Status(StatusCode::OK)).await;
        // Process 0 (this one) is never sent to; process 1 is the https owner on loopback.
        let apis = vec!["http://127.0.0.1:9".to_string(), owner.url.origin().ascii_serialization()];
        let admin = AdminToken::new("admin");
        let request = || Request::builder().uri("/v1/stock?sku=a").body(Body::empty()).unwrap();

        let trusting = ClusterRoutes::new(0, apis.clone(), 1, &admin, &OutboundTls::new(Some(&ca.pem_file)).unwrap());
        let answer = trusting.forward(1, request(), None).await.unwrap();
        assert_eq!(answer.status(), StatusCode::OK);
        let received = owner.received.lock().unwrap().clone();
        assert_eq!(received.len(), 1);
        assert_eq!(received[0].headers[FORWARDED_HEADER], admin.forwarding_proof().as_str(), "proven as forwarded");

        let untrusting = ClusterRoutes::new(0, apis, 1, &admin, &OutboundTls::default());
        assert!(
            untrusting.forward(1, request(), None).await.is_err(),
            "an owner whose certificate no trusted root signs"
        );
        assert_eq!(owner.received.lock().unwrap().len(), 1);
    }

    #[test]
    fn every_tenant_has_one_owner_the_same_on_every_process_and_owners_are_spread() {
        let apis = || (0..3).map(|process| format!("http://p{process}")).collect::<Vec<_>>();
        let admin = AdminToken::new("admin");
        let routes = (0..3)
            .map(|process| ClusterRoutes::new(process, apis(), 2, &admin, &OutboundTls::default()))
            .collect::<Vec<_>>();
        let mut owned = [0; 3];
        for tenant in (0..300).map(|n| format!("tenant-{n}")) {
            let owner = routes[0].owner_of(&tenant);
            // The process whose workers compute the tenant's results, on every process.
            assert_eq!(owner, flowmart_schemas::tenant_owner(&tenant, 3, 2), "{tenant}");
            assert!(routes.iter().all(|process| process.owner_of(&tenant) == owner));
            assert_eq!(routes.iter().filter(|process| process.serves(&tenant)).count(), 1, "{tenant}");
            owned[owner] += 1;
        }
        assert!(owned.iter().all(|count| *count > 60), "{owned:?}");
    }

    #[test]
    fn only_a_process_of_the_cluster_can_mark_a_request_forwarded() {
        let routes =
            ClusterRoutes::new(0, vec![String::new(); 2], 1, &AdminToken::new("admin"), &OutboundTls::default());
        let request = |proof: Option<&str>| {
            let request = axum::http::Request::builder().uri("/v1/stock");
            let request = match proof {
                Some(proof) => request.header(super::FORWARDED_HEADER, proof),
                None => request,
            };
            request.body(axum::body::Body::empty()).unwrap()
        };
        assert!(matches!(routes.forwarded(&request(None)), Ok(false)));
        let proof = AdminToken::new("admin").forwarding_proof();
        assert!(matches!(routes.forwarded(&request(Some(&proof))), Ok(true)));
        let other = AdminToken::new("another cluster's").forwarding_proof();
        for forged in ["1", "0", other.as_str()] {
            assert!(matches!(routes.forwarded(&request(Some(forged))), Err(crate::ApiError::Forbidden(_))), "{forged}");
        }
        assert_ne!(proof, "admin", "the proof is not the token");
    }
}
