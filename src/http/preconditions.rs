//! Optimistic concurrency: every mutable resource has a `version`; GET sends it as a strong
//! `ETag`, `If-None-Match` gives 304, and changes honour `If-Match` (412 when stale).

use actix_web::http::header::{self, HeaderMap};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder};
use serde::Serialize;

use crate::error::ApiError;

pub fn etag(version: i32) -> String {
    format!("\"{version}\"")
}

/// The entity tags of an `If-Match` / `If-None-Match` header.
#[derive(Debug, PartialEq, Eq)]
pub enum Tags {
    Absent,
    Any,
    List(Vec<Tag>),
}

/// One entity tag: its opaque part with the quotes (`"3"`), and whether it was sent weak (`W/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    pub weak: bool,
    pub opaque: String,
}

impl Tag {
    /// RFC 9110 §8.8.3.2 strong comparison (`If-Match`): a weak tag never matches.
    fn strongly_matches(&self, etag: &str) -> bool {
        !self.weak && self.opaque == etag
    }

    /// Weak comparison (`If-None-Match`): the opaque parts match, weak or not.
    fn weakly_matches(&self, etag: &str) -> bool {
        self.opaque == etag
    }
}

pub fn parse_tags(headers: &HeaderMap, name: header::HeaderName) -> Result<Tags, ApiError> {
    let Some(raw) = headers.get(&name) else {
        return Ok(Tags::Absent);
    };
    let raw = raw
        .to_str()
        .map_err(|_| ApiError::BadRequest(format!("{name} is not valid text")))?
        .trim();
    if raw == "*" {
        return Ok(Tags::Any);
    }
    let tags: Vec<Tag> = raw
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| match t.strip_prefix("W/") {
            Some(opaque) => Tag {
                weak: true,
                opaque: opaque.to_owned(),
            },
            None => Tag {
                weak: false,
                opaque: t.to_owned(),
            },
        })
        .collect();
    if tags.is_empty()
        || tags
            .iter()
            .any(|t| t.opaque.len() < 2 || !t.opaque.starts_with('"') || !t.opaque.ends_with('"'))
    {
        return Err(ApiError::BadRequest(format!(
            "{name} must be `*` or a list of entity tags such as \"3\""
        )));
    }
    Ok(Tags::List(tags))
}

/// How strictly a change needs `If-Match`.
#[derive(Clone, Copy)]
pub enum IfMatch {
    /// Honoured when sent (412 when stale).
    Optional,
    /// Must be sent (428 when missing); for documents edited by several people.
    Required,
}

/// A parsed `If-Match` condition, checked by the store against the row it has locked, so that
/// the comparison and the update are atomic.
#[derive(Debug)]
pub struct IfMatchCondition(Tags);

impl IfMatchCondition {
    pub fn from_request(req: &HttpRequest, mode: IfMatch) -> Result<Self, ApiError> {
        let tags = parse_tags(req.headers(), header::IF_MATCH)?;
        if tags == Tags::Absent && matches!(mode, IfMatch::Required) {
            return Err(ApiError::PreconditionRequired(
                "send If-Match with the ETag you read, so concurrent edits are not lost".into(),
            ));
        }
        Ok(Self(tags))
    }

    /// No condition (for internal callers such as the demo seed).
    pub fn none() -> Self {
        Self(Tags::Absent)
    }

    pub fn check(&self, current_version: i32) -> Result<(), ApiError> {
        match &self.0 {
            Tags::Absent | Tags::Any => Ok(()),
            Tags::List(tags) => {
                let current = etag(current_version);
                if tags.iter().any(|t| t.strongly_matches(&current)) {
                    Ok(())
                } else {
                    Err(ApiError::PreconditionFailed(format!(
                        "the resource is now at version {current_version} (ETag {current}); read it again and retry"
                    )))
                }
            }
        }
    }
}

/// Whether `If-None-Match` names `tag` (weak comparison, RFC 9110 §13.1.2).
pub fn not_modified(req: &HttpRequest, tag: &str) -> Result<bool, ApiError> {
    Ok(match parse_tags(req.headers(), header::IF_NONE_MATCH)? {
        Tags::Any => true,
        Tags::List(tags) => tags.iter().any(|t| t.weakly_matches(tag)),
        Tags::Absent => false,
    })
}

/// 200 with the body and its ETag, or 304 when `If-None-Match` already names it.
pub fn respond_with_etag<T: Serialize>(
    req: &HttpRequest,
    version: i32,
    body: &T,
    mut builder: HttpResponseBuilder,
) -> Result<HttpResponse, ApiError> {
    let tag = etag(version);
    if not_modified(req, &tag)? {
        return Ok(HttpResponse::NotModified()
            .insert_header((header::ETAG, tag))
            .finish());
    }
    Ok(builder.insert_header((header::ETAG, tag)).json(body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HeaderValue;

    fn headers(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::IF_MATCH, HeaderValue::from_str(v).unwrap());
        h
    }

    fn strong(t: &str) -> Tag {
        Tag {
            weak: false,
            opaque: t.into(),
        }
    }

    #[test]
    fn conditions_compare_versions() {
        assert!(
            IfMatchCondition(Tags::List(vec![strong("\"2\"")]))
                .check(2)
                .is_ok()
        );
        assert!(matches!(
            IfMatchCondition(Tags::List(vec![strong("\"2\"")])).check(3),
            Err(ApiError::PreconditionFailed(_))
        ));
        // RFC 9110: If-Match compares strongly, so a weak tag never matches.
        let weak = parse_tags(&headers("W/\"2\""), header::IF_MATCH).unwrap();
        assert!(matches!(
            IfMatchCondition(weak).check(2),
            Err(ApiError::PreconditionFailed(_))
        ));
        assert!(IfMatchCondition(Tags::Any).check(9).is_ok());
        assert!(IfMatchCondition(Tags::Absent).check(9).is_ok());
    }

    #[test]
    fn parses_tags() {
        assert_eq!(
            parse_tags(&HeaderMap::new(), header::IF_MATCH).unwrap(),
            Tags::Absent
        );
        assert_eq!(
            parse_tags(&headers("*"), header::IF_MATCH).unwrap(),
            Tags::Any
        );
        assert_eq!(
            parse_tags(&headers("\"1\", W/\"2\""), header::IF_MATCH).unwrap(),
            Tags::List(vec![
                strong("\"1\""),
                Tag {
                    weak: true,
                    opaque: "\"2\"".into()
                }
            ])
        );
        assert!(parse_tags(&headers("1"), header::IF_MATCH).is_err());
        assert!(parse_tags(&headers(","), header::IF_MATCH).is_err());
    }
}
