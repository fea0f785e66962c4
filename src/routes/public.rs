//! The public board (公开留言): for anyone, without an account. Public messages the liaison
//! office accepted, with their published replies, and each leader's counters; never anyone's
//! personal data. Responses carry a strong `ETag` (SHA-256 of the body) and
//! `Cache-Control: public, max-age=60`, so a CDN can serve them and revalidate with
//! `If-None-Match` (304).
//!
//! What is left out: author and staff ids, names and e-mails, the contact name and phone, the
//! address and location, private attachments, tags, rejection details, the ledger. Titles, bodies
//! and reply bodies are masked ([`personal_data::mask`]): phone and ID-card numbers, and the
//! author's name, e-mail, contact name, phone and address, and the names and e-mails of the staff
//! involved, become `***`.
//!
//! Credentials play no part: these operations ignore the `Authorization` header (a missing,
//! expired or malformed token is not an error), so every caller, and every cache, gets the same
//! answer.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, web};
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use crate::configuration::Settings;
use crate::db::Db;
use crate::domain::ids::{CategoryId, LeaderId};
use crate::domain::message::{MessageKind, MessageStatus, Visibility};
use crate::domain::personal_data;
use crate::domain::reply::ReplyKind;
use crate::error::ApiError;
use crate::http::extract::{ApiQuery, parse_path_id};
use crate::http::pagination::{PageRequest, finish_page};
use crate::http::preconditions::not_modified;
use crate::http::validate::validate_region_code;
use crate::routes::messages::{Attachment, MediaType};
use crate::store::messages::{self as messages_store, ListScope, Message, MessageFilter, SortBy};
use crate::store::public::{self as store, BoardContext};

/// How long browsers and shared caches may serve a board response without asking again. A minute
/// keeps the board fresh (a published reply shows within a minute) while a CDN absorbs the load;
/// after it, `If-None-Match` revalidation costs one query and no body.
pub const CACHE_CONTROL: &str = "public, max-age=60";

// ---------------------------------------------------------------------------------------------
// Wire types

/// The leader a message is addressed to (a public official).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"id": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0a3d", "name": "孙海洋", "title": "兰州市市长"}))]
pub struct PublicLeader {
    pub id: LeaderId,
    #[schema(max_length = 100)]
    pub name: String,
    #[schema(max_length = 200)]
    pub title: String,
}

/// A file attached to a message that its author made public.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"url": "https://files.example.gov.cn/2026/11/light.jpg", "media_type": "image/jpeg"}))]
pub struct PublicAttachment {
    /// An `https://` URL.
    #[schema(max_length = 500)]
    pub url: String,
    pub media_type: MediaType,
}

/// A published reply of the handling unit.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "kind": "final", "unit_name": "兰州市城关区人民政府",
    "body": "经现场核查，该路口信号灯控制器故障，已于11月20日更换，现已恢复正常。联系电话093*******88。",
    "published_at": "2026-11-27T06:30:00Z"
}))]
pub struct PublicReply {
    pub kind: ReplyKind,
    /// The reply, masked like the message (phone and ID-card numbers, the author's and staff's
    /// names). Masking a two-letter name makes it longer (`***`), hence the limit above the
    /// 10,000 characters of a reply.
    #[schema(max_length = 15000)]
    pub body: String,
    /// The replying unit's name as it was when the reply was published.
    #[schema(max_length = 200)]
    pub unit_name: String,
    pub published_at: DateTime<Utc>,
}

/// A message on the public board: public, accepted by the liaison office (or further along), with
/// its published replies, oldest first. Nobody's personal data: no author, contact, address or
/// location, no private attachment; the title and body are masked.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "tracking_no": "GS-2026-000123", "status": "replied",
    "leader": {"id": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0a3d", "name": "孙海洋", "title": "兰州市市长"},
    "category_id": "01930000-0000-7000-8000-000000000002", "kind": "complaint",
    "title": "庆阳路口红绿灯坏了",
    "body": "城关区庆阳路与酒泉路交叉口的红绿灯已经坏了三天，请尽快修理。我是***，电话138******00。",
    "region_code": "620102",
    "attachments": [{"url": "https://files.example.gov.cn/2026/11/light.jpg", "media_type": "image/jpeg"}],
    "submitted_at": "2026-11-16T01:20:00Z", "accepted_at": "2026-11-16T03:00:00Z",
    "replied_at": "2026-11-27T06:30:00Z", "closed_at": null,
    "replies": [{
        "kind": "final", "unit_name": "兰州市城关区人民政府",
        "body": "经现场核查，该路口信号灯控制器故障，已于11月20日更换，现已恢复正常。",
        "published_at": "2026-11-27T06:30:00Z"
    }]
}))]
pub struct PublicMessage {
    /// The message's tracking number (its address on the board).
    #[schema(max_length = 30, example = "GS-2026-000123")]
    pub tracking_no: String,
    /// `accepted`, `assigned`, `in_progress`, `awaiting_clarification`, `replied` or `closed`
    /// (the board shows nothing earlier).
    pub status: MessageStatus,
    pub leader: PublicLeader,
    pub category_id: CategoryId,
    pub kind: MessageKind,
    /// Masked; may exceed the 100 characters of a title by the masks (`***` for a two-letter
    /// name).
    #[schema(max_length = 150)]
    pub title: String,
    /// Masked; may exceed the 5,000 characters of a body by the masks.
    #[schema(max_length = 7500)]
    pub body: String,
    /// Where the matter is (GB/T 2260).
    #[schema(min_length = 6, max_length = 6, pattern = "^[0-9]{6}$")]
    pub region_code: String,
    /// The attachments the author made public (one whose URL carries personal data is left out).
    #[schema(max_items = 10)]
    pub attachments: Vec<PublicAttachment>,
    pub submitted_at: DateTime<Utc>,
    pub accepted_at: Option<DateTime<Utc>>,
    /// Publication of the latest final reply.
    pub replied_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    /// Published replies (interim and final), oldest first.
    #[schema(max_items = 100)]
    pub replies: Vec<PublicReply>,
}

crate::page_type!(
    PublicMessagePage,
    PublicMessage,
    "A page of the public board, newest first."
);

/// The counters a board shows next to a leader.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "leader_id": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0a3d", "received": 120, "replied": 96,
    "reply_rate": 0.8, "as_of": "2026-11-27T06:31:00Z"
}))]
pub struct LeaderStats {
    pub leader_id: LeaderId,
    /// Messages addressed to the leader that the liaison office accepted: status `accepted`,
    /// `assigned`, `in_progress`, `awaiting_clarification`, `replied` or `closed`, public and
    /// private alike (a count reveals nothing of a message). Submitted, rejected and withdrawn
    /// messages do not count.
    #[schema(format = Int64, minimum = 0)]
    pub received: i64,
    /// Of `received`, the messages whose final reply is published: status `replied` or `closed`.
    #[schema(format = Int64, minimum = 0)]
    pub replied: i64,
    /// `replied / received`, from 0 to 1 (unrounded); `null` when `received` is 0.
    #[schema(format = Double, minimum = 0, maximum = 1)]
    pub reply_rate: Option<f64>,
    /// The counts include every change up to this instant: the start of the minute they were
    /// taken in.
    pub as_of: DateTime<Utc>,
}

// ---------------------------------------------------------------------------------------------
// From stored rows to the board

/// Whether `url` carries personal data: a phone or ID-card number, or one of `known`.
pub(crate) fn url_reveals(url: &str, known: &[&str]) -> bool {
    !personal_data::find(url).is_empty() || known.iter().any(|k| url.contains(k))
}

fn to_public(m: Message, ctx: &BoardContext) -> PublicMessage {
    let known = ctx.known(&m);
    let attachments: Vec<Attachment> =
        serde_json::from_value(m.attachments.clone()).unwrap_or_default();
    let leader = ctx.leaders.get(&m.leader_id);
    let replies = ctx
        .replies
        .get(&m.id)
        .map(|rs| {
            rs.iter()
                .filter_map(|r| {
                    Some(PublicReply {
                        kind: r.kind,
                        body: personal_data::mask(&r.body, &known),
                        unit_name: r.unit_name.clone()?,
                        published_at: r.published_at?,
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    PublicMessage {
        tracking_no: m.tracking_no.clone(),
        status: m.status,
        leader: PublicLeader {
            id: m.leader_id,
            name: leader.map(|l| l.name.clone()).unwrap_or_default(),
            title: leader.map(|l| l.title.clone()).unwrap_or_default(),
        },
        category_id: m.category_id,
        kind: m.kind,
        title: personal_data::mask(&m.title, &known),
        body: personal_data::mask(&m.body, &known),
        region_code: m.region_code.clone(),
        attachments: attachments
            .into_iter()
            .filter(|a| !a.private && !url_reveals(&a.url, &known))
            .map(|a| PublicAttachment {
                url: a.url,
                media_type: a.media_type,
            })
            .collect(),
        submitted_at: m.submitted_at,
        accepted_at: m.accepted_at,
        replied_at: m.replied_at,
        closed_at: m.closed_at,
        replies,
    }
}

/// Whether the board shows this message.
fn on_board(m: &Message) -> bool {
    m.visibility == Visibility::Public && messages_store::PUBLICLY_VISIBLE.contains(&m.status)
}

/// 200 with the body, a strong ETag over its bytes and the caching headers; 304 (same headers,
/// no body) when `If-None-Match` names the ETag.
pub(crate) fn cacheable<T: Serialize>(
    req: &HttpRequest,
    body: &T,
) -> Result<HttpResponse, ApiError> {
    let bytes = serde_json::to_vec(body).map_err(|e| ApiError::Internal(e.to_string()))?;
    let tag = format!("\"{}\"", hex::encode(Sha256::digest(&bytes)));
    let unchanged = not_modified(req, &tag)?;
    let mut builder = if unchanged {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    builder
        .insert_header((header::ETAG, tag))
        .insert_header((header::CACHE_CONTROL, CACHE_CONTROL));
    Ok(if unchanged {
        builder.finish()
    } else {
        builder
            .content_type(header::ContentType::json())
            .body(bytes)
    })
}

// ---------------------------------------------------------------------------------------------
// Operations

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PublicMessagesQuery {
    /// Messages addressed to this leader.
    pub leader_id: Option<LeaderId>,
    /// Messages in this region or below it.
    #[param(min_length = 6, max_length = 6, pattern = "^[0-9]{6}$")]
    #[validate(custom(function = "validate_region_code"))]
    pub region_code: Option<String>,
    pub category_id: Option<CategoryId>,
    /// `true`: only messages with a published final reply (`replied`, `closed`); `false`: only
    /// those still being handled.
    pub replied: Option<bool>,
    /// Text in the title or body as the board shows them (at least two letters or digits;
    /// Chinese works). Masked text does not match, so a page may hold fewer than `limit` items
    /// before the last: follow `next_cursor` until it is `null`.
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
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100, format = Int32)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[param(max_length = 512)]
    pub cursor: Option<String>,
}

/// The public board: public messages the liaison office accepted (or further along), newest
/// submitted first, with their published replies. No account needed; nobody's personal data.
#[utoipa::path(
    operation_id = "list_public_messages",
    tag = "public",
    params(PublicMessagesQuery),
    responses(
        (status = 200, description = "A page of the board", body = PublicMessagePage,
            headers(("ETag" = String, description = "Strong entity tag: the quoted SHA-256 (hex) of the response body"),
                    ("Cache-Control" = String, description = "`public, max-age=60`: browsers and shared caches (CDNs) may serve the response for a minute"))),
        (status = 304, description = "Not modified: `If-None-Match` names the current ETag",
            headers(("ETag" = String, description = "Strong entity tag: the quoted SHA-256 (hex) of the response body"),
                    ("Cache-Control" = String, description = "`public, max-age=60`: browsers and shared caches (CDNs) may serve the response for a minute")))
    )
)]
#[get("/public/messages")]
pub async fn list_public_messages(
    req: HttpRequest,
    db: web::Data<Db>,
    query: ApiQuery<PublicMessagesQuery>,
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
    let needle = search.as_ref().map(|(_, text)| text.to_lowercase());
    // A search may read many rows: it runs under the expensive-read budget (`db::expensive`).
    let expensive = search.is_some();
    let job = move |conn: &mut diesel::PgConnection| {
        let filter = MessageFilter {
            leader_id: q.leader_id,
            region_path: match &q.region_code {
                Some(code) => Some(crate::store::regions::path_of(conn, code)?),
                None => None,
            },
            category_id: q.category_id,
            replied: q.replied,
            search,
            ..Default::default()
        };
        let rows = messages_store::list(
            conn,
            &ListScope::PublicOnly,
            &filter,
            SortBy::Submitted,
            &page,
        )?;
        let (rows, next_cursor) = finish_page(rows, limit, |m| (m.submitted_at, m.id));
        let ctx = store::context(conn, &rows)?;
        Ok::<_, ApiError>((rows, next_cursor, ctx))
    };
    let (rows, next_cursor, ctx) = if expensive {
        db.run_expensive(job).await?
    } else {
        db.run(job).await?
    };
    let items = rows
        .into_iter()
        .filter(on_board)
        .map(|m| to_public(m, &ctx))
        // The search ran over the stored text; keep only what matches the text as shown, so the
        // search cannot tell whether a masked name or number is in a message.
        .filter(|pm| {
            needle.as_deref().is_none_or(|n| {
                pm.title.to_lowercase().contains(n) || pm.body.to_lowercase().contains(n)
            })
        })
        .collect();
    cacheable(&req, &PublicMessagePage { items, next_cursor })
}

/// One message of the public board, by tracking number. A message the board does not show
/// (private, not yet accepted, rejected, withdrawn) is answered exactly like one that does not
/// exist.
#[utoipa::path(
    operation_id = "get_public_message",
    tag = "public",
    params(("tracking_no" = String, Path, max_length = 30, description = "Tracking number, e.g. GS-2026-000123")),
    responses(
        (status = 200, description = "The message", body = PublicMessage,
            headers(("ETag" = String, description = "Strong entity tag: the quoted SHA-256 (hex) of the response body"),
                    ("Cache-Control" = String, description = "`public, max-age=60`: browsers and shared caches (CDNs) may serve the response for a minute"))),
        (status = 304, description = "Not modified: `If-None-Match` names the current ETag",
            headers(("ETag" = String, description = "Strong entity tag: the quoted SHA-256 (hex) of the response body"),
                    ("Cache-Control" = String, description = "`public, max-age=60`: browsers and shared caches (CDNs) may serve the response for a minute"))),
        (status = 404, description = "No such message on the board",
            body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[get("/public/messages/{tracking_no}")]
pub async fn get_public_message(
    req: HttpRequest,
    db: web::Data<Db>,
    tracking_no: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let tn = tracking_no.into_inner().trim().to_uppercase();
    if tn.len() > 30 {
        return Err(ApiError::not_found("message"));
    }
    let (message, ctx) = db
        .run(move |conn| {
            let Some(m) = messages_store::get_by_tracking_no(conn, &tn)?.filter(on_board) else {
                return Err(ApiError::not_found("message"));
            };
            let ctx = store::context(conn, std::slice::from_ref(&m))?;
            Ok((m, ctx))
        })
        .await?;
    cacheable(&req, &to_public(message, &ctx))
}

/// The counters a board shows next to a leader: messages received and replied, and the reply
/// rate. No account needed.
#[utoipa::path(
    operation_id = "get_public_leader_stats",
    tag = "public",
    params(("id" = String, Path, format = Uuid, description = "Leader id")),
    responses(
        (status = 200, description = "The leader's counters", body = LeaderStats,
            headers(("ETag" = String, description = "Strong entity tag: the quoted SHA-256 (hex) of the response body"),
                    ("Cache-Control" = String, description = "`public, max-age=60`: browsers and shared caches (CDNs) may serve the response for a minute"))),
        (status = 304, description = "Not modified: `If-None-Match` names the current ETag",
            headers(("ETag" = String, description = "Strong entity tag: the quoted SHA-256 (hex) of the response body"),
                    ("Cache-Control" = String, description = "`public, max-age=60`: browsers and shared caches (CDNs) may serve the response for a minute"))),
        (status = 404, description = "No such leader",
            body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[get("/public/leaders/{id}/stats")]
pub async fn get_public_leader_stats(
    req: HttpRequest,
    db: web::Data<Db>,
    settings: web::Data<Settings>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let leader_id: LeaderId = parse_path_id(&id, "leader")?;
    // Whole minutes: the body, and so the ETag, stays the same while the counts do.
    let now = settings.clock.now();
    let as_of = now.duration_trunc(TimeDelta::minutes(1)).unwrap_or(now);
    let counts = db
        .run(move |conn| store::leader_counts(conn, leader_id))
        .await?
        .ok_or_else(|| ApiError::not_found("leader"))?;
    let reply_rate = (counts.received > 0).then(|| counts.replied as f64 / counts.received as f64);
    cacheable(
        &req,
        &LeaderStats {
            leader_id,
            received: counts.received,
            replied: counts.replied,
            reply_rate,
            as_of,
        },
    )
}
