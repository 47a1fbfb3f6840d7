//! The mail the system sends, as the tests' SMTP server received it: the
//! test scripts run `scripts/mail_sink.py` (aiosmtpd), which writes every
//! message to a folder per recipient (`MAIL_SINK_DIR`). A test makes up
//! its addresses, so what it reads is its own; it deletes what it read.

use std::path::PathBuf;
use std::time::Duration;

/// Where the tests' SMTP server listens (`MAIL_SINK_SMTP`).
pub fn smtp_url() -> String {
    std::env::var("MAIL_SINK_SMTP").unwrap_or_else(|_| "smtp://127.0.0.1:2525".into())
}

/// Where it writes what it receives (`MAIL_SINK_DIR`).
pub fn dir() -> PathBuf {
    std::env::var_os("MAIL_SINK_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.local/mail")))
}

/// One received message.
#[derive(Debug, Clone)]
pub struct Mail {
    pub subject: String,
    /// The text, its transfer encoding undone (of a multipart mail: its
    /// `text/plain` part).
    pub body: String,
    /// The `text/html` part of a multipart mail ("" without one).
    pub html: String,
    /// The headers, unfolded, one per line.
    pub head: String,
}

impl Mail {
    /// The value of header `name` ("" without it).
    pub fn header(&self, name: &str) -> String {
        header_of(&self.head, name)
    }
}

fn header_of(head: &str, name: &str) -> String {
    head.lines()
        .find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim()
                .eq_ignore_ascii_case(name)
                .then(|| value.trim().to_owned())
        })
        .unwrap_or_default()
}

impl Mail {
    /// The token of the link that starts with `prefix` (up to the next
    /// whitespace).
    pub fn token_after(&self, prefix: &str) -> String {
        self.body
            .split(prefix)
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("no link {prefix}... in:\n{}", self.body))
            .to_owned()
    }
}

fn folder(address: &str) -> PathBuf {
    let safe: String = address
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "@._+-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    dir().join(safe)
}

fn take_oldest(address: &str) -> Option<Mail> {
    let folder = folder(address);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&folder)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    files.sort();
    let first = files.first()?;
    let raw = std::fs::read_to_string(first).ok()?;
    let _ = std::fs::remove_file(first);
    if files.len() == 1 {
        let _ = std::fs::remove_dir(&folder);
    }
    Some(parse(&raw))
}

/// The next mail to `address`, waiting up to `timeout` for it.
pub async fn next_to(address: &str, timeout: Duration) -> Mail {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(mail) = take_oldest(address) {
            return mail;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no mail to {address} within {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// How many mails wait for `address` now (none are taken).
pub fn count_to(address: &str) -> usize {
    std::fs::read_dir(folder(address))
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
                .count()
        })
        .unwrap_or(0)
}

/// Deletes whatever waits for `address`.
pub fn clear(address: &str) {
    let _ = std::fs::remove_dir_all(folder(address));
}

fn parse(raw: &str) -> Mail {
    let raw = raw.replace("\r\n", "\n");
    let (head, body) = raw.split_once("\n\n").unwrap_or((&raw, ""));
    // Unfold continued header lines.
    let head = head.replace("\n ", " ").replace("\n\t", " ");
    let header = |name: &str| header_of(&head, name);
    let content_type = header("Content-Type");
    if let Some(boundary) = content_type
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))
        .map(|b| b.trim_matches('"').to_owned())
    {
        let mut mail = Mail {
            subject: header("Subject"),
            body: String::new(),
            html: String::new(),
            head: head.clone(),
        };
        for part in body.split(&format!("--{boundary}")).skip(1) {
            let part = part.trim_start_matches('\n');
            if part.starts_with("--") {
                break;
            }
            let inner = parse(part);
            let kind = header_of(&inner.head, "Content-Type").to_lowercase();
            if kind.starts_with("text/html") {
                mail.html = inner.body;
            } else if kind.starts_with("text/plain") {
                mail.body = inner.body;
            }
        }
        return mail;
    }
    let body = match header("Content-Transfer-Encoding").to_lowercase().as_str() {
        "quoted-printable" => quoted_printable(body),
        "base64" => {
            use base64::Engine;
            let joined: String = body.split_whitespace().collect();
            base64::engine::general_purpose::STANDARD
                .decode(joined)
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .unwrap_or_default()
        }
        _ => body.to_owned(),
    };
    Mail {
        subject: header("Subject"),
        body,
        html: String::new(),
        head,
    }
}

fn quoted_printable(text: &str) -> String {
    let mut out = Vec::with_capacity(text.len());
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'=' if bytes.get(i + 1) == Some(&b'\n') => i += 2,
            b'=' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(byte) => {
                        out.push(byte);
                        i += 3;
                    }
                    Err(_) => {
                        out.push(b'=');
                        i += 1;
                    }
                }
            }
            byte => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn quoted_printable_soft_breaks_and_escapes_are_undone() {
        assert_eq!(
            super::quoted_printable("a long=\nline =3D ok\nnext"),
            "a longline = ok\nnext"
        );
    }
}
