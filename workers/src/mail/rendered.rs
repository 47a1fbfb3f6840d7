//! A mail as it is handed to the transport: made by [`super::render`] (and
//! its recipient letters), sent by [`super::transport`].

/// A message ready for a transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub to: String,
    pub subject: String,
    pub body: String,
    /// An HTML alternative to the text.
    pub html: Option<String>,
    /// The one-click unsubscribe link (`List-Unsubscribe`).
    pub unsubscribe: Option<String>,
}
