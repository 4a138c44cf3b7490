//! The OpenAPI document of the JSON API, derived (utoipa) from the handlers' path
//! annotations in [`crate::api`] and the DTO types of [`super::requests`] and
//! [`super::responses`]; served at `GET /api/openapi.json`. A snapshot test pins it, and
//! another checks that it documents exactly [`crate::api::API_ROUTES`].

use std::sync::OnceLock;

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// The bearer token scheme every route but the document itself requires.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "an API token (`serversync tokens add NAME [--read-only]`); \
                         read-only tokens may only read",
                    ))
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "serversync API",
        description = "Server Sync for hosting providers: list every account on a server, \
                       compare with billing, and import, sync, reactivate, terminate or move \
                       billing records. Errors are `{\"error\": \"…\"}`; bad input names its \
                       field; internal failures give only a request id (header \
                       `x-request-id`)."
    ),
    paths(
        crate::api::list_servers,
        crate::api::list_runs,
        crate::api::start_run,
        crate::api::list_jobs,
        crate::api::get_job,
        crate::api::get_run,
        crate::api::run_items,
        crate::api::apply_run,
        crate::api::audit,
        crate::api::clients,
        crate::api::products,
        crate::api::services,
        crate::api_servers::get_server,
        crate::api_servers::create_server,
        crate::api_servers::replace_server,
        crate::api_servers::patch_server,
        crate::api_servers::test_server,
        crate::api_servers::patch_product,
        crate::api_deliveries::list_deliveries,
    ),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    tags(
        (name = "servers", description = "servers and their state"),
        (name = "runs", description = "sync jobs, stored runs, their items, and applies"),
        (name = "audit", description = "the audit log"),
        (name = "records", description = "billing records"),
        (name = "alerts", description = "the alert delivery log"),
    )
)]
pub struct ApiDoc;

/// The OpenAPI document with `GET /api/openapi.json` itself added (public, no token).
pub fn document() -> utoipa::openapi::OpenApi {
    use utoipa::openapi::path::OperationBuilder;
    use utoipa::openapi::{HttpMethod, ResponseBuilder};
    let mut doc = ApiDoc::openapi();
    let op = OperationBuilder::new()
        .summary(Some("This document"))
        .tag("meta")
        // Empty requirement list: no token needed.
        .securities(Some(
            Vec::<utoipa::openapi::security::SecurityRequirement>::new(),
        ))
        .response(
            "200",
            ResponseBuilder::new().description("the OpenAPI document"),
        )
        .build();
    doc.paths
        .add_path_operation("/api/openapi.json", vec![HttpMethod::Get], op);
    doc
}

/// [`document`] as pretty JSON, built once.
pub fn json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| {
        document()
            .to_pretty_json()
            .unwrap_or_else(|e| format!("{{\"error\": \"OpenAPI document: {e}\"}}"))
    })
}
