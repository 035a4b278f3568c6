//! `GET /api/v1/openapi.json`: the REST API's OpenAPI 3.1 document, generated from the handlers'
//! `#[utoipa::path]` annotations and the `ToSchema` types they answer with.

use super::error::{ErrorBody, ErrorCode, ErrorDetail};
use super::{catalog, dispatches, health, incidents, postmortems, silences};
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use std::sync::OnceLock;
use utoipa::openapi::path::Operation;
use utoipa::openapi::schema::{Schema, SchemaType, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Required, ResponseBuilder};
use utoipa::{Modify, OpenApi};

/// The name of the bearer token scheme in the document (as written in `#[openapi(security(...))]`).
pub const BEARER: &str = "bearer";

/// The document: every REST route, its parameters, bodies, answers and errors.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Firehouse REST API",
        description = "Incidents, dispatches and silences of a Firehouse incident gateway.\n\n\
                       **Access.** Until an API token exists, `/api/v1` answers only clients on the server's own \
                       machine (other clients get 403). Once one exists, every request needs \
                       `Authorization: Bearer <token>` (tokens are created with `firehouse token create`); a \
                       wrong or revoked token is always refused with 401. `/healthz` and this document are open.\n\n\
                       **Errors** are JSON with a stable code: `{\"error\": {\"code\": \"not_found\", \
                       \"message\": \"no such incident\"}}`."
    ),
    paths(
        incidents::list,
        incidents::show,
        incidents::acknowledge,
        incidents::resolve,
        incidents::add_note,
        incidents::change_events,
        postmortems::markdown,
        dispatches::list,
        dispatches::show,
        dispatches::retry,
        silences::list,
        silences::create,
        silences::expire,
        catalog::services,
        catalog::events,
        health::healthz,
        openapi_json,
    ),
    components(schemas(ErrorBody, ErrorDetail, ErrorCode)),
    modifiers(&Conventions),
    security(("bearer" = [])),
    tags(
        (name = "incidents", description = "Incidents, their timelines, and the change events of their services"),
        (name = "dispatches", description = "What rules dispatched (agent sessions, webhooks, …) and dead letters"),
        (name = "silences", description = "Silences: matching alerts are stored but open nothing and run nothing"),
        (name = "services", description = "Services and their incident counts"),
        (name = "events", description = "The event log: every accepted event"),
        (name = "health", description = "Liveness"),
        (name = "meta", description = "This document"),
    )
)]
pub struct ApiDoc;

/// What holds for every route, so no handler repeats it: the bearer scheme; on every route behind the
/// token check (those without an explicit `security`), 401 and 403 from the check and 500 from the
/// store it reads; and an optional body (`Option<T>`) is one that may be left out, not a JSON `null`.
struct Conventions;

impl Modify for Conventions {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some("An API token from `firehouse token create` (`fh_` and 64 hex digits)."))
            .build();
        doc.components.get_or_insert_with(Default::default).add_security_scheme(BEARER, SecurityScheme::Http(scheme));
        for item in doc.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.options,
                &mut item.head,
                &mut item.patch,
                &mut item.trace,
            ];
            for operation in operations.into_iter().flatten() {
                if operation.security.is_none() {
                    add_error(operation, 401, "No valid API token (missing once a token exists, wrong or revoked)");
                    add_error(operation, 403, "No API token exists yet and the client is not on the server's machine");
                    add_error(operation, 500, "Internal error (the cause is logged, not shown)");
                }
                optional_body_is_absent_not_null(operation);
            }
        }
    }
}

/// Adds an error answer with the error body, unless the operation already documents `status`.
fn add_error(operation: &mut Operation, status: u16, description: &str) {
    let content = ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build();
    let response = ResponseBuilder::new().description(description).content("application/json", content).build();
    operation.responses.responses.entry(status.to_string()).or_insert_with(|| response.into());
}

/// utoipa renders `request_body(content = Option<T>)` as `oneOf: [null, T]` and not required; the
/// handlers take an empty body for "none", and refuse `null`, so the schema is just `T`.
fn optional_body_is_absent_not_null(operation: &mut Operation) {
    let Some(body) = operation.request_body.as_mut() else { return };
    if matches!(body.required, Some(Required::True)) {
        return;
    }
    for content in body.content.values_mut() {
        let Some(RefOr::T(Schema::OneOf(one_of))) = &content.schema else { continue };
        let is_null = |s: &RefOr<Schema>| match s {
            RefOr::T(Schema::Object(o)) => matches!(o.schema_type, SchemaType::Type(Type::Null)),
            _ => false,
        };
        let mut rest: Vec<_> = one_of.items.iter().filter(|s| !is_null(s)).cloned().collect();
        if rest.len() == 1 && one_of.items.len() == 2 {
            content.schema = rest.pop();
        }
    }
}

/// The document as JSON, built once.
pub fn document() -> &'static str {
    static DOC: OnceLock<String> = OnceLock::new();
    DOC.get_or_init(|| ApiDoc::openapi().to_pretty_json().expect("the OpenAPI document serializes"))
}

/// `GET /api/v1/openapi.json`: this document (open, like `/healthz`, so tools can fetch it).
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    operation_id = "openapi",
    tag = "meta",
    summary = "The OpenAPI document",
    description = "This document, OpenAPI 3.1. Open: no token needed.",
    security(()),
    responses((status = 200, description = "The OpenAPI document", body = serde_json::Value)),
)]
pub async fn openapi_json() -> impl IntoResponse {
    ([(CONTENT_TYPE, "application/json")], document())
}
