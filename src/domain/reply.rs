//! Vocabularies and pure rules of replies, their review, citizen feedback and return visits.

use chrono::{DateTime, Duration, Utc};

use super::personal_data;

crate::text_enum! {
    /// What a reply is.
    pub enum ReplyKind {
        /// A progress reply (阶段性答复): the message stays in progress.
        Interim => "interim",
        /// The answer (最终答复): the message is replied once it is published.
        Final => "final",
    }
}

crate::text_enum! {
    /// Where a reply stands.
    pub enum ReplyStatus {
        /// Being written by the lead unit; editable.
        Draft => "draft",
        /// Waiting for a reviewer.
        Submitted => "submitted",
        /// Sent back by the reviewer with comments; the lead unit revises it (editable).
        Returned => "returned",
        /// Approved; ready to publish.
        Approved => "approved",
        /// On the public board (and sent to the citizen).
        Published => "published",
        /// Abandoned by the unit, or ended because the message left the unit.
        Discarded => "discarded",
    }
}

impl ReplyStatus {
    /// The unit may still change the text.
    pub fn is_editable(self) -> bool {
        matches!(self, ReplyStatus::Draft | ReplyStatus::Returned)
    }

    /// Not yet published nor discarded.
    pub fn in_flight(self) -> bool {
        matches!(
            self,
            ReplyStatus::Draft
                | ReplyStatus::Submitted
                | ReplyStatus::Returned
                | ReplyStatus::Approved
        )
    }
}

/// The steps of a reply's own life (the message's status table decides who).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyStep {
    Revise,
    Submit,
    Approve,
    Return,
    Publish,
    Discard,
}

/// The reply's status after `step`, or why the step does not apply (a 409).
pub fn reply_next(from: ReplyStatus, step: ReplyStep) -> Result<ReplyStatus, String> {
    use ReplyStatus as R;
    use ReplyStep as P;
    match (from, step) {
        (R::Draft | R::Returned, P::Revise) => Ok(R::Draft),
        (R::Draft, P::Submit) => Ok(R::Submitted),
        (R::Returned, P::Submit) => {
            Err("a returned reply must be revised before it is submitted again".into())
        }
        (R::Submitted, P::Approve) => Ok(R::Approved),
        (R::Submitted, P::Return) => Ok(R::Returned),
        (R::Approved, P::Publish) => Ok(R::Published),
        (R::Draft | R::Returned | R::Submitted | R::Approved, P::Discard) => Ok(R::Discarded),
        (R::Draft | R::Returned | R::Submitted, P::Publish) => Err(format!(
            "the reply is `{from}`; only an approved reply can be published"
        )),
        _ => Err(format!(
            "a reply that is `{from}` cannot be given this step"
        )),
    }
}

crate::text_enum! {
    /// A reviewer's decision on one revision.
    pub enum ReviewDecision {
        Approved => "approved",
        Returned => "returned",
    }
}

/// Nobody approves their own words: a reviewer who wrote any revision of the reply may not
/// approve (nor return) it.
pub fn may_review(reviewer: uuid::Uuid, editors: &[uuid::Uuid]) -> bool {
    !editors.contains(&reviewer)
}

/// The province's editorial rules for replies.
#[derive(Debug, Clone)]
pub struct EditorialRules {
    /// Fewest characters (after trimming) a reply may have.
    pub min_chars: usize,
    pub banned_phrases: Vec<String>,
}

/// One failed editorial check: (code, message), reported on the field `body`.
pub type EditorialProblem = (&'static str, String);

/// Check a reply before review. `public`: the reply will be on the public board, so the
/// citizen's personal data must not be in it; `known` are the author's own data (name, phone,
/// e-mail) that must not be pasted in either.
pub fn editorial_problems(
    body: &str,
    rules: &EditorialRules,
    public: bool,
    known: &[&str],
) -> Vec<EditorialProblem> {
    let mut problems = Vec::new();
    let chars = body.trim().chars().count();
    if chars == 0 {
        problems.push(("empty", "the reply is empty".to_owned()));
    } else if chars < rules.min_chars {
        problems.push((
            "too_short",
            format!(
                "the reply has {chars} characters; the province requires at least {}",
                rules.min_chars
            ),
        ));
    }
    if public {
        let found_numbers: Vec<&str> = personal_data::find(body)
            .into_iter()
            .map(|(_, r)| &body[r])
            .collect();
        for (kind, range) in personal_data::find(body) {
            let found = &body[range];
            problems.push((
                "personal_data",
                format!(
                    "the reply contains {} (`{}`); a public reply must not show the citizen's personal data",
                    kind.describe(),
                    personal_data::mask(found, &[])
                ),
            ));
        }
        for k in known
            .iter()
            .map(|k| k.trim())
            .filter(|k| k.chars().count() >= 2)
        {
            // A known phone number already reported as a number is not reported twice.
            if body.contains(k) && !found_numbers.iter().any(|f| f.contains(k)) {
                problems.push((
                    "personal_data",
                    "the reply contains the citizen's name or contact data; a public reply must not show it"
                        .to_owned(),
                ));
                break;
            }
        }
    }
    for phrase in &rules.banned_phrases {
        if !phrase.trim().is_empty() && body.contains(phrase.trim()) {
            problems.push((
                "banned_phrase",
                format!(
                    "the reply uses the phrase `{}`, which the province does not allow",
                    phrase.trim()
                ),
            ));
        }
    }
    problems
}

crate::text_enum! {
    /// The author's verdict on a final reply.
    pub enum Rating {
        Satisfied => "satisfied",
        BasicallySatisfied => "basically_satisfied",
        Unsatisfied => "unsatisfied",
    }
}

crate::text_enum! {
    /// What an unsatisfied rating asks of the supervisor.
    pub enum FeedbackFlag {
        /// Not unsatisfied: nothing to do.
        None => "none",
        /// Unsatisfied and not yet decided: the message cannot close on its own.
        Open => "open",
        /// The supervisor sent the message back to the unit.
        Reopened => "reopened",
        /// The supervisor closed the message with an explanation.
        Closed => "closed",
    }
}

/// How many times the author may change a rating once given. Each change is a ledger event, a
/// change-feed item and a webhook delivery for every subscriber, so it is bounded; a citizen who
/// changed their mind three times has said what they think.
pub const MAX_RATING_CHANGES: i32 = 3;

/// Why a rating already changed `changes` times may not change again, if it may not.
pub fn rating_change_refusal(changes: i32) -> Option<String> {
    (changes >= MAX_RATING_CHANGES).then(|| {
        format!("a rating may be changed at most {MAX_RATING_CHANGES} times; this one has been")
    })
}

/// The flag a (new or changed) rating leaves, given the current one. A decided flag stays.
pub fn flag_after(current: Option<FeedbackFlag>, rating: Rating) -> FeedbackFlag {
    match current {
        Some(f @ (FeedbackFlag::Reopened | FeedbackFlag::Closed)) => f,
        _ if rating == Rating::Unsatisfied => FeedbackFlag::Open,
        _ => FeedbackFlag::None,
    }
}

/// End of the rating window of a reply published at `published_at` (calendar days).
pub fn feedback_until(published_at: DateTime<Utc>, window_days: i32) -> DateTime<Utc> {
    published_at + Duration::days(i64::from(window_days))
}

crate::text_enum! {
    /// What kind of verification.
    pub enum VisitKind {
        /// A return visit to the citizen (回访).
        ReturnVisit => "return_visit",
        /// Checking on site that the matter was dealt with (实地核查).
        OnSiteCheck => "on_site_check",
    }
}

crate::text_enum! {
    pub enum VisitStatus {
        Planned => "planned",
        Done => "done",
        Cancelled => "cancelled",
    }
}

crate::text_enum! {
    /// How the message was picked.
    pub enum VisitSelection {
        Manual => "manual",
        /// By `POST /return-visit-samples` (the seed makes it reproducible).
        Sampled => "sampled",
    }
}

crate::text_enum! {
    pub enum VisitMethod {
        Phone => "phone",
        OnSite => "on_site",
    }
}

crate::text_enum! {
    /// What the visit found.
    pub enum VisitFinding {
        Resolved => "resolved",
        PartlyResolved => "partly_resolved",
        NotResolved => "not_resolved",
        CouldNotReach => "could_not_reach",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names() {
        ReplyKind::assert_wire_names();
        ReplyStatus::assert_wire_names();
        ReviewDecision::assert_wire_names();
        Rating::assert_wire_names();
        FeedbackFlag::assert_wire_names();
        VisitKind::assert_wire_names();
        VisitStatus::assert_wire_names();
        VisitSelection::assert_wire_names();
        VisitMethod::assert_wire_names();
        VisitFinding::assert_wire_names();
    }

    #[test]
    fn the_review_path() {
        use ReplyStatus as R;
        use ReplyStep as P;
        assert_eq!(reply_next(R::Draft, P::Submit), Ok(R::Submitted));
        assert_eq!(reply_next(R::Submitted, P::Return), Ok(R::Returned));
        assert!(reply_next(R::Returned, P::Submit).is_err());
        assert_eq!(reply_next(R::Returned, P::Revise), Ok(R::Draft));
        assert_eq!(reply_next(R::Submitted, P::Approve), Ok(R::Approved));
        assert_eq!(reply_next(R::Approved, P::Publish), Ok(R::Published));
        // Publishing a draft, approving a draft, editing after approval: all refused.
        assert!(reply_next(R::Draft, P::Publish).is_err());
        assert!(reply_next(R::Draft, P::Approve).is_err());
        assert!(reply_next(R::Approved, P::Revise).is_err());
        assert!(reply_next(R::Submitted, P::Revise).is_err());
        assert!(reply_next(R::Published, P::Discard).is_err());
        assert!(reply_next(R::Discarded, P::Revise).is_err());
        for s in ReplyStatus::ALL {
            assert_eq!(s.is_editable(), reply_next(*s, P::Revise).is_ok(), "{s}");
        }
    }

    #[test]
    fn self_approval_is_refused() {
        let me = uuid::Uuid::now_v7();
        let other = uuid::Uuid::now_v7();
        assert!(!may_review(me, &[other, me]));
        assert!(may_review(me, &[other]));
    }

    fn rules() -> EditorialRules {
        EditorialRules {
            min_chars: 10,
            banned_phrases: vec!["不归我们管".into(), " ".into()],
        }
    }

    fn codes(body: &str, public: bool, known: &[&str]) -> Vec<&'static str> {
        editorial_problems(body, &rules(), public, known)
            .into_iter()
            .map(|(c, _)| c)
            .collect()
    }

    #[test]
    fn editorial_checks() {
        let good = "经核实，该路口信号灯已于11月20日修复，感谢您的监督。";
        assert_eq!(codes(good, true, &["张三丰"]), Vec::<&str>::new());
        assert_eq!(codes("   ", true, &[]), vec!["empty"]);
        assert_eq!(codes("已修复。", true, &[]), vec!["too_short"]);
        assert_eq!(
            codes("经核实，请拨打13800138000联系张三丰。", true, &["张三丰"]),
            vec!["personal_data", "personal_data"]
        );
        // The citizen's own phone number is one finding, not two.
        assert_eq!(
            codes(
                "经核实，请拨打13800138000了解进展。",
                true,
                &["13800138000"]
            ),
            vec!["personal_data"]
        );
        // Private messages' replies are not on the board.
        assert_eq!(
            codes("经核实，请拨打13800138000联系张三丰。", false, &["张三丰"]),
            Vec::<&str>::new()
        );
        assert_eq!(
            codes("经核实，此事不归我们管，请向其他部门反映。", false, &[]),
            vec!["banned_phrase"]
        );
        let problems = editorial_problems("短", &rules(), false, &[]);
        assert!(problems[0].1.contains("at least 10"), "{problems:?}");
    }

    #[test]
    fn flags_follow_the_rating_until_decided() {
        assert_eq!(flag_after(None, Rating::Unsatisfied), FeedbackFlag::Open);
        assert_eq!(flag_after(None, Rating::Satisfied), FeedbackFlag::None);
        assert_eq!(
            flag_after(Some(FeedbackFlag::Open), Rating::BasicallySatisfied),
            FeedbackFlag::None
        );
        assert_eq!(
            flag_after(Some(FeedbackFlag::Closed), Rating::Unsatisfied),
            FeedbackFlag::Closed
        );
    }

    #[test]
    fn the_window_is_in_calendar_days() {
        let t: DateTime<Utc> = "2026-11-26T02:00:00Z".parse().unwrap_or_default();
        assert_eq!(
            feedback_until(t, 15),
            "2026-12-11T02:00:00Z"
                .parse::<DateTime<Utc>>()
                .unwrap_or_default()
        );
    }

    #[test]
    fn a_rating_changes_at_most_three_times() {
        assert_eq!(rating_change_refusal(0), None);
        assert_eq!(rating_change_refusal(MAX_RATING_CHANGES - 1), None);
        assert!(rating_change_refusal(MAX_RATING_CHANGES).is_some());
        assert!(rating_change_refusal(MAX_RATING_CHANGES + 7).is_some());
    }
}
