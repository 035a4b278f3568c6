//! The inbound webhook wire layer against real, published payloads (`tests/fixtures/webhooks/`, see its
//! README): PagerDuty v3 events, ticket trackers, and the signature checks.

use base64::Engine as _;
use firehouse::domain::external::{mirror_change, MirrorChange, PagerDutyEvent, Ticket};
use firehouse::domain::{IncidentStatus, Millis, Severity, Urgency};
use firehouse::wire::pagerduty_v3;
use firehouse::wire::signature::{
    hmac_sha256, verify_hmac, verify_pagerduty, verify_shared_secret, verify_token, Encoding, Secret, SignatureError,
};
use firehouse::wire::tickets::{generic, github, gitlab, jira, TicketEvent, Tracker};
use std::path::{Path, PathBuf};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/webhooks")
}

fn fixture(name: &str) -> Vec<u8> {
    let path = dir().join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
}

fn pd(name: &str) -> PagerDutyEvent {
    pagerduty_v3::parse(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn ticket(event: Result<TicketEvent, pagerduty_v3::InvalidWebhook>) -> Ticket {
    match event {
        Ok(TicketEvent::Ticket(t)) => t,
        other => panic!("expected a ticket, got {other:?}"),
    }
}

fn at(s: &str) -> Option<Millis> {
    Some(Millis::parse_iso8601(s).unwrap())
}

// ---------------------------------------------------------------------------------------------------------
// Every fixture
// ---------------------------------------------------------------------------------------------------------

#[test]
fn every_fixture_parses_with_its_parser() {
    let mut seen = 0;
    for entry in std::fs::read_dir(dir()).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if !name.ends_with(".json") {
            continue;
        }
        let body = fixture(&name);
        let ok = if name.starts_with("pd_") || name.starts_with("go_pagerduty_") {
            pagerduty_v3::parse(&body).map(|_| ()).map_err(|e| e.to_string())
        } else if name.starts_with("github_") {
            let header = if name.contains("ping") { "ping" } else { "issues" };
            github::parse(&body, Some(header)).map(|_| ()).map_err(|e| e.to_string())
        } else if name.starts_with("gitlab_") {
            gitlab::parse(&body, Some("Issue Hook")).map(|_| ()).map_err(|e| e.to_string())
        } else if name.starts_with("jira_") {
            jira::parse(&body, None).map(|_| ()).map_err(|e| e.to_string())
        } else if name.starts_with("generic_") {
            generic::parse(&body, None).map(|_| ()).map_err(|e| e.to_string())
        } else {
            panic!("fixture {name} has no parser; name it after its source");
        };
        ok.unwrap_or_else(|e| panic!("{name}: {e}"));
        seen += 1;
    }
    assert_eq!(seen, 14, "every fixture is listed in the README and covered here");
}

// ---------------------------------------------------------------------------------------------------------
// PagerDuty v3
// ---------------------------------------------------------------------------------------------------------

#[test]
fn pd_docs_priority_updated_fills_the_incident() {
    let ev = pd("pd_docs_v3_priority_updated.json");
    assert_eq!(ev.id, "5ac64822-4adc-4fda-ade0-410becf0de4f");
    assert_eq!(ev.event_type, "incident.priority_updated");
    assert_eq!(ev.resource_type, "incident");
    assert_eq!(ev.occurred_at, at("2020-10-02T18:45:22.169Z"));
    assert_eq!(ev.agent.as_deref(), Some("Tenex Engineer"));
    assert_eq!(ev.note, None);
    assert_eq!(ev.incident_id.as_deref(), Some("PGR0VU2"));
    let i = ev.incident.expect("a full incident");
    assert_eq!(i.id, "PGR0VU2");
    assert_eq!(i.number, Some(2));
    assert_eq!(i.title, "A little bump in the road");
    assert_eq!(i.status, Some(IncidentStatus::Triggered));
    assert_eq!(i.urgency, Some(Urgency::High));
    assert_eq!(i.priority.as_deref(), Some("P1"));
    assert_eq!(i.service.as_deref(), Some("API Service"));
    assert_eq!(i.html_url.as_deref(), Some("https://acme.pagerduty.com/incidents/PGR0VU2"));
    assert_eq!(i.incident_key.as_deref(), Some("d3640fbd41094207a1c11e58e46b1662"));
    assert_eq!(i.created_at, at("2020-04-09T15:16:27Z"));
    assert_eq!(i.severity(), Severity::Critical);
    assert_eq!(mirror_change(&ev.event_type), MirrorChange::Record);
}

#[test]
fn pd_docs_service_updated_is_not_about_an_incident() {
    let ev = pd("pd_docs_v3_service_updated.json");
    assert_eq!(ev.id, "01BRB6ZP4M6T8ZG4X6BP63ZB9O");
    assert_eq!((ev.event_type.as_str(), ev.resource_type.as_str()), ("service.updated", "service"));
    assert_eq!(ev.occurred_at, at("2021-03-02T13:35:11.682Z"));
    assert_eq!((ev.agent, ev.incident, ev.note, ev.incident_id), (None, None, None, None));
    assert_eq!(mirror_change(&ev.event_type), MirrorChange::Ignore);
}

#[test]
fn pd_triggered_acknowledged_resolved() {
    let cases = [
        ("pd_v3_triggered.json", "incident.triggered", "PFQZPSY", 9, "Test Incident 3", IncidentStatus::Triggered),
        (
            "pd_v3_acknowledged.json",
            "incident.acknowledged",
            "PQ1K5C8",
            10,
            "Test Incident",
            IncidentStatus::Acknowledged,
        ),
        ("pd_v3_resolved.json", "incident.resolved", "PCPZE64", 6, "Test Incident", IncidentStatus::Resolved),
    ];
    for (file, event_type, id, number, title, status) in cases {
        let ev = pd(file);
        assert_eq!(ev.event_type, event_type, "{file}");
        assert_eq!(ev.resource_type, "incident");
        assert_eq!(ev.agent.as_deref(), Some("PIG 208"));
        assert_eq!(ev.incident_id.as_deref(), Some(id));
        let i = ev.incident.unwrap_or_else(|| panic!("{file}: no incident"));
        assert_eq!((i.id.as_str(), i.number, i.title.as_str(), i.status), (id, Some(number), title, Some(status)));
        assert_eq!(i.urgency, Some(Urgency::High));
        assert_eq!(i.service.as_deref(), Some("pig208"));
        assert_eq!(i.html_url, Some(format!("https://pig208.pagerduty.com/incidents/{id}")));
        // `priority: null`, and these deliveries carry no incident_key or created_at.
        assert_eq!((i.priority, i.incident_key, i.created_at), (None, None, None));
        assert_eq!(ev.note, None);
    }
    assert_eq!(pd("pd_v3_triggered.json").occurred_at, at("2021-06-04T13:35:29.781Z"));
    assert_eq!(mirror_change("incident.acknowledged"), MirrorChange::Acknowledge);
}

#[test]
fn pd_annotated_carries_the_note_and_incident_id() {
    let ev = pd("pd_v3_annotated.json");
    assert_eq!(ev.event_type, "incident.annotated");
    assert_eq!(ev.incident, None);
    assert_eq!(ev.note.as_deref(), Some("Running KILL on long-running queries from the reporting-service."));
    assert_eq!(ev.incident_id.as_deref(), Some("Q3B15VLMF3ASBD"));
    assert_eq!(ev.agent.as_deref(), Some("Harsh Santwani"));
}

#[test]
fn pd_unknown_event_types_parse_and_bad_bodies_are_refused() {
    let mut v: serde_json::Value = serde_json::from_slice(&fixture("pd_v3_triggered.json")).unwrap();
    v["event"]["event_type"] = "incident.workflow.started".into();
    v["event"]["data"] = serde_json::json!({"type": "incident_workflow_instance", "incident": {"id": "PFQZPSY"}});
    let ev = pagerduty_v3::parse(v.to_string().as_bytes()).unwrap();
    assert_eq!((ev.incident, ev.incident_id.as_deref()), (None, Some("PFQZPSY")));

    let msg = |b: &[u8]| pagerduty_v3::parse(b).unwrap_err().to_string();
    assert!(msg(b"<html>").contains("not valid JSON"));
    assert_eq!(msg(br#"{"event": {"event_type": "incident.triggered"}}"#), "invalid webhook: event.id is required");
    assert_eq!(msg(br#"{"event": {"id": "x"}}"#), "invalid webhook: event.event_type is required");
    assert_eq!(msg(br#"{"messages": []}"#), "invalid webhook: event is required (expected {\"event\": {…}})");
}

// ---------------------------------------------------------------------------------------------------------
// Tickets
// ---------------------------------------------------------------------------------------------------------

#[test]
fn github_opened_and_labeled() {
    for (file, action) in [("github_issues_opened.json", "opened"), ("github_issues_labeled.json", "labeled")] {
        let t = ticket(github::parse(&fixture(file), Some("issues")));
        assert_eq!(
            t,
            Ticket {
                id: "Codertocat/Hello-World#1".into(),
                title: "Spelling error in the README file".into(),
                description: "It looks like you accidently spelled 'commit' with two 't's.".into(),
                labels: vec!["bug".into()],
                url: Some("https://github.com/Codertocat/Hello-World/issues/1".into()),
                reporter: Some("Codertocat".into()),
                action: action.into(),
            },
            "{file}"
        );
    }
}

#[test]
fn github_ping_other_actions_and_null_bodies() {
    let ping = fixture("github_ping.json");
    assert!(matches!(github::parse(&ping, Some("ping")), Ok(TicketEvent::Ignored(_))));
    assert!(matches!(github::parse(&ping, None), Ok(TicketEvent::Ignored(_))));

    let mut v: serde_json::Value = serde_json::from_slice(&fixture("github_issues_opened.json")).unwrap();
    v["action"] = "closed".into();
    assert!(matches!(github::parse(v.to_string().as_bytes(), Some("issues")), Ok(TicketEvent::Ignored(_))));
    v["action"] = "reopened".into();
    v["issue"]["body"] = serde_json::Value::Null;
    let t = ticket(github::parse(v.to_string().as_bytes(), Some("issues")));
    assert_eq!((t.action.as_str(), t.description.as_str()), ("reopened", ""));
    // An issues body under another event name is not read as an issue.
    assert!(matches!(github::parse(&fixture("github_issues_opened.json"), Some("push")), Ok(TicketEvent::Ignored(_))));
}

#[test]
fn gitlab_documented_issue_hook() {
    let t = ticket(gitlab::parse(&fixture("gitlab_issue_hook.json"), Some("Issue Hook")));
    assert_eq!(
        t,
        Ticket {
            id: "gitlabhq/gitlab-test#23".into(),
            title: "New API: create/update/delete file".into(),
            description: "Create new API for manipulations with repository".into(),
            labels: vec!["API".into()],
            url: Some("http://example.com/diaspora/issues/23".into()),
            reporter: Some("root".into()),
            action: "open".into(),
        }
    );
    let mut v: serde_json::Value = serde_json::from_slice(&fixture("gitlab_issue_hook.json")).unwrap();
    v["object_attributes"]["action"] = "close".into();
    assert!(matches!(gitlab::parse(v.to_string().as_bytes(), Some("Issue Hook")), Ok(TicketEvent::Ignored(_))));
    assert!(matches!(
        gitlab::parse(&fixture("gitlab_issue_hook.json"), Some("Note Hook")),
        Ok(TicketEvent::Ignored(_))
    ));
}

#[test]
fn jira_issue_created() {
    let t = ticket(jira::parse(&fixture("jira_issue_created.json"), None));
    assert_eq!(
        t,
        Ticket {
            id: "BUG-15".into(),
            title: "New bug with hook".into(),
            description: "Fix me please".into(),
            labels: vec![],
            url: Some("http://lfranchi.com:8080/browse/BUG-15".into()),
            reporter: Some("Leo Franchi".into()),
            action: "created".into(),
        }
    );
}

#[test]
fn jira_documented_issue_updated() {
    let t = ticket(jira::parse(&fixture("jira_docs_issue_updated.json"), None));
    assert_eq!(
        t,
        Ticket {
            id: "JRA-20002".into(),
            title: "I feel the need for speed".into(),
            description: "Make the issue nav load 10x faster".into(),
            labels: vec!["UI".into(), "dialogue".into(), "move".into()],
            url: Some("https://jira.atlassian.com/browse/JRA-20002".into()),
            reporter: Some("Bryan Rollins [Atlassian]".into()),
            action: "updated".into(),
        }
    );
    let mut v: serde_json::Value = serde_json::from_slice(&fixture("jira_issue_created.json")).unwrap();
    v["webhookEvent"] = "comment_created".into();
    assert!(matches!(jira::parse(v.to_string().as_bytes(), None), Ok(TicketEvent::Ignored(_))));
}

#[test]
fn generic_seed_ticket() {
    let t = ticket(generic::parse(&fixture("generic_ticket_created.json"), None));
    assert_eq!(
        t,
        Ticket {
            id: "1042".into(),
            title: "Checkout returns 500 when the cart is empty".into(),
            description: "POST /api/checkout with an empty cart answers 500 instead of 400.".into(),
            labels: vec!["devin-autofix".into(), "checkout".into()],
            url: None,
            reporter: None,
            action: "created".into(),
        }
    );
    // The dispatcher reads the same.
    assert_eq!(ticket(Tracker::Generic.parse(&fixture("generic_ticket_created.json"), None)), t);
}

// ---------------------------------------------------------------------------------------------------------
// Signatures
// ---------------------------------------------------------------------------------------------------------

/// go-pagerduty's `webhookv3_test.go` test vector (secret and signature of `go_pagerduty_v3_signed_body.json`).
const PD_SECRET: &str = "lDQHScfUeXUKaQRNF+8XIiDKZ7XX3itBAYzwU0TARw8lJqRnkKl2iB1anSb0Z+IK";
const PD_SIGNATURE: &str = "v1=0c0b9495b893a39e70d1fea2fe11fbe0a825f88b9f67846f6cc07dd2bc5476cd";
const PD_OTHER_SIGNATURE: &str = "v1=7020c8a7ec668a9b7012bc3dd82e483394b038f4230acc6785efbf2a7d8bcaf5";

/// GitHub's documented test vector ("Validating webhook deliveries").
const GH_SECRET: &str = "It's a Secret to Everybody";
const GH_BODY: &[u8] = b"Hello, World!";
const GH_HEX: &str = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

#[test]
fn pagerduty_published_vector_good_bad_missing() {
    let body = fixture("go_pagerduty_v3_signed_body.json");
    let secrets = [Secret::new(PD_SECRET)];
    assert_eq!(verify_pagerduty(Some(PD_SIGNATURE), &body, &secrets), Ok(()));
    assert_eq!(verify_pagerduty(Some(PD_OTHER_SIGNATURE), &body, &secrets), Err(SignatureError::Mismatch));
    assert_eq!(verify_pagerduty(None, &body, &secrets), Err(SignatureError::Missing));
    let mut tampered = body.clone();
    tampered.push(b' ');
    assert_eq!(verify_pagerduty(Some(PD_SIGNATURE), &tampered, &secrets), Err(SignatureError::Mismatch));
    assert_eq!(verify_pagerduty(Some(PD_SIGNATURE), &body, &[Secret::new("wrong")]), Err(SignatureError::Mismatch));
    // And the signed body is a v3 event.
    assert_eq!(pagerduty_v3::parse(&body).unwrap().incident.unwrap().priority.as_deref(), Some("P1"));
}

#[test]
fn pagerduty_rotation_two_values_either_secret() {
    let body = fixture("pd_v3_triggered.json");
    let (old, new) = (Secret::new("old-subscription-secret"), Secret::new("new-subscription-secret"));
    let header = format!("v1={},v1={}", hex::encode(hmac_sha256(&old, &body)), hex::encode(hmac_sha256(&new, &body)));
    assert_eq!(verify_pagerduty(Some(&header), &body, std::slice::from_ref(&old)), Ok(()));
    assert_eq!(verify_pagerduty(Some(&header), &body, std::slice::from_ref(&new)), Ok(()));
    assert_eq!(verify_pagerduty(Some(&header), &body, &[Secret::new("third"), new.clone()]), Ok(()));
    assert_eq!(verify_pagerduty(Some(&header), &body, &[Secret::new("third")]), Err(SignatureError::Mismatch));
    // Receiver-side rotation: one value, two configured secrets, either order.
    let one = format!("v1={}", hex::encode(hmac_sha256(&new, &body)));
    assert_eq!(verify_pagerduty(Some(&one), &body, &[old.clone(), new.clone()]), Ok(()));
    assert_eq!(verify_pagerduty(Some(&one), &body, &[new, old]), Ok(()));
    // Other versions are ignored, spaces around values tolerated.
    assert_eq!(
        verify_pagerduty(
            Some(&format!("v0=abc, {PD_SIGNATURE}")),
            &fixture("go_pagerduty_v3_signed_body.json"),
            &[Secret::new(PD_SECRET)]
        ),
        Ok(())
    );
}

#[test]
fn pagerduty_malformed_headers() {
    let body = fixture("go_pagerduty_v3_signed_body.json");
    let secrets = [Secret::new(PD_SECRET)];
    for header in
        ["", "0c0b9495b893a39e", "v2=0c0b", "sha256=0c0b9495", "v1=xyz", "v1=0c0b", &format!("{PD_SIGNATURE}00")]
    {
        assert!(
            matches!(verify_pagerduty(Some(header), &body, &secrets), Err(SignatureError::Malformed(_))),
            "{header:?}"
        );
    }
}

#[test]
fn hmac_encodings_prefixed_hex_base64() {
    let secret = Secret::new(GH_SECRET);
    let b64 = base64::engine::general_purpose::STANDARD.encode(hex::decode(GH_HEX).unwrap());
    assert_eq!(verify_hmac(Some(&format!("sha256={GH_HEX}")), GH_BODY, &secret, Encoding::Prefixed), Ok(()));
    assert_eq!(verify_hmac(Some(GH_HEX), GH_BODY, &secret, Encoding::Hex), Ok(()));
    assert_eq!(verify_hmac(Some(&b64), GH_BODY, &secret, Encoding::Base64), Ok(()));
    // Bad: another body, another secret.
    assert_eq!(verify_hmac(Some(GH_HEX), b"Hello, World", &secret, Encoding::Hex), Err(SignatureError::Mismatch));
    assert_eq!(verify_hmac(Some(&b64), GH_BODY, &Secret::new("x"), Encoding::Base64), Err(SignatureError::Mismatch));
    // Missing and malformed.
    assert_eq!(verify_hmac(None, GH_BODY, &secret, Encoding::Prefixed), Err(SignatureError::Missing));
    assert!(matches!(
        verify_hmac(Some(GH_HEX), GH_BODY, &secret, Encoding::Prefixed),
        Err(SignatureError::Malformed(_))
    ));
    assert!(matches!(
        verify_hmac(Some(&format!("sha1={GH_HEX}")), GH_BODY, &secret, Encoding::Prefixed),
        Err(SignatureError::Malformed(_))
    ));
    assert!(matches!(verify_hmac(Some(&b64), GH_BODY, &secret, Encoding::Hex), Err(SignatureError::Malformed(_))));
    assert!(matches!(verify_hmac(Some("%%%"), GH_BODY, &secret, Encoding::Base64), Err(SignatureError::Malformed(_))));
    // A signature of the wrong length is malformed, not a mismatch.
    assert!(matches!(
        verify_hmac(Some(&GH_HEX[..40]), GH_BODY, &secret, Encoding::Hex),
        Err(SignatureError::Malformed(_))
    ));
}

#[test]
fn github_fixture_signed_as_github_does() {
    let body = fixture("github_issues_opened.json");
    let secret = Secret::new("webhook-secret");
    let header = format!("sha256={}", hex::encode(hmac_sha256(&secret, &body)));
    assert_eq!(verify_hmac(Some(&header), &body, &secret, Encoding::Prefixed), Ok(()));
    assert_eq!(
        verify_hmac(Some(&header), &fixture("github_issues_labeled.json"), &secret, Encoding::Prefixed),
        Err(SignatureError::Mismatch)
    );
}

#[test]
fn shared_secrets_and_tokens() {
    let expected = Secret::new("s3cr3t-header-value");
    assert_eq!(verify_shared_secret(Some("s3cr3t-header-value"), &expected), Ok(()));
    assert_eq!(verify_shared_secret(None, &expected), Err(SignatureError::Missing));
    // Different lengths: a prefix, an extension, empty.
    assert_eq!(verify_shared_secret(Some("s3cr3t"), &expected), Err(SignatureError::Mismatch));
    assert_eq!(verify_shared_secret(Some("s3cr3t-header-value-and-more"), &expected), Err(SignatureError::Mismatch));
    assert_eq!(verify_shared_secret(Some(""), &expected), Err(SignatureError::Mismatch));
    // Same length, one byte off.
    assert_eq!(verify_shared_secret(Some("s3cr3t-header-valuE"), &expected), Err(SignatureError::Mismatch));

    let token = Secret::new("gitlab-token");
    assert_eq!(verify_token(Some("gitlab-token"), &token), Ok(()));
    assert_eq!(verify_token(Some("gitlab-toke"), &token), Err(SignatureError::Mismatch));
    assert_eq!(verify_token(None, &token), Err(SignatureError::Missing));
    // An empty configured secret authenticates nothing.
    assert_eq!(verify_token(Some(""), &Secret::new("")), Err(SignatureError::Mismatch));
}

#[test]
fn error_texts_never_contain_secrets_or_signatures() {
    let body = fixture("go_pagerduty_v3_signed_body.json");
    let pd_secret = Secret::new(PD_SECRET);
    let gh_secret = Secret::new(GH_SECRET);
    let expected_pd = &PD_SIGNATURE[3..];
    let errors = [
        verify_pagerduty(Some(PD_OTHER_SIGNATURE), &body, std::slice::from_ref(&pd_secret)),
        verify_pagerduty(Some("v1=zz"), &body, std::slice::from_ref(&pd_secret)),
        verify_pagerduty(Some("nonsense"), &body, std::slice::from_ref(&pd_secret)),
        verify_pagerduty(None, &body, std::slice::from_ref(&pd_secret)),
        verify_hmac(Some("sha256=00"), GH_BODY, &gh_secret, Encoding::Prefixed),
        verify_hmac(Some(&"0".repeat(64)), GH_BODY, &gh_secret, Encoding::Hex),
        verify_hmac(Some("AAAA"), GH_BODY, &gh_secret, Encoding::Base64),
        verify_shared_secret(Some("guess"), &Secret::new(PD_SECRET)),
        verify_token(Some(&PD_SECRET[..10]), &Secret::new(PD_SECRET)),
    ];
    for result in errors {
        let e = result.unwrap_err();
        for text in [e.to_string(), format!("{e:?}")] {
            for secret in [PD_SECRET, GH_SECRET, expected_pd, GH_HEX, &PD_SECRET[..10]] {
                assert!(!text.contains(secret), "{text:?} leaks {secret:?}");
            }
        }
    }
    assert_eq!(format!("{pd_secret:?}"), "Secret(***)");
    assert!(!format!("{:?}", [pd_secret, gh_secret]).contains("Secret to"));
}
