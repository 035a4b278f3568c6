//! Who may talk to the MCP server: a configured bearer token, or — with none configured — a client on
//! the loopback interface.
//!
//! Tokens are kept only as SHA-256 digests and compared digest to digest in constant time, every
//! configured token each time, so neither the time taken nor an early exit tells how much of a token
//! was right, or how long it is. No token, presented or configured, is ever logged or answered.

use crate::http::error::ApiError;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::{AUTHORIZATION, HOST, ORIGIN, WWW_AUTHENTICATE};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// The accepted tokens, as digests.
pub struct Auth {
    digests: Vec<[u8; 32]>,
}

/// Why a request was refused (the text is answered to the client, so it names no token).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Tokens are configured and the request has no bearer token.
    MissingToken,
    /// The bearer token is none of the configured ones.
    WrongToken,
    /// No tokens are configured and the client is not on the loopback interface (or cannot be told).
    NotLoopback,
    /// No tokens are configured and the server does not record client addresses.
    NoPeerAddress,
    /// No tokens are configured and the request names a non-loopback host or origin (DNS rebinding).
    ForeignHost,
}

impl Refusal {
    fn message(self) -> &'static str {
        match self {
            Refusal::MissingToken => "missing bearer token: send Authorization: Bearer <token>",
            Refusal::WrongToken => "invalid bearer token",
            Refusal::NotLoopback => {
                "no MCP tokens are configured, so only loopback clients are served; configure tokens in [mcp]"
            }
            Refusal::NoPeerAddress => {
                "no MCP tokens are configured and this server cannot tell loopback clients apart; configure tokens in [mcp]"
            }
            Refusal::ForeignHost => {
                "no MCP tokens are configured, so only requests to a loopback host name are served; configure tokens in [mcp]"
            }
        }
    }
}

impl Auth {
    /// Keeps the digests of the non-blank tokens.
    pub fn new(tokens: &[String]) -> Self {
        let blank = tokens.iter().filter(|t| t.trim().is_empty()).count();
        if blank > 0 {
            tracing::warn!(blank, "ignoring blank MCP tokens");
        }
        let digests = tokens.iter().map(|t| t.trim()).filter(|t| !t.is_empty()).map(digest).collect();
        Auth { digests }
    }

    /// Whether `headers` (and, with no tokens configured, the peer `addr`) may use the MCP server.
    pub fn check(&self, headers: &HeaderMap, addr: Option<SocketAddr>) -> Result<(), Refusal> {
        if !self.digests.is_empty() {
            let presented = bearer(headers).ok_or(Refusal::MissingToken)?;
            return if self.accepts(presented) { Ok(()) } else { Err(Refusal::WrongToken) };
        }
        let addr = addr.ok_or(Refusal::NoPeerAddress)?;
        if !addr.ip().to_canonical().is_loopback() {
            return Err(Refusal::NotLoopback);
        }
        // A page on another site must not reach a tokenless server through the browser on this machine.
        let host_ok = headers.get(HOST).and_then(|h| h.to_str().ok()).is_none_or(|h| is_loopback_name(host_of(h)));
        let origin_ok = headers
            .get(ORIGIN)
            .map(|o| {
                o.to_str()
                    .ok()
                    .and_then(|o| o.split_once("://"))
                    .is_some_and(|(_, rest)| is_loopback_name(host_of(rest)))
            })
            .unwrap_or(true);
        if host_ok && origin_ok {
            Ok(())
        } else {
            Err(Refusal::ForeignHost)
        }
    }

    fn accepts(&self, presented: &str) -> bool {
        let presented = digest(presented);
        let mut matched = subtle::Choice::from(0);
        for d in &self.digests {
            matched |= d.ct_eq(&presented);
        }
        matched.into()
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// The token of `Authorization: Bearer <token>` (the scheme is case-insensitive).
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The host of a `host[:port]` authority (IPv6 literals in brackets), or of `host[:port]/path`.
fn host_of(authority: &str) -> &str {
    let authority = authority.split('/').next().unwrap_or_default();
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or_default();
    }
    authority.rsplit_once(':').map_or(authority, |(host, _port)| host)
}

fn is_loopback_name(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.to_canonical().is_loopback())
}

/// Middleware: refuses unauthenticated requests with 401 and a JSON error body.
pub async fn authorize(State(auth): State<Arc<Auth>>, req: Request, next: Next) -> Response {
    let addr = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(a)| *a);
    match auth.check(req.headers(), addr) {
        Ok(()) => next.run(req).await,
        Err(refusal) => {
            tracing::debug!(reason = ?refusal, peer = ?addr, "MCP request refused");
            let mut response = ApiError::Unauthorized(refusal.message().to_owned()).into_response();
            response
                .headers_mut()
                .insert(WWW_AUTHENTICATE, axum::http::HeaderValue::from_static("Bearer realm=\"firehouse\""));
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(axum::http::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.insert(name.clone(), HeaderValue::from_str(value).unwrap());
        }
        h
    }

    fn peer(s: &str) -> Option<SocketAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn a_configured_token_is_required_from_everyone() {
        let auth = Auth::new(&["s3cret".into(), "next-token".into()]);
        let remote = peer("203.0.113.9:5000");
        assert_eq!(auth.check(&headers(&[(AUTHORIZATION, "Bearer s3cret")]), remote), Ok(()));
        assert_eq!(auth.check(&headers(&[(AUTHORIZATION, "bearer  next-token ")]), remote), Ok(()));
        assert_eq!(auth.check(&headers(&[(AUTHORIZATION, "Bearer s3cre")]), remote), Err(Refusal::WrongToken));
        assert_eq!(auth.check(&headers(&[(AUTHORIZATION, "Basic s3cret")]), remote), Err(Refusal::MissingToken));
        assert_eq!(auth.check(&headers(&[(AUTHORIZATION, "Bearer ")]), remote), Err(Refusal::MissingToken));
        assert_eq!(auth.check(&HeaderMap::new(), peer("127.0.0.1:1")), Err(Refusal::MissingToken));
    }

    #[test]
    fn without_tokens_only_loopback_clients_to_loopback_names_pass() {
        let auth = Auth::new(&[" ".into()]);
        let local = headers(&[(HOST, "127.0.0.1:8080")]);
        assert_eq!(auth.check(&local, peer("127.0.0.1:5000")), Ok(()));
        assert_eq!(auth.check(&headers(&[(HOST, "[::1]:8080")]), peer("[::1]:5000")), Ok(()));
        assert_eq!(auth.check(&headers(&[(HOST, "localhost")]), peer("[::ffff:127.0.0.1]:5000")), Ok(()));
        assert_eq!(auth.check(&local, peer("192.0.2.1:5000")), Err(Refusal::NotLoopback));
        assert_eq!(auth.check(&local, None), Err(Refusal::NoPeerAddress));
        assert_eq!(
            auth.check(&headers(&[(HOST, "rebound.example.com:8080")]), peer("127.0.0.1:5000")),
            Err(Refusal::ForeignHost)
        );
        assert_eq!(
            auth.check(&headers(&[(HOST, "localhost:8080"), (ORIGIN, "https://evil.example")]), peer("127.0.0.1:1")),
            Err(Refusal::ForeignHost)
        );
        assert_eq!(
            auth.check(&headers(&[(HOST, "localhost:8080"), (ORIGIN, "http://localhost:3000")]), peer("127.0.0.1:1")),
            Ok(())
        );
    }

    #[test]
    fn refusals_never_carry_the_token() {
        let auth = Auth::new(&["s3cret".into()]);
        let refusal = auth.check(&headers(&[(AUTHORIZATION, "Bearer guess")]), None).unwrap_err();
        assert!(!refusal.message().contains("s3cret") && !refusal.message().contains("guess"));
        assert!(!format!("{:?}", crate::mcp::McpConfig { tokens: vec!["s3cret".into()], ..Default::default() })
            .contains("s3cret"));
    }
}
