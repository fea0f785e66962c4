//! The public board's reads: what a page of public messages shows besides the messages (their
//! published replies, the addressed leaders) and the personal data of everyone involved, which
//! the board masks; and a leader's counters. A page costs the same few queries whatever its size.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::messages::{Message, MessageId};
use crate::domain::ids::{LeaderId, UserId};
use crate::domain::reply::{ReplyKind, ReplyStatus};
use crate::error::ApiError;
use crate::schema::{leaders, replies as r, users};

/// A published reply, with the staff who wrote, reviewed and published it (never shown; their
/// names are masked in the board's texts).
#[derive(Debug, Clone, Queryable)]
pub struct PublishedReply {
    pub message_id: MessageId,
    pub kind: ReplyKind,
    pub body: String,
    /// The unit's name as published (set on every published reply).
    pub unit_name: Option<String>,
    /// Set on every published reply.
    pub published_at: Option<DateTime<Utc>>,
    pub created_by: UserId,
    pub updated_by: UserId,
    pub reviewed_by: Option<UserId>,
    pub published_by: Option<UserId>,
}

impl PublishedReply {
    fn staff(&self) -> impl Iterator<Item = UserId> + '_ {
        [
            Some(self.created_by),
            Some(self.updated_by),
            self.reviewed_by,
            self.published_by,
        ]
        .into_iter()
        .flatten()
    }
}

/// What identifies a person in free text.
#[derive(Debug, Clone)]
pub struct Person {
    pub display_name: String,
    pub email: String,
}

/// A public leader (an official: the board shows who a message was addressed to).
#[derive(Debug, Clone)]
pub struct PublicLeader {
    pub name: String,
    pub title: String,
}

/// Everything a page of the board needs besides its messages.
#[derive(Debug, Default)]
pub struct BoardContext {
    /// Published replies per message, oldest first.
    pub replies: HashMap<MessageId, Vec<PublishedReply>>,
    /// Authors, staff who registered the messages, and staff who wrote, reviewed or published
    /// the replies.
    pub people: HashMap<UserId, Person>,
    pub leaders: HashMap<LeaderId, PublicLeader>,
}

impl BoardContext {
    /// The texts to mask in a message and its replies: the author's name, e-mail, contact name,
    /// phone and address, and the names and e-mails of the staff involved; longest first, so a
    /// name is never half-masked by a shorter one it contains.
    pub fn known<'a>(&'a self, m: &'a Message) -> Vec<&'a str> {
        let mut ids: Vec<UserId> = m.author_id.into_iter().chain(m.registered_by).collect();
        if let Some(replies) = self.replies.get(&m.id) {
            ids.extend(replies.iter().flat_map(PublishedReply::staff));
        }
        let mut known: Vec<&str> = ids
            .iter()
            .filter_map(|id| self.people.get(id))
            .flat_map(|p| [p.display_name.as_str(), p.email.as_str()])
            .chain(m.contact_name.as_deref())
            .chain(m.contact_phone.as_deref())
            .chain([m.address.as_str()])
            .map(str::trim)
            .filter(|k| k.chars().count() >= 2)
            .collect();
        known.sort_by(|a, b| b.chars().count().cmp(&a.chars().count()).then(a.cmp(b)));
        known.dedup();
        known
    }
}

/// Load the context of a page: one query each for the replies, the people and the leaders.
pub fn context(conn: &mut PgConnection, messages: &[Message]) -> Result<BoardContext, ApiError> {
    if messages.is_empty() {
        return Ok(BoardContext::default());
    }
    let ids: Vec<MessageId> = messages.iter().map(|m| m.id).collect();
    let replies: Vec<PublishedReply> = r::table
        .filter(r::message_id.eq_any(&ids))
        .filter(r::status.eq(ReplyStatus::Published))
        .order((r::message_id, r::published_at.asc(), r::id.asc()))
        .select((
            r::message_id,
            r::kind,
            r::body,
            r::unit_name,
            r::published_at,
            r::created_by,
            r::updated_by,
            r::reviewed_by,
            r::published_by,
        ))
        .load(conn)?;
    let people_ids: Vec<UserId> = messages
        .iter()
        .flat_map(|m| m.author_id.into_iter().chain(m.registered_by))
        .chain(replies.iter().flat_map(PublishedReply::staff))
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let people: HashMap<UserId, Person> = if people_ids.is_empty() {
        HashMap::new()
    } else {
        users::table
            .filter(users::id.eq_any(&people_ids))
            .select((users::id, users::display_name, users::email))
            .load::<(UserId, String, String)>(conn)?
            .into_iter()
            .map(|(id, display_name, email)| {
                (
                    id,
                    Person {
                        display_name,
                        email,
                    },
                )
            })
            .collect()
    };
    let leader_ids: Vec<LeaderId> = messages
        .iter()
        .map(|m| m.leader_id)
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let leaders: HashMap<LeaderId, PublicLeader> = leaders::table
        .filter(leaders::id.eq_any(&leader_ids))
        .select((leaders::id, leaders::name, leaders::title))
        .load::<(LeaderId, String, String)>(conn)?
        .into_iter()
        .map(|(id, name, title)| (id, PublicLeader { name, title }))
        .collect();
    let mut by_message: HashMap<MessageId, Vec<PublishedReply>> = HashMap::new();
    for reply in replies {
        by_message.entry(reply.message_id).or_default().push(reply);
    }
    Ok(BoardContext {
        replies: by_message,
        people,
        leaders,
    })
}

/// A leader's counters on the board.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaderCounts {
    /// Messages addressed to the leader that the liaison office accepted (status in
    /// [`PUBLICLY_VISIBLE`](super::messages::PUBLICLY_VISIBLE)), public or private.
    pub received: i64,
    /// Of those, the ones with a published final reply (status in [`REPLIED`](super::messages::REPLIED)).
    pub replied: i64,
}

/// The counters of a leader; `None` when there is no such leader. Read from the statistics'
/// leader cube (monthly cells plus the deltas not folded yet, all kept in the transactions that
/// change the messages), so they cost a few dozen cells however many messages the leader has:
/// counting the messages themselves took 187 ms p99 for a leader with 125,000 of them.
/// `accepted` there is exactly [`PUBLICLY_VISIBLE`](super::messages::PUBLICLY_VISIBLE), `replied` exactly [`REPLIED`](super::messages::REPLIED).
pub fn leader_counts(
    conn: &mut PgConnection,
    leader: LeaderId,
) -> Result<Option<LeaderCounts>, ApiError> {
    use crate::store::statistics::{CellQuery, read};
    let exists: bool =
        diesel::select(diesel::dsl::exists(leaders::table.find(leader))).get_result(conn)?;
    if !exists {
        return Ok(None);
    }
    // Every submission day there can be, in whole months.
    let all_time = CellQuery {
        from: chrono::NaiveDate::from_ymd_opt(1970, 1, 1),
        to: chrono::NaiveDate::from_ymd_opt(8999, 12, 31),
        leader: Some(leader.0),
        use_months: true,
        ..Default::default()
    };
    let (_, rows) = read(conn, &all_time)?;
    Ok(Some(rows.iter().fold(
        LeaderCounts {
            received: 0,
            replied: 0,
        },
        |sum, row| LeaderCounts {
            received: sum.received + row.counts.accepted,
            replied: sum.replied + row.counts.replied,
        },
    )))
}
