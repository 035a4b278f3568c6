//! The Events APIs' response bodies, as PagerDuty writes them.

use serde::Serialize;

/// A success body.
#[derive(Debug, Serialize)]
pub struct Success<'a> {
    /// Always `success`.
    pub status: &'static str,
    /// `Event processed` or `Change event processed`.
    pub message: &'static str,
    /// v2: the alert's dedup key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dedup_key: Option<&'a str>,
    /// v1: the incident key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incident_key: Option<&'a str>,
}

/// An error body (`invalid event`, rate limits, server trouble).
#[derive(Debug, Serialize)]
pub struct Failure {
    /// `invalid event`, `throttle exceeded` or `error`.
    pub status: &'static str,
    /// What went wrong.
    pub message: &'static str,
    /// One line per problem.
    pub errors: Vec<String>,
}

/// v2 success: `202 {"status":"success","message":"Event processed","dedup_key":…}`.
pub fn v2_success(dedup_key: &str) -> Success<'_> {
    Success { status: "success", message: "Event processed", dedup_key: Some(dedup_key), incident_key: None }
}

/// v1 success: `200 {"status":"success","message":"Event processed","incident_key":…}`.
pub fn v1_success(incident_key: &str) -> Success<'_> {
    Success { status: "success", message: "Event processed", dedup_key: None, incident_key: Some(incident_key) }
}

/// Change event success: `202 {"status":"success","message":"Change event processed"}`.
pub fn change_success() -> Success<'static> {
    Success { status: "success", message: "Change event processed", dedup_key: None, incident_key: None }
}

/// `400 {"status":"invalid event","message":"Event object is invalid","errors":[…]}`.
pub fn invalid(errors: Vec<String>) -> Failure {
    Failure { status: "invalid event", message: "Event object is invalid", errors }
}

/// `413`: the body is over the size limit.
pub fn too_large(limit: usize) -> Failure {
    Failure {
        status: "invalid event",
        message: "Request entity too large",
        errors: vec![format!("request body is larger than {limit} bytes")],
    }
}

/// `5xx`: the event was not stored; the sender should retry.
pub fn not_stored() -> Failure {
    Failure {
        status: "error",
        message: "Event could not be stored",
        errors: vec!["the event was not stored; retry later".to_owned()],
    }
}

/// `429` (v2) / `403` (v1): too many events for this integration key; the sender should retry later.
pub fn throttled() -> Failure {
    Failure {
        status: "throttle exceeded",
        message: "Requests for this service are arriving too quickly. Please retry later.",
        errors: vec!["rate limit exceeded for this integration key".to_owned()],
    }
}
