//! HTTP conventions around every route: CORS for the configured origins, gzip and brotli
//! compression, a tracing span per request, and a time limit on producing an answer; and the
//! connections they are served on.

use std::future::Future;
use std::pin::pin;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower::ServiceExt;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::trace::TraceLayer;

use crate::ApiError;

/// How the API meets browsers and proxies.
#[derive(Clone, Debug)]
pub struct HttpSettings {
    /// Origins a browser app may call the API from (`https://dash.example.com`); none by default,
    /// so browsers allow same-origin pages only.
    pub cors_origins: Vec<HeaderValue>,
    /// How long a request may take to get its answer's head (a stream's body then flows on
    /// unlimited). Default 30 s.
    pub request_timeout: Duration,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings { cors_origins: Vec::new(), request_timeout: Duration::from_secs(30) }
    }
}

/// `router` wrapped in the conventions `settings` ask for.
///
/// Event streams (a `GET` of a path ending in `/stream`) skip compression and the tracing layer:
/// their events must never wait in an encoder, and a session keeps its response body for as long
/// as it lives — a compression body is ~6 KiB, and each wrapper is a call per event.
pub(crate) fn conventions(router: Router, settings: &HttpSettings) -> Router {
    let time_limit = axum::middleware::from_fn_with_state(settings.request_timeout, time_limit);
    let streams = router.clone().layer(time_limit.clone()).layer(axum::middleware::from_fn(close_unless_streaming));
    let answers = router.layer(CompressionLayer::new()).layer(time_limit).layer(TraceLayer::new_for_http());
    let router = Router::new().fallback_service(tower::service_fn(move |request: Request| {
        let route = if is_event_stream(&request) { streams.clone() } else { answers.clone() };
        route.oneshot(request)
    }));
    if settings.cors_origins.is_empty() {
        return router;
    }
    let cors = CorsLayer::new()
        .allow_origin(AllowOrigin::list(settings.cors_origins.iter().cloned()))
        .allow_methods([Method::GET, Method::POST, Method::DELETE])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, HeaderName::from_static("last-event-id")])
        .expose_headers([header::RETRY_AFTER, HeaderName::from_static("x-flowmart-process")])
        .max_age(Duration::from_secs(600));
    router.layer(cors)
}

/// Whether `request` asks for an event stream (`GET /v1/alerts/stream`, `/v1/stock/stream`, …).
pub(crate) fn is_event_stream(request: &Request) -> bool {
    request.method() == Method::GET && request.uri().path().ends_with("/stream")
}

/// A stream request answered with anything but its stream closes its connection after the
/// answer: the connection may be on the sessions' runtime, where a point query the client sent
/// next on it would wait behind the fan-out. The refusal is logged as the tracing layer logs
/// other answers (streams skip that layer).
async fn close_unless_streaming(request: Request, next: Next) -> Response {
    let (method, path) = (request.method().clone(), request.uri().path().to_owned());
    let mut response = next.run(request).await;
    if !response.status().is_success() {
        let status = response.status().as_u16();
        tracing::debug!(%method, path, status, "event stream refused");
        response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// Answers 503 (JSON, as every error) when the answer's head takes longer than `limit`.
async fn time_limit(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::Unavailable("the request took longer than the server's time limit").into_response(),
    }
}

/// The most a session's connection buffers (hyper's least): what it reads, and what it queues to
/// write — references to frames that may be shared with other sessions, not copies. It bounds a
/// request's head too: a stream request with more than 8 KiB of headers gets 431.
const SESSION_BUFFER: usize = 8 * 1024;

/// The most any other connection buffers: request heads up to 64 KiB (large cookies and tokens);
/// hyper starts every read buffer at 8 KiB and grows it only for a request that needs more.
const CONNECTION_BUFFER: usize = 64 * 1024;

/// How long a connection may take to finish once the server is closing; then it is dropped (a
/// client that stopped reading would otherwise hold the server open for ever).
const CLOSING_GRACE: Duration = Duration::from_secs(5);

/// How long a new connection may take to send its request line before it is served as any other.
const REQUEST_LINE_PATIENCE: Duration = Duration::from_secs(10);

/// Serves `app` on each connection `listener` accepts, over HTTP/1.1, until `shutdown` completes;
/// then stops accepting, calls `closing` (which ends the live sessions), lets each connection
/// finish its request and waits for all to close.
///
/// Each connection is one task holding hyper's connection with the smallest buffers, and a
/// handle on `app` (an `Arc`, not a copy: `axum::serve` made a copy of the router's table for
/// every connection, about 24 KiB, which was most of what an idle session held).
///
/// A connection whose first request asks for an event stream is served on a runtime of its own
/// ([`SessionsRuntime`]): sending each change to tens of thousands of sessions is bulk work that
/// must not queue the point queries of the API's latency-sensitive threads behind it.
pub(crate) async fn serve_connections(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()>,
    closing: impl FnOnce(),
    sessions: SessionsRuntime,
) {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.max_buf_size(CONNECTION_BUFFER);
    let mut session_http = http.clone();
    session_http.max_buf_size(SESSION_BUFFER);
    let service = hyper_util::service::TowerToHyperService::new(app);
    // Every connection holds a receiver: once all are dropped, every connection has closed.
    let (stop, _) = tokio::sync::watch::channel(());
    let mut shutdown = pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    accept_failed(&error).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Answers and events go out as soon as they are written.
        let _ = stream.set_nodelay(true);
        let (http, session_http) = (http.clone(), session_http.clone());
        let (service, stopping, sessions) = (service.clone(), stop.subscribe(), sessions.handle());
        tokio::spawn(async move {
            match sessions {
                Some(sessions) if opens_event_stream(&stream).await => {
                    Connection { http: session_http, service, stopping }.serve_on(&sessions, stream)
                }
                _ => Connection { http, service, stopping }.serve(stream).await,
            }
        });
    }
    drop(listener);
    closing();
    stop.send_replace(());
    stop.closed().await;
}

/// What serving one connection takes.
struct Connection {
    http: hyper::server::conn::http1::Builder,
    service: hyper_util::service::TowerToHyperService<Router>,
    /// Changes once the server stops: the connection finishes its request and closes.
    stopping: tokio::sync::watch::Receiver<()>,
}

impl Connection {
    async fn serve(mut self, stream: tokio::net::TcpStream) {
        let connection = self.http.serve_connection(hyper_util::rt::TokioIo::new(stream), self.service);
        let mut connection = pin!(connection);
        tokio::select! {
            _ = connection.as_mut() => {}
            _ = self.stopping.changed() => {
                connection.as_mut().graceful_shutdown();
                let _ = tokio::time::timeout(CLOSING_GRACE, connection).await;
            }
        }
    }

    /// Serves the connection on `runtime` (its socket moved to that runtime's reactor).
    fn serve_on(self, runtime: &tokio::runtime::Handle, stream: tokio::net::TcpStream) {
        let Ok(stream) = stream.into_std() else { return };
        runtime.spawn(async move {
            if let Ok(stream) = tokio::net::TcpStream::from_std(stream) {
                self.serve(stream).await;
            }
        });
    }
}

/// Whether the connection's first request is a `GET` of an event stream (a path ending in
/// `/stream`), from its request line, read without taking it.
async fn opens_event_stream(stream: &tokio::net::TcpStream) -> bool {
    let mut start = [0_u8; 256];
    let Ok(Ok(read)) = tokio::time::timeout(REQUEST_LINE_PATIENCE, stream.peek(&mut start)).await else {
        return false;
    };
    let Some(target) = start[..read].strip_prefix(b"GET ") else { return false };
    let path_end = target.iter().position(|byte| matches!(byte, b' ' | b'?'));
    path_end.is_some_and(|end| target[..end].ends_with(b"/stream"))
}

/// The runtime event-stream connections are served on: two threads, [`SESSIONS_NICE`] nicer
/// than the process — as nice as the pipeline's threads by default, so the two share what the
/// API's latency-sensitive threads ([`crate::runtime`]) leave, and a fan-out to every session
/// never starves the pipeline that makes the changes. Shut down, without waiting, when dropped.
pub(crate) struct SessionsRuntime(Option<tokio::runtime::Runtime>);

/// How much nicer than the process the sessions' threads run (the pipeline's default offset).
const SESSIONS_NICE: i32 = 10;

impl SessionsRuntime {
    /// `None` inside: the sessions are served with everything else (the runtime could not start).
    pub(crate) fn start() -> SessionsRuntime {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("api-sessions")
            .on_thread_start(run_nicer)
            .enable_all()
            .build();
        match runtime {
            Ok(runtime) => SessionsRuntime(Some(runtime)),
            Err(error) => {
                tracing::warn!(%error, "cannot start the sessions' runtime; event streams are served with the rest");
                SessionsRuntime(None)
            }
        }
    }

    pub(crate) fn handle(&self) -> Option<tokio::runtime::Handle> {
        self.0.as_ref().map(|runtime| runtime.handle().clone())
    }
}

/// Makes the calling thread [`SESSIONS_NICE`] nicer (at most 19); as it was if the kernel refuses.
fn run_nicer() {
    use rustix::process::{getpriority_process, setpriority_process};
    let nicer = getpriority_process(None).and_then(|nice| setpriority_process(None, (nice + SESSIONS_NICE).min(19)));
    if let Err(error) = nicer {
        tracing::warn!(%error, "cannot lower the sessions' thread priority; it competes with the pipeline's as an equal");
    }
}

impl Drop for SessionsRuntime {
    fn drop(&mut self) {
        // Dropping a runtime inside another would block on its tasks: it may not.
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

/// A failed accept: the connection is dropped, and the loop goes on after a pause when the
/// process is out of file descriptors (retrying at once would spin).
async fn accept_failed(error: &std::io::Error) {
    let out_of_descriptors = matches!(error.raw_os_error(), Some(code) if code == EMFILE || code == ENFILE);
    if out_of_descriptors {
        tracing::warn!(%error, "cannot accept a connection: out of file descriptors (see api.max_sessions); retrying in 100 ms");
        tokio::time::sleep(Duration::from_millis(100)).await;
    } else {
        tracing::debug!(%error, "a connection failed as it was accepted");
    }
}

/// `EMFILE` and `ENFILE` (Linux): the process's, or the system's, file descriptors are all open.
const EMFILE: i32 = 24;
const ENFILE: i32 = 23;
