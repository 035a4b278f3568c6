//! Values the REST routes read from query strings and bodies the same way everywhere.

use super::error::ApiError;
use crate::domain::Millis;

/// An optional RFC 3339 time named `field`. Empty counts as absent, as it does for every text filter: a form or a
/// script that leaves a field blank means "no bound", not a bad one.
pub fn optional_time(field: &str, value: Option<&str>) -> Result<Option<Millis>, ApiError> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => Millis::parse_iso8601(v).map(Some).ok_or_else(|| {
            ApiError::BadRequest(format!("{field} must be an RFC 3339 time, e.g. 2026-11-25T20:00:00Z"))
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_is_absent_and_bad_names_the_field() {
        assert_eq!(optional_time("since", None).unwrap(), None);
        assert_eq!(optional_time("since", Some(" ")).unwrap(), None);
        assert_eq!(optional_time("since", Some("1970-01-01T00:00:01Z")).unwrap(), Some(Millis(1000)));
        let Err(ApiError::BadRequest(message)) = optional_time("until", Some("soon")) else { panic!("accepted") };
        assert!(message.starts_with("until must be an RFC 3339 time"), "{message}");
    }
}
