//! A created package whose recipient asked for mail is remembered in the
//! package window's transaction (so a create is never applied without it).

use shared::wire::{Command, Envelope, Event, PackageEvent};
use sqlx::PgConnection;

/// Records the preferences of the packages this window created.
pub async fn remember(
    tx: &mut PgConnection,
    commands: &[&Envelope<Command>],
    outcomes: &[crate::outcome::Outcome],
) -> Result<(), sqlx::Error> {
    let mut rows: (Vec<_>, Vec<_>, Vec<_>, Vec<_>, Vec<_>, Vec<_>, Vec<_>) = Default::default();
    for (command, outcome) in commands.iter().zip(outcomes) {
        let Command::CreatePackage(create) = &command.body else {
            continue;
        };
        let created = matches!(
            &outcome.event,
            Event::Package(PackageEvent::PackageCreated(_))
        );
        let (Some(preferences), Some(email), true) =
            (&create.notify_recipient, &create.recipient_email, created)
        else {
            continue;
        };
        rows.0.push(create.package_id);
        rows.1.push(create.tracking_number.as_str().to_owned());
        rows.2.push(email.as_str().to_ascii_lowercase());
        rows.3.push(preferences.locale.as_str());
        rows.4.push(preferences.time_zone.clone());
        rows.5.push(command.occurred_at);
        let notices: Vec<&str> = preferences.notices.iter().map(|n| n.as_str()).collect();
        rows.6.push(notices.join(","));
    }
    if rows.0.is_empty() {
        return Ok(());
    }
    // A redelivered create finds its row; a package that was not inserted
    // (the join) gets none.
    sqlx::query(
        "INSERT INTO recipient_notifications \
             (package_id, tracking_number, email, locale, time_zone, created_at, notices) \
         SELECT u.id, u.tn, u.email, u.locale, u.tz, u.at, string_to_array(u.notices, ',') \
         FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], \
                     $6::timestamptz[], $7::text[]) AS u(id, tn, email, locale, tz, at, notices) \
         JOIN packages p ON p.id = u.id \
         ON CONFLICT DO NOTHING",
    )
    .bind(&rows.0)
    .bind(&rows.1)
    .bind(&rows.2)
    .bind(&rows.3)
    .bind(&rows.4)
    .bind(&rows.5)
    .bind(&rows.6)
    .execute(&mut *tx)
    .await?;
    Ok(())
}
