//! A mail request into the message sent: subject, plain text, and the signed
//! link it carries (made here, at send time, so no link ever travels
//! through the broker).

use shared::auth::links::{self, Purpose};
use shared::wire::{Mail, MailRequest, SigningKeys};

pub use super::rendered::Rendered;

/// `public_url`: where the API is reached from outside (`PUBLIC_URL`), the
/// base of every link. `None` for a recipient notice: its link comes from
/// the recipient-mail ledger ([`super::recipients::outgoing`]).
pub fn render(
    request: &MailRequest,
    keys: &SigningKeys,
    public_url: &str,
    now: u64,
) -> Option<Rendered> {
    let base = public_url.trim_end_matches('/');
    let link = |purpose, user_id, email, password_version| {
        links::sign(
            keys,
            &links::claims(purpose, user_id, email, password_version, now),
        )
    };
    let (subject, text) = match &request.mail {
        Mail::VerifyEmail { user_id } => {
            let email = Some(request.to.as_str().to_owned());
            verify_email(base, &link(Purpose::VerifyEmail, *user_id, email, None))
        }
        Mail::AccountExists => account_exists(base),
        Mail::ResetPassword {
            user_id,
            password_version,
        } => {
            let version = Some(password_version.clone());
            reset_password(base, &link(Purpose::ResetPassword, *user_id, None, version))
        }
        Mail::WebhookDisabled { webhook_id } => webhook_disabled(base, *webhook_id),
        Mail::RecipientNotice { .. } => return None,
    };
    Some(Rendered {
        to: request.to.as_str().to_owned(),
        subject: subject.to_owned(),
        // No name in the greeting: the name is the account's own words, and
        // the account may not be the address's owner.
        body: format!("Hello,\n\n{text}\n\n-- \nDeliverTrack\n"),
        html: None,
        unsubscribe: None,
    })
}

fn verify_email(base: &str, token: &str) -> (&'static str, String) {
    (
        "Confirm your email address for DeliverTrack",
        format!(
            "Please confirm that this address is yours: open the link \
             and sign in to the account. Until you do, parcels sent to \
             it do not show in the account.\n\n\
             {base}/verify-email#token={token}\n\n\
             The link works for {} hours, and only with the account's \
             password. If you did not sign up, someone typed your \
             address: they cannot confirm it without this mail, and you \
             can take the account over by resetting its password:\n\n\
             {base}/reset-password",
            links::VERIFY_TTL.as_secs() / 3600
        ),
    )
}

fn webhook_disabled(base: &str, webhook_id: uuid::Uuid) -> (&'static str, String) {
    (
        "Your DeliverTrack webhook was disabled",
        format!(
            "Every attempt to deliver events to your webhook endpoint {webhook_id} \
             has failed for days, so it was disabled: no more events are sent \
             to it. Its delivery log says what went wrong:\n\n\
             {base}/api/v1/webhooks/{webhook_id}/deliveries\n\n\
             Once the endpoint answers again, enable it with a PATCH of \
             {{\"paused\": false}} (or from the dashboard's Webhooks page)."
        ),
    )
}

fn account_exists(base: &str) -> (&'static str, String) {
    (
        "Someone tried to sign up with your address",
        format!(
            "Someone tried to create a DeliverTrack account with this address, \
             which already has one. If it was you, sign in instead; if you \
             forgot your password, ask for a reset link:\n\n\
             {base}/reset-password\n\n\
             If it was not you, there is nothing to do: no account was changed."
        ),
    )
}

fn reset_password(base: &str, token: &str) -> (&'static str, String) {
    (
        "Reset your DeliverTrack password",
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
            mail: Mail::VerifyEmail { user_id: user },
        };
        let mail = render(&request, &keys(), "https://dt.example/", 100).expect("an account mail");
        assert_eq!(mail.to, "ann@example.com");
        assert!(mail.body.starts_with("Hello,"));
        // The link opens a page (a GET changes nothing: mail scanners
        // follow links), its token after `#` so it reaches no server log.
        let token = mail
            .body
            .split("https://dt.example/verify-email#token=")
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
            mail: Mail::AccountExists,
        };
        let mail =
            render(&request, &keys(), "http://127.0.0.1:8080", 100).expect("an account mail");
        assert!(mail.body.starts_with("Hello,"));
        assert!(!mail.body.contains("token="));
    }
}
