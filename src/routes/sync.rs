//! The sync API for the provincial liaison platform (a machine client, role `integration`):
//! batch imports of messages and replies written there, the change feed, and the board's
//! acknowledgements of our published replies. Every operation checks the client's scope.

use std::time::{Duration, Instant};

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use validator::{Validate, ValidationError};

use crate::app::access::{self, Classes, ClientView};
use crate::app::intake::import::{self, ImportedMessage};
use crate::app::intake::{Addressable, Intake};
use crate::auth::{Permission, Principal};
use crate::configuration::Settings;
use crate::db::Db;
use crate::domain::change_type::ChangeType;
use crate::domain::client_scope::ClientScope;
use crate::domain::ids::{CategoryId, LeaderId, ReplyId};
use crate::domain::message::{MessageKind, MessageSource, Visibility};
use crate::domain::reply::ReplyKind;
use crate::error::{ApiError, FieldError, Problem};
use crate::http::extract::{ApiJson, ApiQuery, parse_json, validate};
use crate::http::pagination::{PageRequest, finish_page};
use crate::http::validate::validate_region_code;
use crate::routes::messages::Location;
use crate::store::messages::{EventActor, ExternalRef, NewMessage};
use crate::store::sync::{self as store, FeedPosition, ImportedReply, Outcome};

/// Items per import request.
pub const MAX_BATCH: usize = 500;

fn actor(p: &Principal) -> EventActor {
    EventActor {
        id: Some(p.user_id),
        role: Some(p.role),
    }
}

fn require(principal: &Principal, scope: ClientScope) -> Result<(), ApiError> {
    principal.require(Permission::Synchronise)?;
    principal.require_scope(scope)
}

fn validate_source(s: &str) -> Result<(), ValidationError> {
    let ok = (1..=64).contains(&s.len())
        && s.bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && s.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        });
    if ok {
        Ok(())
    } else {
        let mut e = ValidationError::new("format");
        e.message = Some(
            "must be 1 to 64 of a-z, 0-9, '.', '_', '-', starting with a letter or digit".into(),
        );
        Err(e)
    }
}

fn validate_external_id(s: &str) -> Result<(), ValidationError> {
    if (1..=128).contains(&s.len()) && s.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        Ok(())
    } else {
        let mut e = ValidationError::new("format");
        e.message = Some("must be 1 to 128 printable ASCII characters without spaces".into());
        Err(e)
    }
}

/// The platform's time `t` of `field`, unless no platform can mean it
/// ([`crate::domain::import::time_refusal`]).
fn implausible_time(field: &str, t: DateTime<Utc>, now: DateTime<Utc>) -> Option<FieldError> {
    crate::domain::import::time_refusal(t, now).map(|(code, why)| FieldError::new(field, code, why))
}

// ---------------------------------------------------------------------------------------------
// Import results

crate::text_enum! {
    /// What became of one item of an import.
    pub enum ImportOutcome {
        /// New here.
        Created => "created",
        /// Stored and changed by this item.
        Updated => "updated",
        /// Identical to what is stored (a replay): nothing written.
        Unchanged => "unchanged",
        /// Older (`updated_at`) than what is stored: nothing written.
        Stale => "stale",
        /// Not imported; `problem` says why. The other items are not affected.
        Rejected => "rejected",
    }
}

/// Counts of a batch's outcomes.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct ImportSummary {
    #[schema(format = Int32, minimum = 0)]
    pub created: u32,
    #[schema(format = Int32, minimum = 0)]
    pub updated: u32,
    #[schema(format = Int32, minimum = 0)]
    pub unchanged: u32,
    #[schema(format = Int32, minimum = 0)]
    pub stale: u32,
    #[schema(format = Int32, minimum = 0)]
    pub rejected: u32,
}

impl ImportSummary {
    fn count(&mut self, o: ImportOutcome) {
        match o {
            ImportOutcome::Created => self.created += 1,
            ImportOutcome::Updated => self.updated += 1,
            ImportOutcome::Unchanged => self.unchanged += 1,
            ImportOutcome::Stale => self.stale += 1,
            ImportOutcome::Rejected => self.rejected += 1,
        }
    }
}

fn split<T>(o: Outcome<T>) -> (ImportOutcome, Option<T>, Option<Problem>) {
    match o {
        Outcome::Created(t) => (ImportOutcome::Created, Some(t), None),
        Outcome::Updated(t) => (ImportOutcome::Updated, Some(t), None),
        Outcome::Unchanged(t) => (ImportOutcome::Unchanged, Some(t), None),
        Outcome::Stale(t) => (ImportOutcome::Stale, Some(t), None),
        Outcome::Rejected(e) => (ImportOutcome::Rejected, None, Some(e.to_problem())),
    }
}

/// An item as it came: a slice of the request body, parsed alone (so a bad item fails alone)
/// and only once.
type RawItem = Box<serde_json::value::RawValue>;

/// The external key an item named, when it could be read (for the result of a rejected item).
fn key_of(raw: &RawItem) -> (Option<String>, Option<String>) {
    #[derive(Deserialize)]
    struct Key {
        source: Option<Value>,
        external_id: Option<Value>,
    }
    let text = |v: Option<Value>| {
        v.as_ref()
            .and_then(Value::as_str)
            .filter(|s| s.len() <= 128)
            .map(str::to_owned)
    };
    match serde_json::from_str::<Key>(raw.get()) {
        Ok(k) => (text(k.source), text(k.external_id)),
        Err(_) => (None, None),
    }
}

/// The key of a read item, or the one a rejected item named.
fn key_after<T>(
    raw: &RawItem,
    item: &Result<T, ApiError>,
    key: impl Fn(&T) -> (&str, &str),
) -> (Option<String>, Option<String>) {
    match item {
        Ok(i) => {
            let (s, e) = key(i);
            (Some(s.to_owned()), Some(e.to_owned()))
        }
        Err(_) => key_of(raw),
    }
}

// ---------------------------------------------------------------------------------------------
// Messages

/// A message as the platform sends it. `source` + `external_id` identify it; `updated_at` is
/// the platform's version: an item older than the stored one never overrides it.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "source": "gansu-board", "external_id": "GSB-2026-1182734", "updated_at": "2026-11-26T07:58:00Z",
    "submitted_at": "2026-11-26T07:55:12Z",
    "leader_id": "b0f2e9a4-5c1d-5e6f-8a7b-9c0d1e2f3a4b", "category_id": "01930000-0000-7000-8000-000000000002",
    "kind": "complaint", "title": "庆阳路口红绿灯坏了",
    "body": "城关区庆阳路与酒泉路交叉口的红绿灯已经坏了三天，早晚高峰非常拥堵，请尽快修理。",
    "region_code": "620102", "address": "城关区庆阳路与酒泉路交叉口", "visibility": "public",
    "contact_name": "王先生", "contact_phone": "13800138000"
}))]
pub struct ImportMessageItem {
    /// The platform (lower-case name); with `external_id`, the item's identity here.
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = "^[a-z0-9][a-z0-9._-]{0,63}$"
    )]
    #[validate(custom(function = "validate_source"))]
    pub source: String,
    #[schema(min_length = 1, max_length = 128, pattern = "^[!-~]{1,128}$")]
    #[validate(custom(function = "validate_external_id"))]
    pub external_id: String,
    /// The item's version on the platform (at most 5 minutes ahead of the server's clock and
    /// at most 1,098 days old).
    pub updated_at: DateTime<Utc>,
    /// When the citizen wrote it on the platform (kept as the submission time; same bounds).
    pub submitted_at: DateTime<Utc>,
    pub leader_id: LeaderId,
    pub category_id: CategoryId,
    pub kind: MessageKind,
    #[schema(
        min_length = 2,
        max_length = 100,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    #[validate(length(min = 2, max = 100))]
    pub title: String,
    #[schema(
        min_length = 10,
        max_length = 5000,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    #[validate(
        length(min = 10, max = 5000),
        custom(function = "crate::domain::validate_text")
    )]
    pub body: String,
    /// Defaults to the leader's region and must lie inside it.
    #[schema(min_length = 6, max_length = 6, pattern = "^[0-9]{6}$")]
    #[validate(custom(function = "validate_region_code"))]
    pub region_code: Option<String>,
    #[schema(max_length = 200, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$")]
    #[validate(length(max = 200), custom(function = "crate::domain::validate_line"))]
    pub address: Option<String>,
    #[validate(nested)]
    pub location: Option<Location>,
    pub visibility: Visibility,
    /// Seen only by the staff handling the message.
    #[schema(
        min_length = 1,
        max_length = 50,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    #[validate(length(min = 1, max = 50))]
    pub contact_name: Option<String>,
    #[schema(
        max_length = 13,
        pattern = "^(1[3-9][0-9]{9}|0[0-9]{2,3}-?[0-9]{7,8})$"
    )]
    #[validate(custom(function = "crate::http::validate::validate_phone"))]
    pub contact_phone: Option<String>,
}

/// A batch of messages to import (1 to 500). Each item succeeds or fails on its own.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"items": [{
    "source": "gansu-board", "external_id": "GSB-2026-1182734", "updated_at": "2026-11-26T07:58:00Z",
    "submitted_at": "2026-11-26T07:55:12Z",
    "leader_id": "b0f2e9a4-5c1d-5e6f-8a7b-9c0d1e2f3a4b", "category_id": "01930000-0000-7000-8000-000000000002",
    "kind": "complaint", "title": "庆阳路口红绿灯坏了",
    "body": "城关区庆阳路与酒泉路交叉口的红绿灯已经坏了三天，早晚高峰非常拥堵，请尽快修理。",
    "visibility": "public"
}]}))]
pub struct ImportMessages {
    /// Items are read one by one: one that does not parse is rejected alone.
    #[schema(value_type = Vec<ImportMessageItem>, min_items = 1, max_items = 500)]
    #[validate(length(min = 1, max = 500))]
    pub items: Vec<RawItem>,
}

/// What became of one message of the batch.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MessageImportResult {
    /// The item's position in the batch (from 0).
    #[schema(format = Int32, minimum = 0)]
    pub index: u32,
    #[schema(max_length = 128)]
    pub source: Option<String>,
    #[schema(max_length = 128)]
    pub external_id: Option<String>,
    pub outcome: ImportOutcome,
    /// The message here (all outcomes but `rejected`).
    pub message_id: Option<Uuid>,
    #[schema(max_length = 32)]
    pub tracking_no: Option<String>,
    /// Why the item was rejected (RFC 9457, with the failing fields).
    pub problem: Option<Problem>,
}

/// The outcome of a message import, item by item, in the batch's order.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "summary": {"created": 1, "updated": 0, "unchanged": 0, "stale": 0, "rejected": 1},
    "results": [
        {"index": 0, "source": "gansu-board", "external_id": "GSB-2026-1182734", "outcome": "created",
         "message_id": "01936f00-0000-7000-8000-00000000a001", "tracking_no": "GS-2026-000731", "problem": null},
        {"index": 1, "source": "gansu-board", "external_id": "GSB-2026-1182735", "outcome": "rejected",
         "message_id": null, "tracking_no": null,
         "problem": {"type": "urn:liuyan:problem:validation-failed", "title": "Unprocessable Content", "status": 422,
                     "detail": "The request has invalid fields.",
                     "errors": [{"field": "category_id", "code": "not_found", "message": "no such category"}]}}
    ]
}))]
pub struct MessageImportReport {
    pub summary: ImportSummary,
    pub results: Vec<MessageImportResult>,
}

fn read_message_item(
    raw: &RawItem,
    by: crate::domain::ids::UserId,
    now: DateTime<Utc>,
) -> Result<ImportedMessage, ApiError> {
    let item: ImportMessageItem = parse_json(raw.get().as_bytes())?;
    validate(&item)?;
    let mut errors: Vec<FieldError> = [
        implausible_time("submitted_at", item.submitted_at, now),
        implausible_time("updated_at", item.updated_at, now),
    ]
    .into_iter()
    .flatten()
    .collect();
    let title = super::clean_name(&item.title, "title", 100);
    let contact_name = item
        .contact_name
        .as_deref()
        .map(|n| super::clean_name(n, "contact_name", 50))
        .transpose();
    let body = item.body.trim().to_owned();
    if body.chars().count() < 10 {
        errors.push(FieldError::new(
            "body",
            "length",
            "must be 10 to 5000 characters",
        ));
    }
    let (title, contact_name) = match (title, contact_name) {
        (Ok(t), Ok(c)) if errors.is_empty() => (t, c),
        (t, c) => {
            for e in [t.err(), c.err()].into_iter().flatten() {
                if let ApiError::Validation { errors: fe, .. } = e {
                    errors.extend(fe);
                }
            }
            return Err(ApiError::validation(errors));
        }
    };
    Ok(ImportedMessage {
        external: ExternalRef {
            source: item.source,
            external_id: item.external_id,
            updated_at: item.updated_at,
        },
        new: NewMessage {
            author_id: None,
            registered_by: Some(by),
            source: MessageSource::Web,
            leader_id: item.leader_id,
            category_id: item.category_id,
            kind: item.kind,
            title,
            body,
            region_code: item.region_code,
            address: item
                .address
                .map(|a| a.trim().to_owned())
                .unwrap_or_default(),
            location: item.location.map(|l| (l.lat, l.lon)),
            visibility: item.visibility,
            contact_name,
            contact_phone: item.contact_phone,
            attachments: Value::Array(vec![]),
            submitted_at: Some(item.submitted_at),
        },
    })
}

fn check_batch(len: usize) -> Result<(), ApiError> {
    if (1..=MAX_BATCH).contains(&len) {
        Ok(())
    } else {
        Err(ApiError::field(
            "items",
            "length",
            format!("send 1 to {MAX_BATCH} items per request"),
        ))
    }
}

/// Import messages written on the liaison platform: created when new, updated when the platform
/// sent a newer version (`updated_at`) while the message still waits for intake here, reported
/// `unchanged` when identical (replaying a batch changes nothing) and `stale` when older. The
/// original submission time is kept. Each item gets its own result; a bad item never rejects
/// the good ones. A key another client imported is refused (409): each client owns its items.
/// Imported messages enter intake like any other (`submitted`, early warning
/// included), registered by the client's account.
#[utoipa::path(
    operation_id = "import_messages",
    tag = "sync",
    request_body = ImportMessages,
    responses(
        (status = 200, description = "Each item's outcome, in the batch's order", body = MessageImportReport),
        (status = 403, description = "Not an integration client, or the token lacks `sync:write`", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 413, description = "The body exceeds the sync body limit", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "The batch itself is invalid (no items, more than 500, not an object)", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[post("/sync/messages")]
pub async fn import_messages(
    req: HttpRequest,
    db: web::Data<Db>,
    settings: web::Data<Settings>,
    principal: Principal,
    body: ApiJson<ImportMessages>,
) -> Result<HttpResponse, ApiError> {
    require(&principal, ClientScope::SyncWrite)?;
    let raw = body.into_inner().items;
    check_batch(raw.len())?;
    let now = crate::http::now(&req);
    let mut keys = Vec::with_capacity(raw.len());
    let mut items = Vec::with_capacity(raw.len());
    for r in &raw {
        let item = read_message_item(r, principal.user_id, now);
        keys.push(key_after(r, &item, |i| {
            (&i.external.source, &i.external.external_id)
        }));
        items.push(item);
    }
    drop(raw);
    let prefix = settings.tracking_prefix.clone();
    let quota = settings.intake_quota();
    let who = actor(&principal);
    let outcomes = db
        .run(move |conn| {
            let intake = Intake {
                actor: who,
                tracking_prefix: &prefix,
                quota,
                leaders: Addressable::Any,
                now,
            };
            import::import_messages(conn, &intake, items)
        })
        .await?;
    let mut summary = ImportSummary::default();
    let results = outcomes
        .into_iter()
        .zip(keys)
        .enumerate()
        .map(|(i, (o, (source, external_id)))| {
            let (outcome, r, problem) = split(o);
            summary.count(outcome);
            MessageImportResult {
                index: u32::try_from(i).unwrap_or(u32::MAX),
                source,
                external_id,
                outcome,
                message_id: r.as_ref().map(|r| r.id),
                tracking_no: r.map(|r| r.tracking_no),
                problem,
            }
        })
        .collect();
    Ok(HttpResponse::Ok().json(MessageImportReport { summary, results }))
}

// ---------------------------------------------------------------------------------------------
// Replies

/// A reply a unit wrote on the platform. `source` + `external_id` identify the reply;
/// `message_external_id` names the message (imported from the same source). Updates arrive late
/// and out of order: one older (`updated_at`) than the stored version never overrides it.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "source": "gansu-board", "external_id": "GSB-R-99120", "message_external_id": "GSB-2026-1182734",
    "kind": "final", "body": "经核实，该路口信号灯控制器故障，已于11月27日更换，现已恢复正常。感谢您的反映。",
    "published_at": "2026-11-27T09:30:00Z", "updated_at": "2026-11-27T09:30:00Z"
}))]
pub struct ImportReplyItem {
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = "^[a-z0-9][a-z0-9._-]{0,63}$"
    )]
    #[validate(custom(function = "validate_source"))]
    pub source: String,
    /// The reply's id on the platform.
    #[schema(min_length = 1, max_length = 128, pattern = "^[!-~]{1,128}$")]
    #[validate(custom(function = "validate_external_id"))]
    pub external_id: String,
    /// The message's id on the platform (imported with `POST /sync/messages`).
    #[schema(min_length = 1, max_length = 128, pattern = "^[!-~]{1,128}$")]
    #[validate(custom(function = "validate_external_id"))]
    pub message_external_id: String,
    /// `final` answers the message (it becomes `replied`); `interim` reports progress.
    pub kind: ReplyKind,
    #[schema(min_length = 1, max_length = 10000)]
    #[validate(
        length(min = 1, max = 10000),
        custom(function = "crate::domain::validate_text")
    )]
    pub body: String,
    /// When the platform published it: not before the message was handed to the responsible
    /// unit here (a final reply: not before its sign-for), at most 5 minutes ahead of the
    /// server's clock, at most 1,098 days old.
    pub published_at: DateTime<Utc>,
    /// The reply's version on the platform (same time bounds).
    pub updated_at: DateTime<Utc>,
}

/// A batch of replies to import (1 to 500).
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"items": [{
    "source": "gansu-board", "external_id": "GSB-R-99120", "message_external_id": "GSB-2026-1182734",
    "kind": "final", "body": "经核实，该路口信号灯控制器故障，已于11月27日更换，现已恢复正常。感谢您的反映。",
    "published_at": "2026-11-27T09:30:00Z", "updated_at": "2026-11-27T09:30:00Z"
}]}))]
pub struct ImportReplies {
    #[schema(value_type = Vec<ImportReplyItem>, min_items = 1, max_items = 500)]
    #[validate(length(min = 1, max = 500))]
    pub items: Vec<RawItem>,
}

/// What became of one reply of the batch.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ReplyImportResult {
    #[schema(format = Int32, minimum = 0)]
    pub index: u32,
    #[schema(max_length = 128)]
    pub source: Option<String>,
    #[schema(max_length = 128)]
    pub external_id: Option<String>,
    pub outcome: ImportOutcome,
    pub reply_id: Option<ReplyId>,
    pub message_id: Option<Uuid>,
    /// The stored revision after this item.
    #[schema(format = Int32, minimum = 1)]
    pub revision: Option<i32>,
    pub problem: Option<Problem>,
}

/// The outcome of a reply import, item by item.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "summary": {"created": 0, "updated": 0, "unchanged": 0, "stale": 1, "rejected": 0},
    "results": [{"index": 0, "source": "gansu-board", "external_id": "GSB-R-99120", "outcome": "stale",
                 "reply_id": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0b06", "message_id": "01936f00-0000-7000-8000-00000000a001",
                 "revision": 2, "problem": null}]
}))]
pub struct ReplyImportReport {
    pub summary: ImportSummary,
    pub results: Vec<ReplyImportResult>,
}

fn read_reply_item(raw: &RawItem, now: DateTime<Utc>) -> Result<ImportedReply, ApiError> {
    let item: ImportReplyItem = parse_json(raw.get().as_bytes())?;
    validate(&item)?;
    let errors: Vec<FieldError> = [
        implausible_time("published_at", item.published_at, now),
        implausible_time("updated_at", item.updated_at, now),
    ]
    .into_iter()
    .flatten()
    .collect();
    let body = item.body.trim().to_owned();
    if body.is_empty() {
        return Err(ApiError::field("body", "length", "must not be blank"));
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    Ok(ImportedReply {
        source: item.source,
        external_id: item.external_id,
        message_external_id: item.message_external_id,
        kind: item.kind,
        body,
        published_at: item.published_at,
        updated_at: item.updated_at,
    })
}

/// Import replies written on the platform, matched to messages by the message's external id and
/// made idempotent by the reply's. Only the client that imported the message may add or revise
/// its replies. A new final reply completes the handling here (the message
/// becomes `replied`, the deadline is judged by `published_at`); it needs the message's lead
/// unit to have signed for it. A newer version updates the text (a new revision); an identical
/// one is `unchanged`, an older one `stale`: neither writes anything.
#[utoipa::path(
    operation_id = "import_replies",
    tag = "sync",
    request_body = ImportReplies,
    responses(
        (status = 200, description = "Each item's outcome, in the batch's order", body = ReplyImportReport),
        (status = 403, description = "Not an integration client, or the token lacks `sync:write`", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 413, description = "The body exceeds the sync body limit", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "The batch itself is invalid", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[post("/sync/replies")]
pub async fn import_replies(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    body: ApiJson<ImportReplies>,
) -> Result<HttpResponse, ApiError> {
    require(&principal, ClientScope::SyncWrite)?;
    let raw = body.into_inner().items;
    check_batch(raw.len())?;
    let now = crate::http::now(&req);
    let mut keys = Vec::with_capacity(raw.len());
    let mut items = Vec::with_capacity(raw.len());
    for r in &raw {
        let item = read_reply_item(r, now);
        keys.push(key_after(r, &item, |i| (&i.source, &i.external_id)));
        items.push(item);
    }
    drop(raw);
    let who = actor(&principal);
    let outcomes = db
        .run(move |conn| store::import_replies(conn, items, who, now))
        .await?;
    let mut summary = ImportSummary::default();
    let results = outcomes
        .into_iter()
        .zip(keys)
        .enumerate()
        .map(|(i, (o, (source, external_id)))| {
            let (outcome, r, problem) = split(o);
            summary.count(outcome);
            ReplyImportResult {
                index: u32::try_from(i).unwrap_or(u32::MAX),
                source,
                external_id,
                outcome,
                reply_id: r.as_ref().map(|r| r.id),
                message_id: r.as_ref().map(|r| r.message_id),
                revision: r.map(|r| r.revision),
                problem,
            }
        })
        .collect();
    Ok(HttpResponse::Ok().json(ReplyImportReport { summary, results }))
}

// ---------------------------------------------------------------------------------------------
// The change feed

/// Feed page size: default and maximum.
const FEED_DEFAULT_LIMIT: u32 = 100;
const FEED_MAX_LIMIT: u32 = 1000;
/// Longest long-poll, and how often a waiting request looks again.
const MAX_WAIT_SECS: u64 = 60;
const POLL_EVERY: Duration = Duration::from_millis(200);

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ChangesQuery {
    /// The `next_cursor` of the previous page; without it the feed starts at its beginning.
    #[param(
        max_length = 41,
        pattern = "^[0-9]{1,20}\\.[0-9]{1,20}$",
        example = "1043.5821"
    )]
    pub after: Option<String>,
    /// Only these kinds of change, comma-separated (all when absent).
    #[param(
        max_length = 200,
        pattern = r"^(message\.(created|updated|status_changed)|reply\.(published|imported|acknowledged)|feedback\.received)(,(message\.(created|updated|status_changed)|reply\.(published|imported|acknowledged)|feedback\.received))*$",
        example = "reply.published,message.status_changed"
    )]
    pub types: Option<String>,
    /// Changes per page (1 to 1000, default 100).
    #[param(minimum = 1, maximum = 1000, format = Int32)]
    pub limit: Option<u32>,
    /// Long poll: when nothing is new, wait up to this long for a change (`30` or `30s`; at
    /// most 60 s). The answer comes as soon as a change is readable.
    #[param(max_length = 3, pattern = "^([0-5]?[0-9]|60)s?$", example = "30s")]
    pub wait: Option<String>,
}

/// The message a change is about (never contact data).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ChangedMessage {
    pub id: Uuid,
    #[schema(max_length = 32)]
    pub tracking_no: String,
    /// Its status now (the change's own step is in `from_status`/`to_status`).
    #[schema(max_length = 32)]
    pub status: String,
    /// Set when it was imported from the platform.
    #[schema(max_length = 64)]
    pub external_source: Option<String>,
    #[schema(max_length = 128)]
    pub external_id: Option<String>,
}

/// The reply a `reply.*` change is about, as it is now.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ChangedReply {
    pub id: Uuid,
    pub kind: ReplyKind,
    #[schema(max_length = 10000)]
    pub body: String,
    #[schema(max_length = 100)]
    pub unit_name: Option<String>,
    pub published_at: Option<DateTime<Utc>>,
    #[schema(max_length = 128)]
    pub board_reply_id: Option<String>,
    #[schema(max_length = 2048)]
    pub board_url: Option<String>,
}

/// One change: a ledger event of a message.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ChangeDto {
    /// Resume after this change with `after=<cursor>`.
    #[schema(max_length = 41)]
    pub cursor: String,
    #[serde(rename = "type")]
    pub change_type: ChangeType,
    pub occurred_at: DateTime<Utc>,
    pub message: ChangedMessage,
    /// The event's number in the message's ledger (1, 2, 3…): a message's changes arrive in
    /// this order.
    #[schema(format = Int32, minimum = 1)]
    pub seq: i32,
    /// The ledger action (`accept`, `publish_reply`, …).
    #[schema(max_length = 40)]
    pub action: String,
    #[schema(max_length = 32)]
    pub from_status: Option<String>,
    #[schema(max_length = 32)]
    pub to_status: Option<String>,
    #[schema(max_length = 20)]
    pub actor_role: String,
    /// The ledger event's details, the keys of data classes the client lacks left out.
    #[schema(value_type = Object)]
    pub data: Value,
    pub reply: Option<ChangedReply>,
}

/// A page of the change feed.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "changes": [{
        "cursor": "1043.5821", "type": "reply.published", "occurred_at": "2026-11-27T09:30:00Z",
        "message": {"id": "01936f00-0000-7000-8000-00000000a001", "tracking_no": "GS-2026-000731", "status": "replied",
                    "external_source": "gansu-board", "external_id": "GSB-2026-1182734"},
        "seq": 9, "action": "publish_reply", "from_status": "in_progress", "to_status": "replied", "actor_role": "reviewer",
        "data": {"reply_id": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0b06", "kind": "final", "revision": 2, "unit_name": "兰州市城关区交通运输局"},
        "reply": {"id": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0b06", "kind": "final",
                  "body": "经核实，该路口信号灯控制器故障，已于11月27日更换，现已恢复正常。", "unit_name": "兰州市城关区交通运输局",
                  "published_at": "2026-11-27T09:30:00Z", "board_reply_id": null, "board_url": null}
    }],
    "next_cursor": "1043.5821", "has_more": false
}))]
pub struct ChangePage {
    pub changes: Vec<ChangeDto>,
    /// Pass as `after` next time (equals `after` when nothing was new).
    #[schema(max_length = 41)]
    pub next_cursor: String,
    /// More changes are readable right now.
    pub has_more: bool,
}

/// A change as the client sees it: `data` already projected, `reply_body` masked when the
/// client lacks `sync:personal`.
fn to_dto(c: store::Change, data: Value, reply_body: Option<String>) -> ChangeDto {
    let reply = match (
        c.reply_id,
        c.reply_kind.as_deref().and_then(ReplyKind::parse),
    ) {
        (Some(id), Some(kind)) => Some(ChangedReply {
            id,
            kind,
            body: reply_body.unwrap_or_default(),
            unit_name: c.reply_unit_name.clone(),
            published_at: c.reply_published_at,
            board_reply_id: c.reply_board_reply_id.clone(),
            board_url: c.reply_board_url.clone(),
        }),
        _ => None,
    };
    ChangeDto {
        cursor: c.position().encode(),
        change_type: ChangeType::parse(&c.feed_type).unwrap_or(ChangeType::MessageUpdated),
        occurred_at: c.created_at,
        message: ChangedMessage {
            id: c.message_id,
            tracking_no: c.tracking_no,
            status: c.status,
            external_source: c.external_source,
            external_id: c.external_id,
        },
        seq: c.seq,
        action: c.action,
        from_status: c.from_status,
        to_status: c.to_status,
        actor_role: c.actor_role,
        data,
        reply,
    }
}

/// What this client may read now: its data scopes as granted now (narrowing them takes effect
/// at once), and no more than its token carries.
async fn client_view(db: &Db, principal: &Principal) -> Result<ClientView, ApiError> {
    let id = principal.user_id.0;
    let client = db
        .run(move |conn| crate::store::integration_clients::get(conn, id))
        .await?;
    let mut view = client.view();
    let token = Classes::of_client(&principal.scopes);
    view.classes.personal &= token.personal;
    view.classes.internal &= token.internal;
    Ok(view)
}

/// Keep the changes the client may see, with their details projected and reply texts masked
/// for a client without `sync:personal`.
async fn project_page(
    db: &Db,
    view: &ClientView,
    rows: Vec<store::Change>,
) -> Result<Vec<ChangeDto>, ApiError> {
    let visible: Vec<(store::Change, Value)> = rows
        .into_iter()
        .filter(|c| view.sees_message(&c.region_path, &c.visibility))
        .filter_map(|c| {
            let data = access::project_event(&c.action, &c.payload, view.classes)?;
            Some((c, data))
        })
        .collect();
    let bodies: Vec<(crate::store::messages::MessageId, String)> = visible
        .iter()
        .filter_map(|(c, _)| c.reply_body.clone().map(|b| (c.message_id, b)))
        .collect();
    let mut bodies = if view.classes.personal {
        bodies.into_iter().map(|(_, b)| b).collect()
    } else {
        db.run(move |conn| access::mask_texts_for_public(conn, bodies))
            .await?
    }
    .into_iter();
    Ok(visible
        .into_iter()
        .map(|(c, data)| {
            let body = if c.reply_body.is_some() {
                bodies.next()
            } else {
                None
            };
            to_dto(c, data, body)
        })
        .collect())
}

fn parse_wait(raw: Option<&str>) -> Result<Duration, ApiError> {
    let Some(raw) = raw else {
        return Ok(Duration::ZERO);
    };
    let digits = raw.strip_suffix('s').unwrap_or(raw);
    match digits.parse::<u64>() {
        Ok(s) if s <= MAX_WAIT_SECS && digits.bytes().all(|b| b.is_ascii_digit()) => {
            Ok(Duration::from_secs(s))
        }
        _ => Err(ApiError::field(
            "wait",
            "range",
            format!("must be 0 to {MAX_WAIT_SECS} seconds, e.g. `30` or `30s`"),
        )),
    }
}

/// The change feed: every change of every message in one order that never changes and never
/// skips (a change appears only once every transaction that could precede it has ended, so one
/// that commits late cannot land behind a cursor already handed out), each message's changes in
/// its ledger order. Resume with `after=<next_cursor>`; with `wait` the request waits for the
/// next change instead of answering empty.
///
/// What a client reads follows its data scopes (docs/ACCESS.md): only messages of its region
/// subtree; private messages, texts as written (titles, notes to the author) and unmasked
/// reply texts only with `sync:personal` (without it reply texts are masked as on the public
/// board); internal working content (reviews, supervision, leaders' instructions, visit
/// plans, alerts, deadline alarms, routing notes) only with `sync:internal`. Changes it may
/// not see are skipped by the cursor, so a page can hold fewer than `limit` changes.
#[utoipa::path(
    operation_id = "list_changes",
    tag = "sync",
    params(ChangesQuery),
    responses(
        (status = 200, description = "Changes after the cursor, oldest first", body = ChangePage),
        (status = 403, description = "Not an integration client, or the token lacks `sync:read`", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad cursor, type, limit or wait", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[get("/sync/changes")]
pub async fn list_changes(
    db: web::Data<Db>,
    principal: Principal,
    query: ApiQuery<ChangesQuery>,
) -> Result<HttpResponse, ApiError> {
    require(&principal, ClientScope::SyncRead)?;
    let q = query.0;
    let mut errors = Vec::new();
    let after = match q.after.as_deref() {
        None => FeedPosition::default(),
        Some(a) => FeedPosition::decode(a).unwrap_or_else(|| {
            errors.push(FieldError::new(
                "after",
                "invalid_value",
                "is not a cursor the feed returned; start without one",
            ));
            FeedPosition::default()
        }),
    };
    if q.types.as_deref() == Some("") {
        errors.push(FieldError::new(
            "types",
            "invalid_value",
            "name at least one type, or leave the parameter out for all",
        ));
    }
    let types = ChangeType::parse_list(q.types.as_deref().unwrap_or("")).unwrap_or_else(|bad| {
        errors.push(FieldError::new(
            "types",
            "invalid_value",
            format!(
                "unknown type `{bad}`; known: {}",
                ChangeType::ALL
                    .iter()
                    .map(|t| t.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
        vec![]
    });
    let limit = q.limit.unwrap_or(FEED_DEFAULT_LIMIT);
    if !(1..=FEED_MAX_LIMIT).contains(&limit) {
        errors.push(FieldError::new(
            "limit",
            "range",
            format!("must be between 1 and {FEED_MAX_LIMIT}"),
        ));
    }
    let wait = match parse_wait(q.wait.as_deref()) {
        Ok(w) => w,
        Err(ApiError::Validation { errors: e, .. }) => {
            errors.extend(e);
            Duration::ZERO
        }
        Err(e) => return Err(e),
    };
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let view = client_view(&db, &principal).await?;
    let deadline = Instant::now() + wait;
    let fetch = i64::from(limit) + 1;
    let mut after = after;
    loop {
        let types = types.clone();
        let mut rows = db
            .run(move |conn| store::changes(conn, after, &types, fetch))
            .await?;
        let has_more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        // The cursor passes the changes the client may not see too, so it never reads them
        // again; a page may then hold fewer changes than `limit`, or none with `has_more`.
        if let Some(last) = rows.last() {
            after = last.position();
        }
        let changes = project_page(&db, &view, rows).await?;
        if !changes.is_empty() || has_more || Instant::now() >= deadline {
            return Ok(HttpResponse::Ok().json(ChangePage {
                changes,
                next_cursor: after.encode(),
                has_more,
            }));
        }
        actix_web::rt::time::sleep(
            POLL_EVERY.min(deadline.saturating_duration_since(Instant::now())),
        )
        .await;
    }
}

// ---------------------------------------------------------------------------------------------
// The board's acknowledgements

/// A reply we published, as the board shows it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "id": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0b06", "message_id": "01936f00-0000-7000-8000-00000000a001",
    "tracking_no": "GS-2026-000731", "message_external_source": "gansu-board", "message_external_id": "GSB-2026-1182734",
    "kind": "final", "body": "经核实，该路口信号灯控制器故障，已于11月27日更换，现已恢复正常。",
    "unit_name": "兰州市城关区交通运输局", "published_at": "2026-11-27T09:30:00Z",
    "board_reply_id": "R-88231", "board_url": "https://board.example.gov.cn/replies/R-88231",
    "acknowledged_at": "2026-11-27T09:31:10Z"
}))]
pub struct PublishedReplyDto {
    pub id: ReplyId,
    pub message_id: Uuid,
    #[schema(max_length = 32)]
    pub tracking_no: String,
    #[schema(max_length = 64)]
    pub message_external_source: Option<String>,
    #[schema(max_length = 128)]
    pub message_external_id: Option<String>,
    pub kind: ReplyKind,
    #[schema(max_length = 10000)]
    pub body: String,
    #[schema(max_length = 100)]
    pub unit_name: Option<String>,
    pub published_at: Option<DateTime<Utc>>,
    #[schema(max_length = 128)]
    pub board_reply_id: Option<String>,
    #[schema(max_length = 2048)]
    pub board_url: Option<String>,
    pub acknowledged_at: Option<DateTime<Utc>>,
}

impl From<store::PublishedReply> for PublishedReplyDto {
    fn from(r: store::PublishedReply) -> Self {
        PublishedReplyDto {
            id: r.id,
            message_id: r.message_id,
            tracking_no: r.tracking_no,
            message_external_source: r.external_source,
            message_external_id: r.external_id,
            kind: r.kind,
            body: r.body,
            unit_name: r.unit_name,
            published_at: r.published_at,
            board_reply_id: r.board_reply_id,
            board_url: r.board_url,
            acknowledged_at: r.acknowledged_at,
        }
    }
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct UnacknowledgedQuery {
    /// Replies per page (1 to 100, default 20).
    #[param(minimum = 1, maximum = 100, format = Int32)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    #[param(max_length = 512)]
    pub cursor: Option<String>,
}

/// A page of published replies the board has not acknowledged.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PublishedReplyPage {
    pub items: Vec<PublishedReplyDto>,
    #[schema(max_length = 512)]
    pub next_cursor: Option<String>,
}

/// Published replies the board has not acknowledged yet, oldest first: what a sync run must
/// still transmit, so nothing published is forgotten even if a feed position was lost. Like
/// the feed: messages of the client's region only, private ones and unmasked texts only with
/// `sync:personal`; not the replies to messages another client imported (that client's to
/// acknowledge).
#[utoipa::path(
    operation_id = "list_unacknowledged_replies",
    tag = "sync",
    params(UnacknowledgedQuery),
    responses(
        (status = 200, description = "A page of replies", body = PublishedReplyPage),
        (status = 403, description = "Not an integration client, or the token lacks `sync:read`", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad limit or cursor", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[get("/sync/replies/unacknowledged")]
pub async fn list_unacknowledged_replies(
    db: web::Data<Db>,
    principal: Principal,
    query: ApiQuery<UnacknowledgedQuery>,
) -> Result<HttpResponse, ApiError> {
    require(&principal, ClientScope::SyncRead)?;
    let page: PageRequest<(DateTime<Utc>, ReplyId)> =
        PageRequest::new(query.limit, query.cursor.as_deref())?;
    let (limit, after, fetch) = (page.limit, page.after, page.fetch_limit());
    let view = client_view(&db, &principal).await?;
    let personal = view.classes.personal;
    let client = principal.user_id;
    let rows = db
        .run(move |conn| {
            let path = view
                .region_code
                .as_deref()
                .map(|code| crate::store::regions::path_of(conn, code))
                .transpose()?;
            let mut rows =
                store::unacknowledged(conn, after, fetch, path.as_deref(), personal, client)?;
            if !personal {
                // Public messages only here: their replies as the board shows them.
                let texts = rows
                    .iter()
                    .map(|r| (r.message_id, r.body.clone()))
                    .collect();
                let masked = access::mask_texts_for_public(conn, texts)?;
                for (r, body) in rows.iter_mut().zip(masked) {
                    r.body = body;
                }
            }
            Ok::<_, ApiError>(rows)
        })
        .await?;
    let (rows, next_cursor) =
        finish_page(rows, limit, |r| (r.published_at.unwrap_or_default(), r.id));
    Ok(HttpResponse::Ok().json(PublishedReplyPage {
        items: rows.into_iter().map(Into::into).collect(),
        next_cursor,
    }))
}

/// The board's record of a reply it now shows.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"board_reply_id": "R-88231", "url": "https://board.example.gov.cn/replies/R-88231"}))]
pub struct AcknowledgeReply {
    /// The reply's id on the board.
    #[schema(min_length = 1, max_length = 128, pattern = "^[!-~]{1,128}$")]
    #[validate(custom(function = "validate_external_id"))]
    pub board_reply_id: String,
    /// Where the board shows it.
    #[schema(
        min_length = 10,
        max_length = 2048,
        pattern = r"^https?://[^\s\u0000-\u001F\u007F-\u009F]+$"
    )]
    #[validate(custom(function = "validate_board_url"))]
    pub url: String,
}

fn validate_board_url(url: &str) -> Result<(), ValidationError> {
    let chars = url.chars().count();
    let ok = (10..=2048).contains(&chars)
        && (url.starts_with("https://") || url.starts_with("http://"))
        && !url.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(())
    } else {
        let mut e = ValidationError::new("format");
        e.message = Some("must be an http(s) URL without spaces, at most 2048 characters".into());
        Err(e)
    }
}

/// Record that the board shows a reply we published (its id and URL there), on the reply and in
/// the message's ledger. Repeating it with the same values changes nothing; new values (the
/// board moved the reply) replace the old ones.
#[utoipa::path(
    operation_id = "acknowledge_reply",
    tag = "sync",
    params(("id" = String, Path, format = Uuid, description = "Reply id")),
    request_body = AcknowledgeReply,
    responses(
        (status = 200, description = "The reply with the board's record", body = PublishedReplyDto),
        (status = 403, description = "Not an integration client, or the token lacks `sync:write`", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such reply, or one of a message outside the client's region (or private, without `sync:personal`)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The reply is not published, was imported from the platform, or answers a message another client imported", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[post("/sync/replies/{id}/ack")]
pub async fn acknowledge_reply(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    id: web::Path<String>,
    body: ApiJson<AcknowledgeReply>,
) -> Result<HttpResponse, ApiError> {
    require(&principal, ClientScope::SyncWrite)?;
    let id: ReplyId = crate::http::extract::parse_path_id(&id, "reply")?;
    let b = body.into_inner();
    let now = crate::http::now(&req);
    let who = actor(&principal);
    let view = client_view(&db, &principal).await?;
    let personal = view.classes.personal;
    let reply = db
        .run(move |conn| {
            let sees = |path: &str, visibility: &str| view.sees_message(path, visibility);
            let (mut reply, _changed) =
                store::acknowledge(conn, id, &b.board_reply_id, &b.url, who, now, sees)?;
            if !personal {
                // As in the unacknowledged list: the text as the board shows it.
                let masked =
                    access::mask_texts_for_public(conn, vec![(reply.message_id, reply.body)])?;
                reply.body = masked.into_iter().next().unwrap_or_default();
            }
            Ok::<_, ApiError>(reply)
        })
        .await?;
    Ok(HttpResponse::Ok().json(PublishedReplyDto::from(reply)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `types` pattern in the spec names exactly the change types there are.
    #[test]
    fn the_types_pattern_knows_every_change_type() {
        let spec = crate::startup::openapi_spec();
        let json = serde_json::to_value(&spec).unwrap();
        let params = json["paths"]["/api/v1/sync/changes"]["get"]["parameters"]
            .as_array()
            .unwrap();
        let pattern = params.iter().find(|p| p["name"] == "types").unwrap()["schema"]["pattern"]
            .as_str()
            .unwrap()
            .to_owned();
        let re = regex::Regex::new(&pattern).unwrap();
        for t in ChangeType::ALL {
            assert!(re.is_match(t.as_str()), "{t}");
        }
        let all: Vec<&str> = ChangeType::ALL.iter().map(|t| t.as_str()).collect();
        assert!(re.is_match(&all.join(",")));
        assert!(!re.is_match("message.created,nope"));
        assert!(!re.is_match(""));
    }

    #[test]
    fn waits_are_seconds_up_to_a_minute() {
        assert_eq!(parse_wait(None).unwrap(), Duration::ZERO);
        assert_eq!(parse_wait(Some("30s")).unwrap(), Duration::from_secs(30));
        assert_eq!(parse_wait(Some("60")).unwrap(), Duration::from_secs(60));
        for bad in ["61", "", "s", "-1", "1.5", "30ss", "999"] {
            assert!(parse_wait(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn board_urls_are_http_without_spaces() {
        assert!(validate_board_url("https://board.example.gov.cn/r/1").is_ok());
        for bad in [
            "ftp://x.example/1",
            "https://0",
            "https://a b.cn/x",
            "board.example.gov.cn/r/1",
        ] {
            assert!(validate_board_url(bad).is_err(), "{bad}");
        }
    }
}
