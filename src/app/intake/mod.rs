//! Intake: the one way a message comes in (issue 18). `POST /api/v1/messages` (citizens, and
//! staff registering a phone call, letter or visit), Open311's `requests.json` and the liaison
//! platform's imports ([`import`]) each map their own fields to a [`NewMessage`] and hand it
//! here. In one transaction intake counts the author's quota, checks the references (an
//! active leader the writer may address, an active category, an active region inside the
//! leader's), draws the tracking number, stores the message with its `submit` event and runs
//! early warning. The webhook outbox, the change feed and the statistics follow from the
//! database's triggers on those rows.

pub mod import;

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::{Connection, PgConnection};

use crate::domain::ids::{CategoryId, LeaderId, UnitId, UserId};
use crate::domain::quota::IntakeQuota;
use crate::error::ApiError;
use crate::store::alerts;
use crate::store::messages::{self as store, EventActor, ExternalRef, Insert, Message, NewMessage};

/// Who submits and under which limits; the same for every message of a batch.
#[derive(Debug, Clone, Copy)]
pub struct Intake<'a> {
    /// As the ledger records it.
    pub actor: EventActor,
    /// Of tracking numbers (`GS`).
    pub tracking_prefix: &'a str,
    /// Submissions per author account (messages without an author are not counted).
    pub quota: IntakeQuota,
    pub leaders: Addressable,
    pub now: DateTime<Utc>,
}

/// Which leaders the writer may address.
#[derive(Debug, Clone, Copy)]
pub enum Addressable {
    /// Every leader: citizens, administrators, integration clients.
    Any,
    /// Staff registering a message for a citizen: the leaders whose intake their unit runs
    /// (none without a unit).
    OfUnit(Option<UnitId>),
}

/// One message to take in.
#[derive(Debug, Clone, Copy)]
pub struct Submission<'a> {
    pub new: &'a NewMessage,
    /// Imported messages: the platform's key.
    pub external: Option<&'a ExternalRef>,
}

/// A message taken in.
#[derive(Debug)]
pub struct Submitted {
    /// As it is after early warning.
    pub message: Message,
    /// The `submit` event's hash, the author's receipt (early warning may add events after it).
    pub receipt: Vec<u8>,
    /// When the `submit` event was recorded.
    pub recorded_at: DateTime<Utc>,
}

/// Take in one message.
pub fn submit(
    conn: &mut PgConnection,
    intake: &Intake<'_>,
    new: &NewMessage,
) -> Result<Submitted, ApiError> {
    let one = Submission {
        new,
        external: None,
    };
    submit_all(conn, intake, &[one])?
        .pop()
        .unwrap_or_else(|| Err(ApiError::Internal("intake lost the message".into())))
}

/// Take in several messages at once (the platform's batches): one result per submission, in
/// order; a submission failing its checks fails alone. `Err` when the batch could not be
/// stored: then nothing of it was.
pub fn submit_all(
    conn: &mut PgConnection,
    intake: &Intake<'_>,
    items: &[Submission<'_>],
) -> Result<Vec<Result<Submitted, ApiError>>, ApiError> {
    conn.transaction(|conn| {
        let refs = References::load(conn, items.iter().map(|s| s.new))?;
        submit_with(conn, intake, &refs, items)
    })
}

/// [`submit_all`] with the references loaded (an import loads them once for its whole batch).
/// Runs in the caller's transaction.
fn submit_with(
    conn: &mut PgConnection,
    intake: &Intake<'_>,
    refs: &References,
    items: &[Submission<'_>],
) -> Result<Vec<Result<Submitted, ApiError>>, ApiError> {
    let mut quota = Quota::new(intake);
    let mut checked = Vec::with_capacity(items.len());
    for s in items {
        let allowed = quota.admit(conn, s.new.author_id)?;
        checked.push(allowed.and_then(|()| refs.resolve(s.new, intake.leaders)));
    }
    let inserts: Vec<Insert> = items
        .iter()
        .zip(&checked)
        .filter_map(|(s, c)| {
            let (code, path, unit) = c.as_ref().ok()?;
            Some(Insert {
                new: s.new,
                region_code: code,
                region_path: path,
                intake_unit_id: *unit,
                external: s.external,
            })
        })
        .collect();
    let mut stored = store::insert_all(
        conn,
        &inserts,
        intake.actor,
        intake.tracking_prefix,
        intake.now,
    )?
    .into_iter();
    let rules = if inserts.is_empty() {
        Vec::new()
    } else {
        alerts::intake_rules(conn)?
    };
    let mut out = Vec::with_capacity(items.len());
    for c in checked {
        out.push(match c {
            Err(e) => Err(e),
            Ok(_) => {
                let message = stored
                    .next()
                    .ok_or_else(|| ApiError::Internal("intake lost a message".into()))?;
                let receipt = message.chain_head.clone();
                let recorded_at = message.last_activity_at;
                // Early warning looks at the message in the same transaction.
                let message = alerts::evaluate_intake_with(conn, &rules, &message, intake.now)?;
                Ok(Submitted {
                    message,
                    receipt,
                    recorded_at,
                })
            }
        });
    }
    Ok(out)
}

/// The authors' quota over a batch: their stored submissions, read under a lock on the
/// author (concurrent submissions of one account count one after the other), and those
/// admitted earlier in the batch.
struct Quota {
    limits: IntakeQuota,
    now: DateTime<Utc>,
    recent: HashMap<UserId, Vec<DateTime<Utc>>>,
}

impl Quota {
    fn new(intake: &Intake<'_>) -> Self {
        Quota {
            limits: intake.quota,
            now: intake.now,
            recent: HashMap::new(),
        }
    }

    /// `Ok(Err(429))` when the author is over the quota; `Err` when it could not be read.
    fn admit(
        &mut self,
        conn: &mut PgConnection,
        author: Option<UserId>,
    ) -> Result<Result<(), ApiError>, ApiError> {
        let Some(author) = author.filter(|_| !self.limits.is_unlimited()) else {
            return Ok(Ok(()));
        };
        let recent = match self.recent.entry(author) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => e.insert(
                store::latest_submissions_locked(conn, author, self.limits.lookback())?,
            ),
        };
        let limits = self.limits;
        Ok(match limits.check(self.now, recent) {
            Ok(()) => {
                recent.insert(0, self.now);
                Ok(())
            }
            Err(retry_after_secs) => Err(ApiError::RateLimited {
                detail: format!(
                    "this account has submitted its quota of messages ({} an hour, {} a day); try again later",
                    limits.per_hour, limits.per_day
                ),
                retry_after_secs,
            }),
        })
    }
}

/// What the messages of a batch refer to, loaded once: leaders (region, intake unit,
/// active), categories (active) and regions (path, active).
#[derive(Default)]
struct References {
    leaders: HashMap<LeaderId, (String, UnitId, bool)>,
    categories: HashMap<CategoryId, bool>,
    regions: HashMap<String, (String, bool)>,
}

impl References {
    fn load<'a>(
        conn: &mut PgConnection,
        items: impl Iterator<Item = &'a NewMessage> + Clone,
    ) -> Result<References, ApiError> {
        let mut leader_ids: Vec<LeaderId> = items.clone().map(|n| n.leader_id).collect();
        leader_ids.sort_unstable();
        leader_ids.dedup();
        let mut category_ids: Vec<CategoryId> = items.clone().map(|n| n.category_id).collect();
        category_ids.sort_unstable();
        category_ids.dedup();
        let leaders = crate::store::leaders::intake_facts(conn, &leader_ids)?;
        let categories = crate::store::categories::active_flags(conn, &category_ids)?;
        let mut codes: Vec<String> = items
            .filter_map(|n| n.region_code.clone())
            .chain(leaders.iter().map(|l| l.1.clone()))
            .collect();
        codes.sort_unstable();
        codes.dedup();
        let regions = crate::store::regions::paths_of(conn, &codes)?;
        Ok(References {
            leaders: leaders
                .into_iter()
                .map(|(id, region, unit, active)| (id, (region, unit, active)))
                .collect(),
            categories: categories.into_iter().collect(),
            regions: regions
                .into_iter()
                .map(|(code, path, active)| (code, (path, active)))
                .collect(),
        })
    }

    /// The region of a leader, when the leader exists.
    fn leader_region(&self, id: LeaderId) -> Option<&str> {
        self.leaders.get(&id).map(|(region, _, _)| region.as_str())
    }

    /// The checks of every message coming in: an existing leader the writer may address, still
    /// taking messages; an active category; an active region inside the leader's (the leader's
    /// own by default). Returns (region code, region path, intake unit).
    fn resolve(
        &self,
        new: &NewMessage,
        addressable: Addressable,
    ) -> Result<(String, String, UnitId), ApiError> {
        let Some((leader_region, intake_unit, leader_active)) = self.leaders.get(&new.leader_id)
        else {
            return Err(ApiError::field("leader_id", "not_found", "no such leader"));
        };
        if let Addressable::OfUnit(unit) = addressable
            && unit != Some(*intake_unit)
        {
            return Err(ApiError::Forbidden(
                "you may register messages only for the leaders your unit handles".into(),
            ));
        }
        if !leader_active {
            return Err(ApiError::field(
                "leader_id",
                "inactive",
                "this leader no longer takes messages",
            ));
        }
        match self.categories.get(&new.category_id) {
            Some(true) => {}
            Some(false) => {
                return Err(ApiError::field(
                    "category_id",
                    "inactive",
                    "this category is deactivated",
                ));
            }
            None => {
                return Err(ApiError::field(
                    "category_id",
                    "not_found",
                    "no such category",
                ));
            }
        }
        let code = new
            .region_code
            .clone()
            .unwrap_or_else(|| leader_region.clone());
        let (path, active) = self.regions.get(&code).ok_or_else(|| {
            ApiError::field("region_code", "not_found", format!("no region {code}"))
        })?;
        if !active {
            return Err(ApiError::field(
                "region_code",
                "inactive",
                "this region is deactivated",
            ));
        }
        let inside = self
            .regions
            .get(leader_region)
            .is_some_and(|(leader_path, _)| path.starts_with(leader_path.as_str()));
        if !inside {
            return Err(ApiError::field(
                "region_code",
                "out_of_jurisdiction",
                format!("must lie inside the leader's region {leader_region}"),
            ));
        }
        Ok((code, path.clone(), *intake_unit))
    }
}
