//! A mail request into the message sent: subject, plain text, and the signed
//! link it carries (made here, at send time, so no link ever travels
//! through the broker).

use shared::auth::links::{self, Purpose};
use shared::wire::{Mail, MailRequest, SigningKeys};

/// A message ready for a transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub to: String,
    pub subject: String,
    pub body: String,
}

/// `public_url`: where the API is reached from outside (`PUBLIC_URL`), the
/// base of every link.
pub fn render(request: &MailRequest, keys: &SigningKeys, public_url: &str, now: u64) -> Rendered {
    let base = public_url.trim_end_matches('/');
    let greeting = match request.name.trim() {
        "" => "Hello,".to_owned(),
        name => format!("Hello {name},"),
    };
    let (subject, text) = match &request.mail {
        Mail::VerifyEmail { user_id } => {
            let claims = links::claims(
                Purpose::VerifyEmail,
                *user_id,
                Some(request.to.as_str().to_owned()),
                None,
                now,
            );
            let token = links::sign(keys, &claims);
            (
                "Confirm your email address for DeliverTrack".to_owned(),
                format!(
                    "Please confirm that this address is yours. Until you do, \
                     parcels sent to it do not show in your account.\n\n\
                     {base}/api/v1/auth/verify-email?token={token}\n\n\
                     The link works once, for {} hours. If you did not sign up, \
                     ignore this mail: nothing happens without the link.",
                    links::VERIFY_TTL.as_secs() / 3600
                ),
            )
        }
        Mail::AccountExists => (
            "Someone tried to sign up with your address".to_owned(),
            format!(
                "Someone tried to create a DeliverTrack account with this address, \
                 which already has one. If it was you, sign in instead; if you \
                 forgot your password, ask for a reset link:\n\n\
                 {base}/reset-password\n\n\
                 If it was not you, there is nothing to do: no account was changed."
            ),
        ),
        Mail::ResetPassword {
            user_id,
            password_version,
        } => {
            let claims = links::claims(
                Purpose::ResetPassword,
                *user_id,
                None,
                Some(password_version.clone()),
                now,
            );
            let token = links::sign(keys, &claims);
            (
                "Reset your DeliverTrack password".to_owned(),
                format!(
                    "Someone (we hope you) asked to reset the password of this \
                     account. Choose a new one here:\n\n\
                     {base}/reset-password#token={token}\n\n\
                     The link works once, for {} minutes, and signs you out \
                     everywhere. If you did not ask, ignore this mail: your \
                     password stays as it is.",
                    links::RESET_TTL.as_secs() / 60
                ),
            )
        }
    };
    Rendered {
        to: request.to.as_str().to_owned(),
        subject,
        body: format!("{greeting}\n\n{text}\n\n-- \nDeliverTrack\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn keys() -> SigningKeys {
        SigningKeys::new("k", b"0123456789abcdef0123456789abcdef", None)
    }

    #[test]
    fn a_verification_mail_carries_a_link_that_verifies_for_its_account() {
        let user = Uuid::new_v4();
        let request = MailRequest {
            to: shared::domain::Email::parse("ann@example.com").unwrap(),
            name: "Ann".into(),
            mail: Mail::VerifyEmail { user_id: user },
        };
        let mail = render(&request, &keys(), "https://dt.example/", 100);
        assert_eq!(mail.to, "ann@example.com");
        assert!(mail.body.starts_with("Hello Ann,"));
        let token = mail
            .body
            .split("https://dt.example/api/v1/auth/verify-email?token=")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .expect("a link");
        let claims = links::verify(&keys(), token, Purpose::VerifyEmail, 100).unwrap();
        assert_eq!(claims.user_id, user);
        assert_eq!(claims.email.as_deref(), Some("ann@example.com"));
    }

    #[test]
    fn an_account_exists_mail_carries_no_link_to_anything_of_the_account() {
        let request = MailRequest {
            to: shared::domain::Email::parse("bob@example.com").unwrap(),
            name: String::new(),
            mail: Mail::AccountExists,
        };
        let mail = render(&request, &keys(), "http://127.0.0.1:8080", 100);
        assert!(mail.body.starts_with("Hello,"));
        assert!(!mail.body.contains("token="));
    }
}
