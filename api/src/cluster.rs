//! The API of one process of a cluster (README "Scale out").
//!
//! Every process serves the results itself: its collector publishes every worker's output, so
//! its index holds every tenant, complete up to one `as_of`, the same on every process. What lives
//! in one process only is routed there: the webhooks — their delivery tasks and delivery logs run
//! in process 0, the process that writes the results. A routed request is forwarded as it came
//! (method, path, query, headers, body) and its answer returned as the owner gave it; every answer
//! names the process that made it in `X-FlowMart-Process`.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::ApiError;

/// Names the process that answered.
pub const PROCESS_HEADER: &str = "x-flowmart-process";
/// Marks a request another process forwarded: it is answered where it lands, never forwarded on.
const FORWARDED_HEADER: &str = "x-flowmart-forwarded";
/// The process whose state the routed routes read.
const WRITER: usize = 0;

/// This process's place in the cluster, for routing.
pub struct ClusterRoutes {
    process: usize,
    /// Every process's API base URL (`http://host:port`), in process order.
    apis: Vec<String>,
    client: reqwest::Client,
}

impl ClusterRoutes {
    /// Process `process` of the processes whose APIs answer at `apis`.
    pub fn new(process: usize, apis: Vec<String>) -> ClusterRoutes {
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .expect("an HTTP client with default settings");
        ClusterRoutes { process, apis, client }
    }

    /// The process that answers `path`.
    fn owner_of(&self, path: &str) -> usize {
        if path == "/v1/webhooks" || path.starts_with("/v1/webhooks/") { WRITER } else { self.process }
    }

    /// Sends `request` to process `owner` and returns its answer.
    async fn forward(&self, owner: usize, request: Request) -> Result<Response, ApiError> {
        let (parts, body) = request.into_parts();
        let body = axum::body::to_bytes(body, crate::MAX_BODY_BYTES)
            .await
            .map_err(|_| ApiError::BadRequest("the request body could not be read".into()))?;
        let path = parts.uri.path_and_query().map_or("/", |path| path.as_str());
        let mut forwarded = self.client.request(parts.method, format!("{}{path}", self.apis[owner])).body(body);
        for (name, value) in &parts.headers {
            if name != axum::http::header::HOST && name != axum::http::header::CONTENT_LENGTH {
                forwarded = forwarded.header(name, value);
            }
        }
        let answer = forwarded.header(FORWARDED_HEADER, self.process.to_string()).send().await.map_err(|error| {
            tracing::warn!(owner, %error, "cannot reach the process that owns the route");
            ApiError::Unavailable("the cluster process that answers this route is unreachable; retry later")
        })?;
        let mut response = Response::builder().status(answer.status());
        for (name, value) in answer.headers() {
            if name != axum::http::header::CONTENT_LENGTH && name != axum::http::header::TRANSFER_ENCODING {
                response = response.header(name, value);
            }
        }
        let body = answer
            .bytes()
            .await
            .map_err(|_| ApiError::Unavailable("the cluster process that answers this route broke off; retry later"))?;
        response.body(Body::from(body)).map_err(|_| ApiError::Unavailable("a forwarded answer was malformed"))
    }
}

/// Middleware: answers here what this process owns, forwards the rest to its owner; labels every
/// answer with the process that made it.
pub(crate) async fn route(State(cluster): State<Arc<ClusterRoutes>>, request: Request, next: Next) -> Response {
    let owner = cluster.owner_of(request.uri().path());
    let mut response = if owner == cluster.process || request.headers().contains_key(FORWARDED_HEADER) {
        next.run(request).await
    } else {
        metrics::counter!("flowmart_api_forwarded_total", "to" => owner.to_string()).increment(1);
        cluster.forward(owner, request).await.unwrap_or_else(IntoResponse::into_response)
    };
    if !response.headers().contains_key(PROCESS_HEADER) {
        response.headers_mut().insert(HeaderName::from_static(PROCESS_HEADER), HeaderValue::from(cluster.process));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::ClusterRoutes;

    #[test]
    fn webhooks_belong_to_the_writer_and_everything_else_is_answered_here() {
        let routes = ClusterRoutes::new(1, vec!["http://a".into(), "http://b".into()]);
        assert_eq!(routes.owner_of("/v1/webhooks"), 0);
        assert_eq!(routes.owner_of("/v1/webhooks/wh_1/deliveries"), 0);
        assert_eq!(routes.owner_of("/v1/webhooksx"), 1);
        for path in ["/v1/stock", "/v1/stock/berlin/SKU-1", "/v1/reorder-alerts", "/v1/admin/progress", "/metrics"] {
            assert_eq!(routes.owner_of(path), 1, "{path}");
        }
    }
}
