//! [`NomadError`]: the typed error at the client boundary, so retry logic can match on it.

/// An error talking to Nomad. URLs never carry the ACL token (it travels in the `X-Nomad-Token` header).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NomadError {
    /// The server answered with a non-success status; Nomad's error bodies are plain text.
    #[error("{method} {url}: HTTP {status}: {body}")]
    Status {
        /// HTTP method.
        method: String,
        /// Request URL (without token).
        url: String,
        /// HTTP status code.
        status: u16,
        /// The plain-text body (trimmed, at most 4 KiB).
        body: String,
    },
    /// The connection could not be made or broke before a response arrived.
    #[error("{method} {url}: connection failed: {source}")]
    Connect {
        /// HTTP method.
        method: String,
        /// Request URL.
        url: String,
        /// Underlying error.
        #[source]
        source: reqwest::Error,
    },
    /// The request did not complete in time.
    #[error("{method} {url}: timed out")]
    Timeout {
        /// HTTP method.
        method: String,
        /// Request URL.
        url: String,
    },
    /// The response body was not what the API promises.
    #[error("{url}: decoding response: {msg}")]
    Decode {
        /// Request URL.
        url: String,
        /// What was wrong.
        msg: String,
    },
    /// Another transport error (body read, redirect, …).
    #[error("{method} {url}: {source}")]
    Transport {
        /// HTTP method.
        method: String,
        /// Request URL.
        url: String,
        /// Underlying error.
        #[source]
        source: reqwest::Error,
    },
    /// The connection settings are unusable (bad address, unreadable certificate, …).
    #[error("Nomad connection settings: {0}")]
    Config(String),
}

/// Whether an error body is a go-multierror validation report (`N error(s) occurred:`), which no retry fixes.
fn is_validation_failure(body: &str) -> bool {
    body.split_once(" occurred:").is_some_and(|(head, _)| {
        let mut w = head.split_whitespace();
        matches!(
            (
                w.next().map(|n| n.parse::<u32>().is_ok()),
                w.next(),
                w.next()
            ),
            (Some(true), Some("error" | "errors"), None)
        )
    })
}

impl NomadError {
    /// Whether retrying the same request may succeed: 429, 5xx, connection errors and timeouts.
    /// 4xx answers (bad request, permission denied, not found) are final, and so is a 500 that is a job
    /// validation failure: Nomad answers those with 500 and a go-multierror body (`1 error occurred:\n\t*
    /// Job priority must be between [1, 100]`; `nomad/job_endpoint_hooks.go`, `jobValidate.Validate`, returns
    /// a plain error that the HTTP layer maps to 500), and sending the same job again fails the same way.
    pub fn is_retryable(&self) -> bool {
        match self {
            NomadError::Status { status, body, .. } => {
                (*status == 429 || *status >= 500) && !is_validation_failure(body)
            }
            NomadError::Connect { .. }
            | NomadError::Timeout { .. }
            | NomadError::Transport { .. } => true,
            NomadError::Decode { .. } | NomadError::Config(_) => false,
        }
    }

    /// The HTTP status, if the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            NomadError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Classifies a reqwest error.
    pub(crate) fn from_reqwest(method: &str, url: &str, e: reqwest::Error) -> NomadError {
        let (method, url) = (method.to_string(), url.to_string());
        if e.is_timeout() {
            NomadError::Timeout { method, url }
        } else if e.is_connect() {
            NomadError::Connect {
                method,
                url,
                source: e.without_url(),
            }
        } else {
            NomadError::Transport {
                method,
                url,
                source: e.without_url(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_classification() {
        let st = |status| NomadError::Status {
            method: "GET".into(),
            url: "u".into(),
            status,
            body: String::new(),
        };
        assert!(st(429).is_retryable());
        assert!(st(500).is_retryable());
        assert!(st(503).is_retryable());
        assert!(!st(400).is_retryable());
        assert!(!st(403).is_retryable());
        assert!(!st(404).is_retryable());
        let body = |status, body: &str| NomadError::Status {
            method: "PUT".into(),
            url: "u".into(),
            status,
            body: body.into(),
        };
        assert!(!body(
            500,
            "1 error occurred:\n\t* Job priority must be between [1, 100]; got 1000"
        )
        .is_retryable());
        assert!(!body(500, "2 errors occurred:\n\t* a\n\t* b").is_retryable());
        assert!(body(500, "No cluster leader").is_retryable());
        assert!(body(500, "rpc error: 1 error occurred: x").is_retryable());
        assert!(!NomadError::Decode {
            url: "u".into(),
            msg: "m".into()
        }
        .is_retryable());
        assert!(NomadError::Timeout {
            method: "GET".into(),
            url: "u".into()
        }
        .is_retryable());
    }
}
