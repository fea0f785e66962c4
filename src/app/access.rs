//! The access model's projections (docs/ACCESS.md): what a reader with only the `public` class
//! of a message sees of its texts. The anonymous board and a logged-in stranger get the same
//! masking, so logging in never means less protection.

use std::collections::HashMap;

use diesel::PgConnection;

use crate::domain::personal_data;
use crate::error::ApiError;
use crate::store::messages::{Message, MessageId};

/// A message's title and body as the public class shows them.
pub struct PublicText {
    pub title: String,
    pub body: String,
}

/// The public texts of `messages`: personal data masked with the board's masker (numbers in
/// the text, and the names, e-mails, phones and addresses of the author and the staff
/// involved). One context load for the whole set, whatever its size.
pub fn public_texts(
    conn: &mut PgConnection,
    messages: &[&Message],
) -> Result<HashMap<MessageId, PublicText>, ApiError> {
    if messages.is_empty() {
        return Ok(HashMap::new());
    }
    let owned: Vec<Message> = messages.iter().map(|m| (*m).clone()).collect();
    let ctx = crate::store::public::context(conn, &owned)?;
    Ok(owned
        .iter()
        .map(|m| {
            let known = ctx.known(m);
            (
                m.id,
                PublicText {
                    title: personal_data::mask(&m.title, &known),
                    body: personal_data::mask(&m.body, &known),
                },
            )
        })
        .collect())
}

/// Texts that belong to one message (its published replies) as the public class shows them.
pub fn mask_for_public(
    conn: &mut PgConnection,
    message: &Message,
    texts: Vec<String>,
) -> Result<Vec<String>, ApiError> {
    let ctx = crate::store::public::context(conn, std::slice::from_ref(message))?;
    let known = ctx.known(message);
    Ok(texts
        .iter()
        .map(|t| personal_data::mask(t, &known))
        .collect())
}
