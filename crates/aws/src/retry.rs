//! Which failures are retried, how often, and how long to wait between attempts.
//!
//! The classification follows the EBS direct API documentation ("Error retries" and each
//! operation's errors): server errors, both kinds of throttling, timeouts, broken
//! connections and the `ValidationException` "Failed to read block data" are transient;
//! access, validation, conflict, quota and not-found errors are not, and fail at once.

use crate::Error;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Attempts of one request by default, the first included: with the backoff below, ten
/// attempts span about a minute of throttling or 5xx answers before ingot gives up.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 10;

/// Bounds of the retry loop: exponential backoff with full jitter.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// The backoff before the second attempt (doubling after each failure).
    pub base_delay: Duration,
    /// The longest backoff.
    pub max_delay: Duration,
    /// How long "snapshot does not exist" is retried right after StartSnapshot.
    pub not_found_window: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(20),
            not_found_window: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// The wait before attempt `attempt + 1` (after `attempt` failures): a uniformly random
    /// time up to `min(max_delay, base_delay × 2^(attempt-1))`.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = self.base_delay.saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
        let cap = exp.min(self.max_delay);
        cap.mul_f64(rand::random::<f64>())
    }
}

/// What one failed attempt means.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// Try again after a backoff.
    Transient(String),
    /// The snapshot is not visible yet (or truly missing): retried only for a while. Holds
    /// the service's message.
    NotFound(String),
    /// Give up now.
    Fatal {
        /// Error code or transport failure.
        code: String,
        /// The message.
        message: String,
    },
}

/// Classifies an SDK error.
pub fn classify<E>(err: &SdkError<E, HttpResponse>) -> Failure
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match err {
        SdkError::TimeoutError(_) => Failure::Transient("timed out".into()),
        SdkError::DispatchFailure(f) => {
            if f.is_timeout() {
                Failure::Transient(format!("timed out: {}", describe(err)))
            } else if f.is_user() {
                Failure::Fatal { code: "RequestError".into(), message: describe(err) }
            } else {
                Failure::Transient(format!("connection failed: {}", describe(err)))
            }
        }
        SdkError::ResponseError(_) => Failure::Transient(format!("bad response: {}", describe(err))),
        SdkError::ServiceError(ctx) => {
            let status = ctx.raw().status().as_u16();
            let code = err.code().unwrap_or("").to_string();
            let message = err.message().unwrap_or("").to_string();
            classify_service(status, &code, &message)
        }
        _ => Failure::Fatal { code: "RequestError".into(), message: describe(err) },
    }
}

/// Classifies a service error by HTTP status, error code and message.
pub fn classify_service(status: u16, code: &str, message: &str) -> Failure {
    let shown = if code.is_empty() { format!("HTTP {status}") } else { code.to_string() };
    let transient_code = matches!(
        code,
        "InternalServerException"
            | "InternalError"
            | "InternalFailure"
            | "ServiceUnavailable"
            | "ThrottlingException"
            | "RequestThrottledException"
            | "Throttling"
            | "RequestLimitExceeded"
            | "SlowDown"
            | "RequestTimeout"
    );
    if transient_code || status >= 500 || status == 429 {
        return Failure::Transient(format!("{shown}: {message}"));
    }
    if code == "ValidationException" && message.contains("Failed to read block data") {
        return Failure::Transient(format!("{shown}: {message}"));
    }
    if code == "ResourceNotFoundException" && message.to_ascii_lowercase().contains("does not exist") {
        return Failure::NotFound(message.to_string());
    }
    Failure::Fatal { code: shown, message: message.to_string() }
}

/// What the user can do about a fatal error code.
pub fn hint(code: &str) -> &'static str {
    match code {
        "AccessDeniedException" | "AccessDenied" | "UnauthorizedOperation" => {
            "; check the credentials (AWS_PROFILE, `profile`) and that their policy allows the ebs:, ec2: and s3: actions ingot uses (docs/publish.md lists them)"
        }
        "AccessControlListNotSupported" => {
            "; the bucket has ACLs disabled, but EC2 reads a bundle through the aws-exec-read ACL: set its Object Ownership to BucketOwnerPreferred or pick another bucket"
        }
        "UnrecognizedClientException" | "InvalidClientTokenId" | "AuthFailure" | "SignatureDoesNotMatch" => {
            "; the credentials are not valid for this endpoint: refresh them or pick another `profile`"
        }
        "ExpiredToken" | "ExpiredTokenException" => "; the session token has expired: log in again",
        "ServiceQuotaExceededException" => {
            "; a service quota is reached (concurrent snapshots or requests): wait for other uploads or ask for a higher quota"
        }
        "ConflictException" => "; another request changed the snapshot: start again with a new snapshot",
        "ResourceNotFoundException" => "; the snapshot is gone or never existed: check the id and the region",
        "ConcurrentLimitExceededException" => "; too many snapshots are being written at once: wait and retry",
        _ => "",
    }
}

/// The full chain of an error's sources on one line.
pub fn describe(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

/// Runs the SDK call `attempt` until it succeeds, fails fatally or exhausts `policy`;
/// counts retries in `retries`. `not_found_window` bounds how long a not-found answer is
/// retried.
pub async fn retry<T, E, F, Fut>(
    operation: &'static str,
    policy: &RetryPolicy,
    retries: &AtomicU64,
    not_found_window: Option<Duration>,
    mut attempt: F,
) -> Result<T, Error>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, SdkError<E, HttpResponse>>>,
{
    let classified = || {
        let call = attempt();
        async move { call.await.map_err(|e| classify(&e)) }
    };
    retry_classified(operation, policy, retries, not_found_window, classified).await
}

/// The one retry loop of ingot's AWS calls: runs `attempt`, whose failures are already
/// classified (an SDK error by [`classify`], a broken response body as
/// [`Failure::Transient`]), with [`RetryPolicy::backoff`] between attempts, until it
/// succeeds, fails fatally or exhausts `policy`; counts retries in `retries`.
pub async fn retry_classified<T, F, Fut>(
    operation: &'static str,
    policy: &RetryPolicy,
    retries: &AtomicU64,
    not_found_window: Option<Duration>,
    mut attempt: F,
) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, Failure>>,
{
    let started = tokio::time::Instant::now();
    let mut n = 0u32;
    loop {
        n += 1;
        let failure = match attempt().await {
            Ok(v) => return Ok(v),
            Err(f) => f,
        };
        let (last, windowed) = match failure {
            Failure::Fatal { code, message } => {
                let hint = hint(&code).to_string();
                return Err(Error::Api { operation, code, message, hint });
            }
            Failure::NotFound(m) => match not_found_window {
                Some(w) if started.elapsed() < w => (format!("ResourceNotFoundException: {m}"), true),
                _ => {
                    let hint = hint("ResourceNotFoundException").to_string();
                    return Err(Error::Api { operation, code: "ResourceNotFoundException".into(), message: m, hint });
                }
            },
            Failure::Transient(m) => (m, false),
        };
        if !windowed && n >= policy.max_attempts {
            return Err(Error::RetriesExhausted { operation, attempts: n, last });
        }
        retries.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(policy.backoff(n)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_follows_the_ebs_documentation() {
        let t = |s, c, m| matches!(classify_service(s, c, m), Failure::Transient(_));
        assert!(t(500, "InternalServerException", "x"));
        assert!(t(503, "", ""));
        assert!(t(400, "ThrottlingException", "account"));
        assert!(t(400, "RequestThrottledException", "snapshot"));
        assert!(t(429, "", ""));
        assert!(t(400, "ValidationException", "Failed to read block data"));
        assert!(!t(400, "ValidationException", "Invalid checksum"));
        assert!(!t(403, "AccessDeniedException", "no"));
        assert!(!t(409, "ConflictException", "no"));
        assert!(!t(402, "ServiceQuotaExceededException", "no"));
        assert!(matches!(
            classify_service(404, "ResourceNotFoundException", "The snapshot does not exist."),
            Failure::NotFound(_)
        ));
    }

    #[test]
    fn backoff_is_bounded_and_grows() {
        let p = RetryPolicy {
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
            ..Default::default()
        };
        for attempt in 1..40 {
            let cap = Duration::from_millis(100 * (1u64 << (attempt - 1).min(16))).min(Duration::from_secs(1));
            assert!(p.backoff(attempt) <= cap);
        }
    }
}
