//! Instants as milliseconds since the Unix epoch: portable across SQLite and PostgreSQL, sortable, exact.

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use serde::{Serialize, Serializer};

/// An instant in milliseconds since the Unix epoch (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Millis(pub i64);

impl Millis {
    /// The current wall-clock time.
    pub fn now() -> Self {
        Millis(Utc::now().timestamp_millis())
    }

    /// Converts to a chrono UTC time.
    pub fn to_datetime(self) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(self.0).single().unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
    }

    /// RFC 3339 text with millisecond precision, e.g. `2026-11-25T20:01:55.123Z`.
    pub fn to_rfc3339(self) -> String {
        self.to_datetime().to_rfc3339_opts(SecondsFormat::Millis, true)
    }

    /// This instant plus `minutes`, or `None` past the last instant a timestamp can show (year 262143).
    pub fn plus_minutes(self, minutes: u64) -> Option<Self> {
        let minutes = chrono::TimeDelta::try_minutes(i64::try_from(minutes).ok()?)?;
        let end = Utc.timestamp_millis_opt(self.0).single()?.checked_add_signed(minutes)?;
        Some(Millis(end.timestamp_millis()))
    }

    /// Parses the ISO 8601 variants monitoring tools send: RFC 3339, offsets without a colon
    /// (`+0000`, as in PagerDuty's own examples) and times without an offset (taken as UTC).
    pub fn parse_iso8601(s: &str) -> Option<Self> {
        let s = s.trim();
        if let Ok(t) = DateTime::parse_from_rfc3339(s) {
            return Some(Millis(t.timestamp_millis()));
        }
        for fmt in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%d %H:%M:%S%.f%z"] {
            if let Ok(t) = DateTime::parse_from_str(s, fmt) {
                return Some(Millis(t.timestamp_millis()));
            }
        }
        for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
            if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, fmt) {
                return Some(Millis(t.and_utc().timestamp_millis()));
            }
        }
        None
    }
}

impl Serialize for Millis {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_rfc3339())
    }
}

/// In the OpenAPI document a `Millis` is what it serializes as: an RFC 3339 string, named `Timestamp`.
impl utoipa::PartialSchema for Millis {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
            .description(Some("An instant: RFC 3339 in UTC with millisecond precision."))
            .examples(["2026-11-25T20:01:55.123Z"])
            .into()
    }
}

impl utoipa::ToSchema for Millis {
    fn name() -> std::borrow::Cow<'static, str> {
        "Timestamp".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_formats_senders_use() {
        let want = Millis(1_437_122_578_315);
        assert_eq!(Millis::parse_iso8601("2015-07-17T08:42:58.315+0000"), Some(want));
        assert_eq!(Millis::parse_iso8601("2015-07-17T08:42:58.315Z"), Some(want));
        assert_eq!(Millis::parse_iso8601("2015-07-17T10:42:58.315+02:00"), Some(want));
        assert_eq!(Millis::parse_iso8601("2015-07-17T08:42:58.315"), Some(want));
        assert_eq!(Millis::parse_iso8601("yesterday"), None);
    }

    #[test]
    fn adds_minutes_within_what_a_timestamp_can_show() {
        assert_eq!(Millis(0).plus_minutes(60), Some(Millis(3_600_000)));
        assert_eq!(Millis(0).plus_minutes(200_000_000_000), None, "past year 262143");
        assert_eq!(Millis(0).plus_minutes(u64::MAX), None);
    }

    #[test]
    fn renders_rfc3339_in_utc() {
        assert_eq!(Millis(1_437_122_578_315).to_rfc3339(), "2015-07-17T08:42:58.315Z");
    }
}
