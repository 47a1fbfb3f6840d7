//! A create's recipient mail fields: `notify_recipient: true` (with
//! `recipient_email`), `recipient_locale` (`en`, `de`; default `en`),
//! `recipient_time_zone` (IANA; default `UTC`) for quiet hours, and
//! `recipient_notices` (which of `out_for_delivery`, `delivered`,
//! `failed_attempt`; default all).

use shared::fields::Fields;
use shared::recipients::{quiet, Locale, NoticeKind, Preferences};

/// The recipient's preferences, when mail was asked for; problems go into
/// `fields`.
pub fn parse(fields: &mut Fields<'_>, has_email: bool) -> Option<Preferences> {
    let asked = match fields.get("notify_recipient") {
        None | Some(serde_json::Value::Null) => false,
        Some(serde_json::Value::Bool(asked)) => *asked,
        Some(_) => {
            fields.invalid("notify_recipient", "must be true or false");
            false
        }
    };
    let locale = fields
        .optional_with("recipient_locale", Locale::parse)
        .unwrap_or_default();
    let time_zone = fields
        .optional_with("recipient_time_zone", |raw| {
            if quiet::valid_time_zone(raw) {
                Ok(raw.to_owned())
            } else {
                Err("must be an IANA time zone, e.g. Europe/Berlin")
            }
        })
        .unwrap_or_else(|| "UTC".to_owned());
    let notices = notices(fields);
    if !asked {
        return None;
    }
    if !has_email {
        fields.invalid("notify_recipient", "needs recipient_email");
        return None;
    }
    if let Some(serde_json::Value::String(email)) = fields.get("recipient_email") {
        if !bare_address(email) {
            fields.invalid("recipient_email", "must be a bare address to mail it");
            return None;
        }
    }
    Some(Preferences {
        locale,
        time_zone,
        notices,
    })
}

/// `recipient_notices`: a non-empty list of known kinds, each once.
fn notices(fields: &mut Fields<'_>) -> Vec<NoticeKind> {
    const PROBLEM: &str = "must be a non-empty list of out_for_delivery, delivered, failed_attempt";
    let list = match fields.get("recipient_notices") {
        None | Some(serde_json::Value::Null) => return NoticeKind::all(),
        Some(serde_json::Value::Array(list)) if !list.is_empty() && list.len() <= 3 => list,
        Some(_) => {
            fields.invalid("recipient_notices", PROBLEM);
            return NoticeKind::all();
        }
    };
    let mut kinds = Vec::with_capacity(list.len());
    for item in list {
        match item.as_str().and_then(NoticeKind::parse) {
            Some(kind) if !kinds.contains(&kind) => kinds.push(kind),
            _ => {
                fields.invalid("recipient_notices", PROBLEM);
                return NoticeKind::all();
            }
        }
    }
    kinds
}

/// `local@domain` and nothing else: a display name (`x<a@b>`) or quoted
/// local part (`"a"@b`) is another spelling of an address that reaches the
/// same inbox, which would let a sender step around its unsubscribe.
fn bare_address(email: &str) -> bool {
    !email.is_empty()
        && email.matches('@').count() == 1
        && !email
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>\"()[],;:\\".contains(c))
}

#[cfg(test)]
mod tests {
    use super::bare_address;

    #[test]
    fn only_bare_addresses_are_mailed() {
        assert!(bare_address("bob.smith+parcels@example.com"));
        for alias in [
            "x<bob@example.com>",
            "\"bob\"@example.com",
            "bob@[127.0.0.1]",
            "a b@c.d",
            "a@b@c",
        ] {
            assert!(!bare_address(alias), "{alias}");
        }
    }
}
