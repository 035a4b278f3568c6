//! Who may use the REST API: bearer tokens once any exists (only their hashes are stored), and
//! before that only clients on this machine.

use super::error::ApiError;
use super::AppState;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::net::SocketAddr;

/// The stored form of a token.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A new random token: `fh_` and 64 hex digits.
pub fn new_token() -> String {
    format!("fh_{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple())
}

/// Admits a request with a valid token; with no token configured, admits loopback clients only.
pub async fn require_token(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let bearer = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty());
    let hash = bearer.map(token_hash);
    let (any_active, valid) = match state.store.check_token(hash.as_deref()).await {
        Ok(answer) => answer,
        Err(e) => return ApiError::from(e).into_response(),
    };
    if valid {
        return next.run(req).await;
    }
    // A credential that does not hold is refused even where none is needed: it is a mistake to surface.
    if bearer.is_some() {
        return ApiError::Unauthorized("the API token is not valid (or revoked)".into()).into_response();
    }
    if any_active {
        return ApiError::Unauthorized("an API token is required".into()).into_response();
    }
    let loopback = req.extensions().get::<ConnectInfo<SocketAddr>>().is_some_and(|ConnectInfo(a)| a.ip().is_loopback());
    if loopback {
        next.run(req).await
    } else {
        ApiError::Forbidden(
            "no API token exists yet, so the API answers only clients on this machine; create one with \
             `firehouse token create`"
                .into(),
        )
        .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_hashed() {
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b);
        assert!(a.starts_with("fh_") && a.len() == 67);
        assert_eq!(token_hash(&a).len(), 64);
        assert_ne!(token_hash(&a), a);
    }
}
