//! The one-click unsubscribe link of recipient mail:
//! `<PUBLIC_URL>/api/v1/recipients/unsubscribe?token=<token>`, the token
//! `base64url(address).base64url(MAC)` under a key derived from
//! `MESSAGE_SIGNING_KEY` for this use alone. It does not expire: a mail
//! read a year later still unsubscribes. Whoever holds it can only stop
//! mail to that one address.

use crate::seal::SigningKeys;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;

const LABEL: &str = "delivertrack recipient unsubscribe v1";

/// The token for `address`.
pub fn token(keys: &SigningKeys, address: &str) -> String {
    let address = address.to_ascii_lowercase();
    let mac = keys.tag(LABEL, address.as_bytes());
    format!("{}.{}", B64.encode(address.as_bytes()), B64.encode(mac))
}

/// The address a token was made for, if it is genuine.
pub fn verify(keys: &SigningKeys, token: &str) -> Option<String> {
    let (address, mac) = token.split_once('.')?;
    let address = String::from_utf8(B64.decode(address).ok()?).ok()?;
    let given = B64.decode(mac).ok()?;
    let expected = keys.tag(LABEL, address.as_bytes());
    // Constant time over equal lengths.
    let same = given.len() == expected.len()
        && given
            .iter()
            .zip(&expected)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    same.then_some(address)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_names_its_address_and_cannot_be_made_for_another() {
        let keys = SigningKeys::new("k", b"0123456789abcdef0123456789abcdef", None);
        let token = token(&keys, "Bob@Example.com");
        assert_eq!(verify(&keys, &token).as_deref(), Some("bob@example.com"));
        let (_, mac) = token.split_once('.').unwrap();
        let forged = format!("{}.{mac}", B64.encode("eve@example.com"));
        assert_eq!(verify(&keys, &forged), None);
        let other = SigningKeys::new("k", b"another key of thirty-two bytes!", None);
        assert_eq!(verify(&other, &token), None);
        assert_eq!(verify(&keys, "garbage"), None);
    }
}
