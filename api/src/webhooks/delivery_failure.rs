//! What the delivery log says of a failed attempt, and whether it is tried again.

use super::receiver_guard::AddressRefused;

/// Why an attempt failed, and whether another may succeed. `class` is what the delivery log
/// shows: a class of failure, never anything the receiver (or whatever answered in its place)
/// sent back, so the log cannot be used to read internal services.
pub(super) struct Failed {
    pub(super) status: Option<u16>,
    pub(super) class: String,
    pub(super) retry: bool,
}

impl Failed {
    /// A request that got no answer: its class from the error's causes, retried unless the
    /// address was refused.
    pub(super) fn unanswered(error: &reqwest::Error) -> Failed {
        // An `io::Error`'s `source` skips the error it wraps: step into it instead.
        let causes = std::iter::successors(Some(error as &(dyn std::error::Error + 'static)), |cause| {
            match cause.downcast_ref::<std::io::Error>() {
                Some(io) => io.get_ref().map(|inner| inner as &(dyn std::error::Error + 'static)),
                None => cause.source(),
            }
        });
        let mut tls = false;
        for cause in causes {
            if cause.is::<AddressRefused>() {
                return Failed::refused();
            }
            tls |= cause.is::<rustls::Error>();
        }
        let class = if error.is_timeout() {
            "timed out"
        } else if tls {
            "tls handshake failed"
        } else if error.is_connect() {
            "could not connect"
        } else {
            "request failed"
        };
        Failed { status: None, class: class.into(), retry: true }
    }

    /// The receiver's address is not one deliveries may reach: not tried again.
    pub(super) fn refused() -> Failed {
        Failed { status: None, class: "address not allowed".into(), retry: false }
    }

    /// A non-2xx answer: server errors, 408 and 429 are retried; a redirect is not followed.
    pub(super) fn answered(status: reqwest::StatusCode) -> Failed {
        let retry = status.is_server_error() || status.as_u16() == 408 || status.as_u16() == 429;
        let class = if status.is_redirection() {
            format!("answered {status}: redirects are not followed")
        } else {
            format!("answered {status}")
        };
        Failed { status: Some(status.as_u16()), class, retry }
    }
}
