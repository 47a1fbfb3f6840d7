//! What a recipient mail says, in each language: plain text and HTML, the
//! tracking page's link and the unsubscribe link. Only DeliverTrack's own
//! words, the tracking number (letters, digits, `-`, `_`) and times.

use super::super::rendered::Rendered;
use shared::notices::Eta;
use shared::recipients::{unsubscribe, Locale, NoticeKind, Preferences};

/// The mail for `notice` of `tracking_number` to `to`.
pub fn render(
    to: &str,
    tracking_number: &str,
    notice: NoticeKind,
    eta: Option<&Eta>,
    preferences: &Preferences,
    unsubscribe_token: &str,
    base: &str,
) -> Rendered {
    let track = format!("{base}/track/{tracking_number}");
    let unsubscribe = unsubscribe::link(base, unsubscribe_token);
    let window = eta.map(|eta| window(eta, &preferences.time_zone));
    let (subject, line) = words(
        preferences.locale,
        notice,
        tracking_number,
        window.as_deref(),
    );
    let (open, stop) = match preferences.locale {
        Locale::En => ("Follow it here", "Stop these mails"),
        Locale::De => ("Hier verfolgen", "Diese Mails abbestellen"),
    };
    let body = format!("{line}\n\n{open}: {track}\n\n-- \nDeliverTrack\n{stop}: {unsubscribe}\n");
    let html = format!(
        "<!doctype html><html lang=\"{lang}\"><body><p>{line}</p>\
         <p><a href=\"{track}\">{open}</a></p>\
         <hr><p style=\"font-size:small\">DeliverTrack · <a href=\"{unsubscribe}\">{stop}</a></p>\
         </body></html>",
        lang = preferences.locale.as_str(),
    );
    Rendered {
        to: to.to_owned(),
        subject,
        body,
        html: Some(html),
        unsubscribe: Some(unsubscribe),
    }
}

/// "14:05–14:35" in the recipient's time zone.
fn window(eta: &Eta, time_zone: &str) -> String {
    let local = |t| shared::recipients::quiet::clock(time_zone, t);
    format!("{}–{}", local(eta.earliest), local(eta.latest))
}

fn words(locale: Locale, notice: NoticeKind, tn: &str, window: Option<&str>) -> (String, String) {
    match (locale, notice) {
        (Locale::En, NoticeKind::OutForDelivery) => (
            format!("Your parcel {tn} is out for delivery"),
            match window {
                Some(w) => format!("Your parcel {tn} is on its way to you today, expected between {w}."),
                None => format!("Your parcel {tn} is on its way to you today."),
            },
        ),
        (Locale::En, NoticeKind::Delivered) => (
            format!("Your parcel {tn} was delivered"),
            format!("Your parcel {tn} was delivered."),
        ),
        (Locale::En, NoticeKind::FailedAttempt) => (
            format!("We could not deliver your parcel {tn}"),
            format!("We tried to deliver your parcel {tn} but could not. The tracking page shows what happens next."),
        ),
        (Locale::De, NoticeKind::OutForDelivery) => (
            format!("Ihr Paket {tn} ist in Zustellung"),
            match window {
                Some(w) => format!("Ihr Paket {tn} kommt heute zu Ihnen, voraussichtlich zwischen {w} Uhr."),
                None => format!("Ihr Paket {tn} kommt heute zu Ihnen."),
            },
        ),
        (Locale::De, NoticeKind::Delivered) => (
            format!("Ihr Paket {tn} wurde zugestellt"),
            format!("Ihr Paket {tn} wurde zugestellt."),
        ),
        (Locale::De, NoticeKind::FailedAttempt) => (
            format!("Ihr Paket {tn} konnte nicht zugestellt werden"),
            format!("Wir konnten Ihr Paket {tn} nicht zustellen. Auf der Sendungsseite sehen Sie, wie es weitergeht."),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_out_for_delivery_mail_carries_its_window_and_both_links() {
        let eta = Eta {
            at: "2026-12-07T13:20:00Z".parse().unwrap(),
            earliest: "2026-12-07T13:05:00Z".parse().unwrap(),
            latest: "2026-12-07T13:35:00Z".parse().unwrap(),
        };
        let preferences = Preferences {
            locale: Locale::De,
            time_zone: "Europe/Berlin".into(),
            notices: NoticeKind::all(),
        };
        let mail = render(
            "bob@example.com",
            "TRK1",
            NoticeKind::OutForDelivery,
            Some(&eta),
            &preferences,
            "dtu_0123",
            "https://dt.example",
        );
        assert_eq!(mail.subject, "Ihr Paket TRK1 ist in Zustellung");
        assert!(
            mail.body.contains("zwischen 14:05–14:35 Uhr"),
            "{}",
            mail.body
        );
        assert!(mail.body.contains("https://dt.example/track/TRK1"));
        let link = mail.unsubscribe.expect("a link");
        assert_eq!(
            link,
            "https://dt.example/api/v1/recipients/unsubscribe?token=dtu_0123"
        );
        assert!(mail.html.unwrap().contains(&link));
    }
}
