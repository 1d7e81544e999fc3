//! Email through one pooled SMTP transport (`smtp://host:port`, `smtp://…?tls=required`
//! for STARTTLS, `smtps://user:pass@host` for TLS), shared by alerts and answers. A
//! failure says whether nothing was sent (a 4xx: try again), the message was refused
//! (a 5xx), or it is unknown (a timeout after DATA may have been accepted) — and never
//! carries the server's text, which may quote the address.

use std::time::Duration;

use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

/// Why a message did not go out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SmtpFailure {
    /// Refused for now (4xx): nothing was sent; worth trying again.
    Transient(String),
    /// Refused for good (5xx).
    Permanent(String),
    /// No answer (a timeout, a broken connection): it may have been accepted.
    Unknown(String),
}

impl SmtpFailure {
    pub fn reason(&self) -> &str {
        match self {
            SmtpFailure::Transient(r) | SmtpFailure::Permanent(r) | SmtpFailure::Unknown(r) => r,
        }
    }
}

/// The SMTP server.
pub struct EmailSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

impl EmailSender {
    /// Must be called inside a Tokio runtime (the transport keeps a pool).
    pub fn new(url: &str) -> Result<Self, String> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| format!("SMTP URL: {e}"))?
            .timeout(Some(Duration::from_secs(10)))
            .build();
        Ok(EmailSender { transport })
    }

    /// Sends `message` once.
    pub async fn send(&self, message: lettre::Message) -> Result<(), SmtpFailure> {
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_transient() => Err(SmtpFailure::Transient(smtp_error(&e))),
            Err(e) if e.is_permanent() => Err(SmtpFailure::Permanent(smtp_error(&e))),
            Err(e) => Err(SmtpFailure::Unknown(smtp_error(&e))),
        }
    }
}

/// An SMTP failure without the server's text, which may quote the address.
fn smtp_error(e: &lettre::transport::smtp::Error) -> String {
    match e.status() {
        Some(code) => format!("SMTP server answered {code}"),
        None if e.is_timeout() => "SMTP server timed out".into(),
        None => "SMTP connection failed".into(),
    }
}

/// `Auto-Submitted` (RFC 3834): `auto-generated` on alerts, `auto-replied` on
/// automatic answers, so that the other side's robots do not answer back.
#[derive(Clone)]
pub struct AutoSubmitted(pub &'static str);

impl lettre::message::header::Header for AutoSubmitted {
    fn name() -> lettre::message::header::HeaderName {
        lettre::message::header::HeaderName::new_from_ascii_str("Auto-Submitted")
    }

    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        match s.trim() {
            "auto-replied" => Ok(AutoSubmitted("auto-replied")),
            _ => Ok(AutoSubmitted("auto-generated")),
        }
    }

    fn display(&self) -> lettre::message::header::HeaderValue {
        lettre::message::header::HeaderValue::new(Self::name(), self.0.to_owned())
    }
}
