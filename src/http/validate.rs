//! `validator` rules of the wire types that several resources share (a region code, a phone
//! number): one place, so that no handler file borrows them from another.

use validator::ValidationError;

/// `validator` rule: six digits.
pub fn validate_region_code(code: &str) -> Result<(), ValidationError> {
    if code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        let mut e = ValidationError::new("format");
        e.message = Some("must be a six-digit GB/T 2260 region code".into());
        Err(e)
    }
}

pub fn validate_phone(phone: &str) -> Result<(), ValidationError> {
    let digits: Vec<char> = phone.chars().filter(|c| *c != '-').collect();
    let mobile = digits.len() == 11 && digits[0] == '1' && ('3'..='9').contains(&digits[1]);
    let landline = digits.first() == Some(&'0') && (10..=12).contains(&digits.len());
    let shape =
        phone.chars().all(|c| c.is_ascii_digit() || c == '-') && phone.matches('-').count() <= 1;
    if shape && (mobile || landline) && digits.iter().all(char::is_ascii_digit) {
        Ok(())
    } else {
        let mut e = ValidationError::new("format");
        e.message = Some(
            "must be a mainland mobile (13800138000) or landline (0931-8888888) number".into(),
        );
        Err(e)
    }
}
