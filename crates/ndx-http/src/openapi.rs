//! The OpenAPI 3.1 document, generated from the handlers' annotations.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

struct Security;

impl Modify for Security {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("an ndx API key: Authorization: Bearer ndx_…"))
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "ndx", description = "National data integration and sharing platform. Every error is an RFC 9457 problem (application/problem+json) with a stable `code`."),
    modifiers(&Security),
    paths(
        crate::health, crate::metrics_text, crate::openapi_json,
        crate::registry::me, crate::registry::list_members, crate::registry::create_member,
        crate::registry::get_member, crate::registry::list_systems, crate::registry::create_system,
        crate::registry::issue_key, crate::registry::list_keys, crate::registry::revoke_key,
        crate::dictionary::export, crate::dictionary::list_elements, crate::dictionary::create_element,
        crate::dictionary::get_element, crate::dictionary::list_code_lists, crate::dictionary::get_code_list,
        crate::dictionary::put_code_list, crate::dictionary::list_datasets, crate::dictionary::get_dataset,
        crate::dictionary::create_dataset, crate::dictionary::put_schema, crate::dictionary::get_schema,
        crate::dictionary::schema_versions,
        crate::records::ingest, crate::records::delete_record, crate::records::get_record,
        crate::records::history, crate::records::list,
        crate::audit::sth, crate::audit::heads, crate::audit::public_key, crate::audit::entries,
        crate::audit::inclusion, crate::audit::consistency, crate::audit::subject_accesses,
    ),
    components(schemas(crate::problem::Problem, crate::Health))
)]
struct ApiDoc;

/// The OpenAPI document as JSON.
pub fn document() -> serde_json::Value {
    serde_json::to_value(ApiDoc::openapi()).unwrap_or_default()
}
