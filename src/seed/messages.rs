//! The demo messages and their handling, written as the API would write them.

use diesel::prelude::*;

use super::{Fate, MESSAGES, USERS, demo_id, leader_id, unit_id};
use crate::domain::ids::CategoryId;
use crate::domain::ids::UserId;
use crate::domain::message::{
    MessageAction, MessageSource, MessageStatus, Priority, RejectionReason, Visibility,
};
use crate::domain::role::Role;
use crate::http::preconditions::IfMatchCondition;
use crate::store::messages::{
    self as messages_store, Decision, EventActor, MessageChanges, NewMessage,
};

/// The demo messages, written by the demo citizen and handled by the liaison offices; skipped
/// when the citizen already has messages.
pub(super) fn seed_messages(conn: &mut PgConnection) -> Result<usize, crate::error::ApiError> {
    use crate::schema::{categories, messages};
    let citizen = USERS
        .iter()
        .find(|u| u.role == Role::Citizen)
        .map(|u| UserId(demo_id("user", u.email)));
    let Some(citizen) = citizen else { return Ok(0) };
    let existing: i64 = messages::table
        .filter(messages::author_id.eq(citizen))
        .count()
        .get_result(conn)?;
    if existing > 0 {
        return Ok(0);
    }
    let author = EventActor {
        id: Some(citizen),
        role: Some(Role::Citizen),
    };
    let admin = EventActor {
        id: Some(UserId(demo_id("user", "admin@liuyan.example"))),
        role: Some(Role::Admin),
    };
    let mut first_accepted = None;
    for (leader, category, kind, region, title, body, public, fate) in MESSAGES {
        let category_id: CategoryId = categories::table
            .filter(categories::code.eq(category))
            .select(categories::id)
            .first(conn)?;
        let new = NewMessage {
            author_id: Some(citizen),
            registered_by: None,
            source: MessageSource::Web,
            leader_id: leader_id(leader),
            category_id,
            kind: *kind,
            title: (*title).to_owned(),
            body: (*body).to_owned(),
            region_code: Some((*region).to_owned()),
            address: String::new(),
            location: None,
            visibility: if *public {
                Visibility::Public
            } else {
                Visibility::Private
            },
            contact_name: None,
            contact_phone: Some("13800138000".to_owned()),
            attachments: serde_json::json!([]),
            submitted_at: None,
        };
        // Through intake like any message (the demo's alert rules come after the messages).
        let intake = crate::app::intake::Intake {
            actor: author,
            tracking_prefix: "GS",
            quota: crate::domain::quota::IntakeQuota {
                per_hour: 0,
                per_day: 0,
            },
            leaders: crate::app::intake::Addressable::Any,
            now: chrono::Utc::now(),
        };
        let m = crate::app::intake::submit(conn, &intake, &new)?.message;
        let step = |conn: &mut PgConnection, who, action, to, changes, payload| {
            messages_store::transition(
                conn,
                m.id,
                &IfMatchCondition::none(),
                who,
                action,
                chrono::Utc::now(),
                move |_, _| {
                    Ok(Decision {
                        to,
                        changes,
                        payload,
                    })
                },
            )
        };
        match fate {
            Fate::Submitted => {}
            Fate::Accepted { priority, tags } => {
                let tags: Vec<String> = tags.iter().map(|t| (*t).to_owned()).collect();
                step(
                    conn,
                    admin,
                    MessageAction::Classify,
                    MessageStatus::Submitted,
                    MessageChanges {
                        priority: Some(Some(*priority)),
                        tags: Some(tags.clone()),
                        ..Default::default()
                    },
                    serde_json::json!({"priority": priority, "tags": tags}),
                )?;
                step(
                    conn,
                    admin,
                    MessageAction::Accept,
                    MessageStatus::Accepted,
                    MessageChanges {
                        accepted_at: Some(Some(chrono::Utc::now())),
                        ..Default::default()
                    },
                    serde_json::json!({"note": null}),
                )?;
                first_accepted.get_or_insert(m.id);
            }
            Fate::Rejected(reason, note) => {
                let duplicate_of = (*reason == RejectionReason::Duplicate)
                    .then_some(first_accepted)
                    .flatten();
                step(
                    conn,
                    admin,
                    MessageAction::Reject,
                    MessageStatus::Rejected,
                    MessageChanges {
                        rejection_reason: Some(Some(*reason)),
                        rejection_note: Some(Some((*note).to_owned())),
                        duplicate_of: Some(duplicate_of),
                        ..Default::default()
                    },
                    serde_json::json!({"reason": reason, "note": note, "duplicate_of": duplicate_of}),
                )?;
            }
            Fate::Withdrawn => {
                step(
                    conn,
                    author,
                    MessageAction::Withdraw,
                    MessageStatus::Withdrawn,
                    MessageChanges::default(),
                    serde_json::json!({"note": null}),
                )?;
            }
            Fate::Replied {
                unit,
                reply,
                rating,
                closed,
            } => {
                step(
                    conn,
                    admin,
                    MessageAction::Accept,
                    MessageStatus::Accepted,
                    MessageChanges {
                        priority: Some(Some(Priority::Routine)),
                        accepted_at: Some(Some(chrono::Utc::now())),
                        ..Default::default()
                    },
                    serde_json::json!({"note": null}),
                )?;
                seed_reply(conn, m.id, admin, author, unit, reply, *rating, *closed)?;
            }
        }
    }
    Ok(MESSAGES.len())
}

/// Take an accepted message through assignment, sign-for, a published final reply and, if
/// given, the author's rating and closure; each step with its ledger event, as the API would.
#[allow(clippy::too_many_arguments)]
fn seed_reply(
    conn: &mut PgConnection,
    id: messages_store::MessageId,
    admin: EventActor,
    author: EventActor,
    unit_name: &str,
    body: &str,
    rating: Option<crate::domain::reply::Rating>,
    closed: bool,
) -> Result<(), crate::error::ApiError> {
    use crate::domain::handling::{
        AssignmentOrigin, AssignmentRole, AssignmentStatus, DeadlineKind,
    };
    use crate::domain::ids::{FeedbackId, ReplyId};
    use crate::domain::reply::{FeedbackFlag, ReplyKind, ReplyStatus, flag_after};
    use crate::store::{assignments, deadlines, feedback, replies};
    let now = chrono::Utc::now();
    let unit = unit_id(unit_name);
    let by = admin
        .id
        .ok_or_else(|| crate::error::ApiError::Internal("no admin".into()))?;
    let go = |conn: &mut PgConnection, who, action, to, changes, payload| {
        messages_store::transition(
            conn,
            id,
            &IfMatchCondition::none(),
            who,
            action,
            now,
            move |_, _| {
                Ok(Decision {
                    to,
                    changes,
                    payload,
                })
            },
        )
    };
    let m = messages_store::get(conn, id)?
        .ok_or_else(|| crate::error::ApiError::not_found("message"))?;
    let mut new = assignments::NewAssignment::for_message(
        &m,
        unit,
        AssignmentRole::Lead,
        AssignmentOrigin::Assigned,
        String::new(),
        Some(by),
        now,
    );
    new.status = AssignmentStatus::SignedFor;
    new.signed_for_at = Some(now);
    let a = assignments::insert(conn, &new)?;
    go(
        conn,
        admin,
        MessageAction::Assign,
        MessageStatus::Assigned,
        MessageChanges {
            unit_id: Some(Some(unit)),
            ..Default::default()
        },
        serde_json::json!({"assignment_id": a.id, "unit_id": unit, "co_unit_ids": []}),
    )?;
    let m = go(
        conn,
        admin,
        MessageAction::SignFor,
        MessageStatus::InProgress,
        MessageChanges::default(),
        serde_json::json!({"assignment_id": a.id, "unit_id": unit, "role": "lead"}),
    )?;
    deadlines::start(
        conn,
        deadlines::Start {
            message: &m,
            assignment_id: a.id,
            unit_id: unit,
            kind: DeadlineKind::Reply,
            at: now,
            action: MessageAction::SignFor,
            event_seq: m.event_count,
        },
    )?;
    let reply = replies::Reply {
        id: ReplyId(demo_id("reply", &m.tracking_no)),
        message_id: m.id,
        assignment_id: a.id,
        unit_id: unit,
        intake_unit_id: m.intake_unit_id,
        region_path: m.region_path.clone(),
        kind: ReplyKind::Final,
        status: ReplyStatus::Published,
        body: body.to_owned(),
        attachments: serde_json::json!([]),
        revision: 1,
        review_unit_id: unit,
        created_by: by,
        created_at: now,
        updated_by: by,
        updated_at: now,
        submitted_at: Some(now),
        reviewed_by: Some(by),
        reviewed_at: Some(now),
        review_comment: None,
        published_by: Some(by),
        published_at: Some(now),
        unit_name: Some(unit_name.to_owned()),
        version: 1,
    };
    replies::insert(conn, &reply)?;
    let (_, until) = replies::complete_handling(conn, m.id, a.id, now)?;
    let m = go(
        conn,
        admin,
        MessageAction::PublishReply,
        MessageStatus::Replied,
        MessageChanges {
            replied_at: Some(Some(now)),
            feedback_until: Some(Some(until)),
            ..Default::default()
        },
        serde_json::json!({"reply_id": reply.id, "kind": "final", "revision": 1, "unit_name": unit_name}),
    )?;
    if let (Some(rating), Some(author_id)) = (rating, m.author_id) {
        let row = feedback::Feedback {
            id: FeedbackId(demo_id("feedback", &m.tracking_no)),
            message_id: m.id,
            reply_id: reply.id,
            author_id,
            unit_id: unit,
            region_path: m.region_path.clone(),
            rating,
            comment: String::new(),
            changes: 0,
            flag: flag_after(None, rating),
            resolved_by: None,
            resolved_at: None,
            resolution_note: None,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        feedback::insert(conn, &row)?;
        go(
            conn,
            author,
            MessageAction::Rate,
            MessageStatus::Replied,
            MessageChanges::default(),
            serde_json::json!({"feedback_id": row.id, "reply_id": reply.id, "rating": rating,
                "changed": false, "flag": row.flag}),
        )?;
        if closed && row.flag == FeedbackFlag::Open {
            return Err(crate::error::ApiError::Internal(
                "a demo message with an open unsatisfied rating cannot be closed".into(),
            ));
        }
    }
    if closed {
        go(
            conn,
            admin,
            MessageAction::Close,
            MessageStatus::Closed,
            MessageChanges {
                closed_at: Some(Some(now)),
                ..Default::default()
            },
            serde_json::json!({"reason": "supervisor", "note": "群众满意，办结"}),
        )?;
    }
    Ok(())
}
