//! `/api/v1/subscriptions`: push subscriptions of consumer systems (make one under an
//! agreement that allows `subscribe`, list, show with its lag and last error, pause, resume,
//! replay a dead letter or from a position, remove), and their dead letters. The deliveries
//! themselves are sent by [`crate::push`].

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use ndx_core::subscription::{StartAt, SubscriptionDraft, SubscriptionView};
use ndx_types::subscription::DeadLetter;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Auth;
use crate::connector::whole;
use crate::problem::{ApiResult, Problem};
use crate::{AppState, JsonBody, blocking};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/subscriptions",
            get(list_subscriptions).post(add_subscription),
        )
        .route(
            "/api/v1/subscriptions/{id}",
            get(get_subscription).delete(remove_subscription),
        )
        .route("/api/v1/subscriptions/{id}/pause", post(pause_subscription))
        .route(
            "/api/v1/subscriptions/{id}/resume",
            post(resume_subscription),
        )
        .route(
            "/api/v1/subscriptions/{id}/replay",
            post(replay_subscription),
        )
        .route("/api/v1/subscriptions/{id}/dead-letters", get(dead_letters))
}

/// A push subscription to make.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionIn {
    /// The dataset to follow.
    pub dataset: String,
    /// The purpose (a code of the code list `purpose`), as `Ndx-Purpose` states it on pulls.
    pub purpose: String,
    /// Where deliveries are POSTed: an `https://` URL.
    pub endpoint: String,
    /// The fields wanted (default: every field the agreement releases).
    #[serde(default)]
    pub fields: Option<Vec<String>>,
    /// `field: value` filters on released fields, as the pull feed's.
    #[serde(default)]
    pub filters: BTreeMap<String, String>,
    /// Most changes per delivery (1–500, default 100).
    #[serde(default, deserialize_with = "whole::optional")]
    #[schema(value_type = Option<u64>, minimum = 1, maximum = 500)]
    pub batch_size: Option<u64>,
    /// Start after this position (0: every change the feed holds); default: the feed's head
    /// now, so changes from now on.
    #[serde(default, deserialize_with = "whole::optional")]
    #[schema(value_type = Option<u64>)]
    pub after: Option<u64>,
}

/// The batch in flight.
#[derive(Debug, Serialize, ToSchema)]
pub struct PendingOut {
    /// Its first position.
    pub first: u64,
    /// No position past this one (the feed's head when it was first taken).
    pub until: u64,
}

/// A push subscription with its delivery state.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubscriptionOut {
    /// Its id.
    pub id: String,
    /// The dataset followed.
    pub dataset: String,
    /// The consumer system.
    pub consumer: String,
    /// The purpose stated.
    pub purpose: String,
    /// The fields asked for (absent: all the agreement releases).
    pub fields: Option<Vec<String>>,
    /// Filters on released fields.
    pub filters: BTreeMap<String, String>,
    /// Where deliveries go.
    pub endpoint: String,
    /// Most changes per delivery.
    pub batch_size: u32,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// `active`, `paused`, `dead` (a batch failed every attempt: replay it) or `ended` (the
    /// agreement no longer allows it).
    #[schema(example = "active")]
    pub status: String,
    /// The last position acknowledged.
    pub position: u64,
    /// The feed's head.
    pub head: u64,
    /// Changes not yet acknowledged (`head − position`).
    pub lag: u64,
    /// The batch in flight.
    pub pending: Option<PendingOut>,
    /// Failed attempts at it.
    pub attempts: u32,
    /// No attempt before then.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// Why the last attempt failed, or why it ended.
    pub last_error: Option<String>,
    /// When a delivery last succeeded.
    pub last_delivery_at: Option<DateTime<Utc>>,
    /// Deliveries acknowledged.
    pub deliveries: u64,
    /// Changes acknowledged.
    pub delivered_changes: u64,
    /// Failed attempts in all.
    pub failures: u64,
    /// Dead letters recorded.
    pub dead_letters: u64,
    /// The HMAC-SHA-256 key of `Ndx-Signature`: only in the answer that made the
    /// subscription, never again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

fn subscription_out(v: SubscriptionView, secret: Option<String>) -> SubscriptionOut {
    let lag = v.lag();
    let (s, st) = (v.subscription, v.state);
    SubscriptionOut {
        id: s.id,
        dataset: s.dataset,
        consumer: s.consumer,
        purpose: s.purpose,
        fields: s.fields,
        filters: s.filters,
        endpoint: s.endpoint,
        batch_size: s.batch_size,
        created_at: s.created_at,
        status: st.status.name().to_owned(),
        position: st.position,
        head: v.head,
        lag,
        pending: st.pending.map(|p| PendingOut {
            first: p.after + 1,
            until: p.until,
        }),
        attempts: st.attempts,
        next_attempt_at: st.next_attempt_at,
        last_error: st.last_error,
        last_delivery_at: st.last_delivery_at,
        deliveries: st.deliveries,
        delivered_changes: st.delivered_changes,
        failures: st.failures,
        dead_letters: st.dead_letters,
        secret,
    }
}

/// A batch that failed every attempt.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeadLetterOut {
    /// Its number within the subscription.
    pub number: u64,
    /// The delivery id it was sent under (a replay sends it again under the same).
    pub delivery_id: String,
    /// Its first position.
    pub first: u64,
    /// No position past this one.
    pub until: u64,
    /// Attempts made.
    pub attempts: u32,
    /// Why the last failed.
    pub last_error: String,
    /// When the subscription died of it.
    pub dead_at: DateTime<Utc>,
    /// When it was replayed.
    pub replayed_at: Option<DateTime<Utc>>,
}

impl From<DeadLetter> for DeadLetterOut {
    fn from(l: DeadLetter) -> Self {
        DeadLetterOut {
            number: l.number,
            delivery_id: l.delivery_id,
            first: l.batch.after + 1,
            until: l.batch.until,
            attempts: l.attempts,
            last_error: l.last_error,
            dead_at: l.dead_at,
            replayed_at: l.replayed_at,
        }
    }
}

/// What to replay.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayIn {
    /// Deliver again from after this position (whatever the status, except `ended`); without
    /// it, the batch that killed a dead subscription is sent again.
    #[serde(default, deserialize_with = "whole::optional")]
    #[schema(value_type = Option<u64>)]
    pub from: Option<u64>,
}

/// The push subscriptions this key may see: its system's own (all for operators and auditors).
#[utoipa::path(get, path = "/api/v1/subscriptions", tag = "subscriptions", security(("api_key" = [])),
    responses((status = 200, body = Vec<SubscriptionOut>), (status = 401, body = Problem)))]
pub(crate) async fn list_subscriptions(
    State(st): State<AppState>,
    Auth(c): Auth,
) -> ApiResult<axum::Json<Vec<SubscriptionOut>>> {
    let core = st.core.clone();
    let all = blocking(move || core.subscriptions(&c)).await?;
    Ok(axum::Json(
        all.into_iter().map(|v| subscription_out(v, None)).collect(),
    ))
}

/// Makes a push subscription (a consumer key): decided like a `subscribe` request under the
/// consumer's agreements (a refusal has the exchange API's codes). Deliveries are POSTed to the
/// endpoint as JSON with `Ndx-Delivery-Id` and `Ndx-Signature: t=<unix>,v1=<hex
/// HMAC-SHA-256(secret, "<t>.<body>")>`; the secret is in this answer only.
#[utoipa::path(post, path = "/api/v1/subscriptions", tag = "subscriptions", security(("api_key" = [])),
    request_body = SubscriptionIn,
    responses((status = 201, body = SubscriptionOut), (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 413, body = Problem), (status = 415, body = Problem), (status = 422, body = Problem),
              (status = 429, body = Problem)))]
pub(crate) async fn add_subscription(
    State(st): State<AppState>,
    Auth(c): Auth,
    body: JsonBody<SubscriptionIn>,
) -> ApiResult<Response> {
    let input = body.read().await?;
    let draft = SubscriptionDraft {
        dataset: input.dataset,
        purpose: input.purpose,
        endpoint: input.endpoint,
        fields: input.fields,
        filters: input.filters,
        // Past u32 it is out of range all the same: the check names the range.
        batch_size: input
            .batch_size
            .map(|n| u32::try_from(n).unwrap_or(u32::MAX)),
        start: input.after.map_or(StartAt::Head, StartAt::After),
    };
    let core = st.core.clone();
    let (view, secret) = blocking(move || core.add_subscription(&c, draft, Utc::now())).await?;
    let location = format!("/api/v1/subscriptions/{}", view.subscription.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        axum::Json(subscription_out(view, Some(secret))),
    )
        .into_response())
}

/// One subscription with its delivery state.
#[utoipa::path(get, path = "/api/v1/subscriptions/{id}", tag = "subscriptions", security(("api_key" = [])),
    params(("id" = String, Path, description = "subscription id")),
    responses((status = 200, body = SubscriptionOut), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub(crate) async fn get_subscription(
    State(st): State<AppState>,
    Auth(c): Auth,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<SubscriptionOut>> {
    let core = st.core.clone();
    let view = blocking(move || core.subscription(&c, &id)).await?;
    Ok(axum::Json(subscription_out(view, None)))
}

/// Removes a subscription with its dead letters (its consumer system, or an operator).
#[utoipa::path(delete, path = "/api/v1/subscriptions/{id}", tag = "subscriptions", security(("api_key" = [])),
    params(("id" = String, Path, description = "subscription id")),
    responses((status = 204, description = "removed"), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem)))]
pub(crate) async fn remove_subscription(
    State(st): State<AppState>,
    Auth(c): Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let core = st.core.clone();
    blocking(move || core.remove_subscription(&c, &id, Utc::now())).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Stops deliveries until resumed.
#[utoipa::path(post, path = "/api/v1/subscriptions/{id}/pause", tag = "subscriptions", security(("api_key" = [])),
    params(("id" = String, Path, description = "subscription id")),
    responses((status = 200, body = SubscriptionOut), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 409, body = Problem)))]
pub(crate) async fn pause_subscription(
    State(st): State<AppState>,
    Auth(c): Auth,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<SubscriptionOut>> {
    let core = st.core.clone();
    let view = blocking(move || core.pause_subscription(&c, &id, Utc::now())).await?;
    Ok(axum::Json(subscription_out(view, None)))
}

/// Goes on delivering from where a paused subscription stopped.
#[utoipa::path(post, path = "/api/v1/subscriptions/{id}/resume", tag = "subscriptions", security(("api_key" = [])),
    params(("id" = String, Path, description = "subscription id")),
    responses((status = 200, body = SubscriptionOut), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 409, body = Problem)))]
pub(crate) async fn resume_subscription(
    State(st): State<AppState>,
    Auth(c): Auth,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<SubscriptionOut>> {
    let core = st.core.clone();
    let view = blocking(move || core.resume_subscription(&c, &id, Utc::now())).await?;
    Ok(axum::Json(subscription_out(view, None)))
}

/// Replays: without a body, the dead letter that killed a dead subscription is sent again
/// (same delivery id) and deliveries go on; with `{"from": N}`, deliveries start again after
/// position N.
#[utoipa::path(post, path = "/api/v1/subscriptions/{id}/replay", tag = "subscriptions", security(("api_key" = [])),
    params(("id" = String, Path, description = "subscription id")),
    request_body(content = ReplayIn, description = "optional (no body, no Content-Type): the position to replay from"),
    responses((status = 200, body = SubscriptionOut), (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem),
              (status = 413, body = Problem), (status = 415, body = Problem), (status = 422, body = Problem)))]
pub(crate) async fn replay_subscription(
    State(st): State<AppState>,
    Auth(c): Auth,
    Path(id): Path<String>,
    body: JsonBody<ReplayIn>,
) -> ApiResult<axum::Json<SubscriptionOut>> {
    let from = body.read_optional().await?.unwrap_or_default().from;
    let core = st.core.clone();
    let view = blocking(move || core.replay_subscription(&c, &id, from, Utc::now())).await?;
    Ok(axum::Json(subscription_out(view, None)))
}

/// A subscription's dead letters, newest first (the newest 100 are kept).
#[utoipa::path(get, path = "/api/v1/subscriptions/{id}/dead-letters", tag = "subscriptions", security(("api_key" = [])),
    params(("id" = String, Path, description = "subscription id")),
    responses((status = 200, body = Vec<DeadLetterOut>), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub(crate) async fn dead_letters(
    State(st): State<AppState>,
    Auth(c): Auth,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Vec<DeadLetterOut>>> {
    let core = st.core.clone();
    let letters = blocking(move || core.dead_letters(&c, &id)).await?;
    Ok(axum::Json(letters.into_iter().map(Into::into).collect()))
}
