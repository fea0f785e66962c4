//! Messages: intake, reading, classification, acceptance, and the ledger.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, put, web};
use chrono::{DateTime, Utc};
use diesel::Connection as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use validator::{Validate, ValidationError};

use crate::app::access::{actor, facts, viewer};
use crate::app::intake::{self, Addressable, Intake};
use crate::app::transition::{self, StepOutcome};
use crate::auth::Principal;
use crate::auth::policy::{MessageAccess, message_access};
use crate::configuration::Settings;
use crate::db::Db;
use crate::domain::ids::{CategoryId, LeaderId, UnitId, UserId};
use crate::domain::message::{
    MessageAction, MessageKind, MessageSource, MessageStatus, Priority, RejectionReason,
    Visibility, author_may_amend,
};
use crate::domain::role::Role;
use crate::error::{ApiError, FieldError};
use crate::http::extract::parse_message_id;
use crate::http::extract::{ApiJson, ApiQuery};
use crate::http::pagination::{PageRequest, finish_page};
use crate::http::preconditions::{IfMatch, IfMatchCondition, etag, respond_with_etag};
use crate::http::validate::{validate_phone, validate_region_code};
use crate::store::messages::{
    self as store, ListScope, Message, MessageChanges, MessageFilter, NewMessage, SortBy,
};

// ---------------------------------------------------------------------------------------------
// Wire types

/// A point on the map (WGS 84).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"lat": 36.0611, "lon": 103.8343}))]
pub struct Location {
    #[schema(minimum = -90, maximum = 90, format = Double)]
    #[validate(range(min = -90.0, max = 90.0))]
    pub lat: f64,
    #[schema(minimum = -180, maximum = 180, format = Double)]
    #[validate(range(min = -180.0, max = 180.0))]
    pub lon: f64,
}

crate::text_enum! {
    /// Media types accepted for attachments.
    pub enum MediaType {
        #[serde(rename = "image/jpeg")]
        ImageJpeg => "image/jpeg",
        #[serde(rename = "image/png")]
        ImagePng => "image/png",
        #[serde(rename = "image/webp")]
        ImageWebp => "image/webp",
        #[serde(rename = "application/pdf")]
        ApplicationPdf => "application/pdf",
        #[serde(rename = "video/mp4")]
        VideoMp4 => "video/mp4",
        #[serde(rename = "audio/mpeg")]
        AudioMpeg => "audio/mpeg",
    }
}

/// A file the citizen uploaded elsewhere (the board's file service), referenced by URL.
#[derive(Debug, Clone, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"url": "https://files.example.gov.cn/2026/11/light.jpg", "media_type": "image/jpeg", "private": false}))]
pub struct Attachment {
    /// An `https://` URL of a public host: no credentials (`user:pw@`), no IP address in a
    /// loopback, private, link-local, metadata or other non-public range, no `localhost`-like,
    /// `.local`/`.internal` or single-label name.
    #[schema(
        min_length = 9,
        max_length = 500,
        pattern = r"^https://[^/\s\[\]\u0000-\u001F\u007F-\u009F][^\s\[\]\u0000-\u001F\u007F-\u009F]*$"
    )]
    #[validate(length(min = 9, max = 500), custom(function = "validate_https_url"))]
    pub url: String,
    pub media_type: MediaType,
    /// Private attachments are shown only to the author and the staff handling the message.
    #[serde(default)]
    pub private: bool,
}

/// The shared attachment URL rule ([`crate::domain::addresses::attachment_url`]).
fn validate_https_url(url: &str) -> Result<(), ValidationError> {
    crate::domain::addresses::attachment_url(url)
        .map(|_| ())
        .map_err(|problem| {
            let mut e = ValidationError::new(problem.code());
            e.message = Some(problem.message().into());
            e
        })
}

fn validate_tags(tags: &[Tag]) -> Result<(), ValidationError> {
    let bad = tags.iter().any(|Tag(t)| {
        let n = t.trim().chars().count();
        n == 0 || n > 20 || t.chars().any(char::is_control)
    });
    if bad {
        let mut e = ValidationError::new("format");
        e.message = Some("each tag must be 1 to 20 characters".into());
        return Err(e);
    }
    Ok(())
}

/// A message to a leader.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "leader_id": "b0f2e9a4-5c1d-5e6f-8a7b-9c0d1e2f3a4b", "category_id": "01930000-0000-7000-8000-000000000002",
    "kind": "complaint", "title": "庆阳路口红绿灯坏了", "body": "城关区庆阳路与酒泉路交叉口的红绿灯已经坏了三天，早晚高峰非常拥堵，请尽快修理。",
    "region_code": "620102", "address": "城关区庆阳路与酒泉路交叉口", "location": {"lat": 36.0611, "lon": 103.8343},
    "visibility": "public", "contact_phone": "13800138000",
    "attachments": [{"url": "https://files.example.gov.cn/2026/11/light.jpg", "media_type": "image/jpeg", "private": false}]
}))]
pub struct CreateMessage {
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
    /// Where the matter is; defaults to the leader's region and must lie inside it.
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
        max_length = 13,
        pattern = "^(1[3-9][0-9]{9}|0[0-9]{2,3}-?[0-9]{7,8})$"
    )]
    #[validate(custom(function = "validate_phone"))]
    pub contact_phone: Option<String>,
    /// Staff registering a message for a citizen: the citizen's name.
    #[schema(
        min_length = 1,
        max_length = 50,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    #[validate(length(min = 1, max = 50))]
    pub contact_name: Option<String>,
    /// `web` for citizens; staff registering a message say how it came in.
    pub source: Option<MessageSource>,
    #[schema(max_items = 10)]
    #[validate(length(max = 10), nested)]
    pub attachments: Option<Vec<Attachment>>,
}

/// The citizen's contact data (only for the author and the staff handling the message).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Contact {
    #[schema(max_length = 50)]
    pub name: Option<String>,
    #[schema(max_length = 20)]
    pub phone: Option<String>,
}

/// Why a message was not accepted.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Rejection {
    pub reason: RejectionReason,
    #[schema(max_length = 500)]
    pub note: Option<String>,
    /// For `duplicate`: the original message.
    #[schema(value_type = Option<String>, format = Uuid)]
    pub duplicate_of: Option<uuid::Uuid>,
}

/// A message as the caller may see it. Readers outside the message's handling see the public
/// version: author, contact, address, location and private attachments are `null` or left out.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "id": "0193b5a0-1c2d-7e3f-8a4b-5c6d7e8f9a0b", "tracking_no": "GS-2026-000123", "status": "submitted",
    "source": "web", "leader_id": "b0f2e9a4-5c1d-5e6f-8a7b-9c0d1e2f3a4b",
    "category_id": "01930000-0000-7000-8000-000000000002", "kind": "complaint",
    "title": "庆阳路口红绿灯坏了", "body": "城关区庆阳路与酒泉路交叉口的红绿灯已经坏了三天，请尽快修理。",
    "region_code": "620102", "address": "城关区庆阳路与酒泉路交叉口", "location": {"lat": 36.0611, "lon": 103.8343},
    "visibility": "public", "author_id": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0a1b",
    "contact": {"name": null, "phone": "13800138000"}, "attachments": [], "priority": null, "tags": [],
    "rejection": null, "intake_unit_id": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0a2c", "unit_id": null,
    "version": 1, "event_count": 1, "chain_head": "9f2c3b1a7e4d5c6b8a9f0e1d2c3b4a5f6e7d8c9b0a1f2e3d4c5b6a7f8e9d0c1b", "submitted_at": "2026-11-26T08:00:00Z",
    "accepted_at": null, "replied_at": null, "feedback_until": null, "closed_at": null,
    "reopen_count": 0, "last_activity_at": "2026-11-26T08:00:00Z"
}))]
pub struct MessageDto {
    #[schema(value_type = String, format = Uuid)]
    pub id: uuid::Uuid,
    /// Human tracking number, readable over the phone.
    #[schema(max_length = 30, example = "GS-2026-000123")]
    pub tracking_no: String,
    pub status: MessageStatus,
    pub source: MessageSource,
    pub leader_id: LeaderId,
    pub category_id: CategoryId,
    pub kind: MessageKind,
    #[schema(max_length = 100)]
    pub title: String,
    #[schema(max_length = 5000)]
    pub body: String,
    #[schema(max_length = 6)]
    pub region_code: String,
    #[schema(max_length = 200)]
    pub address: Option<String>,
    pub location: Option<Location>,
    pub visibility: Visibility,
    pub author_id: Option<UserId>,
    pub contact: Option<Contact>,
    #[schema(max_items = 10)]
    pub attachments: Vec<Attachment>,
    pub priority: Option<Priority>,
    #[schema(max_items = 10)]
    pub tags: Vec<String>,
    pub rejection: Option<Rejection>,
    /// The unit that runs intake for the addressed leader.
    pub intake_unit_id: Option<UnitId>,
    /// The unit handling the message (once assigned).
    pub unit_id: Option<UnitId>,
    #[schema(format = Int32, minimum = 1)]
    pub version: i32,
    /// Number of ledger events.
    #[schema(format = Int32, minimum = 0)]
    pub event_count: Option<i32>,
    /// SHA-256 (hex) of the newest ledger event.
    #[schema(max_length = 64)]
    pub chain_head: Option<String>,
    pub submitted_at: DateTime<Utc>,
    pub accepted_at: Option<DateTime<Utc>>,
    /// Publication of the latest final reply.
    pub replied_at: Option<DateTime<Utc>>,
    /// Until when the author may rate the final reply (while `replied`).
    pub feedback_until: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    /// Times the message was sent back to a unit after its final reply.
    #[schema(format = Int32, minimum = 0)]
    pub reopen_count: i32,
    pub last_activity_at: DateTime<Utc>,
}

impl MessageDto {
    pub(crate) fn from_message(m: Message, access: MessageAccess) -> Self {
        let full = matches!(access, MessageAccess::Full | MessageAccess::Author);
        let inside = matches!(
            access,
            MessageAccess::Full | MessageAccess::Staff | MessageAccess::Author
        );
        // Classification beyond the category (priority, tags) is internal working content.
        let internal = matches!(access, MessageAccess::Full | MessageAccess::Staff);
        let attachments: Vec<Attachment> =
            serde_json::from_value(m.attachments).unwrap_or_default();
        MessageDto {
            id: m.id,
            tracking_no: m.tracking_no,
            status: m.status,
            source: m.source,
            leader_id: m.leader_id,
            category_id: m.category_id,
            kind: m.kind,
            title: m.title,
            body: m.body,
            region_code: m.region_code,
            address: inside.then_some(m.address),
            location: match (inside, m.location_lat, m.location_lon) {
                (true, Some(lat), Some(lon)) => Some(Location { lat, lon }),
                _ => None,
            },
            visibility: m.visibility,
            author_id: if inside { m.author_id } else { None },
            contact: full.then_some(Contact {
                name: m.contact_name,
                phone: m.contact_phone,
            }),
            attachments: attachments
                .into_iter()
                .filter(|a| inside || !a.private)
                .collect(),
            priority: m.priority.filter(|_| internal),
            tags: if internal { m.tags } else { Vec::new() },
            rejection: m
                .rejection_reason
                .filter(|_| inside)
                .map(|reason| Rejection {
                    reason,
                    note: m.rejection_note,
                    duplicate_of: m.duplicate_of,
                }),
            intake_unit_id: inside.then_some(m.intake_unit_id),
            unit_id: m.unit_id,
            version: m.version,
            event_count: inside.then_some(m.event_count),
            chain_head: inside.then(|| hex::encode(&m.chain_head)),
            submitted_at: m.submitted_at,
            accepted_at: m.accepted_at,
            replied_at: m.replied_at,
            feedback_until: m.feedback_until,
            closed_at: m.closed_at,
            reopen_count: m.reopen_count,
            last_activity_at: m.last_activity_at,
        }
    }
}

crate::page_type!(MessagePage, MessageDto, "A page of messages.");

/// Proof of submission: keep the tracking number and the chain head; the ledger can later show
/// that the message was recorded exactly so.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Receipt {
    #[schema(max_length = 30)]
    pub tracking_no: String,
    /// SHA-256 (hex) of the `submit` event.
    #[schema(max_length = 64, min_length = 64)]
    pub chain_head: String,
    pub issued_at: DateTime<Utc>,
}

/// A stored message with its receipt.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MessageSubmission {
    pub message: MessageDto,
    pub receipt: Receipt,
}

// ---------------------------------------------------------------------------------------------
// Intake

/// Submit a message. Citizens write their own (`source` web); staff of the unit that handles
/// the addressed leader register one for a citizen from a phone call, letter or visit (with
/// `contact_name` and `contact_phone`). Returns the message and a receipt.
#[utoipa::path(
    operation_id = "create_message",
    tag = "messages",
    request_body = CreateMessage,
    responses(
        (status = 201, description = "The message is stored with status `submitted`", body = MessageSubmission,
            headers(("Location" = String, description = "URL of the message"),
                    ("ETag" = String, description = "Version of the message")))
    )
)]
#[post("/messages")]
pub async fn create_message(
    db: web::Data<Db>,
    settings: web::Data<Settings>,
    principal: Principal,
    body: ApiJson<CreateMessage>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let title = super::clean_name(&b.title, "title", 100)?;
    let body_text = b.body.trim().to_owned();
    if body_text.chars().count() < 10 {
        return Err(ApiError::field(
            "body",
            "length",
            "must be 10 to 5000 characters",
        ));
    }
    let staff = principal.role != Role::Citizen;
    let source = b.source.unwrap_or(if staff {
        MessageSource::Phone
    } else {
        MessageSource::Web
    });
    let mut errors = Vec::new();
    if staff {
        if source == MessageSource::Web {
            errors.push(FieldError::new(
                "source",
                "invalid_value",
                "staff register `phone`, `letter` or `visit` messages",
            ));
        }
        if b.contact_name.is_none() {
            errors.push(FieldError::new(
                "contact_name",
                "required",
                "who the message is from",
            ));
        }
        if b.contact_phone.is_none() {
            errors.push(FieldError::new(
                "contact_phone",
                "required",
                "how to reach them",
            ));
        }
    } else {
        if source != MessageSource::Web {
            errors.push(FieldError::new(
                "source",
                "invalid_value",
                "citizens submit `web` messages",
            ));
        }
        if b.contact_name.is_some() {
            errors.push(FieldError::new(
                "contact_name",
                "read_only",
                "is your account's name",
            ));
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let contact_name = b
        .contact_name
        .as_deref()
        .map(|n| super::clean_name(n, "contact_name", 50))
        .transpose()?;
    let new = NewMessage {
        author_id: (!staff).then_some(principal.user_id),
        registered_by: staff.then_some(principal.user_id),
        source,
        leader_id: b.leader_id,
        category_id: b.category_id,
        kind: b.kind,
        title,
        body: body_text,
        region_code: b.region_code,
        address: b.address.map(|a| a.trim().to_owned()).unwrap_or_default(),
        location: b.location.map(|l| (l.lat, l.lon)),
        visibility: b.visibility,
        contact_name,
        contact_phone: b.contact_phone,
        attachments: serde_json::to_value(b.attachments.unwrap_or_default())
            .unwrap_or(Value::Array(vec![])),
        submitted_at: None,
    };
    let prefix = settings.tracking_prefix.clone();
    let quota = settings.intake_quota();
    let now = settings.clock.now();
    // Staff register messages for the leaders their own unit handles.
    let leaders = if staff && principal.role != Role::Admin {
        Addressable::OfUnit(principal.unit_id)
    } else {
        Addressable::Any
    };
    let who = actor(&principal);
    let taken = db
        .run(move |conn| {
            let intake = Intake {
                actor: who,
                tracking_prefix: &prefix,
                quota,
                leaders,
                now,
            };
            intake::submit(conn, &intake, &new)
        })
        .await?;
    let receipt = Receipt {
        tracking_no: taken.message.tracking_no.clone(),
        chain_head: hex::encode(&taken.receipt),
        issued_at: taken.recorded_at,
    };
    let message = taken.message;
    let access = message_access(viewer(&principal), facts(&message));
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/messages/{}", message.id)))
        .insert_header((header::ETAG, etag(message.version)))
        .json(MessageSubmission {
            message: MessageDto::from_message(message, access),
            receipt,
        }))
}

// ---------------------------------------------------------------------------------------------
// Reading

crate::text_enum! {
    /// Sort order of message lists (newest first).
    pub enum MessageSort {
        SubmittedAt => "submitted_at",
        LastActivityAt => "last_activity_at",
    }
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListMessagesQuery {
    pub status: Option<MessageStatus>,
    pub leader_id: Option<LeaderId>,
    /// Messages in this region or below it.
    #[param(min_length = 6, max_length = 6, pattern = "^[0-9]{6}$")]
    #[validate(custom(function = "validate_region_code"))]
    pub region_code: Option<String>,
    /// Messages this unit runs intake for or handles.
    pub unit_id: Option<UnitId>,
    pub category_id: Option<CategoryId>,
    pub kind: Option<MessageKind>,
    pub priority: Option<Priority>,
    /// Submitted at or after (RFC 3339).
    pub submitted_from: Option<DateTime<Utc>>,
    /// Submitted before (RFC 3339).
    pub submitted_to: Option<DateTime<Utc>>,
    /// Only the caller's own messages.
    pub mine: Option<bool>,
    /// Unit staff: the accepted, unassigned, undisputed messages in their unit's territory (the
    /// unit's region subtree), which the unit may claim (`POST /messages/{id}/claims`).
    pub claimable: Option<bool>,
    /// Text in the title or body (at least two letters or digits; Chinese works).
    #[param(
        min_length = 2,
        max_length = 50,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$"
    )]
    #[validate(
        length(min = 2, max = 50),
        custom(function = "crate::domain::validate_line")
    )]
    pub q: Option<String>,
    /// Sort column, newest first (default `submitted_at`).
    #[param(inline)]
    pub sort: Option<MessageSort>,
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100, format = Int32)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[param(max_length = 512)]
    pub cursor: Option<String>,
}

/// The list scope of a reader.
fn list_scope(conn: &mut diesel::PgConnection, p: &Principal) -> Result<ListScope, ApiError> {
    Ok(match p.role {
        Role::Admin => ListScope::All,
        Role::Citizen => ListScope::Citizen(p.user_id),
        Role::Handler | Role::UnitAdmin | Role::Reviewer => match p.unit_id {
            Some(u) => ListScope::Unit(u),
            None => ListScope::PublicOnly,
        },
        Role::Supervisor | Role::Analyst | Role::Leader => match &p.scope_region {
            Some(code) => ListScope::RegionPath(crate::store::regions::path_of(conn, code)?),
            None => ListScope::PublicOnly,
        },
        Role::Integration => ListScope::PublicOnly,
    })
}

/// List messages the caller may see, newest first, with filters and Chinese text search.
/// Citizens see their own and others' accepted public messages (without personal data); unit
/// staff the messages their unit runs intake for or handles; supervisors, analysts and leaders
/// those in their region subtree; administrators all.
#[utoipa::path(
    operation_id = "list_messages",
    tag = "messages",
    params(ListMessagesQuery),
    responses((status = 200, description = "A page of messages", body = MessagePage))
)]
#[get("/messages")]
pub async fn list_messages(
    db: web::Data<Db>,
    principal: Principal,
    query: ApiQuery<ListMessagesQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.0;
    let page = PageRequest::new(q.limit, q.cursor.as_deref())?;
    let limit = page.limit;
    let search = match q.q.as_deref() {
        Some(text) => {
            let text = text.trim().to_owned();
            let bigrams = crate::domain::search::query_bigrams(&text).ok_or_else(|| {
                ApiError::field("q", "length", "needs at least two letters or digits")
            })?;
            Some((bigrams, text))
        }
        None => None,
    };
    let sort = match q.sort.unwrap_or(MessageSort::SubmittedAt) {
        MessageSort::SubmittedAt => SortBy::Submitted,
        MessageSort::LastActivityAt => SortBy::LastActivity,
    };
    let claimable = q.claimable.unwrap_or(false);
    if claimable && !matches!(principal.role, Role::Handler | Role::UnitAdmin) {
        return Err(ApiError::Forbidden(
            "only unit staff (handler, unit_admin) claim messages".into(),
        ));
    }
    let p = principal.clone();
    // A search may read many rows: it runs under the expensive-read budget (`db::expensive`).
    let expensive = search.is_some();
    let job = move |conn: &mut diesel::PgConnection| {
        let scope = if claimable {
            let unit = p
                .unit_id
                .ok_or_else(|| ApiError::Forbidden("you belong to no unit".into()))?;
            let code = crate::store::units::get(conn, unit)?.region_code;
            ListScope::Claimable(crate::store::regions::path_of(conn, &code)?)
        } else {
            list_scope(conn, &p)?
        };
        let filter = MessageFilter {
            status: q.status,
            leader_id: q.leader_id,
            region_path: match &q.region_code {
                Some(code) => Some(crate::store::regions::path_of(conn, code)?),
                None => None,
            },
            unit_id: q.unit_id,
            category_id: q.category_id,
            kind: q.kind,
            priority: q.priority,
            submitted_from: q.submitted_from,
            submitted_to: q.submitted_to,
            author_id: q.mine.unwrap_or(false).then_some(p.user_id),
            search,
            replied: None,
        };
        let rows = store::list(conn, &scope, &filter, sort, &page)?;
        let (rows, next_cursor) = finish_page(rows, limit, |m| match sort {
            SortBy::Submitted => (m.submitted_at, m.id),
            SortBy::LastActivity => (m.last_activity_at, m.id),
        });
        // A claimable message is shown to the territorial unit in its public projection:
        // enough to decide to claim it, nothing personal.
        let shown = rows
            .into_iter()
            .map(|m| {
                let access = match message_access(viewer(&p), facts(&m)) {
                    MessageAccess::None if claimable => MessageAccess::Public,
                    a => a,
                };
                (m, access)
            })
            .collect();
        Ok::<_, ApiError>((project(conn, shown)?, next_cursor))
    };
    let (items, next_cursor) = if expensive {
        db.run_expensive(job).await?
    } else {
        db.run(job).await?
    };
    Ok(HttpResponse::Ok().json(MessagePage { items, next_cursor }))
}

/// Messages as their readers may see them: the public projection masks personal data in the
/// texts exactly as the public board does (app::access).
pub(crate) fn project(
    conn: &mut diesel::PgConnection,
    shown: Vec<(Message, MessageAccess)>,
) -> Result<Vec<MessageDto>, ApiError> {
    let public: Vec<&Message> = shown
        .iter()
        .filter(|(_, a)| *a == MessageAccess::Public)
        .map(|(m, _)| m)
        .collect();
    let mut texts = crate::app::access::public_texts(conn, &public)?;
    Ok(shown
        .into_iter()
        .map(|(m, access)| {
            let text = texts
                .remove(&m.id)
                .filter(|_| access == MessageAccess::Public);
            let mut dto = MessageDto::from_message(m, access);
            if let Some(t) = text {
                dto.title = t.title;
                dto.body = t.body;
            }
            dto
        })
        .collect())
}

/// Load a message the caller may see (404 otherwise, never 403).
async fn load_visible(
    db: &Db,
    principal: &Principal,
    id: uuid::Uuid,
) -> Result<(Message, MessageAccess), ApiError> {
    let message = db
        .run(move |conn| store::get(conn, id))
        .await?
        .ok_or_else(|| ApiError::not_found("message"))?;
    let access = message_access(viewer(principal), facts(&message));
    if access == MessageAccess::None {
        return Err(ApiError::not_found("message"));
    }
    Ok((message, access))
}

/// Read a message.
#[utoipa::path(
    operation_id = "get_message",
    tag = "messages",
    params(("id" = String, Path, format = Uuid, description = "Message id")),
    responses(
        (status = 200, description = "The message", body = MessageDto,
            headers(("ETag" = String, description = "Version of the message"))),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 404, description = "No such message, or not yours to see",
            body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[get("/messages/{id}")]
pub async fn get_message(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_message_id(&id)?;
    let p = principal.clone();
    let dto = db
        .run(move |conn| {
            let message = store::get(conn, id)?.ok_or_else(|| ApiError::not_found("message"))?;
            visible_dto(conn, &p, message)
        })
        .await?;
    respond_with_etag(&req, dto.version, &dto, HttpResponse::Ok())
}

/// The message as the caller may see it (404 when not at all).
fn visible_dto(
    conn: &mut diesel::PgConnection,
    p: &Principal,
    message: Message,
) -> Result<MessageDto, ApiError> {
    let access = message_access(viewer(p), facts(&message));
    if access == MessageAccess::None {
        return Err(ApiError::not_found("message"));
    }
    project(conn, vec![(message, access)])?
        .pop()
        .ok_or_else(|| ApiError::Internal("a projection lost its message".into()))
}

/// Read a message by its tracking number (as a citizen reads it out on the phone).
#[utoipa::path(
    operation_id = "get_message_by_tracking_no",
    tag = "messages",
    params(("tracking_no" = String, Path, max_length = 30, description = "Tracking number, e.g. GS-2026-000123")),
    responses(
        (status = 200, description = "The message", body = MessageDto,
            headers(("ETag" = String, description = "Version of the message"))),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 404, description = "No such message, or not yours to see",
            body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[get("/tracking/{tracking_no}")]
pub async fn get_message_by_tracking_no(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    tracking_no: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let tn = tracking_no.into_inner().trim().to_uppercase();
    if tn.len() > 30 {
        return Err(ApiError::not_found("message"));
    }
    let p = principal.clone();
    let dto = db
        .run(move |conn| {
            let message = store::get_by_tracking_no(conn, &tn)?
                .ok_or_else(|| ApiError::not_found("message"))?;
            visible_dto(conn, &p, message)
        })
        .await?;
    respond_with_etag(&req, dto.version, &dto, HttpResponse::Ok())
}

// ---------------------------------------------------------------------------------------------
// Transitions (run by `app::transition`)

/// A step on a message that requires `If-Match`, answered with the message and its new `ETag`.
async fn message_step(
    req: &HttpRequest,
    db: &Db,
    principal: &Principal,
    raw_id: &str,
    action: MessageAction,
    decide: impl FnOnce(&mut diesel::PgConnection, &Message) -> Result<StepOutcome<()>, ApiError>
    + Send
    + 'static,
) -> Result<HttpResponse, ApiError> {
    let id = parse_message_id(raw_id)?;
    let cond = IfMatchCondition::from_request(req, IfMatch::Required)?;
    let now = crate::http::now(req);
    let p = principal.clone();
    let (message, ()) = db
        .run(move |conn| {
            transition::run(conn, &p, id, &cond, action, now, None, |conn, m, _, _| {
                decide(conn, m)
            })
        })
        .await?;
    Ok(transitioned(principal, message))
}

/// The message after a transition, with its new `ETag`.
fn transitioned(principal: &Principal, message: Message) -> HttpResponse {
    let access = message_access(viewer(principal), facts(&message));
    HttpResponse::Ok()
        .insert_header((header::ETAG, etag(message.version)))
        .json(MessageDto::from_message(message, access))
}

/// A free label on a message.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(transparent)]
#[schema(value_type = String, min_length = 1, max_length = 20, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$", example = "红绿灯")]
pub struct Tag(pub String);

/// Classification of a message (replaces the previous one).
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"priority": "important", "category_id": "01930000-0000-7000-8000-000000000002", "tags": ["红绿灯", "城关区"]}))]
pub struct Classification {
    pub priority: Priority,
    pub category_id: CategoryId,
    /// Free labels, 1 to 20 characters each.
    #[schema(max_items = 10)]
    #[validate(length(max = 10), custom(function = "validate_tags"))]
    #[serde(default)]
    pub tags: Vec<Tag>,
}

/// Classify a message: priority, category and tags. Liaison office of the message and
/// supervisors in scope. Requires `If-Match`.
#[utoipa::path(
    operation_id = "classify_message",
    tag = "messages",
    params(
        ("id" = String, Path, format = Uuid, description = "Message id"),
        ("If-Match" = String, Header, description = "ETag of the version you read")
    ),
    request_body = Classification,
    responses(
        (status = 200, description = "The classified message", body = MessageDto,
            headers(("ETag" = String, description = "New version"))),
        (status = 404, description = "No such message, or not yours to see", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The message cannot be classified in its status", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[put("/messages/{id}/classification")]
pub async fn classify_message(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    id: web::Path<String>,
    body: ApiJson<Classification>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let mut tags: Vec<String> = b.tags.iter().map(|t| t.0.trim().to_owned()).collect();
    tags.sort();
    tags.dedup();
    message_step(&req, &db, &principal, &id, MessageAction::Classify, move |conn, current| {
        let active: Option<bool> = {
            use diesel::prelude::*;
            crate::schema::categories::table
                .find(b.category_id)
                .select(crate::schema::categories::active)
                .first(conn)
                .optional()?
        };
        match active {
            Some(true) => {}
            Some(false) => return Err(ApiError::field("category_id", "inactive", "this category is deactivated")),
            None => return Err(ApiError::field("category_id", "not_found", "no such category")),
        }
        Ok(StepOutcome {
            result: (),
            payload: serde_json::json!({"priority": b.priority, "category_id": b.category_id, "tags": tags,
                "previous": {"priority": current.priority, "category_id": current.category_id, "tags": current.tags}}),
            changes: MessageChanges {
                priority: Some(Some(b.priority)),
                category_id: Some(b.category_id),
                tags: Some(tags),
                ..Default::default()
            },
        })
    })
    .await
}

/// A note for the ledger.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"note": "属城关区职责，予以受理"}))]
pub struct ActionNote {
    #[schema(
        max_length = 500,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    #[validate(length(max = 500), custom(function = "crate::domain::validate_text"))]
    pub note: Option<String>,
}

/// Accept a message for handling (受理). Requires `If-Match`.
#[utoipa::path(
    operation_id = "accept_message",
    tag = "messages",
    params(
        ("id" = String, Path, format = Uuid, description = "Message id"),
        ("If-Match" = String, Header, description = "ETag of the version you read")
    ),
    request_body = ActionNote,
    responses(
        (status = 200, description = "The accepted message", body = MessageDto, headers(("ETag" = String, description = "New version"))),
        (status = 404, description = "No such message, or not yours to see", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Only a submitted message can be accepted", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[post("/messages/{id}/accept")]
pub async fn accept_message(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    id: web::Path<String>,
    body: ApiJson<ActionNote>,
) -> Result<HttpResponse, ApiError> {
    let note = body.into_inner().note.map(|n| n.trim().to_owned());
    let now = crate::http::now(&req);
    message_step(
        &req,
        &db,
        &principal,
        &id,
        MessageAction::Accept,
        move |_, _| {
            Ok(StepOutcome {
                result: (),
                payload: serde_json::json!({"note": note}),
                changes: MessageChanges {
                    accepted_at: Some(Some(now)),
                    ..Default::default()
                },
            })
        },
    )
    .await
}

/// Why a message is not accepted.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reason": "insufficient_information", "note": "请补充具体路口位置"}))]
pub struct RejectRequest {
    pub reason: RejectionReason,
    /// Shown to the author.
    #[schema(
        min_length = 1,
        max_length = 500,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    #[validate(
        length(min = 1, max = 500),
        custom(function = "crate::domain::validate_text")
    )]
    pub note: String,
    /// Required for `duplicate`: the original message.
    #[schema(value_type = Option<String>, format = Uuid)]
    pub duplicate_of: Option<uuid::Uuid>,
}

/// Do not accept a message: out of scope, a duplicate (naming the original), insufficient
/// information (the author may amend and resubmit) or abusive content. Requires `If-Match`.
#[utoipa::path(
    operation_id = "reject_message",
    tag = "messages",
    params(
        ("id" = String, Path, format = Uuid, description = "Message id"),
        ("If-Match" = String, Header, description = "ETag of the version you read")
    ),
    request_body = RejectRequest,
    responses(
        (status = 200, description = "The rejected message", body = MessageDto, headers(("ETag" = String, description = "New version"))),
        (status = 404, description = "No such message, or not yours to see", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Only a submitted message can be rejected", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[post("/messages/{id}/reject")]
pub async fn reject_message(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    id: web::Path<String>,
    body: ApiJson<RejectRequest>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let note = b.note.trim().to_owned();
    if note.is_empty() {
        return Err(ApiError::field(
            "note",
            "length",
            "must be 1 to 500 characters",
        ));
    }
    match (b.reason, b.duplicate_of) {
        (RejectionReason::Duplicate, None) => {
            return Err(ApiError::field(
                "duplicate_of",
                "required",
                "name the original message",
            ));
        }
        (r, Some(_)) if r != RejectionReason::Duplicate => {
            return Err(ApiError::field(
                "duplicate_of",
                "invalid_value",
                "only for reason `duplicate`",
            ));
        }
        _ => {}
    }
    message_step(&req, &db, &principal, &id, MessageAction::Reject, move |conn, current| {
        if let Some(original) = b.duplicate_of {
            if original == current.id {
                return Err(ApiError::field("duplicate_of", "invalid_value", "a message is not its own duplicate"));
            }
            if store::get(conn, original)?.is_none() {
                return Err(ApiError::field("duplicate_of", "not_found", "no such message"));
            }
        }
        Ok(StepOutcome {
            result: (),
            payload: serde_json::json!({"reason": b.reason, "note": note, "duplicate_of": b.duplicate_of}),
            changes: MessageChanges {
                rejection_reason: Some(Some(b.reason)),
                rejection_note: Some(Some(note)),
                duplicate_of: Some(b.duplicate_of),
                ..Default::default()
            },
        })
    })
    .await
}

/// Withdraw one's own message before it is accepted. Requires `If-Match`.
#[utoipa::path(
    operation_id = "withdraw_message",
    tag = "messages",
    params(
        ("id" = String, Path, format = Uuid, description = "Message id"),
        ("If-Match" = String, Header, description = "ETag of the version you read")
    ),
    request_body = ActionNote,
    responses(
        (status = 200, description = "The withdrawn message", body = MessageDto, headers(("ETag" = String, description = "New version"))),
        (status = 404, description = "No such message, or not yours to see", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Only a submitted message can be withdrawn", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[post("/messages/{id}/withdraw")]
pub async fn withdraw_message(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    id: web::Path<String>,
    body: ApiJson<ActionNote>,
) -> Result<HttpResponse, ApiError> {
    let note = body.into_inner().note.map(|n| n.trim().to_owned());
    message_step(
        &req,
        &db,
        &principal,
        &id,
        MessageAction::Withdraw,
        move |_, _| {
            Ok(StepOutcome {
                result: (),
                payload: serde_json::json!({"note": note}),
                changes: MessageChanges::default(),
            })
        },
    )
    .await
}

/// What the author changes when resubmitting.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"body": "城关区庆阳路与酒泉路交叉口（省政府东侧）的红绿灯已经坏了三天，请尽快修理。"}))]
pub struct Resubmission {
    #[schema(
        nullable = false,
        min_length = 2,
        max_length = 100,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    #[validate(length(min = 2, max = 100))]
    pub title: Option<String>,
    #[schema(
        nullable = false,
        min_length = 10,
        max_length = 5000,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    #[validate(
        length(min = 10, max = 5000),
        custom(function = "crate::domain::validate_text")
    )]
    pub body: Option<String>,
    #[schema(
        nullable = false,
        max_length = 200,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$"
    )]
    #[validate(length(max = 200), custom(function = "crate::domain::validate_line"))]
    pub address: Option<String>,
    #[schema(nullable = false, max_items = 10)]
    #[validate(length(max = 10), nested)]
    pub attachments: Option<Vec<Attachment>>,
}

/// Amend and resubmit one's own message after it was rejected for insufficient information;
/// it goes back to `submitted`. Requires `If-Match`.
#[utoipa::path(
    operation_id = "resubmit_message",
    tag = "messages",
    params(
        ("id" = String, Path, format = Uuid, description = "Message id"),
        ("If-Match" = String, Header, description = "ETag of the version you read")
    ),
    request_body = Resubmission,
    responses(
        (status = 200, description = "The resubmitted message", body = MessageDto, headers(("ETag" = String, description = "New version"))),
        (status = 404, description = "No such message, or not yours to see", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Only a message rejected for insufficient information can be resubmitted", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[post("/messages/{id}/resubmit")]
pub async fn resubmit_message(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    id: web::Path<String>,
    body: ApiJson<Resubmission>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let title = b
        .title
        .as_deref()
        .map(|t| super::clean_name(t, "title", 100))
        .transpose()?;
    let body_text = b.body.map(|t| t.trim().to_owned());
    if body_text.as_ref().is_some_and(|t| t.chars().count() < 10) {
        return Err(ApiError::field(
            "body",
            "length",
            "must be 10 to 5000 characters",
        ));
    }
    let id = parse_message_id(&id)?;
    let cond = IfMatchCondition::from_request(&req, IfMatch::Required)?;
    let now = crate::http::now(&req);
    let p = principal.clone();
    let amend = move |current: &Message| {
        if !author_may_amend(current.status, current.rejection_reason) {
            return Err(ApiError::Conflict(
                "only a message rejected for insufficient information can be amended and resubmitted".into(),
            ));
        }
        let new_title = title.clone().unwrap_or_else(|| current.title.clone());
        let new_body = body_text.clone().unwrap_or_else(|| current.body.clone());
        let bigrams = crate::domain::search::bigrams(&format!("{new_title}\n{new_body}"))
            .into_iter()
            .collect();
        Ok(StepOutcome {
            result: (),
            payload: serde_json::json!({"changed": {
                "title": title.is_some(), "body": body_text.is_some(),
                "address": b.address.is_some(), "attachments": b.attachments.is_some()}}),
            changes: MessageChanges {
                title,
                body: body_text,
                address: b.address.map(|a| a.trim().to_owned()),
                attachments: b
                    .attachments
                    .map(|a| serde_json::to_value(a).unwrap_or(Value::Array(vec![]))),
                search_bigrams: Some(bigrams),
                rejection_reason: Some(None),
                rejection_note: Some(None),
                duplicate_of: Some(None),
                ..Default::default()
            },
        })
    };
    let message = db
        .run(move |conn| {
            conn.transaction(|conn| {
                let (changed, ()) = transition::run(
                    conn,
                    &p,
                    id,
                    &cond,
                    MessageAction::Resubmit,
                    now,
                    None,
                    |_, current, _, _| amend(current),
                )?;
                // Early warning looks at the amended message in the same transaction.
                crate::store::alerts::evaluate_intake(conn, &changed, now)
            })
        })
        .await?;
    Ok(transitioned(&principal, message))
}

// ---------------------------------------------------------------------------------------------
// The ledger

/// One ledger event.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"seq": 1, "action": "submit", "actor_role": "citizen", "actor_id": null,
    "from_status": null, "to_status": "submitted", "payload": {"title": "庆阳路口红绿灯坏了"},
    "created_at": "2026-11-26T08:00:00Z", "prev_hash": "0000000000000000000000000000000000000000000000000000000000000000", "hash": "9f2c3b1a7e4d5c6b8a9f0e1d2c3b4a5f6e7d8c9b0a1f2e3d4c5b6a7f8e9d0c1b"}))]
pub struct EventDto {
    #[schema(format = Int32, minimum = 1)]
    pub seq: i32,
    pub action: MessageAction,
    #[schema(max_length = 20)]
    pub actor_role: String,
    /// The acting account (shown to staff only).
    pub actor_id: Option<UserId>,
    pub from_status: Option<MessageStatus>,
    pub to_status: Option<MessageStatus>,
    /// What the action recorded (its fields depend on the action).
    #[schema(value_type = Object)]
    pub payload: Value,
    pub created_at: DateTime<Utc>,
    /// SHA-256 (hex) of the previous event (zeros for the first).
    #[schema(max_length = 64, min_length = 64)]
    pub prev_hash: String,
    /// SHA-256 (hex) over `prev_hash` and this event's canonical encoding.
    #[schema(max_length = 64, min_length = 64)]
    pub hash: String,
}

crate::page_type!(
    EventPage,
    EventDto,
    "A page of ledger events, oldest first."
);

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListEventsQuery {
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100, format = Int32)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[param(max_length = 512)]
    pub cursor: Option<String>,
}

/// The ledger of a message, oldest first: every action with actor, role, status change and
/// payload, chained by hashes. Visible to the author and to staff who may see the message.
/// The author never sees internal working content (docs/ACCESS.md): reviews, supervision,
/// leaders' instructions, visit plans, alerts, deadline alarms and co-handlers' contributions
/// are left out (a gap in `seq`), and routing notes and other internal details are left out
/// of the payloads.
#[utoipa::path(
    operation_id = "list_message_events",
    tag = "messages",
    params(("id" = String, Path, format = Uuid, description = "Message id"), ListEventsQuery),
    responses(
        (status = 200, description = "A page of events", body = EventPage),
        (status = 404, description = "No such message, or not yours to see", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[get("/messages/{id}/events")]
pub async fn list_message_events(
    db: web::Data<Db>,
    principal: Principal,
    id: web::Path<String>,
    query: ApiQuery<ListEventsQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_message_id(&id)?;
    let page: PageRequest<i32> = PageRequest::new(query.limit, query.cursor.as_deref())?;
    let (_, access) = load_ledger_reader(&db, &principal, id).await?;
    let (limit, after) = (page.limit, page.after);
    let rows = db
        .run(move |conn| store::events(conn, id, after, page.fetch_limit()))
        .await?;
    let (rows, next_cursor) = finish_page(rows, limit, |e| e.seq);
    let show_actor = access == MessageAccess::Staff || principal.role != Role::Citizen;
    let classes = crate::app::access::ledger_classes(principal.role);
    // Internal events are left out for the author (their `seq` leaves a gap; the chain is
    // verified by `…/events/verify`), and internal details of the others.
    let items = rows
        .into_iter()
        .filter_map(|e| {
            let payload = crate::app::access::project_event(&e.action, &e.payload, classes)?;
            Some(EventDto {
                seq: e.seq,
                action: MessageAction::parse(&e.action).unwrap_or(MessageAction::Submit),
                actor_role: e.actor_role,
                actor_id: if show_actor { e.actor_id } else { None },
                from_status: e.from_status.as_deref().and_then(MessageStatus::parse),
                to_status: e.to_status.as_deref().and_then(MessageStatus::parse),
                payload,
                created_at: e.created_at,
                prev_hash: hex::encode(e.prev_hash),
                hash: hex::encode(e.hash),
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(EventPage { items, next_cursor }))
}

/// The ledger is for those inside the message: its author and staff in scope.
async fn load_ledger_reader(
    db: &Db,
    principal: &Principal,
    id: uuid::Uuid,
) -> Result<(Message, MessageAccess), ApiError> {
    let (message, access) = load_visible(db, principal, id).await?;
    if access == MessageAccess::Public {
        return Err(ApiError::not_found("message"));
    }
    Ok((message, access))
}

/// The result of recomputing a message's hash chain.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"valid": false, "events_checked": 3, "chain_head": "9f2c3b1a7e4d5c6b8a9f0e1d2c3b4a5f6e7d8c9b0a1f2e3d4c5b6a7f8e9d0c1b", "broken_at_seq": 2,
    "reason": "the event's content does not match its hash"}))]
pub struct ChainVerification {
    /// Whether every event matches its hash and links to the one before.
    pub valid: bool,
    #[schema(format = Int32, minimum = 0)]
    pub events_checked: i32,
    /// The head stored on the message (compare with the receipt).
    #[schema(max_length = 64)]
    pub chain_head: String,
    /// The first event that does not verify.
    #[schema(format = Int32)]
    pub broken_at_seq: Option<i32>,
    #[schema(max_length = 200)]
    pub reason: Option<String>,
}

/// Recompute a message's hash chain and say whether, and where, it breaks.
#[utoipa::path(
    operation_id = "verify_message_events",
    tag = "messages",
    params(("id" = String, Path, format = Uuid, description = "Message id")),
    responses(
        (status = 200, description = "The verdict", body = ChainVerification),
        (status = 404, description = "No such message, or not yours to see", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[get("/messages/{id}/events/verify")]
pub async fn verify_message_events(
    db: web::Data<Db>,
    principal: Principal,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_message_id(&id)?;
    let (message, _) = load_ledger_reader(&db, &principal, id).await?;
    let head = hex::encode(&message.chain_head);
    let count = message.event_count;
    let verdict = db
        .run(move |conn| store::verify_chain(conn, &message))
        .await?;
    Ok(HttpResponse::Ok().json(match verdict {
        Ok(n) => ChainVerification {
            valid: true,
            events_checked: i32::try_from(n).unwrap_or(count),
            chain_head: head,
            broken_at_seq: None,
            reason: None,
        },
        Err(b) => ChainVerification {
            valid: false,
            events_checked: count,
            chain_head: head,
            broken_at_seq: Some(b.seq),
            reason: Some(b.reason.to_owned()),
        },
    }))
}
