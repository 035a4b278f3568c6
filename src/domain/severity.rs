//! How bad an alert is (`Severity`) and how fast people must react (`Urgency`).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// PD-CEF severity of an alert event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Service down or data loss.
    Critical,
    /// Something failed.
    Error,
    /// Something may fail soon.
    Warning,
    /// For the record.
    Info,
}

impl Severity {
    /// All severities, most severe first.
    pub const ALL: [Severity; 4] = [Severity::Critical, Severity::Error, Severity::Warning, Severity::Info];

    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = UnknownValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Severity::ALL.into_iter().find(|v| v.as_str() == s).ok_or_else(|| UnknownValue(s.to_owned()))
    }
}

/// Whether an incident pages people now (`high`) or can wait for working hours (`low`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Urgency {
    /// Page now.
    High,
    /// Can wait.
    Low,
}

impl Urgency {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Urgency::High => "high",
            Urgency::Low => "low",
        }
    }
}

impl fmt::Display for Urgency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Urgency {
    type Err = UnknownValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "high" => Ok(Urgency::High),
            "low" => Ok(Urgency::Low),
            other => Err(UnknownValue(other.to_owned())),
        }
    }
}

/// A stored or configured word that is not one of the enum's values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown value {0:?}")]
pub struct UnknownValue(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severities_round_trip_through_their_wire_names() {
        for s in Severity::ALL {
            assert_eq!(s.as_str().parse::<Severity>().unwrap(), s);
        }
        assert!("CRITICAL".parse::<Severity>().is_err());
        assert!("fatal".parse::<Severity>().is_err());
    }

    #[test]
    fn critical_sorts_first() {
        let mut v = vec![Severity::Info, Severity::Critical, Severity::Warning];
        v.sort();
        assert_eq!(v, vec![Severity::Critical, Severity::Warning, Severity::Info]);
    }
}
