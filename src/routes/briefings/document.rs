//! The briefing as a document (DOCX) for the leaders: labels, the period's figures and the
//! download.

use super::*;

fn status_label(s: BriefingStatus) -> &'static str {
    match s {
        BriefingStatus::Draft => "草稿",
        BriefingStatus::Submitted => "已报送",
        BriefingStatus::Reviewed => "已审阅",
    }
}

fn reason_label(r: &str, cluster: Option<&str>) -> String {
    match BriefingReason::parse(r) {
        Some(BriefingReason::Important) => "重要".into(),
        Some(BriefingReason::KeywordAlert) => "预警关键词".into(),
        Some(BriefingReason::Supervised) => "督办".into(),
        Some(BriefingReason::Unsatisfied) => "群众不满意".into(),
        Some(BriefingReason::LongOverdue) => "长期超期".into(),
        Some(BriefingReason::Cluster) => match cluster {
            Some(label) => format!("热点聚集（{label}）"),
            None => "热点聚集".into(),
        },
        None => r.to_owned(),
    }
}

fn local_time(t: DateTime<Utc>) -> String {
    t.with_timezone(&shanghai())
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

/// The figures of the period (messages submitted in it in the briefing's region), from the
/// statistics aggregates.
fn period_figures(
    conn: &mut PgConnection,
    b: &Briefing,
) -> Result<crate::domain::statistics::Figures, ApiError> {
    use crate::store::statistics as stats;
    let region = crate::store::regions::get(conn, &b.region_code)?;
    // The whole province needs no filter (every message lies in it).
    let regions = match region.parent_code {
        Some(_) => Some(stats::region_subtree(conn, &region.path)?),
        None => None,
    };
    let (_, rows) = stats::read(
        conn,
        &stats::CellQuery {
            from: Some(b.period_from),
            to: Some(b.period_to),
            regions,
            use_months: true,
            ..Default::default()
        },
    )?;
    let mut counts = crate::domain::statistics::Counts::default();
    for r in &rows {
        counts.add(&r.counts);
    }
    Ok(crate::domain::statistics::Figures::of(counts))
}

/// The briefing as a Word document (DOCX): a cover (title, period, region, status, who compiled,
/// submitted and reviewed it), the statistics of the period (received, accepted, replied,
/// pending, overdue, reply rate, on-time rate, satisfaction rate, median handling time, reopen
/// and verification rates: the figures of `GET /api/v1/statistics/summary` for the period and
/// region), and the selected items (tracking number, title, region, lead unit, category,
/// reasons, summary, the leader's instruction). No contact data; phone and ID-card numbers in
/// any text are masked.
#[utoipa::path(
    operation_id = "get_briefing_document",
    tag = "briefings",
    params(("id" = String, Path, format = Uuid, description = "Briefing id")),
    responses(
        (status = 200, description = "The document", content(
            (crate::http::docx::DocxFile = "application/vnd.openxmlformats-officedocument.wordprocessingml.document")
        ), headers(("Content-Disposition" = String, description = "attachment; filename=\"briefing-….docx\""))),
        (status = 403, description = "Neither an editor nor a leader", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such briefing, or not yours to see", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[get("/briefings/{id}/document")]
pub async fn get_briefing_document(
    db: web::Data<Db>,
    principal: Principal,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
    let p = principal.clone();
    let (doc, from) = db
        .run_expensive(move |conn| {
            let (_, b) = visible(conn, &p, id, false)?;
            let views = store::items(conn, id)?;
            let mut selected: Vec<&ItemView> = views.iter().filter(|v| v.item.selected).collect();
            selected.sort_by_key(|v| v.item.position);
            let chosen: Vec<ItemView> = selected.into_iter().cloned().collect();
            let names = names(conn, &chosen)?;
            let instructions = store::instructions(
                conn,
                &chosen
                    .iter()
                    .filter_map(|v| v.item.instruction_id)
                    .collect::<Vec<_>>(),
            )?;
            let leaders = store::leader_names(
                conn,
                &instructions.iter().map(|i| i.leader_id).collect::<Vec<_>>(),
            )?;
            let instructions: HashMap<uuid::Uuid, (String, String)> = instructions
                .into_iter()
                .map(|i| {
                    let leader = leaders.get(&i.leader_id).cloned().unwrap_or_default();
                    (i.id, (leader, i.body))
                })
                .collect();
            let personal = store::personal_data(
                conn,
                &chosen.iter().map(|v| v.item.message_id).collect::<Vec<_>>(),
            )?;
            let people: Vec<UserId> = [Some(b.created_by), b.submitted_by, b.reviewed_by]
                .into_iter()
                .flatten()
                .collect();
            let people = store::user_names(conn, &people)?;
            let person = |u: UserId| people.get(&u).cloned().unwrap_or_default();
            let region = crate::store::regions::get(conn, &b.region_code)?;
            let figures = period_figures(conn, &b)?;
            let items = chosen
                .iter()
                .map(|v| {
                    let i = &v.item;
                    let m = &v.message;
                    DocumentItem {
                        position: i.position.unwrap_or_default(),
                        tracking_no: m.tracking_no.clone(),
                        title: m.title.clone(),
                        region: names
                            .regions
                            .get(&m.region_code)
                            .cloned()
                            .unwrap_or_else(|| m.region_code.clone()),
                        unit: m
                            .unit_id
                            .and_then(|u| names.units.get(&u).cloned())
                            .unwrap_or_else(|| "（未交办）".into()),
                        category: names
                            .categories
                            .get(&m.category_id)
                            .cloned()
                            .unwrap_or_default(),
                        reasons: i
                            .reasons
                            .iter()
                            .map(|r| reason_label(r, i.cluster_label.as_deref()))
                            .collect::<Vec<_>>()
                            .join("、"),
                        summary: i.summary.clone().unwrap_or_default(),
                        instruction: i
                            .instruction_id
                            .and_then(|id| instructions.get(&id).cloned()),
                        known_personal: personal.get(&i.message_id).cloned().unwrap_or_default(),
                    }
                })
                .collect();
            let doc = BriefingDocument {
                title: b.title.clone(),
                period: format!("{} 至 {}", b.period_from, b.period_to),
                region: region.name,
                status: status_label(b.status).to_owned(),
                compiled_by: format!("{} {}", person(b.created_by), local_time(b.created_at)),
                submitted: b
                    .submitted_by
                    .zip(b.submitted_at)
                    .map(|(u, t)| format!("{} {}", person(u), local_time(t))),
                reviewed: b
                    .reviewed_by
                    .zip(b.reviewed_at)
                    .map(|(u, t)| format!("{} {}", person(u), local_time(t))),
                figures,
                items,
            };
            Ok::<_, ApiError>((doc, b.period_from))
        })
        .await?;
    let bytes = web::block(move || docx::render(&doc))
        .await
        .map_err(|e| ApiError::Internal(format!("document rendering stopped: {e}")))??;
    Ok(HttpResponse::Ok()
        .content_type(docx::DOCX)
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"briefing-{from}.docx\""),
        ))
        .body(bytes))
}
