//! Open311 GeoReport v2 facade at `/open311/v2`, so that existing Open311 clients can file and
//! follow messages unchanged; plus mySociety's `servicerequestupdates` extension for replies.
//!
//! What maps to what:
//! - a **service** is an active category (`service_code` = the category's code);
//! - a **service request** is a message (`service_request_id` = its tracking number). Only
//!   messages of the public board are read (public, accepted or further along), exactly as
//!   `GET /api/v1/public/messages` shows them: texts masked, never contact data (name, phone,
//!   e-mail);
//! - `jurisdiction_id` is a leader's id: messages in liuyan are addressed to a leader whose
//!   intake unit (liaison office) handles them. Required when filing; a filter when reading;
//!   ignored by the service list (every leader takes every category);
//! - `status` is `open` until the final reply is published, then `closed` (see
//!   [`crate::domain::open311::status_of`]); `status_notes` is the final reply's text once
//!   closed, else what our status means; `expected_datetime` is the reply deadline;
//!   `agency_responsible` the lead unit (the liaison office until one is assigned);
//! - an **update** (`servicerequestupdates.json`) is a published reply, interim or final.
//!
//! Errors are Open311's `[{"code": …, "description": …}]` arrays (content type
//! `application/json`), not problem+json: unchanged Open311 clients parse those. Every error
//! under `/open311/` is rewritten so, including the framework's own (`http::problem`). Only
//! JSON is served: a `.xml` URL is 404 saying so.
//!
//! Filing needs an `api_key`: an access token of an integration client holding `sync:write`,
//! as the `api_key` form field (or query parameter), or as `Authorization: Bearer`.

use std::collections::HashMap;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, ResponseError, get, post, web};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use crate::app::intake::{self, Addressable, Intake};
use crate::auth::principal::{Identity, identify};
use crate::auth::{Permission, Principal};
use crate::configuration::Settings;
use crate::db::Db;
use crate::domain::client_scope::ClientScope;
use crate::domain::ids::{LeaderId, UnitId};
use crate::domain::message::{MessageKind, MessageSource, Visibility};
use crate::domain::open311::{self as rules, Open311Status};
use crate::domain::personal_data;
use crate::domain::reply::ReplyKind;
use crate::error::ApiError;
use crate::http::pagination::PageRequest;
use crate::routes::public::{cacheable, url_reveals};
use crate::store::messages::{
    self as messages_store, ListScope, Message, MessageFilter, NewMessage, SortBy,
};
use crate::store::open311::{self as store, Service};
use crate::store::public::{self as board, BoardContext};

/// Where the facade is mounted.
pub const PREFIX: &str = "/open311/v2";
const SPECIFICATION: &str = "http://wiki.open311.org/GeoReport_v2";
const CHANGESET: &str = "2026-11-26T00:00:00Z";

// ---------------------------------------------------------------------------------------------
// Errors

/// One error, as GeoReport v2 writes them; responses carry a list of these.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"code": 403, "description": "Invalid api_key received -- can't proceed with create_request."}))]
pub struct Open311Error {
    /// The HTTP status of the response.
    #[schema(format = Int32, minimum = 400, maximum = 599)]
    pub code: u16,
    /// What went wrong.
    #[schema(max_length = 2000)]
    pub description: String,
}

/// A failed request: its status and the errors, answered as an Open311 error array.
#[derive(Debug)]
pub struct Open311Failure {
    pub status: StatusCode,
    pub descriptions: Vec<String>,
    /// `Retry-After` for 429 and 503.
    pub retry_after: Option<u64>,
}

impl Open311Failure {
    pub fn new(status: StatusCode, description: impl Into<String>) -> Self {
        Open311Failure {
            status,
            descriptions: vec![description.into()],
            retry_after: None,
        }
    }

    fn bad_request(descriptions: Vec<String>) -> Self {
        Open311Failure {
            status: StatusCode::BAD_REQUEST,
            descriptions,
            retry_after: None,
        }
    }

    fn forbidden(description: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, description)
    }

    fn not_found(description: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, description)
    }

    pub fn body(&self) -> Vec<Open311Error> {
        self.descriptions
            .iter()
            .map(|d| Open311Error {
                code: self.status.as_u16(),
                description: d.clone(),
            })
            .collect()
    }
}

impl std::fmt::Display for Open311Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.status, self.descriptions.join("; "))
    }
}

impl ResponseError for Open311Failure {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut resp = HttpResponse::build(self.status);
        if let Some(secs) = self.retry_after {
            resp.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        resp.content_type(header::ContentType::json())
            .json(self.body())
    }
}

/// Our field names as the Open311 form calls them.
fn open311_field(field: &str) -> &str {
    match field {
        "leader_id" | "region_code" => "jurisdiction_id",
        "category_id" => "service_code",
        "body" => "description",
        "address" => "address_string",
        "contact_phone" => "phone",
        "contact_name" => "first_name/last_name",
        "location" | "location.lat" | "location.lon" => "lat/long",
        "attachments" => "media_url",
        other => other,
    }
}

impl From<ApiError> for Open311Failure {
    fn from(e: ApiError) -> Self {
        let status = e.kind().status;
        let descriptions = match &e {
            ApiError::Validation { errors, .. } => errors
                .iter()
                .map(|f| format!("{}: {}", open311_field(&f.field), f.message))
                .collect(),
            ApiError::Internal(msg) => {
                tracing::error!(error = %msg, "internal error");
                vec!["The server failed to handle the request; it has been logged.".to_owned()]
            }
            other => vec![other.to_string()],
        };
        // Validation failures of a form are 400 in Open311.
        let status = if status == StatusCode::UNPROCESSABLE_ENTITY {
            StatusCode::BAD_REQUEST
        } else {
            status
        };
        let retry_after = match &e {
            ApiError::RateLimited {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            ApiError::ServiceUnavailable(_) => Some(1),
            _ => None,
        };
        Open311Failure {
            status,
            descriptions,
            retry_after,
        }
    }
}

type Open311Result = Result<HttpResponse, Open311Failure>;

// ---------------------------------------------------------------------------------------------
// Wire types

/// One API endpoint in the discovery document.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DiscoveryEndpoint {
    /// The spec this endpoint implements.
    #[schema(max_length = 200)]
    pub specification: String,
    /// Base URL of the endpoint.
    #[schema(max_length = 2000)]
    pub url: String,
    pub changeset: DateTime<Utc>,
    /// `production`.
    #[serde(rename = "type")]
    #[schema(max_length = 20)]
    pub endpoint_type: String,
    /// `application/json` only.
    #[schema(max_items = 1)]
    pub formats: Vec<String>,
}

/// The service discovery document.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "changeset": "2026-11-26T00:00:00Z",
    "contact": "liuyan maintainers <liuyan@example.org>",
    "key_service": "An api_key is an access token of an integration client with the scope sync:write: POST /api/v1/auth/token {\"grant_type\":\"client_credentials\",…}. Ask the administrators for a client.",
    "jurisdiction_id": "A leader's id (GET /api/v1/leaders): messages are addressed to a leader, whose liaison office handles them.",
    "endpoints": [{
        "specification": "http://wiki.open311.org/GeoReport_v2",
        "url": "https://liuyan.example.gov.cn/open311/v2",
        "changeset": "2026-11-26T00:00:00Z", "type": "production", "formats": ["application/json"]
    }]
}))]
pub struct Discovery {
    pub changeset: DateTime<Utc>,
    #[schema(max_length = 200)]
    pub contact: String,
    /// How to get an `api_key`.
    #[schema(max_length = 500)]
    pub key_service: String,
    /// What `jurisdiction_id` means here (an extension of the discovery document).
    #[schema(max_length = 500)]
    pub jurisdiction_id: String,
    #[schema(max_items = 1)]
    pub endpoints: Vec<DiscoveryEndpoint>,
}

/// A service: one of our categories.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "service_code": "transport", "service_name": "交通运输", "description": "Transport",
    "metadata": true, "type": "realtime", "keywords": "交通运输, transport", "group": "领导留言"
}))]
pub struct Open311Service {
    /// The category's code.
    #[schema(max_length = 50)]
    pub service_code: String,
    #[schema(max_length = 100)]
    pub service_name: String,
    #[schema(max_length = 1000)]
    pub description: String,
    /// Always `true`: every service has the optional `kind` attribute (see its definition).
    pub metadata: bool,
    /// Always `realtime`: a request gets its `service_request_id` at once.
    #[serde(rename = "type")]
    #[schema(max_length = 20)]
    pub service_type: String,
    /// Comma-separated.
    #[schema(max_length = 200)]
    pub keywords: String,
    #[schema(max_length = 50)]
    pub group: String,
}

/// One allowed value of a list attribute.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AttributeValue {
    #[schema(max_length = 50)]
    pub key: String,
    #[schema(max_length = 50)]
    pub name: String,
}

/// An attribute a request of the service may carry (`attribute[code]` in the form).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ServiceAttribute {
    /// `true`: the client asks the reporter for it.
    pub variable: bool,
    #[schema(max_length = 50)]
    pub code: String,
    /// `singlevaluelist` here.
    #[schema(max_length = 30)]
    pub datatype: String,
    pub required: bool,
    #[schema(max_length = 500)]
    pub datatype_description: Option<String>,
    #[schema(format = Int32, minimum = 1)]
    pub order: i32,
    #[schema(max_length = 500)]
    pub description: String,
    #[schema(max_items = 10)]
    pub values: Vec<AttributeValue>,
}

/// A service definition: the attributes of a service's requests.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "service_code": "transport",
    "attributes": [{
        "variable": true, "code": "kind", "datatype": "singlevaluelist", "required": false,
        "datatype_description": "One of the keys; help_request when absent.", "order": 1,
        "description": "留言类型 (kind of message)",
        "values": [{"key": "consultation", "name": "咨询"}, {"key": "suggestion", "name": "建议"},
                   {"key": "complaint", "name": "投诉"}, {"key": "help_request", "name": "求助"}]
    }]
}))]
pub struct ServiceDefinition {
    #[schema(max_length = 50)]
    pub service_code: String,
    #[schema(max_items = 10)]
    pub attributes: Vec<ServiceAttribute>,
}

/// The form of `POST requests.json` (`application/x-www-form-urlencoded`, as GeoReport v2
/// says). Unknown fields are ignored.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "api_key": "eyJhbGciOiJFZERTQSIsImtpZCI6IjEifQ.eyJzdWIiOiIwMTkzNmYwMCJ9.c2lnbmF0dXJl",
    "jurisdiction_id": "151424a0-df58-5f74-b5e3-44df75c0934f",
    "service_code": "transport",
    "lat": "36.0611", "long": "103.8343",
    "address_string": "城关区庆阳路与酒泉路交叉口",
    "description": "庆阳路与酒泉路交叉口的红绿灯坏了三天，早晚高峰非常拥堵，请尽快修理。",
    "first_name": "三", "last_name": "张", "phone": "13800138000", "email": "zhangsan@example.cn",
    "media_url": "https://files.example.gov.cn/2026/11/light.jpg",
    "attribute[kind]": "complaint"
}))]
pub struct CreateServiceRequest {
    /// Access token of an integration client with `sync:write` (or send it as
    /// `Authorization: Bearer`).
    #[schema(nullable = false, max_length = 4096)]
    pub api_key: Option<String>,
    /// The id of the leader the message is addressed to.
    #[schema(nullable = false, format = Uuid)]
    pub jurisdiction_id: String,
    /// A service's code (`services.json`).
    #[schema(min_length = 1, max_length = 50)]
    pub service_code: String,
    /// Decimal degrees (WGS 84), -90 to 90; with `long`. Either `lat` and `long` or
    /// `address_string`.
    #[schema(
        nullable = false,
        max_length = 30,
        pattern = r"^[+-]?[0-9]{1,3}(\.[0-9]{1,20})?$"
    )]
    pub lat: Option<String>,
    /// Decimal degrees (WGS 84), -180 to 180; with `lat`.
    #[schema(
        nullable = false,
        max_length = 30,
        pattern = r"^[+-]?[0-9]{1,3}(\.[0-9]{1,20})?$"
    )]
    pub long: Option<String>,
    /// Where the matter is.
    #[schema(
        nullable = false,
        max_length = 200,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$"
    )]
    pub address_string: Option<String>,
    /// Accepted and ignored.
    #[schema(nullable = false, max_length = 100)]
    pub address_id: Option<String>,
    /// Accepted and never stored nor shown (we keep no contact e-mail).
    #[schema(nullable = false, max_length = 254)]
    pub email: Option<String>,
    /// Accepted and ignored.
    #[schema(nullable = false, max_length = 100)]
    pub device_id: Option<String>,
    /// Accepted and ignored.
    #[schema(nullable = false, max_length = 100)]
    pub account_id: Option<String>,
    /// With `last_name`, stored as the contact name: seen only by the staff handling it.
    #[schema(
        nullable = false,
        max_length = 24,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$"
    )]
    pub first_name: Option<String>,
    #[schema(
        nullable = false,
        max_length = 24,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$"
    )]
    pub last_name: Option<String>,
    /// A mainland mobile or landline number: seen only by the staff handling it.
    #[schema(
        nullable = false,
        max_length = 13,
        pattern = "^(1[3-9][0-9]{9}|0[0-9]{2,3}-?[0-9]{7,8})$"
    )]
    pub phone: Option<String>,
    /// 10 to 4,000 characters; its first line becomes the message's title.
    #[schema(
        nullable = false,
        min_length = 10,
        max_length = 4000,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    pub description: String,
    /// An `https://` URL (at most 500 characters) of a JPEG, PNG, WebP, PDF, MP4 or MP3 file,
    /// shown publicly: on a public host (the attachment rule: no credentials, no non-public IP
    /// address, no `localhost`-like or single-label name).
    #[schema(
        nullable = false,
        max_length = 500,
        pattern = r"^https://[^/\s\[\]?#\u0000-\u001F\u007F-\u009F][^\s\[\]?#\u0000-\u001F\u007F-\u009F]*\.(jpg|jpeg|png|webp|pdf|mp4|mp3|JPG|JPEG|PNG|WEBP|PDF|MP4|MP3)([?#][^\s\[\]\u0000-\u001F\u007F-\u009F]*)?$"
    )]
    pub media_url: Option<String>,
    /// The `kind` attribute (default `help_request`).
    #[serde(rename = "attribute[kind]")]
    #[schema(nullable = false)]
    pub attribute_kind: Option<MessageKind>,
}

/// The answer to a filed request.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "service_request_id": "GS-2026-000123",
    "service_notice": "已收到。联络办受理后，可在 requests.json 中查询。",
    "account_id": null
}))]
pub struct CreatedServiceRequest {
    /// Our tracking number.
    #[schema(max_length = 30)]
    pub service_request_id: String,
    #[schema(max_length = 500)]
    pub service_notice: Option<String>,
    #[schema(max_length = 100)]
    pub account_id: Option<String>,
}

/// `open` or `closed`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RequestStatus {
    Open,
    Closed,
}

impl From<Open311Status> for RequestStatus {
    fn from(s: Open311Status) -> Self {
        match s {
            Open311Status::Open => RequestStatus::Open,
            Open311Status::Closed => RequestStatus::Closed,
        }
    }
}

/// A service request: a message of the public board.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "service_request_id": "GS-2026-000123", "status": "closed",
    "status_notes": "经核实，该路口信号灯因线路老化损坏，已更换线路并恢复正常运行。",
    "service_name": "交通运输", "service_code": "transport",
    "description": "庆阳路与酒泉路交叉口的红绿灯坏了三天，请尽快修理。",
    "agency_responsible": "兰州市交通运输局", "service_notice": null,
    "requested_datetime": "2026-11-23T01:00:00Z", "updated_datetime": "2026-11-25T06:30:00Z",
    "expected_datetime": "2026-12-07T09:59:59Z",
    "address": "城关区庆阳路与酒泉路交叉口", "address_id": null, "zipcode": null,
    "lat": 36.0611, "long": 103.8343, "media_url": "https://files.example.gov.cn/2026/11/light.jpg"
}))]
pub struct ServiceRequest {
    /// Our tracking number.
    #[schema(max_length = 30)]
    pub service_request_id: String,
    pub status: RequestStatus,
    /// Once closed, the final reply's text; before, what our status means.
    #[schema(max_length = 20000)]
    pub status_notes: Option<String>,
    #[schema(max_length = 100)]
    pub service_name: Option<String>,
    #[schema(max_length = 50)]
    pub service_code: Option<String>,
    /// The message's text as the public board shows it (personal data masked).
    #[schema(max_length = 7500)]
    pub description: String,
    /// The lead unit; the liaison office until one is assigned.
    #[schema(max_length = 200)]
    pub agency_responsible: Option<String>,
    #[schema(max_length = 500)]
    pub service_notice: Option<String>,
    /// When it was submitted.
    pub requested_datetime: DateTime<Utc>,
    /// Its last activity.
    pub updated_datetime: DateTime<Utc>,
    /// The reply deadline (null while none runs or its clock is paused).
    pub expected_datetime: Option<DateTime<Utc>>,
    #[schema(max_length = 200)]
    pub address: Option<String>,
    #[schema(max_length = 100)]
    pub address_id: Option<String>,
    #[schema(max_length = 20)]
    pub zipcode: Option<String>,
    #[schema(format = Double, minimum = -90, maximum = 90)]
    pub lat: Option<f64>,
    #[schema(format = Double, minimum = -180, maximum = 180)]
    pub long: Option<f64>,
    /// The first public attachment.
    #[schema(max_length = 500)]
    pub media_url: Option<String>,
}

/// An update of a request (mySociety's extension): one published reply.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "update_id": "0193b4c5-7d8e-7f90-8a1b-2c3d4e5f6a7b", "service_request_id": "GS-2026-000123",
    "status": "closed", "updated_datetime": "2026-11-25T06:30:00Z",
    "description": "经核实，该路口信号灯因线路老化损坏，已更换线路并恢复正常运行。",
    "media_url": null
}))]
pub struct ServiceRequestUpdate {
    /// The reply's id.
    #[schema(max_length = 36)]
    pub update_id: String,
    #[schema(max_length = 30)]
    pub service_request_id: String,
    /// The request's status after this update: `closed` for a final reply, `open` for an
    /// interim one.
    pub status: RequestStatus,
    /// When the reply was published.
    pub updated_datetime: DateTime<Utc>,
    /// The reply's text (personal data masked).
    #[schema(max_length = 15000)]
    pub description: String,
    /// The reply's first attachment.
    #[schema(max_length = 500)]
    pub media_url: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Parameters

/// Query or form pairs, in order.
struct Params(Vec<(String, String)>);

impl Params {
    fn parse(raw: &[u8]) -> Self {
        Params(
            form_urlencoded::parse(raw)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The last non-empty value of `name`.
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, v)| k == name && !v.trim().is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// The last value of `name` as sent, empty or not.
    fn raw(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// 400 when a name or value cannot be stored (a NUL character, a far date).
    fn require_storable(&self) -> Result<(), Open311Failure> {
        for (k, v) in &self.0 {
            if let Some(why) = crate::domain::input::check(k).or(crate::domain::input::check(v)) {
                return Err(Open311Failure::bad_request(vec![format!(
                    "{} {}",
                    k.replace('\0', "\\0"),
                    why.describe()
                )]));
            }
        }
        Ok(())
    }

    fn all(&self, name: &str) -> impl Iterator<Item = &str> {
        self.0
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

fn parse_jurisdiction(raw: &str) -> Result<LeaderId, String> {
    raw.trim().parse::<LeaderId>().map_err(|_| {
        format!("jurisdiction_id `{raw}` is not a jurisdiction here: send a leader's id (a UUID)")
    })
}

fn parse_limit(p: &Params) -> Result<i64, String> {
    match p.get("limit") {
        None => Ok(i64::from(rules::DEFAULT_LIMIT)),
        Some(raw) => match raw.trim().parse::<u32>() {
            Ok(n) if (1..=rules::MAX_LIMIT).contains(&n) => Ok(i64::from(n)),
            _ => Err(format!(
                "limit must be an integer from 1 to {}",
                rules::MAX_LIMIT
            )),
        },
    }
}

fn parse_date(p: &Params, name: &str, errors: &mut Vec<String>) -> Option<DateTime<Utc>> {
    // An empty value is not a date either (it does not mean "no filter").
    let raw = p.raw(name)?;
    let parsed = rules::parse_datetime(raw);
    if parsed.is_none() {
        errors.push(format!(
            "{name} `{raw}` is not a W3C date-time (e.g. 2010-05-24T00:00:00Z)"
        ));
    }
    parsed
}

/// The window `[start, end]` of a search: defaults to the 90 days before `end_date` (or now);
/// `span_cap` limits its length to 90 days.
fn window(
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    span_cap: bool,
) -> Result<(DateTime<Utc>, DateTime<Utc>), String> {
    let span = Duration::days(rules::MAX_RANGE_DAYS);
    let (s, e) = match (start, end) {
        (None, None) => (now - span, now),
        (Some(s), None) => (s, if span_cap { s + span } else { now.max(s) }),
        (None, Some(e)) => (e - span, e),
        (Some(s), Some(e)) => (s, e),
    };
    if s > e {
        return Err("start_date must not be after end_date".into());
    }
    if span_cap && e - s > span {
        return Err(format!(
            "start_date to end_date may not span more than {} days",
            rules::MAX_RANGE_DAYS
        ));
    }
    Ok((s, e))
}

// ---------------------------------------------------------------------------------------------
// From stored rows to requests

struct RequestContext {
    board: BoardContext,
    services: HashMap<crate::domain::ids::CategoryId, Service>,
    units: HashMap<UnitId, String>,
    due: HashMap<crate::store::messages::MessageId, Option<DateTime<Utc>>>,
}

fn load_context(
    conn: &mut diesel::PgConnection,
    rows: &[Message],
) -> Result<RequestContext, ApiError> {
    let board = board::context(conn, rows)?;
    let mut category_ids: Vec<_> = rows.iter().map(|m| m.category_id).collect();
    category_ids.sort_by_key(|c| c.0);
    category_ids.dedup();
    let mut unit_ids: Vec<UnitId> = rows
        .iter()
        .map(|m| m.unit_id.unwrap_or(m.intake_unit_id))
        .collect();
    unit_ids.sort_by_key(|u| u.0);
    unit_ids.dedup();
    let ids: Vec<_> = rows.iter().map(|m| m.id).collect();
    Ok(RequestContext {
        board,
        services: store::services_by_id(conn, &category_ids)?,
        units: store::unit_names(conn, &unit_ids)?,
        due: store::reply_due(conn, &ids)?,
    })
}

/// The first attachment of `attachments` the public may see, unless its URL reveals personal
/// data.
fn first_public_media(attachments: &serde_json::Value, known: &[&str]) -> Option<String> {
    attachments.as_array()?.iter().find_map(|a| {
        let url = a.get("url")?.as_str()?;
        let private = a.get("private").and_then(|p| p.as_bool()).unwrap_or(false);
        (!private && !url_reveals(url, known)).then(|| url.to_owned())
    })
}

fn to_request(m: &Message, ctx: &RequestContext) -> ServiceRequest {
    let known = ctx.board.known(m);
    let status = rules::status_of(m.status);
    let final_reply = ctx.board.replies.get(&m.id).and_then(|rs| {
        rs.iter()
            .rev()
            .find(|r| r.kind == ReplyKind::Final)
            .map(|r| personal_data::mask(&r.body, &known))
    });
    let status_notes = match (status, final_reply) {
        (Open311Status::Closed, Some(text)) => text,
        _ => rules::status_note(m.status).to_owned(),
    };
    let service = ctx.services.get(&m.category_id);
    // The board keeps a message's address and location private (they may be the author's
    // home); only a request filed through this facade, a public report of where something is
    // wrong, shows them.
    let located = rules::filed_through_open311(
        m.source,
        m.author_id.is_some(),
        m.registered_by.is_some(),
        m.external_source.is_some(),
    );
    let location = m.location_lat.zip(m.location_lon).filter(|_| located);
    ServiceRequest {
        service_request_id: m.tracking_no.clone(),
        status: status.into(),
        status_notes: Some(status_notes),
        service_name: service.map(|s| s.name.clone()),
        service_code: service.map(|s| s.code.clone()),
        description: personal_data::mask(&m.body, &known),
        agency_responsible: ctx
            .units
            .get(&m.unit_id.unwrap_or(m.intake_unit_id))
            .cloned(),
        service_notice: None,
        requested_datetime: m.submitted_at,
        updated_datetime: m.last_activity_at,
        expected_datetime: ctx.due.get(&m.id).copied().flatten(),
        address: (located && !m.address.trim().is_empty()).then(|| m.address.clone()),
        address_id: None,
        zipcode: None,
        lat: location.map(|l| l.0),
        long: location.map(|l| l.1),
        media_url: first_public_media(&m.attachments, &known),
    }
}

// ---------------------------------------------------------------------------------------------
// Operations

/// The service discovery document: where the GeoReport v2 endpoint is, its formats, and what
/// `jurisdiction_id` and `api_key` mean here.
#[utoipa::path(
    operation_id = "open311_discovery",
    tag = "open311",
    responses(
        (status = 200, description = "The discovery document", body = Discovery),
        (status = 429, description = "Rate limit reached", body = [Open311Error],
            headers(("Retry-After" = String, description = "Seconds to wait before retrying")))
    )
)]
#[get("/discovery.json")]
pub async fn open311_discovery(req: HttpRequest) -> Open311Result {
    let info = req.connection_info().clone();
    let changeset = rules::parse_datetime(CHANGESET).unwrap_or_default();
    Ok(HttpResponse::Ok().json(Discovery {
        changeset,
        contact: "liuyan maintainers <liuyan@example.org>".into(),
        key_service: "An api_key is an access token of an integration client holding the scope \
                      sync:write (POST /api/v1/auth/token with grant_type=client_credentials); \
                      administrators create clients at /api/v1/integration-clients."
            .into(),
        jurisdiction_id: "A leader's id (GET /api/v1/leaders): a message is addressed to a \
                          leader, whose liaison office handles it. Required to file a request."
            .into(),
        endpoints: vec![DiscoveryEndpoint {
            specification: SPECIFICATION.into(),
            url: format!("{}://{}{PREFIX}", info.scheme(), info.host()),
            changeset,
            endpoint_type: "production".into(),
            formats: vec!["application/json".into()],
        }],
    }))
}

/// The services: our active categories, in their display order. `jurisdiction_id` is accepted
/// and ignored (every leader takes every category).
#[utoipa::path(
    operation_id = "open311_list_services",
    tag = "open311",
    params(("jurisdiction_id" = Option<String>, Query, description = "Accepted and ignored: every jurisdiction (leader) offers every service")),
    responses(
        (status = 200, description = "The services", body = [Open311Service],
            headers(("ETag" = String, description = "Entity tag of the body"), ("Cache-Control" = String, description = "`public, max-age=60`"))),
        (status = 304, description = "Not modified: `If-None-Match` names the current ETag"),
        (status = 400, description = "Bad parameters", body = [Open311Error]),
        (status = 429, description = "Rate limit reached", body = [Open311Error],
            headers(("Retry-After" = String, description = "Seconds to wait before retrying"))),
        (status = 503, description = "The database is unreachable; retry shortly", body = [Open311Error])
    )
)]
#[get("/services.json")]
pub async fn open311_list_services(req: HttpRequest, db: web::Data<Db>) -> Open311Result {
    let services = db.run(store::services).await?;
    let body: Vec<Open311Service> = services
        .into_iter()
        .map(|s| Open311Service {
            keywords: format!("{}, {}", s.name, s.code),
            service_code: s.code,
            service_name: s.name,
            description: s.description,
            metadata: true,
            service_type: "realtime".into(),
            group: "领导留言".into(),
        })
        .collect();
    Ok(cacheable(&req, &body)?)
}

fn definition(code: String) -> ServiceDefinition {
    ServiceDefinition {
        service_code: code,
        attributes: vec![ServiceAttribute {
            variable: true,
            code: "kind".into(),
            datatype: "singlevaluelist".into(),
            required: false,
            datatype_description: Some(format!(
                "One of the keys; {} when absent.",
                rules::DEFAULT_KIND.as_str()
            )),
            order: 1,
            description: "留言类型 (kind of message)".into(),
            values: MessageKind::ALL
                .iter()
                .map(|k| AttributeValue {
                    key: k.as_str().into(),
                    name: rules::kind_name(*k).into(),
                })
                .collect(),
        }],
    }
}

/// A service's definition: the `kind` attribute (optional) its requests may carry.
#[utoipa::path(
    operation_id = "open311_get_service_definition",
    tag = "open311",
    params(
        ("service_code" = String, Path, max_length = 50, description = "A service's code"),
        ("jurisdiction_id" = Option<String>, Query, description = "Accepted and ignored")
    ),
    responses(
        (status = 200, description = "The definition", body = ServiceDefinition,
            headers(("ETag" = String, description = "Entity tag of the body"), ("Cache-Control" = String, description = "`public, max-age=60`"))),
        (status = 304, description = "Not modified: `If-None-Match` names the current ETag"),
        (status = 400, description = "Bad parameters", body = [Open311Error]),
        (status = 404, description = "No such service", body = [Open311Error]),
        (status = 429, description = "Rate limit reached", body = [Open311Error],
            headers(("Retry-After" = String, description = "Seconds to wait before retrying"))),
        (status = 503, description = "The database is unreachable; retry shortly", body = [Open311Error])
    )
)]
#[get("/services/{service_code}.json")]
pub async fn open311_get_service_definition(
    req: HttpRequest,
    db: web::Data<Db>,
    service_code: web::Path<String>,
) -> Open311Result {
    let code = service_code.into_inner();
    let lookup = code.clone();
    let service = db
        .run(move |conn| store::service_by_code(conn, &lookup))
        .await?
        .filter(|s| s.active)
        .ok_or_else(|| Open311Failure::not_found(format!("service_code `{code}` not found")))?;
    Ok(cacheable(&req, &definition(service.code))?)
}

/// For the idempotency middleware: the client behind the `api_key` of a `requests.json` form
/// (form field, else query parameter), when it is a valid token; the handler judges the rest.
pub(crate) fn form_principal(req: &HttpRequest, body: &[u8]) -> Option<Principal> {
    let form = Params::parse(body);
    let query = Params::parse(req.query_string().as_bytes());
    let key = form.get("api_key").or_else(|| query.get("api_key"))?;
    crate::auth::principal::verify_token(req, key.trim()).ok()
}

/// A form or query string without its `api_key` fields (re-encoded, order kept): what makes two
/// filings the same request, whichever access token each carried.
pub(crate) fn without_api_key(raw: &[u8]) -> Vec<u8> {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (k, v) in form_urlencoded::parse(raw) {
        if k != "api_key" {
            out.append_pair(&k, &v);
        }
    }
    out.finish().into_bytes()
}

/// The principal behind an `api_key` (form field or query parameter) or a bearer token, if it
/// may file requests; else the spec's 403.
fn authenticate(req: &HttpRequest, api_key: Option<&str>) -> Result<Principal, Open311Failure> {
    const INVALID: &str = "Invalid api_key received -- can't proceed with create_request.";
    let principal = match api_key {
        Some(key) => crate::auth::principal::verify_token(req, key.trim())
            .map_err(|_| Open311Failure::forbidden(INVALID))?,
        None => match identify(req) {
            Identity::Authenticated(p) => p,
            Identity::Rejected(_) => return Err(Open311Failure::forbidden(INVALID)),
            Identity::Anonymous => {
                return Err(Open311Failure::forbidden(
                    "api_key is required -- can't proceed with create_request.",
                ));
            }
        },
    };
    principal
        .require(Permission::SubmitOpen311Requests)
        .map_err(|_| {
            Open311Failure::forbidden(
                "This api_key may not file requests: it must belong to an integration client.",
            )
        })?;
    principal
        .require_scope(ClientScope::SyncWrite)
        .map_err(|_| {
            Open311Failure::forbidden(
                "This api_key lacks the scope sync:write needed to file requests.",
            )
        })?;
    Ok(principal)
}

/// What a valid form files.
struct Filing {
    leader_id: LeaderId,
    service_code: String,
    new: NewMessage,
}

/// Check every field of the form; all failures at once.
fn read_form(form: &Params, principal: &Principal) -> Result<Filing, Open311Failure> {
    let mut errors = Vec::new();
    let leader_id = match form.get("jurisdiction_id") {
        None => {
            errors.push(
                "jurisdiction_id is required: the id of the leader the message is addressed to"
                    .to_owned(),
            );
            None
        }
        Some(raw) => parse_jurisdiction(raw).map_err(|e| errors.push(e)).ok(),
    };
    let service_code = form.get("service_code").map(|s| s.trim().to_owned());
    if service_code.is_none() {
        errors.push("service_code is required".into());
    }
    let location = rules::parse_location(form.get("lat"), form.get("long"))
        .map_err(|e| errors.push(e))
        .ok()
        .flatten();
    let address = form.get("address_string").map(|a| a.trim().to_owned());
    if let Some(a) = &address {
        if a.chars().count() > rules::ADDRESS_MAX {
            errors.push(format!(
                "address_string may have at most {} characters",
                rules::ADDRESS_MAX
            ));
        }
        if a.chars().any(char::is_control) {
            errors.push("address_string must be one line without control characters".into());
        }
    }
    if location.is_none() && address.is_none() && !errors.iter().any(|e| e.contains("lat")) {
        errors.push("a location is required: lat and long, or address_string".into());
    }
    let description = form.get("description").map(str::trim).unwrap_or_default();
    let title = match description.chars().count() {
        0 => {
            errors.push("description is required".into());
            None
        }
        n if n < rules::DESCRIPTION_MIN => {
            errors.push(format!(
                "description must have at least {} characters",
                rules::DESCRIPTION_MIN
            ));
            None
        }
        n if n > rules::DESCRIPTION_MAX => {
            errors.push(format!(
                "description may have at most {} characters",
                rules::DESCRIPTION_MAX
            ));
            None
        }
        _ if crate::domain::validate_text(description).is_err() => {
            errors.push("description must not contain control characters".into());
            None
        }
        _ => {
            let t = rules::derive_title(description);
            if t.is_none() {
                errors.push(
                    "description needs a first line of at least two characters (it becomes the title)"
                        .into(),
                );
            }
            t
        }
    };
    for (field, max) in [
        ("address_id", 100),
        ("device_id", 100),
        ("account_id", 100),
        ("service_code", 50),
    ] {
        if form.get(field).is_some_and(|v| v.chars().count() > max) {
            errors.push(format!("{field} may have at most {max} characters"));
        }
    }
    let phone = form.get("phone").map(|p| p.trim().to_owned());
    if let Some(p) = &phone
        && crate::http::validate::validate_phone(p).is_err()
    {
        errors.push(
            "phone must be a mainland mobile (13800138000) or landline (0931-8888888) number"
                .into(),
        );
    }
    for field in ["first_name", "last_name"] {
        if form
            .get(field)
            .is_some_and(|n| n.chars().count() > 24 || n.chars().any(char::is_control))
        {
            errors.push(format!("{field} must be one line of at most 24 characters"));
        }
    }
    let contact_name = rules::contact_name(form.get("first_name"), form.get("last_name"));
    if form.get("email").is_some_and(|e| e.len() > 254) {
        errors.push("email may have at most 254 characters".into());
    }
    let attachments = match form.get("media_url").map(str::trim) {
        None => json!([]),
        Some(url) => match (
            rules::media_type_of(url),
            crate::domain::addresses::attachment_url(url),
        ) {
            (Some(media_type), Ok(_)) if url.chars().count() <= 500 => {
                json!([{"url": url, "media_type": media_type, "private": false}])
            }
            // The attachment rule's own refusals (credentials, a host that is not public).
            (Some(_), Err(problem))
                if !matches!(
                    problem,
                    crate::domain::addresses::AttachmentUrlProblem::Form(_)
                ) =>
            {
                errors.push(format!("media_url {}", problem.message()));
                json!([])
            }
            _ => {
                errors.push(
                    "media_url must be an https:// URL (at most 500 characters) of a JPEG, PNG, \
                     WebP, PDF, MP4 or MP3 file"
                        .into(),
                );
                json!([])
            }
        },
    };
    let kind = match form.get("attribute[kind]").map(str::trim) {
        None => Some(rules::DEFAULT_KIND),
        Some(k) => {
            let found = MessageKind::ALL.iter().copied().find(|x| x.as_str() == k);
            if found.is_none() {
                errors.push(format!(
                    "attribute[kind] `{k}` must be one of consultation, suggestion, complaint, help_request"
                ));
            }
            found
        }
    };
    match (errors.is_empty(), leader_id, service_code, title, kind) {
        (true, Some(leader_id), Some(service_code), Some(title), Some(kind)) => Ok(Filing {
            leader_id,
            service_code,
            new: NewMessage {
                author_id: None,
                registered_by: Some(principal.user_id),
                source: MessageSource::Web,
                leader_id,
                // Set once the service code is resolved.
                category_id: crate::domain::ids::CategoryId(uuid::Uuid::nil()),
                kind,
                title,
                body: description.to_owned(),
                region_code: None,
                address: address.unwrap_or_default(),
                location,
                visibility: Visibility::Public,
                contact_name,
                contact_phone: phone,
                attachments,
                submitted_at: None,
            },
        }),
        _ => Err(Open311Failure::bad_request(errors)),
    }
}

/// File a request: a public message to the leader `jurisdiction_id`, in the category
/// `service_code`, registered by the integration client whose `api_key` is sent (source
/// `web`). Contact data (`first_name`, `last_name`, `phone`) is kept for the staff only;
/// `email` is not kept. The request appears in `requests.json` once the liaison office
/// accepts it. With an `Idempotency-Key` header, a retry of the same form (whatever `api_key`
/// it carries) answers the first filing's response with `Idempotent-Replayed: true` instead of
/// filing again.
#[utoipa::path(
    operation_id = "open311_create_request",
    tag = "open311",
    params(("api_key" = Option<String>, Query, max_length = 4096, description = "The api_key, when not in the form or the Authorization header")),
    request_body(content = CreateServiceRequest, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 201, description = "Filed", body = [CreatedServiceRequest]),
        (status = 400, description = "Invalid form: one error per failing field (also: an `Idempotency-Key` reused with another form)", body = [Open311Error],
            example = json!([{"code": 400, "description": "service_code is required"}])),
        (status = 403, description = "Missing or invalid api_key, or one without sync:write", body = [Open311Error],
            example = json!([{"code": 403, "description": "Invalid api_key received -- can't proceed with create_request."}])),
        (status = 409, description = "The first filing with this `Idempotency-Key` is still being processed; retry shortly", body = [Open311Error],
            example = json!([{"code": 409, "description": "the first request with this Idempotency-Key is still being processed; retry shortly"}])),
        (status = 413, description = "The form is over the size limit", body = [Open311Error]),
        (status = 415, description = "The body is not `application/x-www-form-urlencoded`", body = [Open311Error]),
        (status = 429, description = "Rate limit reached", body = [Open311Error],
            headers(("Retry-After" = String, description = "Seconds to wait before retrying"))),
        (status = 503, description = "The database is unreachable; retry shortly", body = [Open311Error])
    )
)]
#[post("/requests.json")]
pub async fn open311_create_request(
    req: HttpRequest,
    db: web::Data<Db>,
    settings: web::Data<Settings>,
    body: web::Bytes,
) -> Open311Result {
    // Credentials outside the form (a bearer token, an api_key in the query) are checked before
    // the body, as the guard does for the rest of the API: a caller that may not file requests
    // gets 403 whatever it sends.
    let query = Params::parse(req.query_string().as_bytes());
    let early = match query.get("api_key") {
        Some(key) => Some(authenticate(&req, Some(key))?),
        None if !matches!(identify(&req), Identity::Anonymous) => Some(authenticate(&req, None)?),
        None => None,
    };
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        });
    match content_type.as_deref() {
        Some("application/x-www-form-urlencoded") => {}
        None if body.is_empty() => {}
        _ => {
            return Err(Open311Failure::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "send the form as application/x-www-form-urlencoded",
            ));
        }
    }
    let form = Params::parse(&body);
    form.require_storable()?;
    let principal = match (form.get("api_key"), early) {
        (Some(key), _) => authenticate(&req, Some(key))?,
        (None, Some(p)) => p,
        (None, None) => authenticate(&req, None)?,
    };
    let filing = read_form(&form, &principal)?;
    let prefix = settings.tracking_prefix.clone();
    let quota = settings.intake_quota();
    let now = settings.clock.now();
    let actor = crate::app::access::actor(&principal);
    let stored = db
        .run(
            move |conn| -> Result<Result<Message, Open311Failure>, ApiError> {
                let Filing {
                    leader_id,
                    service_code,
                    mut new,
                } = filing;
                let Some(service) =
                    store::service_by_code(conn, &service_code)?.filter(|s| s.active)
                else {
                    return Ok(Err(Open311Failure::bad_request(vec![format!(
                        "service_code `{service_code}` is not a service here (see services.json)"
                    )])));
                };
                new.category_id = service.id;
                let intake = Intake {
                    actor,
                    tracking_prefix: &prefix,
                    quota,
                    leaders: Addressable::Any,
                    now,
                };
                match intake::submit(conn, &intake, &new) {
                    Ok(taken) => Ok(Ok(taken.message)),
                    // An unknown or retired leader is a jurisdiction Open311 does not know.
                    Err(ApiError::Validation { errors, .. })
                        if errors.iter().any(|f| f.field == "leader_id") =>
                    {
                        Ok(Err(Open311Failure::bad_request(vec![format!(
                            "jurisdiction_id `{leader_id}` is not a jurisdiction here"
                        )])))
                    }
                    Err(e) => Err(e),
                }
            },
        )
        .await??;
    Ok(HttpResponse::Created().json([CreatedServiceRequest {
        service_request_id: stored.tracking_no,
        service_notice: Some(
            "已收到。联络办受理后，可在 requests.json 中查询。(Received: it appears in requests.json once the liaison office accepts it.)"
                .into(),
        ),
        account_id: None,
    }]))
}

/// Requests of the public board, newest first. With `service_request_id`, those requests (the
/// other filters are ignored); else those submitted between `start_date` and `end_date` (at
/// most 90 days apart; default the last 90 days), by `status`, `service_code` and
/// `jurisdiction_id`. At most `limit` (default 50, at most 200).
#[utoipa::path(
    operation_id = "open311_list_requests",
    tag = "open311",
    params(
        ("service_request_id" = Option<String>, Query, max_length = 6200, description = "Comma-separated tracking numbers (at most 200)"),
        ("service_code" = Option<String>, Query, max_length = 50, description = "A service's code"),
        ("start_date" = Option<DateTime<Utc>>, Query, description = "Earliest `requested_datetime` (W3C date-time)"),
        ("end_date" = Option<DateTime<Utc>>, Query, description = "Latest `requested_datetime` (W3C date-time)"),
        ("status" = Option<RequestStatus>, Query, description = "`open` or `closed`"),
        ("jurisdiction_id" = Option<String>, Query, format = Uuid, description = "A leader's id: that leader's requests"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 200, format = Int32, description = "At most this many (default 50, at most 200)")
    ),
    responses(
        (status = 200, description = "The requests", body = [ServiceRequest],
            headers(("ETag" = String, description = "Entity tag of the body"), ("Cache-Control" = String, description = "`public, max-age=60`"))),
        (status = 304, description = "Not modified: `If-None-Match` names the current ETag"),
        (status = 400, description = "Bad parameters", body = [Open311Error],
            example = json!([{"code": 400, "description": "start_date to end_date may not span more than 90 days"}])),
        (status = 429, description = "Rate limit reached", body = [Open311Error],
            headers(("Retry-After" = String, description = "Seconds to wait before retrying"))),
        (status = 503, description = "The database is unreachable; retry shortly", body = [Open311Error])
    )
)]
#[get("/requests.json")]
pub async fn open311_list_requests(
    req: HttpRequest,
    db: web::Data<Db>,
    settings: web::Data<Settings>,
) -> Open311Result {
    let p = Params::parse(req.query_string().as_bytes());
    p.require_storable()?;
    let mut errors = Vec::new();
    let limit = parse_limit(&p).map_err(|e| errors.push(e)).ok();
    let ids: Vec<String> = p
        .all("service_request_id")
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_uppercase())
        .filter(|s| !s.is_empty())
        .collect();
    if ids.len() > rules::MAX_IDS {
        errors.push(format!(
            "service_request_id may list at most {} ids",
            rules::MAX_IDS
        ));
    }
    if p.all("service_request_id").map(str::len).sum::<usize>() > 6200 {
        errors.push("service_request_id may have at most 6200 characters".into());
    }
    if p.get("service_code")
        .is_some_and(|c| c.chars().count() > 50)
    {
        errors.push("service_code may have at most 50 characters".into());
    }
    let start = parse_date(&p, "start_date", &mut errors);
    let end = parse_date(&p, "end_date", &mut errors);
    let status = match p.get("status") {
        None => None,
        Some(raw) => {
            let s = Open311Status::parse(raw);
            if s.is_none() {
                errors.push(format!("status `{raw}` must be open or closed"));
            }
            s
        }
    };
    let leader = p
        .get("jurisdiction_id")
        .and_then(|raw| parse_jurisdiction(raw).map_err(|e| errors.push(e)).ok());
    let range = if ids.is_empty() && errors.is_empty() {
        window(start, end, settings.clock.now(), true)
            .map_err(|e| errors.push(e))
            .ok()
    } else {
        None
    };
    if !errors.is_empty() {
        return Err(Open311Failure::bad_request(errors));
    }
    let limit = limit.unwrap_or(i64::from(rules::DEFAULT_LIMIT));
    let service_code = p.get("service_code").map(|s| s.trim().to_owned());
    let (rows, ctx) = db
        .run(move |conn| {
            let mut rows = if ids.is_empty() {
                let category_id = match &service_code {
                    Some(code) => match store::service_by_code(conn, code)? {
                        Some(s) => Some(s.id),
                        // No such service: no requests of it.
                        None => return Ok((Vec::new(), None)),
                    },
                    None => None,
                };
                let (from, to) = range.unwrap_or_default();
                let filter = MessageFilter {
                    leader_id: leader,
                    category_id,
                    submitted_from: Some(from),
                    // `end_date` is inclusive; times are stored to the microsecond.
                    submitted_to: Some(to + Duration::microseconds(1)),
                    replied: status.map(|s| s == Open311Status::Closed),
                    ..Default::default()
                };
                messages_store::list(
                    conn,
                    &ListScope::PublicOnly,
                    &filter,
                    SortBy::Submitted,
                    &PageRequest { limit, after: None },
                )?
            } else {
                store::on_board_by_tracking_nos(conn, &ids)?
            };
            rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
            let ctx = load_context(conn, &rows)?;
            Ok::<_, ApiError>((rows, Some(ctx)))
        })
        .await?;
    let body: Vec<ServiceRequest> = match ctx {
        Some(ctx) => rows.iter().map(|m| to_request(m, &ctx)).collect(),
        None => Vec::new(),
    };
    Ok(cacheable(&req, &body)?)
}

/// One request of the public board, as a list of one (as the spec answers). A message the board
/// does not show is answered exactly like one that does not exist.
#[utoipa::path(
    operation_id = "open311_get_request",
    tag = "open311",
    params(
        ("service_request_id" = String, Path, max_length = 30, description = "Tracking number, e.g. GS-2026-000123"),
        ("jurisdiction_id" = Option<String>, Query, description = "Accepted and ignored")
    ),
    responses(
        (status = 200, description = "The request", body = [ServiceRequest],
            headers(("ETag" = String, description = "Entity tag of the body"), ("Cache-Control" = String, description = "`public, max-age=60`"))),
        (status = 304, description = "Not modified: `If-None-Match` names the current ETag"),
        (status = 400, description = "Bad parameters", body = [Open311Error]),
        (status = 404, description = "No such request on the public board", body = [Open311Error],
            example = json!([{"code": 404, "description": "service_request_id `GS-2026-000999` not found"}])),
        (status = 429, description = "Rate limit reached", body = [Open311Error],
            headers(("Retry-After" = String, description = "Seconds to wait before retrying"))),
        (status = 503, description = "The database is unreachable; retry shortly", body = [Open311Error])
    )
)]
#[get("/requests/{service_request_id}.json")]
pub async fn open311_get_request(
    req: HttpRequest,
    db: web::Data<Db>,
    service_request_id: web::Path<String>,
) -> Open311Result {
    let raw = service_request_id.into_inner();
    let tn = raw.trim().to_uppercase();
    let not_found = || Open311Failure::not_found(format!("service_request_id `{raw}` not found"));
    if tn.is_empty() || tn.len() > 30 {
        return Err(not_found());
    }
    let (rows, ctx) = db
        .run(move |conn| {
            let rows = store::on_board_by_tracking_nos(conn, &[tn])?;
            let ctx = load_context(conn, &rows)?;
            Ok::<_, ApiError>((rows, ctx))
        })
        .await?;
    if rows.is_empty() {
        return Err(not_found());
    }
    let body: Vec<ServiceRequest> = rows.iter().map(|m| to_request(m, &ctx)).collect();
    Ok(cacheable(&req, &body)?)
}

/// mySociety's extension: updates of requests, one per published reply (interim: `open`;
/// final: `closed`), published between `start_date` and `end_date` (default: the 90 days
/// before `end_date`, or now), oldest first, at most `limit` (default 50, at most 200). To
/// read on, ask again from the last `updated_datetime`.
#[utoipa::path(
    operation_id = "open311_list_request_updates",
    tag = "open311",
    params(
        ("start_date" = Option<DateTime<Utc>>, Query, description = "Earliest update (W3C date-time)"),
        ("end_date" = Option<DateTime<Utc>>, Query, description = "Latest update (W3C date-time)"),
        ("jurisdiction_id" = Option<String>, Query, description = "Accepted and ignored"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 200, format = Int32, description = "At most this many (default 50, at most 200)")
    ),
    responses(
        (status = 200, description = "The updates", body = [ServiceRequestUpdate],
            headers(("ETag" = String, description = "Entity tag of the body"), ("Cache-Control" = String, description = "`public, max-age=60`"))),
        (status = 304, description = "Not modified: `If-None-Match` names the current ETag"),
        (status = 400, description = "Bad parameters", body = [Open311Error]),
        (status = 429, description = "Rate limit reached", body = [Open311Error],
            headers(("Retry-After" = String, description = "Seconds to wait before retrying"))),
        (status = 503, description = "The database is unreachable; retry shortly", body = [Open311Error])
    )
)]
#[get("/servicerequestupdates.json")]
pub async fn open311_list_request_updates(
    req: HttpRequest,
    db: web::Data<Db>,
    settings: web::Data<Settings>,
) -> Open311Result {
    let p = Params::parse(req.query_string().as_bytes());
    p.require_storable()?;
    let mut errors = Vec::new();
    let limit = parse_limit(&p).map_err(|e| errors.push(e)).ok();
    let start = parse_date(&p, "start_date", &mut errors);
    let end = parse_date(&p, "end_date", &mut errors);
    let range = if errors.is_empty() {
        window(start, end, settings.clock.now(), false)
            .map_err(|e| errors.push(e))
            .ok()
    } else {
        None
    };
    let (Some(limit), Some((from, to)), true) = (limit, range, errors.is_empty()) else {
        return Err(Open311Failure::bad_request(errors));
    };
    let (updates, messages, ctx) = db
        .run(move |conn| {
            let updates =
                store::published_updates(conn, from, to + Duration::microseconds(1), limit)?;
            let mut ids: Vec<_> = updates.iter().map(|u| u.message_id).collect();
            ids.sort();
            ids.dedup();
            let messages = store::messages_by_id(conn, &ids)?;
            let ctx = board::context(conn, &messages)?;
            Ok::<_, ApiError>((updates, messages, ctx))
        })
        .await?;
    let by_id: HashMap<_, _> = messages.iter().map(|m| (m.id, m)).collect();
    let body: Vec<ServiceRequestUpdate> = updates
        .into_iter()
        .filter_map(|u| {
            let m = by_id.get(&u.message_id)?;
            let known = ctx.known(m);
            Some(ServiceRequestUpdate {
                update_id: u.id.to_string(),
                service_request_id: m.tracking_no.clone(),
                status: match u.kind {
                    ReplyKind::Final => RequestStatus::Closed,
                    ReplyKind::Interim => RequestStatus::Open,
                },
                updated_datetime: u.published_at?,
                description: personal_data::mask(&u.body, &known),
                media_url: first_public_media(&u.attachments, &known),
            })
        })
        .collect();
    Ok(cacheable(&req, &body)?)
}
