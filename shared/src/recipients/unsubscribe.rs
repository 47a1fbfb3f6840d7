//! The one-click unsubscribe link of recipient mail:
//! `<PUBLIC_URL>/api/v1/recipients/unsubscribe?token=<token>`. The token is
//! random (`dtu_` and 40 hex digits, 160 bits), made the first time an
//! address is mailed and kept with it (`recipient_unsubscribe_tokens`):
//! it says nothing about the address to whoever sees the link in a log,
//! and no key rotation breaks it: a mail read a year later still
//! unsubscribes. Whoever holds it can only stop mail to that one address.

use crate::auth::api_key::random_hex;

const PREFIX: &str = "dtu_";
const HEX_DIGITS: usize = 40;

/// A new token for an address mailed for the first time.
pub fn new_token() -> String {
    format!("{PREFIX}{}", random_hex(HEX_DIGITS / 2))
}

/// Whether `token` could be one (checked before any database is asked).
pub fn well_formed(token: &str) -> bool {
    token.strip_prefix(PREFIX).is_some_and(|digits| {
        digits.len() == HEX_DIGITS
            && digits
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// The link a mail carries, under `base` (`PUBLIC_URL`, no trailing `/`).
pub fn link(base: &str, token: &str) -> String {
    format!("{base}/api/v1/recipients/unsubscribe?token={token}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_only_their_own_shape_passes() {
        let (one, two) = (new_token(), new_token());
        assert_ne!(one, two);
        assert!(well_formed(&one) && well_formed(&two), "{one} {two}");
        assert!(!well_formed(&one.to_uppercase()));
        assert!(!well_formed(&one[..one.len() - 1]));
        assert!(!well_formed(&format!("{one}0")));
        assert!(!well_formed("dtu_zz"));
        assert!(!well_formed("Ym9iQGV4YW1wbGUuY29t.bWFj"));
    }
}
