//! Inbox entries back into commands: the raw body is read again with the same wire parser that accepted it.
//!
//! The raw body is the one record of an accepted event: after a crash, and whenever the applier is too far behind to
//! be handed events in memory, it works from the inbox alone. Only what the parser cannot tell again comes from the entry: the key
//! the unified path took from the query string, the dedup key generated for a trigger that had none, and the time.

use crate::domain::{DedupKey, IntegrationKey, Protocol, ServiceDirectory, ServiceRef, UrgencyRule};
use crate::store::sqlite::inbox::{EntryRef, InboxEntry};
use crate::store::Command;
use crate::wire::{change_v2, events_v1, events_v2, fields};

/// Why an entry could not be read again (the parser changed since it was accepted).
#[derive(Debug, thiserror::Error)]
#[error("inbox entry {seq} no longer parses: {why}")]
pub struct Unreadable {
    /// The entry.
    pub seq: i64,
    /// The parser's complaint.
    pub why: String,
}

/// An entry made by [`entry`] back into the command it stands for.
pub fn command(entry: InboxEntry, directory: &ServiceDirectory) -> Result<Command, Unreadable> {
    let unreadable = |why: String| Unreadable { seq: entry.seq, why };
    let obj = fields::parse_object(entry.raw.as_bytes()).map_err(|e| unreadable(e.errors.join("; ")))?;
    let key = Some(entry.integration_key.as_str());
    let service = service(&entry, directory);
    match entry.protocol {
        Protocol::Change => {
            let change = change_v2::parse(obj).map_err(|e| unreadable(e.errors.join("; ")))?;
            Ok(Command::Change { service, event: change.event, raw: entry.raw, received_at: entry.received_at })
        }
        protocol @ (Protocol::V1 | Protocol::V2) => {
            let parsed = if protocol == Protocol::V1 { events_v1::parse(obj, key) } else { events_v2::parse(obj, key) };
            let mut alert = parsed.map_err(|e| unreadable(e.errors.join("; ")))?;
            if let Some(dedup_key) = entry.dedup_key.as_deref() {
                alert.event.dedup_key = DedupKey::parse(dedup_key).map_err(|_| unreadable("bad dedup key".into()))?;
            }
            Ok(Command::Alert {
                service,
                integration_key: IntegrationKey::new(entry.integration_key),
                protocol,
                event: alert.event,
                raw: entry.raw,
                received_at: entry.received_at,
            })
        }
        other => Err(unreadable(format!("{} events are not taken through the inbox", other.as_str()))),
    }
}

/// The inbox entry that stands for an accepted alert or change command (`None` for any other command).
pub fn entry(seq: i64, command: &Command) -> Option<EntryRef<'_>> {
    match command {
        Command::Alert { service, integration_key, protocol, event, raw, received_at } => Some(EntryRef {
            seq,
            received_at: *received_at,
            protocol: *protocol,
            integration_key: integration_key.expose(),
            dedup_key: Some(event.dedup_key.as_str()),
            service: &service.name,
            raw,
        }),
        Command::Change { service, raw, received_at, .. } => Some(EntryRef {
            seq,
            received_at: *received_at,
            protocol: Protocol::Change,
            // The change parser reads the key from the body again.
            integration_key: "",
            dedup_key: None,
            service: &service.name,
            raw,
        }),
        _ => None,
    }
}

/// The service the entry's key belongs to now; if the configuration no longer knows the key (it changed between a
/// crash and the restart), the service it was accepted for, as configured now or with default settings.
fn service(entry: &InboxEntry, directory: &ServiceDirectory) -> ServiceRef {
    let by_key = match entry.protocol {
        Protocol::Change => None,
        _ => directory.resolve(&IntegrationKey::new(entry.integration_key.clone())),
    };
    by_key
        .filter(|s| s.name == entry.service)
        .or_else(|| directory.services().iter().find(|s| s.name == entry.service).cloned())
        .unwrap_or_else(|| ServiceRef::new(entry.service.clone(), UrgencyRule::High))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Millis;
    use crate::wire::{unified, KeyedAlert};
    use serde_json::json;

    fn accepted(protocol: Protocol, alert: KeyedAlert, raw: &str) -> Command {
        let service = ServiceDirectory::Open.resolve(&alert.integration_key).unwrap();
        Command::Alert {
            service,
            integration_key: alert.integration_key,
            protocol,
            event: alert.event,
            raw: raw.to_owned(),
            received_at: Millis(42),
        }
    }

    fn round_trip(command: Command) -> Command {
        let entry = entry(7, &command).unwrap().into();
        super::command(entry, &ServiceDirectory::Open).unwrap()
    }

    fn alert_parts(c: &Command) -> (String, String, Protocol, String, Millis) {
        let Command::Alert { service, integration_key, protocol, event, received_at, .. } = c else { panic!() };
        (service.name.clone(), integration_key.expose().to_owned(), *protocol, format!("{event:?}"), *received_at)
    }

    #[test]
    fn a_generated_dedup_key_survives_the_replay() {
        let raw = json!({"routing_key": "k", "event_action": "trigger",
            "payload": {"summary": "s", "source": "h", "severity": "info"}})
        .to_string();
        let alert = events_v2::parse(fields::parse_object(raw.as_bytes()).unwrap(), None).unwrap();
        let command = accepted(Protocol::V2, alert, &raw);
        assert_eq!(alert_parts(&round_trip(command.clone())), alert_parts(&command));
    }

    #[test]
    fn the_unified_paths_query_key_survives_the_replay() {
        let raw = json!({"service_key": "in-body", "event_type": "trigger", "description": "d"}).to_string();
        let (protocol, alert) = unified::parse(fields::parse_object(raw.as_bytes()).unwrap(), Some("in-query"));
        let command = accepted(protocol, alert.unwrap(), &raw);
        let replayed = round_trip(command.clone());
        assert_eq!(alert_parts(&replayed), alert_parts(&command));
        assert_eq!(alert_parts(&replayed).1, "in-query");
        assert_eq!(alert_parts(&replayed).2, Protocol::V1);
    }

    #[test]
    fn a_change_event_is_read_again() {
        let raw = json!({"routing_key": "k", "payload": {"summary": "deployed", "source": "ci"}}).to_string();
        let change = change_v2::parse(fields::parse_object(raw.as_bytes()).unwrap()).unwrap();
        let service = ServiceDirectory::Open.resolve(&change.integration_key).unwrap();
        let command = Command::Change { service, event: change.event, raw, received_at: Millis(9) };
        let Command::Change { service, event, received_at, .. } = round_trip(command.clone()) else { panic!() };
        let Command::Change { service: s0, event: e0, .. } = command else { panic!() };
        assert_eq!((service.name, event, received_at), (s0.name, e0, Millis(9)));
    }

    #[test]
    fn a_key_the_configuration_lost_keeps_its_service() {
        let entry = InboxEntry {
            seq: 1,
            received_at: Millis(1),
            protocol: Protocol::V2,
            integration_key: "gone".into(),
            dedup_key: Some("d".into()),
            service: "payments".into(),
            raw: json!({"routing_key": "gone", "event_action": "resolve", "dedup_key": "d"}).to_string(),
        };
        let directory = ServiceDirectory::Configured { by_key: Default::default(), services: vec![] };
        let Command::Alert { service, .. } = command(entry, &directory).unwrap() else { panic!() };
        assert_eq!(service.name, "payments");
    }
}
