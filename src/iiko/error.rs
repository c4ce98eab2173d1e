//! What can go wrong when talking to iikoCloud, and whether trying again can help.
use std::time::Duration;

use serde::Deserialize;
use uuid::Uuid;

/// How many characters of an undecodable body an error keeps: enough to see the shape, not a whole menu.
const BODY_EXCERPT_CHARS: usize = 300;

#[derive(Debug, thiserror::Error)]
pub enum IikoError {
    #[error("cannot build the HTTP client: {0}")]
    ClientBuild(#[source] reqwest::Error),
    #[error("cannot reach iikoCloud for {path}: {source}")]
    Transport {
        path: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("iikoCloud did not answer {path} in time")]
    Timeout { path: String },
    #[error("iikoCloud answered {path} with HTTP {status}: {description}")]
    Api {
        path: String,
        status: u16,
        description: String,
        code: Option<String>,
        correlation_id: Option<Uuid>,
    },
    #[error("iikoCloud kept rate-limiting {path}")]
    RateLimited {
        path: String,
        retry_after: Option<Duration>,
    },
    #[error("iikoCloud refused the credentials on {path} (HTTP {status}): {description}")]
    Auth {
        path: String,
        status: u16,
        description: String,
        code: Option<String>,
        correlation_id: Option<Uuid>,
    },
    /// HTTP 410 from `/api/1/commands/status`: iiko no longer knows the command; read the order instead.
    #[error("command {correlation_id} is too old for iikoCloud to report its status")]
    CommandExpired { correlation_id: Uuid },
    #[error("cannot decode the answer of {path}: {message}; body starts with: {body_excerpt}")]
    Decode {
        path: String,
        message: String,
        body_excerpt: String,
    },
}

/// iikoTransport's error body.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ErrorResponse {
    correlation_id: Option<Uuid>,
    error_description: Option<String>,
    error: Option<String>,
}

impl IikoError {
    /// Whether the same request may succeed later without changes.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Transport { .. } | Self::Timeout { .. } | Self::RateLimited { .. } => true,
            Self::Api { status, .. } => *status == 408 || *status == 429 || *status >= 500,
            Self::ClientBuild(_)
            | Self::Auth { .. }
            | Self::CommandExpired { .. }
            | Self::Decode { .. } => false,
        }
    }

    /// iiko's machine-readable error code (`error`), when it sent one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Api { code, .. } | Self::Auth { code, .. } => code.as_deref(),
            _ => None,
        }
    }

    /// The correlationId iiko support asks for.
    pub fn correlation_id(&self) -> Option<Uuid> {
        match self {
            Self::Api { correlation_id, .. } | Self::Auth { correlation_id, .. } => *correlation_id,
            Self::CommandExpired { correlation_id } => Some(*correlation_id),
            _ => None,
        }
    }

    pub fn http_status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. } | Self::Auth { status, .. } => Some(*status),
            Self::RateLimited { .. } => Some(429),
            Self::CommandExpired { .. } => Some(410),
            _ => None,
        }
    }

    /// Builds the error for a non-success answer; bodies that are not iiko's JSON keep their raw text.
    pub(crate) fn from_response(path: &str, status: u16, body: &[u8]) -> Self {
        let (description, code, correlation_id) =
            match serde_json::from_slice::<ErrorResponse>(body) {
                Ok(parsed) => (
                    parsed.error_description.unwrap_or_else(|| excerpt(body)),
                    parsed.error,
                    parsed.correlation_id,
                ),
                Err(_) => (excerpt(body), None, None),
            };
        let path = path.to_owned();
        if status == 401 {
            Self::Auth {
                path,
                status,
                description,
                code,
                correlation_id,
            }
        } else {
            Self::Api {
                path,
                status,
                description,
                code,
                correlation_id,
            }
        }
    }

    pub(crate) fn decode(path: &str, error: &serde_json::Error, body: &[u8]) -> Self {
        Self::Decode {
            path: path.to_owned(),
            message: error.to_string(),
            body_excerpt: excerpt(body),
        }
    }

    pub(crate) fn from_reqwest(path: &str, source: reqwest::Error) -> Self {
        if source.is_timeout() {
            Self::Timeout {
                path: path.to_owned(),
            }
        } else {
            Self::Transport {
                path: path.to_owned(),
                source,
            }
        }
    }
}

fn excerpt(body: &[u8]) -> String {
    String::from_utf8_lossy(body)
        .chars()
        .take(BODY_EXCERPT_CHARS)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_body_keeps_description_code_and_correlation_id() {
        let body = br#"{"correlationId":"4c1e5b2a-3f5d-4c1e-9a2b-1c2d3e4f5a6b","errorDescription":"Phone is invalid","error":"Validation_IncorrectPhone"}"#;
        let error = IikoError::from_response("/api/1/loyalty/iiko/customer/info", 400, body);
        assert_eq!(error.code(), Some("Validation_IncorrectPhone"));
        assert_eq!(
            error.correlation_id(),
            Some("4c1e5b2a-3f5d-4c1e-9a2b-1c2d3e4f5a6b".parse().unwrap())
        );
        assert_eq!(error.http_status(), Some(400));
        assert!(error.to_string().contains("Phone is invalid"));
        assert!(!error.is_transient());
    }

    #[test]
    fn non_json_error_body_is_kept_as_text() {
        let error =
            IikoError::from_response("/api/1/organizations", 502, b"<html>Bad Gateway</html>");
        match &error {
            IikoError::Api {
                description, code, ..
            } => {
                assert_eq!(description, "<html>Bad Gateway</html>");
                assert_eq!(code, &None);
            }
            other => panic!("expected an API error, got {other:?}"),
        }
        assert!(error.is_transient());
    }

    #[test]
    fn request_timeout_and_server_errors_are_transient_but_bad_requests_are_not() {
        let status = |code| IikoError::from_response("/p", code, b"{}").is_transient();
        assert!(status(408));
        assert!(status(500));
        assert!(status(503));
        assert!(!status(400));
        assert!(!status(401));
        assert!(!status(404));
    }
}
