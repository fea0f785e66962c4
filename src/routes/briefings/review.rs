//! Leaders' review of a submitted briefing: an instruction (批示) on an item, and the briefing
//! marked reviewed.

use super::*;

/// A leader's instruction on a briefing item.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"text": "请交通运输局三日内修复，并将结果报我。"}))]
pub struct BriefingInstructionRequest {
    #[schema(
        min_length = 1,
        max_length = 2000,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    #[validate(
        length(min = 1, max = 2000),
        custom(function = "crate::domain::validate_text")
    )]
    pub text: String,
}

/// A leader of the briefing's region records an instruction (批示) on a selected item of a
/// submitted briefing. It is the message's leader instruction, exactly as
/// `POST /api/v1/messages/{id}/instructions` records it (same record, same `instruct` ledger
/// event, with the briefing's id in its payload; the message becomes important), so it is only
/// possible while the message is accepted or being handled. One instruction per item.
#[utoipa::path(
    operation_id = "instruct_briefing_item",
    tag = "briefings",
    params(
        ("id" = String, Path, format = Uuid, description = "Briefing id"),
        ("message_id" = String, Path, format = Uuid, description = "Message id of the item"),
        ("If-Match" = Option<String>, Header, description = "ETag of the briefing you read")
    ),
    request_body = BriefingInstructionRequest,
    responses(
        (status = 201, description = "The item with its instruction", body = BriefingItemDto,
         headers(("Location" = String, description = "The message's instructions"), ("ETag" = String, description = "New version of the briefing"))),
        (status = 403, description = "Not a leader, or an account without a leader record", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such briefing or selected item, or not in your region", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The briefing is not submitted, the item already has an instruction, or the message is not accepted or being handled", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[post("/briefings/{id}/items/{message_id}/instruction")]
pub async fn instruct_briefing_item(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    path: web::Path<(String, String)>,
    body: ApiJson<BriefingInstructionRequest>,
) -> Result<HttpResponse, ApiError> {
    let (raw_id, raw_message) = path.into_inner();
    let id = parse_id(&raw_id)?;
    let message_id = parse_message_id(&raw_message)?;
    let cond = IfMatchCondition::from_request(&req, IfMatch::Optional)?;
    let text = body.into_inner().text;
    let now = crate::http::now(&req);
    let p = principal.clone();
    let (version, dto) = db
        .run(move |conn| {
            conn.transaction(|conn| {
                let (_, b) = visible(conn, &p, id, true)?;
                cond.check(b.version)?;
                if b.status != BriefingStatus::Submitted {
                    return Err(ApiError::Conflict(format!(
                        "instructions are recorded on a submitted briefing; this one is {}",
                        b.status
                    )));
                }
                let item = store::lock_item(conn, id, message_id)?
                    .filter(|i| i.selected)
                    .ok_or_else(|| ApiError::not_found("briefing item"))?;
                if item.instruction_id.is_some() {
                    return Err(ApiError::Conflict(
                        "this item already has an instruction".into(),
                    ));
                }
                let instruction =
                    record_instruction(conn, &p, message_id, None, &text, now, Some(id))?;
                store::set_instruction(conn, id, message_id, instruction.id)?;
                let b = store::touch(conn, id, p.user_id, now)?;
                let views = store::items(conn, id)?;
                let view = views
                    .iter()
                    .find(|v| v.item.message_id == message_id)
                    .ok_or_else(|| ApiError::Internal("briefing item vanished".into()))?;
                let names = names(conn, std::slice::from_ref(view))?;
                let instructions = instructions_of(conn, std::slice::from_ref(view))?;
                Ok::<_, ApiError>((b.version, item_dto(view, &names, &instructions)))
            })
        })
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((
            header::LOCATION,
            format!("/api/v1/messages/{message_id}/instructions"),
        ))
        .insert_header((header::ETAG, etag(version)))
        .json(dto))
}

/// A leader of the briefing's region marks a submitted briefing reviewed (instructions on some,
/// all or none of its items). Needs `If-Match`.
#[utoipa::path(
    operation_id = "review_briefing",
    tag = "briefings",
    params(
        ("id" = String, Path, format = Uuid, description = "Briefing id"),
        ("If-Match" = String, Header, description = "ETag of the briefing you read")
    ),
    responses(
        (status = 200, description = "The reviewed briefing", body = BriefingDto, headers(("ETag" = String, description = "New version"))),
        (status = 403, description = "Not a leader", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such briefing, or not in your region", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The briefing is not submitted (a draft, or already reviewed)", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[post("/briefings/{id}/review")]
pub async fn review_briefing(
    req: HttpRequest,
    db: web::Data<Db>,
    principal: Principal,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
    let cond = IfMatchCondition::from_request(&req, IfMatch::Required)?;
    let now = crate::http::now(&req);
    let p = principal.clone();
    let dto = db
        .run(move |conn| {
            conn.transaction(|conn| {
                let (_, b) = visible(conn, &p, id, true)?;
                cond.check(b.version)?;
                if b.status != BriefingStatus::Submitted {
                    return Err(ApiError::Conflict(format!(
                        "only a submitted briefing is reviewed; this one is {}",
                        b.status
                    )));
                }
                let b = store::review(conn, id, p.user_id, now)?;
                full(conn, &b)
            })
        })
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::ETAG, etag(dto.briefing.version)))
        .json(dto))
}
