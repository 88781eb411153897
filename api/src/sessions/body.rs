//! A session's response: `text/event-stream`, the frames it is sent (each a `Bytes` that may be
//! shared with every other session sending it), and a keep-alive comment from one shared ticker.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, header};
use axum::response::Response;
use tokio::runtime::Handle;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::{ReceiverStream, WatchStream};
use tokio_stream::{Stream, StreamExt};

use super::SessionPermit;

/// How often every session is sent a keep-alive comment, so proxies and clients see it alive.
const KEEP_ALIVE_EVERY: Duration = Duration::from_secs(15);

/// The keep-alive comment.
const KEEP_ALIVE: Bytes = Bytes::from_static(b":\n\n");

/// One SSE event: `event:`, `id:` if any, and `data:` (one line per line of `data`).
pub(crate) fn frame(event: &str, id: Option<u64>, data: &str) -> Bytes {
    let mut text = String::with_capacity(event.len() + data.len() + 40);
    text.push_str("event: ");
    text.push_str(event);
    text.push('\n');
    if let Some(id) = id {
        text.push_str("id: ");
        text.push_str(&id.to_string());
        text.push('\n');
    }
    for line in data.split('\n') {
        text.push_str("data: ");
        text.push_str(line);
        text.push('\n');
    }
    text.push('\n');
    Bytes::from(text)
}

/// One ticker for every session: a session waits on it alongside its events, and no session
/// keeps a timer of its own (a timer per session is reset with every event it sends). It also
/// ends every session when the server closes.
pub(crate) struct KeepAlive {
    /// Ticks; `true` once the server is closing.
    ticks: watch::Sender<bool>,
}

impl KeepAlive {
    /// Starts ticking on the current runtime, for as long as it runs.
    pub(super) fn start() -> KeepAlive {
        let ticks = watch::Sender::new(false);
        let sender = ticks.clone();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(KEEP_ALIVE_EVERY);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticker.tick().await;
            loop {
                ticker.tick().await;
                sender.send_if_modified(|closing| !*closing);
            }
        });
        KeepAlive { ticks }
    }

    /// Ends every session, now and from now on.
    pub(super) fn close(&self) {
        self.ticks.send_replace(true);
    }
}

/// A session's events, with a keep-alive comment at each tick; counted by its permit until
/// dropped.
pub(crate) struct SessionBody<S> {
    live: S,
    ticks: WatchStream<bool>,
    /// The server closed: the session ends.
    ended: bool,
    _permit: SessionPermit,
}

impl<S> SessionBody<S>
where
    S: Stream<Item = Bytes> + Send + Unpin + 'static,
{
    pub(super) fn new(permit: SessionPermit, keep_alive: &KeepAlive, live: S) -> Self {
        let ticks = WatchStream::from_changes(keep_alive.ticks.subscribe());
        let ended = *keep_alive.ticks.borrow();
        SessionBody { live, ticks, ended, _permit: permit }
    }

    /// The `200 text/event-stream` answer that sends it; relayed from a task on `runtime` when
    /// the answer is made on another one (the connection's first request was not a stream: the
    /// session's events are still produced where the sessions run, off the API's threads).
    pub(super) fn into_response(self, runtime: Option<&Handle>) -> Response {
        let elsewhere =
            runtime.filter(|runtime| Handle::try_current().map(|here| here.id()).ok() != Some(runtime.id()));
        let body = match elsewhere {
            None => Body::from_stream(self),
            Some(runtime) => Body::from_stream(relayed(self, runtime)),
        };
        let mut response = Response::new(body);
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        response
    }
}

impl<S> Stream for SessionBody<S>
where
    S: Stream<Item = Bytes> + Unpin,
{
    type Item = Result<Bytes, Infallible>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.ended {
            return Poll::Ready(None);
        }
        match Pin::new(&mut this.live).poll_next(cx) {
            Poll::Ready(Some(event)) => return Poll::Ready(Some(Ok(event))),
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Pending => {}
        }
        match Pin::new(&mut this.ticks).poll_next(cx) {
            Poll::Ready(Some(false)) => Poll::Ready(Some(Ok(KEEP_ALIVE))),
            Poll::Ready(Some(true)) => {
                this.ended = true;
                Poll::Ready(None)
            }
            // The ticker stopped with its runtime: the events go on without keep-alives.
            Poll::Ready(None) | Poll::Pending => Poll::Pending,
        }
    }
}

/// How many events a relayed session may have in flight between its two tasks.
const RELAY: usize = 4;

/// `events`, produced by a task on `runtime`, until they end or the answer is dropped.
fn relayed<S>(mut events: SessionBody<S>, runtime: &Handle) -> ReceiverStream<Result<Bytes, Infallible>>
where
    S: Stream<Item = Bytes> + Send + Unpin + 'static,
{
    let (sender, receiver) = mpsc::channel(RELAY);
    runtime.spawn(async move {
        loop {
            tokio::select! {
                event = events.next() => {
                    let Some(event) = event else { return };
                    if sender.send(event).await.is_err() {
                        return;
                    }
                }
                () = sender.closed() => return,
            }
        }
    });
    ReceiverStream::new(receiver)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_puts_each_line_of_its_data_on_a_data_line() {
        assert_eq!(frame("reorder-alert", Some(42), "{\"a\":1}"), "event: reorder-alert\nid: 42\ndata: {\"a\":1}\n\n");
        assert_eq!(frame("reset", None, "one\ntwo"), "event: reset\ndata: one\ndata: two\n\n");
    }
}
