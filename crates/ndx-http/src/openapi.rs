//! The OpenAPI 3.1 document, generated from the handlers' annotations.

use ndx_core::Code;
use serde_json::Value;
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
        crate::dictionary::put_code_list, crate::dictionary::list_crosswalks, crate::dictionary::get_crosswalk,
        crate::dictionary::put_crosswalk, crate::dictionary::list_datasets, crate::dictionary::get_dataset,
        crate::dictionary::create_dataset, crate::dictionary::put_schema, crate::dictionary::get_schema,
        crate::dictionary::schema_versions,
        crate::records::ingest, crate::records::delete_record, crate::records::get_record,
        crate::records::history, crate::records::list,
        crate::audit::sth, crate::audit::heads, crate::audit::public_key, crate::audit::entries,
        crate::audit::inclusion, crate::audit::consistency, crate::audit::subject_accesses,
        crate::exchange::exchange_datasets, crate::exchange::exchange_dataset, crate::exchange::lookup,
        crate::exchange::search, crate::exchange::extract, crate::exchange::baseline, crate::feed::changes,
        crate::exchange::list_agreements, crate::exchange::request_agreement, crate::exchange::get_agreement,
        crate::exchange::agreement_odrl, crate::exchange::approve_agreement, crate::exchange::reject_agreement,
        crate::exchange::suspend_agreement, crate::exchange::revoke_agreement,
        crate::exchange::list_assessments, crate::exchange::register_assessment,
        crate::exchange::list_policies, crate::exchange::create_policy,
        crate::exchange::list_consents, crate::exchange::grant_consent, crate::exchange::withdraw_consent,
        crate::connector::list_connectors, crate::connector::add_connector, crate::connector::get_connector,
        crate::connector::remove_connector, crate::connector::start_run, crate::connector::list_runs,
        crate::connector::get_run, crate::connector::rejected_rows,
        crate::subscription::list_subscriptions, crate::subscription::add_subscription,
        crate::subscription::get_subscription, crate::subscription::remove_subscription,
        crate::subscription::pause_subscription, crate::subscription::resume_subscription,
        crate::subscription::replay_subscription, crate::subscription::dead_letters,
        crate::reconcile::start_reconciliation, crate::reconcile::list_reconciliations,
        crate::reconcile::get_reconciliation, crate::reconcile::report,
        crate::reconcile::decide_correction, crate::reconcile::list_corrections,
        crate::address::normalize,
        crate::quality::overview, crate::quality::dataset_quality, crate::quality::history,
        crate::open::list_packages, crate::open::get_package, crate::open::put_package,
        crate::open::list_releases, crate::open::publish, crate::open::get_release,
        crate::open::download,
        crate::dcat::catalog_jsonld, crate::dcat::catalog_ttl, crate::dcat::list_index,
        crate::dcat::one_list, crate::open::package_usage, crate::open::usage_overview,
    ),
    components(schemas(crate::problem::Problem, crate::Health, crate::records::ModeOut,
        crate::dictionary::SchemaFormat, crate::push::DeliveryOut))
)]
struct ApiDoc;

/// The OpenAPI document as JSON: what utoipa generates from the handlers, then the rules that
/// hold for every operation (see [`finish`]).
pub fn document() -> serde_json::Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
    finish(&mut doc);
    doc
}

/// What every path parameter holds: no control character once percent-decoded (the edge
/// answers 400 `path-invalid` to one that does, before any route).
const PATH_PARAMETER_PATTERN: &str = "^[^\\x00-\\x1F\\x7F-\\x9F]*$";

/// Operations whose JSON body may be left out (no body and no Content-Type).
const OPTIONAL_BODIES: [&str; 6] = [
    "start_run",
    "replay_subscription",
    "approve_agreement",
    "reject_agreement",
    "suspend_agreement",
    "revoke_agreement",
];

/// States the edge's rule on each path parameter of `op` that has no pattern of its own;
/// whether `op` has any path parameter.
fn constrain_path_parameters(op: &mut Value) -> bool {
    let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) else {
        return false;
    };
    let mut any = false;
    for p in params.iter_mut().filter(|p| p["in"] == "path") {
        any = true;
        if let Some(schema) = p.get_mut("schema").and_then(Value::as_object_mut)
            && schema.get("type").is_some_and(|t| t == "string")
            && !schema.contains_key("pattern")
        {
            schema.insert("pattern".into(), Value::from(PATH_PARAMETER_PATTERN));
        }
    }
    any
}

/// Applies what is true of every operation, so no handler can forget it: an error answer is
/// `application/problem+json`; an operation that needs a key may answer 401, one with a path
/// parameter 400 (`path-invalid`); the `code` of a
/// problem is one of the table's (`ndx_core::Code`).
fn finish(doc: &mut Value) {
    if let Some(paths) = doc["paths"].as_object_mut() {
        for item in paths.values_mut() {
            let Some(item) = item.as_object_mut() else {
                continue;
            };
            for op in item.values_mut() {
                let secured = op.get("security").is_some();
                if op["operationId"]
                    .as_str()
                    .is_some_and(|id| OPTIONAL_BODIES.contains(&id))
                    && let Some(body) = op.get_mut("requestBody").and_then(Value::as_object_mut)
                {
                    body.insert("required".into(), Value::Bool(false));
                }
                let in_path = constrain_path_parameters(op);
                let Some(responses) = op["responses"].as_object_mut() else {
                    continue;
                };
                if in_path && !responses.contains_key("400") {
                    responses.insert(
                        "400".into(),
                        serde_json::json!({
                            "description": "a path that holds a control character once percent-decoded (path-invalid)",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
                        }),
                    );
                }
                if secured && !responses.contains_key("401") {
                    responses.insert(
                        "401".into(),
                        serde_json::json!({
                            "description": "no API key, or a malformed, unknown, expired or revoked one",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
                        }),
                    );
                }
                for (status, resp) in responses.iter_mut() {
                    // utoipa 5 writes a link's target as `operation_id`; OpenAPI says `operationId`.
                    if let Some(links) = resp.get_mut("links").and_then(Value::as_object_mut) {
                        for link in links.values_mut() {
                            if let Some(link) = link.as_object_mut()
                                && let Some(id) = link.remove("operation_id")
                            {
                                link.insert("operationId".into(), id);
                            }
                        }
                    }
                    if !status.starts_with('4') && !status.starts_with('5') {
                        continue;
                    }
                    if let Some(content) = resp["content"].as_object_mut()
                        && let Some(json) = content.remove("application/json")
                    {
                        content.insert("application/problem+json".into(), json);
                    }
                }
            }
        }
    }
    // A tagged enum's variants refuse unknown members like the structs do (serde's
    // deny_unknown_fields), which utoipa states for structs only.
    if let Some(variants) = doc
        .pointer_mut("/components/schemas/CrossRule/oneOf")
        .and_then(Value::as_array_mut)
    {
        for v in variants {
            v["additionalProperties"] = Value::Bool(false);
        }
    }
    let codes: Vec<Value> = Code::ALL.iter().map(|c| Value::from(c.name())).collect();
    if let Some(code) = doc
        .pointer_mut("/components/schemas/Problem/properties/code")
        .and_then(Value::as_object_mut)
    {
        code.insert("enum".into(), Value::Array(codes));
    }
}
